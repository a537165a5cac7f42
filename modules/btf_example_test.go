package modules

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/distrobtf"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// summary prints what the module job found, every field a view shows.
func summary(set *Set) string {
	var b strings.Builder
	fmt.Fprintf(&b, "list err %v, features %+v\n", set.ListErr, set.Features)
	for _, a := range set.Modules {
		m := a.Module
		fmt.Fprintf(&b, "%s %#x %s taints %#x livepatch %v\n regions %+v\n sections %+v\n arch %+v\n warnings %q\n klp %+v\n",
			m.Name, m.Addr, m.State, m.Taints, m.Livepatch, m.Regions, m.Sections, m.Arch, m.Warnings, m.KlpSechdrs)
		fmt.Fprintf(&b, " model err %v, stubs err %v, warnings %q\n", a.ModelErr, a.StubsErr, a.Warnings)
		if s := a.Stubs; s != nil {
			fmt.Fprintf(&b, " stubs %#x+%#x %v ool [%#x,%#x) r2 %#x warnings %q\n", s.Base, s.Size, s.SizeSource, s.OOLOff, s.OOLEnd, s.R2, s.Warnings)
			for _, sl := range s.Slots {
				exp := sl.Expected
				sl.Expected = nil
				fmt.Fprintf(&b, "  %+v", sl)
				if exp != nil {
					fmt.Fprintf(&b, " expected %+v", *exp)
				}
				b.WriteByte('\n')
			}
			for _, o := range s.OOL {
				fmt.Fprintf(&b, "  %+v\n", o)
			}
		}
	}
	return b.String()
}

// TestDistroExampleBTF runs the module job on both distro-4k examples
// twice, typed by the example's DWARF and then by the BTF of the same
// kernel (the .BTF of the full distro vmlinux, whose build-id the
// example's minimal vmlinux carries), with no change to the job: every
// module, region, section, mod->arch member (names, offsets, type names,
// values), .stubs slot and OOL stub must come out the same. The pages
// the example holds are those the DWARF-typed job read, so a BTF offset
// that differed would also fault.
func TestDistroExampleBTF(t *testing.T) {
	bt, buildID := distrobtf.Types(t)
	for _, mmu := range []string{"radix", "hash"} {
		t.Run(mmu, func(t *testing.T) {
			p, err := kernel.Open([]string{filepath.Join(distroExample, "vmcore-"+mmu+".zst")}, kernel.Options{CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if !bytes.Equal(p.Vmlinux.BuildID, buildID) {
				t.Skipf("the distro vmlinux's build-id %x is not the example's %x", buildID, p.Vmlinux.BuildID)
			}
			want := summary(Analyze(p))
			dwarfTypes, dwarfFeatures := p.Types, p.Features
			p.Types, p.Context.Types, p.Features = bt, bt, kernel.DetectFeatures(bt)
			defer func() { p.Types, p.Context.Types, p.Features = dwarfTypes, dwarfTypes, dwarfFeatures }()
			if p.Features != dwarfFeatures {
				t.Errorf("features from BTF %+v, from DWARF %+v", p.Features, dwarfFeatures)
			}
			got := summary(Analyze(p))
			testcorpus.SameFromBTF(t, got, want)
			t.Logf("%d lines of module job output, the same from BTF as from DWARF", strings.Count(want, "\n"))
		})
	}
}

// TestDistroDumpMemoryBTF: on a whole dump of the distro kernel
// (bench/distro-dump), the module job typed by the BTF read from the
// dump's own memory (kernel.MemoryBTF: __start_BTF..__stop_BTF, with the
// stripped distro .ko files of modules/) gives the DWARF-typed output.
func TestDistroDumpMemoryBTF(t *testing.T) {
	dir := testcorpus.DistroDump()
	vm, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "vmlinux-*"))
	if st, err := os.Stat(filepath.Join(dir, "vmcore.elf")); err != nil || st.Size() == 0 || len(vm) == 0 {
		t.Skipf("no distro dump and vmlinux in %s (bench/distro-dump/make.sh)", dir)
	}
	p, err := kernel.Open([]string{filepath.Join(dir, "vmcore.elf")}, kernel.Options{Vmlinux: vm[0], ModuleDirs: []string{filepath.Join(dir, "modules")}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	want := summary(Analyze(p))
	m, err := p.MemoryBTF()
	if err != nil {
		t.Fatal(err)
	}
	p.Types, p.Context.Types, p.Features = m.Vmlinux, kernel.VariableFallback{Types: m.Vmlinux}, kernel.DetectFeatures(m.Vmlinux)
	got := summary(Analyze(p))
	testcorpus.SameFromBTF(t, got, want)
	t.Logf("%d lines of module job output, the same from the dump's own BTF as from DWARF", strings.Count(want, "\n"))
}
