// Package testprog opens the corpora's dumps as kernel programs for tests
// and holds the stacks the tool unwound against the ones drgn unwound
// (testcorpus finds the dumps and reads their truth; this package needs
// the program, which testcorpus, imported by kernel's own tests, cannot
// import).
//
// Layer: test support (docs/ARCHITECTURE.md).
package testprog

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/stack"

	// A program opened here reads DWARF types and lines as
	// cmd/kdump-inspect's does.
	_ "github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
)

// Open opens a dump (kernel.Open of paths with o), failing t when it
// cannot; the program is closed when t ends.
func Open(t testing.TB, paths []string, o kernel.Options) *kernel.Program {
	t.Helper()
	p, err := kernel.Open(paths, o)
	if err != nil {
		t.Fatalf("opening %v: %v", paths, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// OpenCorpus opens the ppc64 corpus dump name (testcorpus.Dir: t is
// skipped without the corpus) from its kdump file with VMCOREINFO, and
// returns it with its directory; the program is closed when t ends.
func OpenCorpus(t testing.TB, name string) (*kernel.Program, string) {
	t.Helper()
	dir := testcorpus.Dir(t, name)
	return Open(t, []string{filepath.Join(dir, "vmcore-vmcoreinfo.kdump")}, kernel.Options{}), dir
}

// OpenWithVmlinux opens dir's dump file name (decompressed once to the
// cache) with dir's vmlinux, as the built corpora lay them out; the
// program is closed when t ends.
func OpenWithVmlinux(t testing.TB, dir, name string) *kernel.Program {
	t.Helper()
	plain := testcorpus.Decompressed(t, filepath.Join(dir, name))
	return Open(t, []string{plain}, kernel.Options{Vmlinux: filepath.Join(dir, "vmlinux")})
}

// CPUStack is a CPU's current task and the pcs of its stack as drgn
// unwound it, each inlined frame folded into its caller (drgn repeats the
// caller's pc for it: AppendPC).
type CPUStack struct {
	CPU  int
	Task uint64
	PCs  []uint64
}

// AppendPC appends drgn's next frame's pc unless it repeats the last
// (an inlined frame).
func AppendPC(pcs []uint64, pc uint64) []uint64 {
	if len(pcs) == 0 || pcs[len(pcs)-1] != pc {
		pcs = append(pcs, pc)
	}
	return pcs
}

// CheckCPUStacks holds each CPU's unwound stack (its current task's
// context, not a stale one) against drgn's: the same task, the same pcs
// frame by frame. It returns the contexts it checked, by CPU.
func CheckCPUStacks(t testing.TB, us []stack.Unwound, want []CPUStack) map[int]*stack.Unwound {
	t.Helper()
	got := map[int]*stack.Unwound{}
	for _, w := range want {
		found := false
		for i := range us {
			u := &us[i]
			if u.CPU != w.CPU || u.Stale || !u.HasTask {
				continue
			}
			found = true
			got[w.CPU] = u
			var pcs []uint64
			for _, f := range u.Frames {
				pcs = append(pcs, f.PC)
			}
			if fmt.Sprintf("%#x", pcs) != fmt.Sprintf("%#x", w.PCs) || u.Task.Addr != w.Task {
				t.Errorf("CPU %d (task %#x): %#x (%v); drgn task %#x %#x", w.CPU, u.Task.Addr, pcs, u.Err, w.Task, w.PCs)
			}
		}
		if !found {
			t.Errorf("CPU %d not unwound", w.CPU)
		}
	}
	return got
}
