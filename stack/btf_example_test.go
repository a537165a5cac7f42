package stack

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/distrobtf"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// unwoundSummary prints every context and frame WalkAll found.
func unwoundSummary(all []Unwound, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "err %v\n", err)
	for _, u := range all {
		fmt.Fprintf(&b, "cpu %d note %d task %+v stale %v start %+v err %v\n", u.CPU, u.Note, u.Task, u.Stale, u.Start, u.Err)
		for _, f := range u.Frames {
			fmt.Fprintf(&b, "  %#x %#x %v", f.SP, f.PC, f.Kind)
			if f.Exception != nil {
				fmt.Fprintf(&b, " exception %+v", *f.Exception)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// TestDistroExampleBTFWalk unwinds every CPU and task of both distro-4k
// examples typed by their DWARF and then by the BTF of the same kernel
// (the full distro vmlinux's .BTF), the variables BTF does not describe
// (paca_ptrs, nr_cpu_ids) typed through kernel.VariableFallback: the
// same contexts, tasks, frames and interrupt frames (pt_regs members).
func TestDistroExampleBTFWalk(t *testing.T) {
	bt, _ := distrobtf.Types(t)
	for _, mmu := range []string{"radix", "hash"} {
		t.Run(mmu, func(t *testing.T) {
			p, err := kernel.Open([]string{filepath.Join("..", "testdata", "example", "distro-4k", "vmcore-"+mmu+".zst")}, kernel.Options{CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if !bytes.Equal(p.Vmlinux.BuildID, bt.BuildID) {
				t.Skipf("build-id %x is not the example's %x", bt.BuildID, p.Vmlinux.BuildID)
			}
			want := unwoundSummary(WalkAll(p))
			dt, df := p.Types, p.Features
			p.Types, p.Context.Types, p.Features = bt, kernel.VariableFallback{Types: bt}, kernel.DetectFeatures(bt)
			defer func() { p.Types, p.Context.Types, p.Features = dt, dt, df }()
			got := unwoundSummary(WalkAll(p))
			testcorpus.SameFromBTF(t, got, want)
			t.Logf("%d contexts and frames, the same from BTF as from DWARF", strings.Count(want, "\n"))
		})
	}
}
