package repl

import (
	"bufio"
	"context"
	"debug/elf"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// freshSession opens its own session (for tests that change the module
// set with mod -s/-S).
func freshSession(t *testing.T, dir string) *Session {
	t.Helper()
	d := testcorpus.Dir(t, dir)
	p, err := kernel.Open([]string{filepath.Join(d, "vmcore-vmcoreinfo.kdump")}, kernel.Options{})
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	t.Cleanup(func() { p.Close() })
	return New(p, Options{PanicLog: t.TempDir()})
}

func disJSON(t *testing.T, s *Session, line string) []DisLine {
	t.Helper()
	var lines []DisLine
	if err := decodeDoc([]byte(run(t, s, line+" --json")), &lines); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return lines
}

// truthKallsyms returns the guest's module kallsyms lines of one module:
// address (hex, as printed), type letter, name.
func truthKallsyms(t *testing.T, dir, mod string) [][3]string {
	t.Helper()
	tr := testcorpus.LoadTruth(t, testcorpus.Dir(t, dir))
	blocks := tr["guest"].(map[string]any)["blocks"].(map[string]any)
	var out [][3]string
	for _, l := range blocks["module kallsyms"].([]any) {
		f := strings.Fields(l.(string))
		if len(f) == 4 && f[3] == "["+mod+"]" {
			out = append(out, [3]string{f[0], f[1], f[2]})
		}
	}
	if len(out) == 0 {
		t.Fatalf("truth.json has no module kallsyms for %s", mod)
	}
	return out
}

// functionLines returns the line of `int NAME(` ... and of the closing
// brace of the function in a kernel source file, or skips.
func functionLines(t *testing.T, rel, decl string) (start, end int) {
	t.Helper()
	root, ok := testcorpus.Root()
	if !ok {
		t.Skip("no corpus")
	}
	f, err := os.Open(filepath.Join(root, "..", "kernel-src", "7.2.13", rel))
	if err != nil {
		t.Skipf("kernel source absent: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		switch {
		case start == 0 && strings.HasPrefix(sc.Text(), decl):
			start = n
		case start != 0 && sc.Text() == "}":
			return start, n
		}
	}
	t.Fatalf("%s: %q not found", rel, decl)
	return 0, 0
}

// TestDisSourceLines: dis -l names the right source file (the kernel
// tree's layout; a module's own source file as the module's kallsyms or
// its .ko's STT_FILE symbol name it) and, where the kernel source is at
// hand, lines inside the function's definition.
func TestDisSourceLines(t *testing.T) {
	s := corpusSession(t, "buggy-radix")
	root := testcorpus.Require(t)

	// klp_stub_bug is a livepatch module: its kallsyms keep the 'a'
	// (STT_FILE) symbol of its source file.
	stubBugSrc := ""
	for _, k := range truthKallsyms(t, "buggy-radix", "klp_stub_bug") {
		if k[1] == "a" && strings.HasSuffix(k[2], ".c") && !strings.HasSuffix(k[2], ".mod.c") && k[2] != "module-common.c" {
			stubBugSrc = k[2]
		}
	}
	if stubBugSrc != "klp_stub_bug.c" {
		t.Fatalf("truth kallsyms source of klp_stub_bug = %q", stubBugSrc)
	}
	// klp_tgt is not a livepatch module: its kallsyms keep no 'a' symbol,
	// so read the STT_FILE symbol of its .ko with debug/elf.
	ef, err := elf.Open(filepath.Join(root, "kernels", "7.2.13-buggy", "modules", "klp_tgt.ko"))
	if err != nil {
		t.Fatal(err)
	}
	syms, _ := ef.Symbols()
	ef.Close()
	tgtSrc := ""
	for _, sy := range syms {
		if elf.ST_TYPE(sy.Info) == elf.STT_FILE && strings.HasSuffix(sy.Name, ".c") && !strings.HasSuffix(sy.Name, ".mod.c") && tgtSrc == "" {
			tgtSrc = sy.Name
		}
	}
	if tgtSrc == "" {
		t.Fatal("klp_tgt.ko has no STT_FILE symbol")
	}

	coreStart, coreEnd := 0, 0
	for _, tc := range []struct {
		cmd     string
		suffix  string // the function's own file
		ownFile func() (int, int)
	}{
		{"dis -l cmdline_proc_show", "/fs/proc/cmdline.c", nil},
		{"dis -l klp_enable_patch", "/kernel/livepatch/core.c", func() (int, int) {
			if coreStart == 0 {
				coreStart, coreEnd = functionLines(t, "kernel/livepatch/core.c", "int klp_enable_patch(")
			}
			return coreStart, coreEnd
		}},
		{"dis -l klp_tgt:tgt_show", "/" + tgtSrc, nil},
		// An in-tree sample module: the kernel tree's layout.
		{"dis -l livepatch_shadow_mod:dummy_alloc", "/samples/livepatch/livepatch-shadow-mod.c", nil},
		{"dis -l klp_stub_bug:livepatch_tgt_show", "/" + stubBugSrc, nil},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			lines := disJSON(t, s, tc.cmd)
			if len(lines) < 4 {
				t.Fatalf("%d lines", len(lines))
			}
			if !strings.HasSuffix(lines[0].File, tc.suffix) || lines[0].Line == 0 {
				t.Fatalf("first instruction at %s:%d, want a line of *%s", lines[0].File, lines[0].Line, tc.suffix)
			}
			own, inside := 0, 0
			for _, l := range lines {
				if l.Line == 0 {
					t.Errorf("%#x: no source line", l.Addr)
					continue
				}
				if !strings.HasSuffix(l.File, tc.suffix) {
					if !strings.Contains(l.File, "/include/") && !strings.HasSuffix(l.File, ".h") {
						t.Errorf("%#x: %s:%d is neither the function's file nor a header", l.Addr, l.File, l.Line)
					}
					continue
				}
				own++
				if tc.ownFile != nil {
					// Lines before the definition are static callees of
					// the same file inlined; count those inside.
					if lo, hi := tc.ownFile(); l.Line >= lo && l.Line <= hi {
						inside++
					}
				}
			}
			if own < len(lines)/3 {
				t.Errorf("only %d of %d instructions in %s", own, len(lines), tc.suffix)
			}
			if tc.ownFile != nil {
				lo, hi := tc.ownFile()
				if lines[0].Line < lo || lines[0].Line > hi {
					t.Errorf("entry line %d outside the definition [%d, %d] in the kernel source", lines[0].Line, lo, hi)
				}
				if inside < len(lines)/10 { // klp_enable_patch inlines most of core.c
					t.Errorf("only %d of %d instructions inside the definition [%d, %d]", inside, len(lines), lo, hi)
				}
			}
			// The text view prints "FILE: LINE" above the instructions.
			text := run(t, s, tc.cmd+" 4")
			first, _, _ := strings.Cut(text, "\n")
			if want := lines[0].File + ": "; !strings.HasPrefix(first, want) {
				t.Errorf("text view starts %q, want %q", first, want)
			}
		})
	}
	t.Run("stubs", func(t *testing.T) {
		var errb strings.Builder
		out := run(t, s, "dis -l klp_stub_bug:.stubs 12")
		if strings.Contains(out, ".c: ") || errb.Len() > 0 {
			t.Errorf(".stubs has no source, got:\n%s", out)
		}
	})
}

// TestTypeNameCompletion: `struct mod<TAB>` offers struct names from the
// DWARF index, not a fixed list.
func TestTypeNameCompletion(t *testing.T) {
	s := corpusSession(t, "buggy-radix")
	got := s.candidates("struct", CompleteType, "mod")
	seen := map[string]bool{}
	for i, n := range got {
		if !strings.HasPrefix(n, "mod") {
			t.Errorf("candidate %q lacks the prefix", n)
		}
		if i > 0 && got[i-1] >= n {
			t.Errorf("not sorted/unique at %q", n)
		}
		if _, err := s.Prog.Types.Lookup("struct " + n); err != nil {
			t.Errorf("candidate %q is not a struct: %v", n, err)
		}
		seen[n] = true
	}
	// struct module and struct mod_arch_specific (include/linux/module.h,
	// arch/powerpc/include/asm/module.h) and struct module_memory.
	for _, want := range []string{"module", "mod_arch_specific", "module_memory"} {
		if !seen[want] {
			t.Errorf("struct %s not offered; got %v", want, got)
		}
	}
	// The completer proper: `struct module.ar` completes the member.
	c := &completer{s: s}
	// struct module has arch and args (include/linux/module.h).
	line := []rune("struct module.ar")
	cands, n := c.Do(line, len(line))
	if n != len("module.ar") || len(cands) != 2 || string(cands[0]) != "ch" || string(cands[1]) != "gs" {
		t.Errorf("struct module.ar<TAB> = %q (%d)", runesList(cands), n)
	}
	line = []rune("struct ftrace_ool_st")
	if cands, _ = c.Do(line, len(line)); len(cands) != 1 || string(cands[0]) != "ub" {
		t.Errorf("struct ftrace_ool_st<TAB> = %q", runesList(cands))
	}
	// Bounded: an empty prefix stops at the limit and says so.
	names, trunc := s.Prog.Types.Names("", "", 5)
	if len(names) != 5 || !trunc {
		t.Errorf("Names(\"\", \"\", 5) = %d names, truncated %v", len(names), trunc)
	}
	if n, _ := s.Prog.Types.Names("u6", "typedef", 0); !contains(n, "u64") {
		t.Errorf("typedef u6* = %v, want u64 among them", n)
	}
}

func runesList(r [][]rune) []string {
	var out []string
	for _, x := range r {
		out = append(out, string(x))
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestModLoad: mod -S and mod -s change what stubs and dis -l see.
func TestModLoad(t *testing.T) {
	s := freshSession(t, "buggy-radix")
	root := testcorpus.Require(t)
	modDir := filepath.Join(root, "kernels", "7.2.13-buggy", "modules")
	truthTgt := truthModule(t, "buggy-radix", "klp_tgt")
	wantSize := uint64(truthTgt["stubs_size_from_ko"].(map[string]any)["size"].(float64))

	modJSON := func(line string) map[string]ModView {
		var v []ModView
		if err := decodeDoc([]byte(run(t, s, line+" --json")), &v); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out := map[string]ModView{}
		for _, m := range v {
			out[m.Name] = m
		}
		return out
	}

	// A .ko of another module: its build-id is not klp_tgt's.
	err := s.Exec(context.Background(), "mod -s klp_tgt "+filepath.Join(modDir, "klp_stub_bug.ko"))
	var bm *modules.BuildIDMismatchError
	if !errors.As(err, &bm) {
		t.Fatalf("mod -s with the wrong .ko: %v, want a BuildIDMismatchError", err)
	}

	empty := t.TempDir()
	mods := modJSON("mod -S " + empty)
	if len(mods) == 0 {
		t.Fatal("no modules")
	}
	for name, m := range mods {
		if m.Object != "(not loaded)" {
			t.Errorf("after mod -S %s: %s object %q", empty, name, m.Object)
		}
		if m.StubsSource == string(modules.SizeFromKo) {
			t.Errorf("after mod -S %s: %s .stubs size still from a .ko", empty, name)
		}
	}
	if l := disJSON(t, s, "dis -l klp_tgt:tgt_show 2"); l[0].Line != 0 {
		t.Errorf("dis -l without a .ko: %s:%d", l[0].File, l[0].Line)
	}

	// mod -s from a file of another name in another directory.
	ko := filepath.Join(t.TempDir(), "renamed.ko")
	copyFile(t, filepath.Join(modDir, "klp_tgt.ko"), ko)
	one := modJSON("mod -s klp_tgt " + ko)
	if len(one) != 1 || one["klp_tgt"].Object != ko {
		t.Fatalf("mod -s klp_tgt: %+v", one)
	}
	if m := modJSON("mod")["klp_tgt"]; uint64(m.StubsSize) != wantSize || m.StubsSource != string(modules.SizeFromKo) {
		t.Errorf("klp_tgt .stubs after mod -s: %d bytes from %q, truth stubs_size_from_ko %d", m.StubsSize, m.StubsSource, wantSize)
	}
	if out := run(t, s, "stubs klp_tgt"); !strings.Contains(strings.SplitN(out, "\n", 2)[0], string(modules.SizeFromKo)) {
		t.Errorf("stubs header after mod -s: %s", strings.SplitN(out, "\n", 2)[0])
	}
	if l := disJSON(t, s, "dis -l klp_tgt:tgt_show 2"); l[0].Line == 0 {
		t.Errorf("dis -l after mod -s: no source line")
	}

	// mod -S DIR loads everything again.
	mods = modJSON("mod -S " + modDir)
	for name, m := range mods {
		if !strings.HasPrefix(m.Object, modDir) {
			t.Errorf("after mod -S %s: %s object %q", modDir, name, m.Object)
		}
	}
	var ue *UsageError
	if err := s.Exec(context.Background(), "mod -s"); !errors.As(err, &ue) {
		t.Errorf("mod -s without a module: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestKlpView: the klp table against the guest's livepatch state (every
// patch enabled, none in transition) and its module kallsyms (new_func
// names).
func TestKlpView(t *testing.T) {
	s := corpusSession(t, "buggy-radix")
	out := run(t, s, "klp")
	if !strings.HasPrefix(out, "klp_transition_patch: none") {
		t.Errorf("header: %s", strings.SplitN(out, "\n", 2)[0])
	}
	tr := testcorpus.LoadTruth(t, testcorpus.Dir(t, "buggy-radix"))
	state := tr["guest"].(map[string]any)["blocks"].(map[string]any)["livepatch state"].([]any)
	re := regexp.MustCompile(`^/sys/kernel/livepatch/(\S+) enabled=(\d) transition=(\d)$`)
	for _, l := range state {
		m := re.FindStringSubmatch(l.(string))
		if m == nil {
			t.Fatalf("truth line %q", l)
		}
		flags := "[enabled]"
		if m[2] == "0" {
			flags = "[disabled]"
		}
		if m[3] == "1" {
			flags = "[enabled,in-transition]"
		}
		if !strings.Contains(out, " "+m[1]+" "+flags+" ") {
			t.Errorf("patch %s %s not in the view", m[1], flags)
		}
	}
	// Every new_func names a symbol of its patch module at that address.
	rowRe := regexp.MustCompile(` ([0-9a-f]{16}) <([A-Za-z0-9_.]+)\+0x0 \[([a-z0-9_]+)\]>\s+(patched|unpatched)`)
	rows := rowRe.FindAllStringSubmatch(out, -1)
	if len(rows) < 5 {
		t.Fatalf("%d function rows:\n%s", len(rows), out)
	}
	for _, r := range rows {
		found := false
		for _, k := range truthKallsyms(t, "buggy-radix", r[3]) {
			if k[0] == r[1] && k[2] == r[2] {
				found = true
			}
		}
		if !found {
			t.Errorf("new_func %s <%s [%s]> not in the guest's kallsyms", r[1], r[2], r[3])
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.Contains(f[len(f)-1], "transition") {
			t.Errorf("a function in transition, truth says none: %s", l)
		}
	}
}
