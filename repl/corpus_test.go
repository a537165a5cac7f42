package repl

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

var update = flag.Bool("update", false, "rewrite golden files and docs/COMMANDS.md")

// sessions caches one session per corpus directory: opening a dump and
// analysing its modules takes seconds.
var (
	sessMu   sync.Mutex
	sessions = map[string]*Session{}
)

func corpusSession(t *testing.T, dir string) *Session {
	t.Helper()
	d := testcorpus.Dir(t, dir)
	sessMu.Lock()
	defer sessMu.Unlock()
	if s, ok := sessions[dir]; ok {
		return s
	}
	p, err := kernel.Open([]string{filepath.Join(d, "vmcore-vmcoreinfo.kdump")}, kernel.Options{})
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	s := New(p, Options{PanicLog: t.TempDir()})
	sessions[dir] = s
	return s
}

// run executes one command line and returns its output.
func run(t *testing.T, s *Session, line string) string {
	t.Helper()
	var out, errb bytes.Buffer
	s.Out, s.Err = &out, &errb
	if err := s.Exec(context.Background(), line); err != nil {
		t.Fatalf("%q: %v\nstderr: %s", line, err, errb.String())
	}
	return out.String()
}

// runDoc runs a --json command line and decodes its document's data
// into v.
func runDoc(t *testing.T, s *Session, line string, v any) {
	t.Helper()
	if err := decodeDoc([]byte(run(t, s, line)), v); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
}

// decodeDoc decodes a kdump-inspect/1 document's data into v.
func decodeDoc(b []byte, v any) error {
	_, err := wire.DecodeData(b, v)
	return err
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n--- got\n%s", name, got)
	}
}

func truthModule(t *testing.T, dir, name string) map[string]any {
	t.Helper()
	return testcorpus.LoadTruth(t, testcorpus.Dir(t, dir)).DumpModule(t, name)
}

// TestStubsGolden renders the two views of seed 000 happening for real and
// checks the facts of truth.json in them independently of the golden
// files.
func TestStubsGolden(t *testing.T) {
	s := corpusSession(t, "buggy-radix")
	golden(t, "buggy-radix-dis-klp_stub_bug-stubs-40.txt", run(t, s, "dis klp_stub_bug:.stubs 40"))
	golden(t, "buggy-radix-dis-klp_stub_bug-stubs.txt", run(t, s, "dis klp_stub_bug:.stubs"))
	golden(t, "buggy-radix-stubs-klp_stub_bug-overlay.txt", run(t, s, "stubs klp_stub_bug --overlay"))

	tm := truthModule(t, "buggy-radix", "klp_stub_bug")
	base := testcorpus.Hex(t, tm["stubs_section_addr"])
	oolStubs := testcorpus.Hex(t, tm["arch"].(map[string]any)["ool_stubs"])
	var v StubsView
	runDoc(t, s, "stubs klp_stub_bug --overlay --json", &v)
	if uint64(v.Base) != base || uint64(v.OOLStubs) != oolStubs {
		t.Fatalf("base %#x ool_stubs %#x, truth %#x %#x", v.Base, v.OOLStubs, base, oolStubs)
	}
	// truth: stub_magic_slots_inside_ool_array = [5], funcdata_sym of slot 5 = tgt_secret.
	slots := tm["stub_slots"].([]any)
	want5 := slots[5].(map[string]any)
	sl := v.Slots[5]
	if !strings.HasPrefix(sl.Target, want5["funcdata_sym"].(string)+"+0x0") || uint64(sl.Funcdata) != testcorpus.Hex(t, want5["funcdata"]) || !sl.InOOL {
		t.Errorf("slot 5 = %+v, truth funcdata %v (%v), inside the OOL array", sl, want5["funcdata"], want5["funcdata_sym"])
	}
	if uint64(sl.Addr) != oolStubs {
		t.Errorf("slot 5 at %#x, ool_stubs at %#x: it should be the first OOL slot", sl.Addr, oolStubs)
	}
	// ftrace[1].ftrace_op reads magic|jump[6] (truth ool_stubs_decoded[1]).
	ool := tm["ool_stubs_decoded"].([]any)
	for i, o := range ool {
		om := o.(map[string]any)
		if got, want := uint64(v.OOL[i].FtraceOp), testcorpus.Hex(t, om["ftrace_op"]); got != want {
			t.Errorf("ftrace[%d].ftrace_op = %#x, truth %#x", i, got, want)
		}
	}
	if v.OOL[1].FtraceOp != 0x7374756200000000 {
		t.Errorf("ftrace[1].ftrace_op = %#x", v.OOL[1].FtraceOp)
	}
	// The call stub (40 bytes from ool_stubs) covers all of ftrace[0]
	// (24 bytes) and the first 16 bytes of ftrace[1]; the overlay says so
	// word by word, and marks them.
	for _, w := range v.Overlay {
		off := uint64(w.Addr) - oolStubs
		if uint64(w.Addr) < oolStubs || off >= 40 {
			continue
		}
		if !strings.HasPrefix(w.Stub, "[5].") {
			t.Errorf("word %#x belongs to %s, want slot 5", w.Addr, w.Stub)
		}
		wantOOL := "[0]."
		if off >= 24 {
			wantOOL = "[1]."
		}
		if !strings.HasPrefix(w.OOL, wantOOL) {
			t.Errorf("word %#x is %s in the OOL view, want %s...", w.Addr, w.OOL, wantOOL)
		}
		if !strings.HasPrefix(w.Mark, "<<") {
			t.Errorf("word %#x (%s / %s) not marked", w.Addr, w.Stub, w.OOL)
		}
	}
	// The dis view labels the same words with both columns.
	dis := run(t, s, "dis klp_stub_bug:.stubs")
	for _, want := range []string{
		"ppc64[5]   ftrace[0]  " + hexs(oolStubs) + " <klp_stub_bug:.stubs+0xc8>:",
		hexs(oolStubs+24) + " <klp_stub_bug:.stubs+0xe0>:  jump[6]   ftrace_op",
		"magic     ftrace_op 73747562",
	} {
		if !strings.Contains(dis, want) {
			t.Errorf("dis lacks %q", want)
		}
	}
	if strings.Contains(dis, "[klp_tgt]>:") || strings.Contains(dis, "[modarch_dump]>:") {
		t.Errorf("a .stubs word is labelled with another module's symbol")
	}
}

func hexs(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }

// TestStubsFixed: in fixed-radix the klp stub sits after the reserved OOL
// slots, at slot 8 (truth: the slot whose funcdata is tgt_secret).
func TestStubsFixed(t *testing.T) {
	s := corpusSession(t, "fixed-radix")
	tm := truthModule(t, "fixed-radix", "klp_stub_bug")
	wantSlot := -1
	for _, sl := range tm["stub_slots"].([]any) {
		m := sl.(map[string]any)
		if m["funcdata_sym"] == "tgt_secret" {
			wantSlot = int(m["index"].(float64))
		}
	}
	if wantSlot != 8 {
		t.Fatalf("truth puts tgt_secret's stub at slot %d, the brief says 8", wantSlot)
	}
	var v StubsView
	runDoc(t, s, "stubs klp_stub_bug --json", &v)
	for _, sl := range v.Slots {
		isTgt := strings.HasPrefix(sl.Target, "tgt_secret+0x0")
		if isTgt != (sl.Index == wantSlot) {
			t.Errorf("slot %d target %q", sl.Index, sl.Target)
		}
		if isTgt && sl.InOOL {
			t.Errorf("fixed: slot %d inside the OOL range", sl.Index)
		}
	}
	if strings.Contains(run(t, s, "dis klp_stub_bug:.stubs"), "inside ool_stubs") {
		t.Errorf("fixed kernel: dis marks a call stub inside ool_stubs")
	}
}

// TestStructModuleArch: `struct module.arch ADDR` prints exactly truth's
// arch values for every module of every corpus directory.
func TestStructModuleArch(t *testing.T) {
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			s := corpusSession(t, dir)
			tr := testcorpus.LoadTruth(t, testcorpus.Dir(t, dir))
			for _, m := range tr.DumpModules() {
				name := m["name"].(string)
				out := run(t, s, "struct module.arch -x "+m["struct_module"].(string))
				got := parseMembers(out)
				arch := m["arch"].(map[string]any)
				if len(got) != len(arch) {
					t.Errorf("%s: printed %d members, truth has %d:\n%s", name, len(got), len(arch), out)
				}
				for k, v := range arch {
					want := testcorpus.Hex(t, v)
					g, ok := got[k]
					if !ok {
						t.Errorf("%s: arch.%s not printed", name, k)
						continue
					}
					if g != want {
						t.Errorf("%s: arch.%s = %#x, truth %#x", name, k, g, want)
					}
				}
			}
		})
	}
}

// parseMembers reads "    name = value," lines (value hex, decimal, or
// true/false, optionally followed by <symbol>).
func parseMembers(out string) map[string]uint64 {
	m := map[string]uint64{}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), " = ")
		if !ok || strings.HasSuffix(v, "{") {
			continue
		}
		v = strings.TrimSuffix(v, ",")
		v, _, _ = strings.Cut(v, " <")
		switch v {
		case "true":
			m[k] = 1
			continue
		case "false":
			m[k] = 0
			continue
		}
		if n, err := strconv.ParseUint(v, 0, 64); err == nil {
			m[k] = n
		}
	}
	return m
}

// TestLog: records that modarch_dump.ko printed with printk are in the
// console log and must be in `log` (console.log is the ground truth).
func TestLog(t *testing.T) {
	s := corpusSession(t, "buggy-radix")
	console, err := os.ReadFile(filepath.Join(testcorpus.Dir(t, "buggy-radix"), "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	log := run(t, s, "log -t")
	n := 0
	for _, l := range strings.Split(string(console), "\n") {
		if strings.HasPrefix(l, "MODDUMP klp_stub_bug stubslot[") || strings.HasPrefix(l, "test_klp_mod_target: loading out-of-tree module taints kernel.") {
			n++
			if !strings.Contains(log, strings.TrimSpace(l)+"\n") {
				t.Errorf("log lacks console line %q", l)
			}
		}
	}
	if n < 3 {
		t.Fatalf("only %d reference lines found in console.log", n)
	}
}

// TestInfo checks info --json against truth.json.
func TestInfo(t *testing.T) {
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			s := corpusSession(t, dir)
			tr := testcorpus.LoadTruth(t, testcorpus.Dir(t, dir))
			var v InfoView
			runDoc(t, s, "info --json", &v)
			d := tr["dump"].(map[string]any)
			if v.Release != d["uts_release"] {
				t.Errorf("release %q, truth %q", v.Release, d["uts_release"])
			}
			radix := testcorpus.Hex(t, d["cur_cpu_spec_mmu_features"])&0x40 != 0
			if (v.MMU == "radix") != radix && !strings.EqualFold(v.MMU, map[bool]string{true: "radix", false: "hash"}[radix]) {
				t.Errorf("MMU %q, truth mmu_features radix=%v", v.MMU, radix)
			}
		})
	}
}
