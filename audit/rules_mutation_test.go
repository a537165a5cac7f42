package audit

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testprog"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/stack"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

var update = flag.Bool("update", false, "rewrite docs/RULES.md from the rule catalogue and the mutation examples")

// example is the committed extract of the corpus's buggy-radix dump
// (testdata/example/buggy-radix/README.md): it needs no ../shared.
const example = "../testdata/example/buggy-radix/vmcore.zst"

// base is the example opened once, unpatched, to find addresses.
type base struct {
	p   *kernel.Program
	set *modules.Set
	st  *ftrace.State
}

func openBase(t *testing.T) *base {
	t.Helper()
	p := testprog.Open(t, []string{example}, kernel.Options{CacheDir: t.TempDir()})
	set := modules.Analyze(p)
	st, err := ftrace.Load(set)
	if err != nil {
		t.Fatalf("ftrace on the example: %v", err)
	}
	return &base{p, set, st}
}

func (b *base) slot(t *testing.T, mod string, i int) modules.Slot {
	t.Helper()
	a := b.set.Find(mod)
	if a == nil || a.Stubs == nil || i >= len(a.Stubs.Slots) {
		t.Fatalf("%s: no slot %d", mod, i)
	}
	return a.Stubs.Slots[i]
}

func (b *base) archAddr(t *testing.T, mod, member string) uint64 {
	t.Helper()
	off, err := b.p.Types.Offsetof("struct module", "arch."+member)
	if err != nil {
		t.Fatal(err)
	}
	return b.set.Find(mod).Module.Addr + uint64(off)
}

func (b *base) sym(t *testing.T, name string) uint64 {
	t.Helper()
	a, err := b.p.SymbolAddr(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// enabledRecord returns an ENABLED record of a module, with its OOL stub.
func (b *base) enabledRecord(t *testing.T, mod string) (*ftrace.Record, ftrace.StubCheck) {
	t.Helper()
	for _, arr := range b.st.AllOOL() {
		if arr.Owner != mod {
			continue
		}
		for _, c := range arr.Stubs {
			if c.Record != nil && c.Record.Flags.Has(ftrace.FL_ENABLED) {
				return c.Record, c
			}
		}
	}
	t.Fatalf("%s: no enabled record", mod)
	return nil, ftrace.StubCheck{}
}

type mutation struct {
	rule, module string
	// what the corruption is, in a kernel engineer's words (for the docs)
	what  string
	patch func(t *testing.T, b *base, v *damage.Virt)
	opts  kernel.Options
}

var mutations = []mutation{
	{rule: "STUB-TEMPLATE", module: "modarch_dump", what: "jump[0] of the call stub in slot 0 overwritten with a nop, magic kept",
		patch: func(t *testing.T, b *base, v *damage.Virt) {
			must(t, v.PatchU32(b.slot(t, "modarch_dump", 0).Addr, 0x60000000))
		}},
	{rule: "STUB-TARGET", module: "modarch_dump", what: "slot 2's funcdata pointed 4 bytes into its function",
		patch: func(t *testing.T, b *base, v *damage.Virt) {
			s := b.slot(t, "modarch_dump", 2)
			must(t, v.PatchU64(s.Addr+32, s.Funcdata+4))
		}},
	{rule: "STUB-DUP", module: "modarch_dump", what: "slot 1's funcdata made equal to slot 0's",
		patch: func(t *testing.T, b *base, v *damage.Virt) {
			must(t, v.PatchU64(b.slot(t, "modarch_dump", 1).Addr+32, b.slot(t, "modarch_dump", 0).Funcdata))
		}},
	{rule: "STUB-COUNT", module: "klp_stub_bug", what: "arch.stub_count raised to 12 (480 bytes) in a 440-byte .stubs",
		patch: func(t *testing.T, b *base, v *damage.Virt) {
			must(t, v.PatchU32(b.archAddr(t, "klp_stub_bug", "stub_count"), 12))
		}},
	{rule: "KLP-STALE-STUB", module: "klp_stub_bug", what: "the livepatch stub's funcdata pointed at vmalloc space no module holds (as after klp_tgt was unloaded)",
		patch: func(t *testing.T, b *base, v *damage.Virt) {
			must(t, v.PatchU64(b.slot(t, "klp_stub_bug", 5).Addr+32, 0xc0080000fff00000))
		}},
	{rule: "FTRACE-TRAMP", module: "modarch_dump", what: "mod->arch.tramp pointed at slot 0, a call stub",
		patch: func(t *testing.T, b *base, v *damage.Virt) {
			must(t, v.PatchU64(b.archAddr(t, "modarch_dump", "tramp"), b.slot(t, "modarch_dump", 0).Addr))
		}},
	{rule: "OOL-INSN", module: "modarch_dump", what: "ftrace_ool_stub[0].insn[1] (bl <tramp>) overwritten with a nop",
		patch: func(t *testing.T, b *base, v *damage.Virt) {
			o := b.set.Find("modarch_dump").Stubs.OOL[0]
			must(t, v.PatchU32(o.Addr+12, 0x60000000))
		}},
	{rule: "FTRACE-SITE", module: "livepatch_shadow_mod", what: "the call site of an enabled record put back to a nop",
		patch: func(t *testing.T, b *base, v *damage.Virt) {
			rec, _ := b.enabledRecord(t, "livepatch_shadow_mod")
			must(t, v.PatchU32(rec.IP, 0x60000000))
		}},
	{rule: "FTRACE-OP", module: "livepatch_shadow_mod", what: "an enabled record's ftrace_op set to ftrace_nop_ops",
		patch: func(t *testing.T, b *base, v *damage.Virt) {
			_, c := b.enabledRecord(t, "livepatch_shadow_mod")
			must(t, v.PatchU64(c.Addr, b.sym(t, "ftrace_nop_ops")))
		}},
	{rule: "KLP-FUNC", module: "", what: "the call site of livepatched cmdline_proc_show put back to a nop",
		patch: func(t *testing.T, b *base, v *damage.Virt) {
			for _, k := range b.st.KlpFunc {
				if k.Func.OldName == "cmdline_proc_show" && k.Record != nil {
					must(t, v.PatchU32(k.Record.IP, 0x60000000))
					return
				}
			}
			t.Fatal("no klp function cmdline_proc_show")
		}},
	{rule: "TEXT-UNEXPLAINED", module: "trace_events_sample", what: "a trap (0x7fe00008) written at trace_events_sample's .text+0x40 with no struct kprobe registered (this kernel has no kprobes): a breakpoint no mechanism explains",
		patch: func(t *testing.T, b *base, v *damage.Virt) {
			text, ok := b.set.Find("trace_events_sample").Module.SectionAddr(".text")
			if !ok {
				t.Fatal("trace_events_sample: no .text")
			}
			must(t, v.PatchU32(text+0x40, 0x7fe00008))
		}},
	{rule: "EXEC-IN-FLAGGED-STUB", module: "klp_stub_bug", what: "a return address on init's sleeping stack (the LR save doubleword of its do_sys_poll frame) pointed into ftrace_ool_stub[0] of klp_stub_bug, where the livepatch stub landed",
		patch: func(t *testing.T, b *base, v *damage.Virt) {
			f := initReturn(t, b, "do_sys_poll")
			must(t, v.PatchU64(f.SP+16, b.set.Find("klp_stub_bug").Stubs.OOL[0].Addr+8))
		}},
	{rule: "KLP-TRANSITION", module: "livepatch_sample", what: "klp_transition_patch set to livepatch_sample's klp_patch with klp_target_state KLP_TRANSITION_PATCHED (every task still idle), and a return address on init's stack pointed into the original cmdline_proc_show",
		patch: func(t *testing.T, b *base, v *damage.Virt) {
			var patch uint64
			for _, p := range b.st.Livepatch.Patches {
				if p.ModName == "livepatch_sample" {
					patch = p.Addr
				}
			}
			if patch == 0 {
				t.Fatal("no livepatch_sample klp_patch")
			}
			must(t, v.PatchU64(b.sym(t, "klp_transition_patch"), patch))
			must(t, v.PatchU32(b.sym(t, "klp_target_state"), 1))
			f := initReturn(t, b, "do_sys_poll")
			must(t, v.PatchU64(f.SP+16, b.sym(t, "cmdline_proc_show")+8))
		}},
}

// initReturn is the frame of init's stack that returns into fn: its LR
// save doubleword is at SP+16.
func initReturn(t *testing.T, b *base, fn string) stack.Frame {
	t.Helper()
	for tk, err := range b.p.ForEachTask() {
		must(t, err)
		if tk.PID != 1 {
			continue
		}
		l, err := stack.LayoutFor(b.p.Context, false)
		must(t, err)
		frames, err := stack.Walk(b.p.Mem(), l, stack.TaskContext(b.p, tk).Start, stack.Options{})
		must(t, err)
		for _, f := range frames {
			if loc := b.p.Resolver.Lookup(f.PC); f.Kind == stack.KindReturn && loc.Symbol != nil && loc.Symbol.Name == fn {
				return f
			}
		}
	}
	t.Fatalf("init's stack does not return into %s", fn)
	return stack.Frame{}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRuleMutations: each rule fires on the corruption it describes, for
// the module it was made in, and the unpatched example does not have that
// finding there (so it is the patch that the rule saw). The expected
// behaviour is the kernel's (the rule's statement), not the code's output.
func TestRuleMutations(t *testing.T) {
	b := openBase(t)
	clean := Run(analysis.New(b.p), Options{})
	has := func(r *Report, rule, mod string) *Finding {
		for i := range r.Findings {
			f := &r.Findings[i]
			if f.Rule == rule && (mod == "" || f.Module == mod) {
				return f
			}
		}
		return nil
	}
	examples := map[string]string{}
	for _, m := range mutations {
		t.Run(m.rule, func(t *testing.T) {
			if has(clean, m.rule, m.module) != nil {
				t.Fatalf("the unpatched example already has %s for %q", m.rule, m.module)
			}
			v := damage.NewVirt(b.p)
			if m.patch != nil {
				m.patch(t, b, v)
			}
			opts := m.opts
			opts.CacheDir = t.TempDir()
			opts.PhysWrap = v.Wrap
			p, err := kernel.Open([]string{example}, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			r := Run(analysis.New(p), Options{})
			f := has(r, m.rule, m.module)
			if f == nil {
				var got []string
				for _, f := range r.Findings {
					got = append(got, f.Rule+"/"+f.Module)
				}
				t.Fatalf("%s did not fire after: %s; findings %v", m.rule, m.what, got)
			}
			examples[m.rule] = fmt.Sprintf("Example (the committed example dump with %s):\n\n    %s %s: %s", m.what, f.Severity, f.Rule, f.Message)
		})
	}
	// Rules the buggy example shows as it is, and seed 000's.
	for _, rule := range []string{"OOL-RESERVE", "OOL-OVERLAP", "OOL-FTRACE-OP-NULL", "LOADER-MODEL"} {
		if f := has(clean, rule, "klp_stub_bug"); f != nil {
			examples[rule] = fmt.Sprintf("Example (the committed example, the corpus's buggy-radix kernel as dumped):\n\n    %s %s: %s", f.Severity, f.Rule, f.Message)
		} else {
			t.Errorf("the buggy example lacks %s for klp_stub_bug", rule)
		}
	}
	// Seed 000's OOL array as it was when the livepatch relocation ran:
	// the listing's words with ftrace[3].ftrace_op (= ppc64[1].funcdata,
	// the seed's "<<" rows at +0x48) still NULL, as the seed says every
	// ftrace_op was before its second fix; ool_stub_count 3 keeps the
	// array inside the listed words.
	raw := make([]byte, 2*modules.StubEntrySize)
	for i, w := range seed000[:20] {
		binary.LittleEndian.PutUint32(raw[4*i:], w.word)
	}
	clear(raw[0x48:0x50])
	// A livepatch module (the seed's "livepatch_module") whose klp
	// relocations against a module are applied after load (the seed does
	// not name the patched module: "target_module" stands for it).
	m := &modules.Module{Name: "livepatch_module", Livepatch: true, KlpSechdrs: []modules.SectionHeader{{Name: ".klp.rela.target_module..text"}},
		Arch: modules.Arch{HasOOL: true, OOLStubs: seedOOL, OOLStubCount: 3, OOLStubIndex: 3}}
	ss := modules.NewStubs(m, seedOOL, raw, binary.LittleEndian, modules.StubsInput{R2: seedOOL + 0x28 - (4<<16 - 29448)})
	sr := RunModules(&modules.Set{Resolver: symbols.NewResolver(), Modules: []*modules.Analysis{{Module: m, Stubs: ss}}}, Options{})
	if f := has(sr, "OOL-SENTINEL", ""); f != nil && strings.Join(f.Slots(), ",") == "ppc64[1]" {
		examples["OOL-SENTINEL"] = fmt.Sprintf("Example (seed 000's listing with ftrace[3].ftrace_op — read as ppc64[1].funcdata — NULL again, as it was before the livepatch stub landed there; a kernel whose stub_for_addr() scans for a zero funcdata):\n\n    %s %s: %s", f.Severity, f.Rule, f.Message)
	} else {
		t.Errorf("seed 000 before the stub landed: want OOL-SENTINEL naming ppc64[1], got %+v", f)
	}
	// The sentinel-era rules fire on Debian 12's 6.1 kernel only.
	TestGenerationAMutations(t)
	TestTextPokeInflightExample(t)
	TestITSExample(t)
	TestX86ExampleOpsTrampolines(t)
	x86Examples.Range(func(k, v any) bool {
		examples[k.(string)] = v.(string)
		return true
	})
	deb61Examples.Range(func(k, v any) bool {
		if _, ok := examples[k.(string)]; !ok {
			examples[k.(string)] = v.(string)
		}
		return true
	})
	// arm64's module PLTs: md4's .plt and ftrace trampoline words as the
	// arm64 corpus's guest read them (distro-kaslr truth.json), mutated.
	for rule, ex := range arm64PLTExamples(t) {
		examples[rule] = ex
	}
	doc := rulesDoc(examples)
	const path = "../docs/RULES.md"
	if *update {
		must(t, os.WriteFile(path, []byte(doc), 0o644))
	}
	got, err := os.ReadFile(path)
	must(t, err)
	if string(got) != doc {
		t.Errorf("%s is stale: run go test ./audit -run TestRuleMutations -update", filepath.Clean(path))
	}
	for _, r := range Rules {
		if _, ok := examples[r.ID]; !ok {
			t.Errorf("rule %s has no example finding", r.ID)
		}
	}
}

// rulesDoc renders docs/RULES.md.
func rulesDoc(examples map[string]string) string {
	var w strings.Builder
	w.WriteString(`# Audit rules

The catalogue of ` + "`kdump-inspect audit`" + ` (` + "`audit --rules`" + `), generated from
package audit's ` + "`Rules`" + ` by ` + "`go test ./audit -run TestRuleMutations -update`" + `;
the test fails when this page is stale. Every example finding is real: the
test corrupts the committed example dump (an extract of the corpus's
buggy-radix kernel) the way the example says and checks that the rule
fires for that module.

`)
	for _, r := range Rules {
		fmt.Fprintf(&w, "## %s (%s)\n\n%s.\n\nMirrors: %s.\n", r.ID, r.Severity, r.Statement, r.Mirrors)
		if r.Fix.Subject != "" {
			fmt.Fprintf(&w, "\nFixed upstream by: %s.\n", r.Fix)
		}
		if ex, ok := examples[r.ID]; ok {
			fmt.Fprintf(&w, "\n%s\n", ex)
		}
		w.WriteString("\n")
	}
	return w.String()
}

// TestOverlapAfterFtraceOpWrite: issue 13's real crash. When ftrace
// enables the function whose OOL stub is ftrace[0] of klp_stub_bug,
// ftrace_rec_update_ops() (arch/powerpc/kernel/trace/ftrace.c) stores the
// ops pointer into that stub's ftrace_op — the first 8 bytes of the
// livepatch call stub lying there (slot 5's jump[0..1]). The stub is still
// the stub (its magic, funcdata and jump[2..5] are intact) and still
// inside the array: OOL-OVERLAP must still fire, STUB-TEMPLATE must name
// the two overwritten words, and a CPU stopped at the stub must be
// EXEC-IN-FLAGGED-STUB. Before, the slot stopped being "a call stub" and
// all three findings vanished.
func TestOverlapAfterFtraceOpWrite(t *testing.T) {
	b := openBase(t)
	sl := b.slot(t, "klp_stub_bug", 5)
	ops := b.sym(t, "ftrace_list_ops") // any ops pointer ftrace may store
	v := damage.NewVirt(b.p)
	must(t, v.PatchU64(sl.Addr, ops))
	// A return address on init's stack into the stub's third word (the
	// next call through the stub executes jump[0..1] first, the oops).
	f := initReturn(t, b, "do_sys_poll")
	must(t, v.PatchU64(f.SP+16, sl.Addr+8))
	p, err := kernel.Open([]string{example}, kernel.Options{CacheDir: t.TempDir(), PhysWrap: v.Wrap})
	must(t, err)
	defer p.Close()
	r := Run(analysis.New(p), Options{})
	var overlap, template, exec *Finding
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Module != "klp_stub_bug" {
			continue
		}
		switch f.Rule {
		case "OOL-OVERLAP":
			overlap = f
		case "STUB-TEMPLATE":
			template = f
		case "EXEC-IN-FLAGGED-STUB":
			exec = f
		}
	}
	if overlap == nil || overlap.Slots()[0] != "ppc64[5]" {
		t.Fatalf("OOL-OVERLAP after the ftrace_op write: %+v", overlap)
	}
	if template == nil || len(template.Words) != 2 || template.Words[0].Addr != sl.Addr || template.Words[1].Addr != sl.Addr+4 {
		t.Fatalf("STUB-TEMPLATE should name slot 5's jump[0] and jump[1]: %+v", template)
	}
	// The found words are the two halves of the ops pointer (little-endian).
	if template.Words[0].Found != ops&0xffffffff || template.Words[1].Found != ops>>32 {
		t.Errorf("found words %#x %#x, want the halves of %#x", template.Words[0].Found, template.Words[1].Found, ops)
	}
	if exec == nil || !strings.Contains(exec.Message, "OOL-OVERLAP") {
		t.Errorf("EXEC-IN-FLAGGED-STUB for the frame at slot 5: %+v", exec)
	}
	if !r.At(sl.Addr + 8)[0].At(sl.Addr+8) || len(r.At(sl.Addr)) < 2 {
		t.Errorf("Report.At(slot 5) = %d findings, want the overlap and the template", len(r.At(sl.Addr)))
	}
}
