package damage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// corpusJob is the buggy-radix dump with its debuginfo named explicitly
// (a damaged copy in a temporary directory has nothing beside it).
func corpusJob(t *testing.T, name string) (dumpPath string, opts kernel.Options) {
	t.Helper()
	dir := testcorpus.Dir(t, name)
	opts = kernel.Options{
		Vmlinux:    container.FollowLinkFile(filepath.Join(dir, "vmlinux.zst")),
		ModuleDirs: []string{container.FollowLinkFile(filepath.Join(dir, "modules"))},
	}
	return filepath.Join(dir, "vmcore-vmcoreinfo.kdump"), opts
}

// analysis is what kernel.Open + modules.Analyze made of one dump.
type analysis struct {
	openErr  error
	modules  int
	listErr  error
	problems []string // warnings and per-module errors, for "was it noticed"
}

func analyse(t *testing.T, path string, opts kernel.Options) analysis {
	t.Helper()
	var a analysis
	within(t, 120*time.Second, "kernel.Open+modules.Analyze of "+filepath.Base(path), func() {
		p, err := kernel.Open([]string{path}, opts)
		if err != nil {
			a.openErr = err
			return
		}
		defer p.Close()
		a.problems = append(a.problems, p.Warnings...)
		set := modules.Analyze(p)
		a.modules, a.listErr = len(set.Modules), set.ListErr
		if set.ListErr != nil {
			a.problems = append(a.problems, set.ListErr.Error())
		}
		for _, m := range set.Modules {
			a.problems = append(a.problems, m.Module.Warnings...)
			if m.StubsErr != nil {
				a.problems = append(a.problems, m.StubsErr.Error())
			}
			if m.Stubs != nil {
				a.problems = append(a.problems, m.Stubs.Warnings...)
			}
		}
	})
	return a
}

// auditJob runs audit.AuditDump and checks the exit-status-2 contract:
// Error set exactly when the dump cannot be analysed (the program could
// not be opened, or not one module could be read), and never from the
// recover (a panic below it is a bug even though AuditDump survives).
func auditJob(t *testing.T, job audit.Job, cannotAnalyse bool) audit.DumpResult {
	t.Helper()
	var res audit.DumpResult
	within(t, 180*time.Second, "audit.AuditDump", func() { res = audit.AuditDump(job, audit.Options{}) })
	if strings.HasPrefix(res.Error, "internal error") {
		t.Errorf("audit.AuditDump recovered a panic: %s", res.Error)
	}
	if cannotAnalyse != res.Failed() {
		t.Errorf("AuditDump.Error = %q, but the dump cannot be analysed = %v", res.Error, cannotAnalyse)
	}
	return res
}

// checkWhere: an error that stops the analysis says where: a file offset
// (*dump.FormatError), an address (*dump.Fault, *kernel.ListError), or
// it names the file.
func checkWhere(t *testing.T, what string, err error, path string) {
	t.Helper()
	var fe *dump.FormatError
	var le *kernel.ListError
	if errors.As(err, &fe) || errors.As(err, &le) {
		return
	}
	if _, ok := dump.IsFault(err); ok {
		return
	}
	if !strings.Contains(err.Error(), path) && !strings.Contains(err.Error(), "0x") {
		t.Errorf("%s: error says neither where nor which file: %v", what, err)
	}
}

func newProblems(good, bad analysis) []string {
	old := map[string]bool{}
	for _, w := range good.problems {
		old[w] = true
	}
	var out []string
	for _, w := range bad.problems {
		if !old[w] {
			out = append(out, w)
		}
	}
	return out
}

// TestFileDamageCorpus damages a real kdump-compressed dump (every
// variant of KdumpVariants) and runs every layer over it.
func TestFileDamageCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus damage: -short")
	}
	path, opts := corpusJob(t, "buggy-radix")
	goodBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	good := analyse(t, path, opts)
	if good.openErr != nil || good.modules == 0 {
		t.Fatalf("good dump: %v, %d modules", good.openErr, good.modules)
	}
	vs, err := KdumpVariants(goodBytes)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, v := range vs {
		t.Run(fmt.Sprintf("%02d %s", i, v.Name), func(t *testing.T) {
			p := filepath.Join(dir, fmt.Sprintf("v%02d.kdump", i))
			if err := v.WriteFile(goodBytes, p); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(p)
			bad := analyse(t, p, opts)
			if bad.openErr != nil {
				checkWhere(t, "kernel.Open", bad.openErr, p)
			}
			res := auditJob(t, audit.Job{Paths: []string{p}, Options: opts}, bad.openErr != nil || (bad.modules == 0 && bad.listErr != nil))
			np := newProblems(good, bad)
			if v.Kind == Truncate && bad.openErr == nil && len(np) == 0 {
				t.Errorf("%v: the analysis did not notice the truncation", v)
			}
			t.Logf("%v: open error: %v; modules %d/%d; new problems %d (first: %.200q); audit error %q, %d findings",
				v, bad.openErr, bad.modules, good.modules, len(np), first(np), res.Error, len(res.Findings))
		})
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// goodProgram opens the good corpus dump once for translating the damage
// and reading the addresses of what is damaged.
func goodProgram(t *testing.T) (*kernel.Program, []*modules.Module, string, kernel.Options) {
	t.Helper()
	path, opts := corpusJob(t, "buggy-radix")
	p, err := kernel.Open([]string{path}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	mods, err := modules.List(p)
	if err != nil || len(mods) < 6 {
		t.Fatalf("good dump: %d modules, %v", len(mods), err)
	}
	return p, mods, path, opts
}

// memberAddr returns the address and size of a member of a module.
func memberAddr(t *testing.T, m *modules.Module, path string) (uint64, int64) {
	t.Helper()
	o, err := m.Obj.Member(path)
	if err != nil {
		t.Fatalf("%s: %s: %v", m.Name, path, err)
	}
	return o.Addr, o.Size()
}

func openDamaged(t *testing.T, path string, opts kernel.Options, v *Virt) *kernel.Program {
	t.Helper()
	opts.PhysWrap = v.Wrap
	var p *kernel.Program
	var err error
	within(t, 60*time.Second, "kernel.Open", func() { p, err = kernel.Open([]string{path}, opts) })
	if err != nil {
		t.Fatalf("kernel.Open on damaged memory: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// listWithNext lists the modules of the dump at path with m's list.next
// pointed at to (in v, over p0's memory): the walk must stop with a
// ListError of kind (what) at to. It returns the damaged program, v, the
// modules List kept and its error.
func listWithNext(t *testing.T, p0 *kernel.Program, m *modules.Module, path string, opts kernel.Options, to uint64, kind kernel.ListErrorKind, what string) (*kernel.Program, *Virt, []*modules.Module, error) {
	t.Helper()
	v := NewVirt(p0)
	next, _ := memberAddr(t, m, "list.next")
	if err := v.PatchU64(next, to); err != nil {
		t.Fatal(err)
	}
	p := openDamaged(t, path, opts, v)
	var got []*modules.Module
	var lerr error
	within(t, 30*time.Second, "modules.List", func() { got, lerr = modules.List(p) })
	var le *kernel.ListError
	if !errors.As(lerr, &le) || le.Kind != kind || le.Addr != to {
		t.Fatalf("List error = %v, want %s at %#x", lerr, what, to)
	}
	return p, v, got, lerr
}

// damagedJob is the audit job of the dump at path read through v.
func damagedJob(path string, opts kernel.Options, v *Virt) audit.Job {
	return audit.Job{Paths: []string{path}, Options: kernel.Options{Vmlinux: opts.Vmlinux, ModuleDirs: opts.ModuleDirs, PhysWrap: v.Wrap}}
}

// TestModuleListLoops: the 4th module's list.next points back at the 2nd
// module's list_head. The walk stops with a ListCycle naming that node,
// and the modules read before are kept.
func TestModuleListLoops(t *testing.T) {
	p0, mods, path, opts := goodProgram(t)
	target, _ := memberAddr(t, mods[1], "list")
	p, v, got, _ := listWithNext(t, p0, mods[3], path, opts, target, kernel.ListCycle, "a cycle")
	if len(got) != 4 || got[3].Addr != mods[3].Addr {
		t.Errorf("List kept %d modules, want the 4 before the loop", len(got))
	}
	var set *modules.Set
	within(t, 60*time.Second, "modules.Analyze", func() { set = modules.Analyze(p) })
	if set.ListErr == nil || len(set.Modules) != 4 {
		t.Errorf("Analyze: ListErr %v, %d modules", set.ListErr, len(set.Modules))
	}
	res := auditJob(t, damagedJob(path, opts, v), false)
	if !containsAll(res.Warnings, "cycle", fmt.Sprintf("%#x", target)) {
		t.Errorf("audit warnings do not report the cycle at %#x: %q", target, res.Warnings)
	}
}

// TestModulePointerUnmapped: the 3rd module's list.next points into
// module space that the page tables do not map.
func TestModulePointerUnmapped(t *testing.T) {
	p0, mods, path, opts := goodProgram(t)
	bad, ok := Unmapped(p0, mods[0].Addr&^0xffffff+0x7f000000, 0x10000)
	if !ok {
		t.Skip("no unmapped module-space address found")
	}
	_, v, got, lerr := listWithNext(t, p0, mods[2], path, opts, bad, kernel.ListBadPointer, "a bad pointer")
	f, ok := dump.IsFault(lerr)
	if !ok || f.Phys || f.Addr != bad || f.Reason != dump.Unmapped {
		t.Errorf("fault = %+v, want virtual %#x unmapped", f, bad)
	}
	if len(got) != 3 {
		t.Errorf("List kept %d modules, want 3", len(got))
	}
	res := auditJob(t, damagedJob(path, opts, v), false)
	if res.Modules != 3 || !containsAll(res.Warnings, fmt.Sprintf("%#x", bad)) {
		t.Errorf("audit: %d modules, warnings %q", res.Modules, res.Warnings)
	}
}

// TestSectAttrsUnmapped: mod->sect_attrs points at unmapped memory. The
// module is still listed, with a warning, and .stubs cannot be found.
func TestSectAttrsUnmapped(t *testing.T) {
	p0, mods, path, opts := goodProgram(t)
	bad, ok := Unmapped(p0, mods[0].Addr&^0xffffff+0x7f000000, 0x10000)
	if !ok {
		t.Skip("no unmapped module-space address found")
	}
	v := NewVirt(p0)
	sa, size := memberAddr(t, mods[1], "sect_attrs")
	if err := v.PatchUint(sa, size, bad); err != nil {
		t.Fatal(err)
	}
	p := openDamaged(t, path, opts, v)
	got, err := modules.List(p)
	if err != nil || len(got) != len(mods) {
		t.Fatalf("List: %d modules, %v", len(got), err)
	}
	m := got[1]
	if len(m.Sections) != 0 || !containsAll(m.Warnings, "sect_attrs", fmt.Sprintf("%#x", bad>>16), "not mapped") {
		t.Errorf("%s: %d sections, warnings %q", m.Name, len(m.Sections), m.Warnings)
	}
	if _, err := modules.ReadStubs(p, m, modules.StubsInput{}); err == nil || !strings.Contains(err.Error(), m.Name) {
		t.Errorf("ReadStubs without sections: %v", err)
	}
}

// oolModule returns a module whose arch has an OOL array.
func oolModule(t *testing.T, mods []*modules.Module) *modules.Module {
	for _, m := range mods {
		if m.Arch.HasOOL && m.Arch.OOLStubs != 0 && m.Arch.OOLStubCount > 0 {
			return m
		}
	}
	t.Skip("no module with an OOL array")
	return nil
}

// allocDuring returns the bytes allocated while f runs.
func allocDuring(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestAbsurdCounts: ool_stub_count and stub_count = 0xffffffff. The
// reader warns, bounds the arrays by the section, and allocates little.
func TestAbsurdCounts(t *testing.T) {
	p0, mods, path, opts := goodProgram(t)
	m := oolModule(t, mods)
	in := modules.StubsInput{}
	goodStubs, err := modules.ReadStubs(p0, m, in)
	if err != nil {
		t.Fatal(err)
	}
	goodAlloc := allocDuring(func() { modules.ReadStubs(p0, m, in) })
	for _, member := range []string{"arch.ool_stub_count", "arch.stub_count"} {
		t.Run(member, func(t *testing.T) {
			v := NewVirt(p0)
			a, size := memberAddr(t, m, member)
			if err := v.PatchUint(a, size, 0xffffffff); err != nil {
				t.Fatal(err)
			}
			p := openDamaged(t, path, opts, v)
			got, err := modules.List(p)
			if err != nil {
				t.Fatal(err)
			}
			dm := modules.Find(got, m.Name)
			var s *modules.Stubs
			var serr error
			alloc := allocDuring(func() {
				within(t, 30*time.Second, "ReadStubs", func() { s, serr = modules.ReadStubs(p, dm, in) })
			})
			t.Logf("%s = 0xffffffff: ReadStubs allocated %d bytes (good dump: %d)", member, alloc, goodAlloc)
			// .stubs is capped at 64K slots (2.6 MB); its decoded slots
			// and OOL entries are bounded by that.
			if alloc > 64<<20 {
				t.Errorf("ReadStubs allocated %d bytes", alloc)
			}
			if serr != nil {
				t.Fatalf("ReadStubs: %v", serr)
			}
			if uint64(len(s.OOL))*modules.OOLStubSize > s.Size {
				t.Errorf("%d OOL entries in %d bytes of .stubs", len(s.OOL), s.Size)
			}
			if len(s.Warnings) == 0 {
				t.Errorf("no warning for %s = 0xffffffff", member)
			}
			if member == "arch.ool_stub_count" && (s.Size < goodStubs.Size || !containsAll(s.Warnings, "ool_stub_count 4294967295")) {
				t.Errorf("size %d (good %d), warnings %q", s.Size, goodStubs.Size, s.Warnings)
			}
			var set *modules.Set
			aAlloc := allocDuring(func() {
				within(t, 60*time.Second, "modules.Analyze", func() { set = modules.Analyze(p) })
			})
			t.Logf("modules.Analyze allocated %d bytes", aAlloc)
			if a := set.Find(m.Name); a == nil || a.Stubs == nil {
				t.Errorf("%s lost from the analysis", m.Name)
			}
			auditJob(t, damagedJob(path, opts, v), false)
		})
	}
}

// TestStubsGarbage: a module's .stubs overwritten with pseudo-random
// bytes. Every slot is still decoded and classified; none is taken for a
// call stub.
func TestStubsGarbage(t *testing.T) {
	p0, mods, path, opts := goodProgram(t)
	m := oolModule(t, mods)
	gs, err := modules.ReadStubs(p0, m, modules.StubsInput{})
	if err != nil {
		t.Fatal(err)
	}
	v := NewVirt(p0)
	if err := v.Patch(gs.Base, Garbage(int(gs.Size), 0x9e3779b97f4a7c15)); err != nil {
		t.Fatal(err)
	}
	p := openDamaged(t, path, opts, v)
	got, err := modules.List(p)
	if err != nil {
		t.Fatal(err)
	}
	s, err := modules.ReadStubs(p, modules.Find(got, m.Name), modules.StubsInput{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[modules.SlotKind]int{}
	for _, sl := range s.Slots {
		kinds[sl.Kind]++
	}
	if kinds[modules.SlotCall] != 0 || kinds[modules.SlotFree] != 0 || len(s.Slots) != len(gs.Slots) {
		t.Errorf("garbage classified as %v (%d slots, good %d)", kinds, len(s.Slots), len(gs.Slots))
	}
	s.Overlay()
	res := auditJob(t, damagedJob(path, opts, v), false)
	t.Logf("audit of garbage .stubs: %d findings, %d warnings", len(res.Findings), len(res.Warnings))
}

// TestKernelUnopenable: __pte_index_size garbage: the kernel space cannot
// be set up, kernel.Open fails naming the variable and its address, and
// AuditDump reports the dump as not analysable (exit status 2).
func TestKernelUnopenable(t *testing.T) {
	p0, _, path, opts := goodProgram(t)
	a, err := p0.SymbolAddr("__pte_index_size")
	if err != nil {
		t.Fatal(err)
	}
	v := NewVirt(p0)
	if err := v.PatchU64(a, 0x4141414141414141); err != nil {
		t.Fatal(err)
	}
	opts.PhysWrap = v.Wrap
	_, err = kernel.Open([]string{path}, opts)
	if err == nil {
		t.Fatal("kernel.Open accepted a garbage __pte_index_size")
	}
	t.Logf("kernel.Open: %v", err)
	res := auditJob(t, audit.Job{Paths: []string{path}, Options: opts}, true)
	if !res.Failed() {
		t.Errorf("AuditDump did not fail")
	}
}

func containsAll(ss []string, subs ...string) bool {
	for _, s := range ss {
		ok := true
		for _, sub := range subs {
			ok = ok && strings.Contains(s, sub)
		}
		if ok {
			return true
		}
	}
	return false
}
