package triage

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// console parses the guest's own oops (console-oops.txt beside the
// example): the oops header, the CPU line, NIP, LR, TRAP and the word the
// Code: line marks <...>.
type console struct {
	oops            string
	cpu             int
	pid             int64
	comm            string
	nip, lr, trap   uint64
	codeWord        uint64
	panic           string
	firstTraceEntry string
}

func readConsole(t *testing.T, path string) console {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c console
	hex := func(s string) uint64 {
		v, err := strconv.ParseUint(s, 16, 64)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return v
	}
	inTrace := false
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "Oops:") && c.oops == "":
			c.oops = l
		case strings.HasPrefix(l, "CPU: ") && c.comm == "":
			m := regexp.MustCompile(`^CPU: (\d+) UID: \d+ PID: (\d+) Comm: (\S+)`).FindStringSubmatch(l)
			c.cpu, _ = strconv.Atoi(m[1])
			c.pid, _ = strconv.ParseInt(m[2], 10, 64)
			c.comm = m[3]
		case strings.HasPrefix(l, "NIP:  ") && c.nip == 0:
			f := strings.Fields(l)
			c.nip, c.lr = hex(f[1]), hex(f[3])
		case strings.HasPrefix(l, "REGS: ") && c.trap == 0:
			c.trap = hex(strings.Fields(l)[3])
		case strings.HasPrefix(l, "Code: "):
			if m := regexp.MustCompile(`<([0-9a-f]{8})>`).FindStringSubmatch(l); m != nil {
				c.codeWord = hex(m[1])
			}
		case strings.HasPrefix(l, "Kernel panic - not syncing: "):
			c.panic = strings.TrimPrefix(l, "Kernel panic - not syncing: ")
		case l == "Call Trace:":
			inTrace = true
		case inTrace && c.firstTraceEntry == "":
			c.firstTraceEntry = l
		}
	}
	return c
}

func explain(t *testing.T, dump string) (*Explanation, *audit.Report) {
	t.Helper()
	p, err := kernel.Open([]string{dump}, kernel.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	a := analysis.New(p)
	r := audit.Run(a, audit.Options{})
	return Explain(a, r), r
}

// TestWhyStubCrash: a real oops of the corpus's buggy kernel (bench/
// crash-dumps): ftrace stored &global_ops over the klp call stub lying in
// ftrace_ool_stub[0] of klp_stub_bug, and the call through it executed the
// pointer. Expected values: the guest's console (console-oops.txt) and
// what modarch_dump printed before (guest-klp_stub_bug.json).
func TestWhyStubCrash(t *testing.T) {
	dir := "../testdata/example/crash-ool-op-over-stub"
	c := readConsole(t, filepath.Join(dir, "console-oops.txt"))
	var g struct {
		Arch struct {
			OOLStubs string `json:"ool_stubs"`
		} `json:"arch"`
		Stubs string `json:"stubs"`
	}
	testcorpus.LoadJSON(t, filepath.Join(dir, "guest-klp_stub_bug.json"), &g)
	stubs := testcorpus.Hex(t, g.Stubs)
	ool := testcorpus.Hex(t, g.Arch.OOLStubs)
	slot := (c.nip - stubs) / 40
	oolIdx := (c.nip - ool) / 24

	e, _ := explain(t, filepath.Join(dir, "vmcore.zst"))
	if e.Panic.Oops != c.oops || e.Panic.Message != c.panic {
		t.Errorf("oops %q panic %q; console %q %q", e.Panic.Oops, e.Panic.Message, c.oops, c.panic)
	}
	if e.CPU != c.cpu || !e.HaveTask || e.Task.PID != c.pid || e.Task.Comm != c.comm {
		t.Errorf("context CPU %d PID %d %q; console CPU %d PID %d %q", e.CPU, e.Task.PID, e.Task.Comm, c.cpu, c.pid, c.comm)
	}
	if e.Trap != c.trap || e.PC == nil || e.PC.Addr != c.nip || e.LR == nil || e.LR.Addr != c.lr {
		t.Fatalf("trap %#x PC %+v LR %+v; console TRAP %#x NIP %#x LR %#x", e.Trap, e.PC, e.LR, c.trap, c.nip, c.lr)
	}
	// The word the CPU executed is the one the console's Code: line marks.
	found := false
	for _, i := range e.PC.Found {
		if i.Addr == c.nip {
			found = i.Word == uint32(c.codeWord)
		}
	}
	if !found {
		t.Errorf("word at NIP not %08x (console Code: line): %+v", c.codeWord, e.PC.Found)
	}
	wantWhere := "ftrace_ool_stub[" + strconv.FormatUint(oolIdx, 10) + "] of klp_stub_bug"
	if !strings.HasPrefix(e.PC.Where, wantWhere) || !strings.Contains(e.PC.Where, "ppc64_stub_entry["+strconv.FormatUint(slot, 10)+"]") {
		t.Errorf("PC is %q, want %s under ppc64_stub_entry[%d]", e.PC.Where, wantWhere, slot)
	}
	if e.Category != StubCrash || !hasRule(e.Related, "OOL-OVERLAP", "klp_stub_bug") || !strings.Contains(e.Conclusion, "OOL-OVERLAP explains it") {
		t.Fatalf("category %s, conclusion %q", e.Category, e.Conclusion)
	}
	if !strings.Contains(e.Fix, "correctly iterate over stubs in setup_ftrace_ool_stubs") {
		t.Errorf("fix %q: want seed 000's fix", e.Fix)
	}
	// The executed doubleword is ftrace's ops pointer, as the scenario
	// says (ftrace_rec_update_ops() stores the record's ops).
	if !strings.Contains(e.PC.Pointer, "&global_ops") || !strings.Contains(e.Conclusion, "&global_ops") {
		t.Errorf("pointer %q, conclusion %q: want &global_ops named", e.PC.Pointer, e.Conclusion)
	}
	// The LR's call (klp_call_secret's bl) went through the slot.
	via := false
	for _, f := range e.Frames {
		if f.PC == c.lr && strings.Contains(f.Via, "ppc64_stub_entry["+strconv.FormatUint(slot, 10)+"]") {
			via = true
		}
	}
	if !via {
		t.Errorf("no frame at LR %#x that called through slot %d: %+v", c.lr, slot, e.Frames)
	}
}

// TestFindPanicDirect: a direct panic with no oops before it (sysrq-c on
// 7.2 calls panic() itself): the CPU line and no registers.
func TestFindPanicDirect(t *testing.T) {
	recs := []kernel.LogRecord{
		{Text: "sysrq: Trigger a crash"},
		{Text: "Kernel panic - not syncing: sysrq triggered crash"},
		{Text: "CPU: 0 UID: 0 PID: 1 Comm: init Tainted: G           O  K     7.2.13 #5 PREEMPTLAZY "},
	}
	p := FindPanic(recs)
	if !p.Found || p.Message != "sysrq triggered crash" || p.Oops != "" || p.HaveRegs {
		t.Errorf("%+v", p)
	}
	// The CPU line follows the panic line: parsed only within the report.
	recs = append([]kernel.LogRecord{{Text: "BUG: Kernel NULL pointer dereference on read at 0x00000000"}, {Text: "CPU: 1 UID: 0 PID: 7 Comm: kworker/1:0 Not tainted 7.2.13 #5"}}, recs[1:]...)
	p = FindPanic(recs)
	if p.Oops != "BUG: Kernel NULL pointer dereference on read at 0x00000000" || p.CPU != 1 || p.PID != 7 || p.Comm != "kworker/1:0" {
		t.Errorf("%+v", p)
	}
}

// TestWhyOrdinaryPanic: `echo c > /proc/sysrq-trigger` on the fixed
// kernel (7.2 calls panic() directly): an ordinary panic, said so, with
// the PC at the caller of panic that the console's call trace shows.
func TestWhyOrdinaryPanic(t *testing.T) {
	dir := "../testdata/example/crash-sysrq-c"
	b, err := os.ReadFile(filepath.Join(dir, "console-oops.txt"))
	if err != nil {
		t.Fatal(err)
	}
	c := readConsole(t, filepath.Join(dir, "console-oops.txt"))
	// The console's call trace: the first entry past the panic functions.
	var caller string
	for _, l := range strings.Split(string(b), "\n") {
		m := regexp.MustCompile(`^\[[0-9a-f]+\] \[[0-9a-f]+\] (\S+?)\+(0x[0-9a-f]+)/`).FindStringSubmatch(strings.TrimSpace(l))
		if m != nil && !panicFuncs[m[1]] {
			caller = m[1] + "+" + m[2]
			break
		}
	}
	e, _ := explain(t, filepath.Join(dir, "vmcore.zst"))
	if e.Category != Ordinary || e.Panic.Message != c.panic || e.Panic.Oops != "" {
		t.Fatalf("category %s panic %q oops %q; console panic %q, no oops", e.Category, e.Panic.Message, e.Panic.Oops, c.panic)
	}
	if e.PC == nil || e.PC.Location != caller {
		t.Errorf("PC %+v, the console's caller of panic is %s", e.PC, caller)
	}
	if e.CPU != c.cpu || e.Task.PID != c.pid || e.Task.Comm != c.comm {
		t.Errorf("CPU %d PID %d %q, console CPU %d PID %d %q", e.CPU, e.Task.PID, e.Task.Comm, c.cpu, c.pid, c.comm)
	}
	if !strings.Contains(e.Conclusion, "Nothing connects this crash to module stubs, ftrace or livepatch") || len(e.Related) != 0 || e.Fix != "" {
		t.Errorf("conclusion %q, related %d, fix %q", e.Conclusion, len(e.Related), e.Fix)
	}
}

// TestWhyStubPastEnd: a real crash of the fixed kernel (seed 003's
// setting): powerpc never clears klp relocations, so each reload of
// klp_tgt at a new address made klp_stub_bug's loader add a stub; the
// fourth address's stub went past the end of .stubs, over
// klp_call_secret, and the call crashed there. Expected values: the
// guest's .stubs address and size (klp_info's section header), its
// stub_count before the reloads, the reload log, the console's oops.
func TestWhyStubPastEnd(t *testing.T) {
	dir := "../testdata/example/crash-stub-past-end"
	c := readConsole(t, filepath.Join(dir, "console-oops.txt"))
	var g struct {
		Arch struct {
			StubCount uint64 `json:"stub_count"`
		} `json:"arch"`
		Stubs  string `json:"stubs"`
		Sechdr struct {
			Size string `json:"size"`
		} `json:"stubs_sechdr"`
	}
	testcorpus.LoadJSON(t, filepath.Join(dir, "guest-klp_stub_bug.json"), &g)
	stubs := testcorpus.Hex(t, g.Stubs)
	size := testcorpus.Hex(t, g.Sechdr.Size)
	rl, err := os.ReadFile(filepath.Join(dir, "guest-reloads.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`distinct=(\d+)`).FindAllStringSubmatch(string(rl), -1)
	distinct, _ := strconv.Atoi(m[len(m)-1][1])
	wantCount := g.Arch.StubCount + uint64(distinct-1) // one new stub per new address
	slot := (c.nip - stubs) / 40
	if c.nip < stubs+size || slot >= wantCount {
		t.Fatalf("ground truth: NIP %#x is not in a slot past .stubs [%#x, +%#x) below stub_count %d", c.nip, stubs, size, wantCount)
	}

	e, _ := explain(t, filepath.Join(dir, "vmcore.zst"))
	if e.Panic.Oops != "BUG: Unable to handle kernel data access at 0xfffffffffffffff9" {
		t.Errorf("report header %q: want the first line of the report", e.Panic.Oops)
	}
	if e.PC == nil || e.PC.Addr != c.nip || e.Trap != c.trap {
		t.Fatalf("PC %+v trap %#x; console NIP %#x TRAP %#x", e.PC, e.Trap, c.nip, c.trap)
	}
	want := "ppc64_stub_entry[" + strconv.FormatUint(slot, 10) + "] of klp_stub_bug, written past the end of .stubs (" + strconv.FormatUint(size/40, 10) + " slots; stub_count " + strconv.FormatUint(wantCount, 10) + ")"
	if !strings.HasPrefix(e.PC.Where, want) {
		t.Errorf("PC is %q, want %q", e.PC.Where, want)
	}
	if e.Category != StubCrash || !strings.Contains(e.Conclusion, "STUB-COUNT explains it") || !hasRule(e.Related, "STUB-COUNT", "klp_stub_bug") {
		t.Errorf("category %s, conclusion %q: want STUB-COUNT", e.Category, e.Conclusion)
	}
}

func hasRule(fs []*audit.Finding, rule, mod string) bool {
	for _, f := range fs {
		if f.Rule == rule && f.Module == mod {
			return true
		}
	}
	return false
}
