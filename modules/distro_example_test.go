package modules

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/arch"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// distroExample holds the committed extracts of two real dumps of
// Debian's 7.2.13+deb14-powerpc64le kernel (4K pages), booted once with
// the radix MMU and once with the hash MMU, with eight of the distro's
// modules loaded, two of which call functions another module exports
// (testdata/example/distro-4k/README.md); guest-MMU/ holds what that
// kernel printed about itself before the dump.
const distroExample = "../testdata/example/distro-4k"

// guestLines returns the fields of each line of a guest-MMU/ file.
func guestLines(t *testing.T, mmu, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(distroExample, "guest-"+mmu, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 0 {
			out = append(out, fs)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func hexAddr(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatalf("address %q: %v", s, err)
	}
	return v
}

// TestDistroExample holds both examples against the guest's own
// /proc/modules, /sys/module/*/sections and /proc/kallsyms: a 4K-page
// radix or hash translation of every module address, the exported-symbol
// tables, and a loader model that agrees with every .stubs word —
// including tcp_yeah's call stub to tcp_vegas_init and sch_fq_pie's to
// sch_pie's exports, which the model resolves through the other module's
// mod->syms (exports.go).
func TestDistroExample(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mmu  string
		want ppc64.MMU
	}{{"radix", ppc64.Radix}, {"hash", ppc64.Hash}} {
		t.Run(tc.mmu, func(t *testing.T) {
			t.Parallel()
			checkDistroExample(t, tc.mmu, tc.want)
		})
	}
}

func checkDistroExample(t *testing.T, mmu string, want ppc64.MMU) {
	p, err := kernel.Open([]string{filepath.Join(distroExample, "vmcore-"+mmu+".zst")}, kernel.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Debian's powerpc64le flavour: 4K pages; the kernel said "Using radix
	// MMU under hypervisor", or with disable_radix "hash-mmu: Page orders:
	// linear mapping = 12" (bench/distro-dump).
	if p.PageSize != 4096 || p.Arch.MMU() != want.String() {
		t.Fatalf("page size %d, MMU %v; want 4096, %v", p.PageSize, p.Arch.MMU(), want)
	}
	set := Analyze(p)
	if set.ListErr != nil {
		t.Fatal(set.ListErr)
	}
	// A 4K radix PGD has 2^13 entries (64 KiB, radix-4k.h:
	// RADIX_PGD_INDEX_SIZE 13) and the module area's entries lie past its
	// first 4 KiB page — the page crash reads alone.
	if a := set.Find("tcp_vegas"); mmu == "radix" && a != nil && len(a.Module.Regions) > 0 {
		w, err := p.Arch.(arch.Walker).Walk(a.Module.Regions[0].Base)
		if err != nil || len(w.Steps) == 0 {
			t.Fatalf("walk of tcp_vegas's base: %v", err)
		}
		t.Logf("tcp_vegas base %#x: PGD index %d, entry at physical %#x", a.Module.Regions[0].Base, w.Steps[0].Index, w.Steps[0].EntryAddr)
		if pgd := w.Steps[0]; pgd.Index < 512 {
			t.Errorf("PGD index %d of a module address: expected past the PGD's first page", pgd.Index)
		}
	}

	// /proc/modules: name size refcount users state base.
	proc := guestLines(t, mmu, "proc-modules.txt")
	if len(set.Modules) != len(proc) {
		t.Errorf("%d modules, the guest listed %d", len(set.Modules), len(proc))
	}
	for _, l := range proc {
		a := set.Find(l[0])
		if a == nil {
			t.Errorf("module %s of /proc/modules not found", l[0])
			continue
		}
		var text uint64
		for _, r := range a.Module.Regions {
			if r.Name == "MOD_TEXT" {
				text = r.Base
			}
		}
		if want := hexAddr(t, l[len(l)-1]); text != want {
			t.Errorf("%s: MOD_TEXT at %#x, /proc/modules says %#x", l[0], text, want)
		}
	}

	// /sys/module/NAME/sections/SECTION.
	for _, l := range guestLines(t, mmu, "sections.txt") {
		a := set.Find(l[0])
		if a == nil {
			continue
		}
		got, ok := a.Module.SectionAddr(l[1])
		if want := hexAddr(t, l[2]); !ok || got != want {
			t.Errorf("%s %s: %#x (%v), sysfs says %#x", l[0], l[1], got, ok, want)
		}
	}

	// /proc/kallsyms prints an uppercase letter exactly for what
	// is_exported() finds in mod->syms.
	exported := map[string]map[string]uint64{}
	for _, l := range guestLines(t, mmu, "kallsyms-modules.txt") {
		mod := strings.Trim(l[3], "[]")
		if l[1] != strings.ToUpper(l[1]) {
			continue
		}
		if exported[mod] == nil {
			exported[mod] = map[string]uint64{}
		}
		exported[mod][l[2]] = hexAddr(t, l[0])
	}
	if len(exported["tcp_vegas"]) == 0 || len(exported["sch_pie"]) == 0 {
		t.Fatalf("guest kallsyms lists no exports of tcp_vegas or sch_pie: %v", exported)
	}
	for _, a := range set.Modules {
		syms, err := ReadExports(a.Module)
		if err != nil {
			t.Errorf("%s: %v", a.Module.Name, err)
		}
		want := exported[a.Module.Name]
		if len(syms) != len(want) {
			t.Errorf("%s: %d exports, kallsyms shows %d: %v", a.Module.Name, len(syms), len(want), syms)
		}
		for _, s := range syms {
			if addr, ok := want[s.Name]; !ok || addr != s.Value {
				t.Errorf("%s exports %s at %#x; kallsyms: %#x (%v)", a.Module.Name, s.Name, s.Value, addr, ok)
			}
		}
	}

	// The loader model agrees with every slot the kernel wrote.
	for _, a := range set.Modules {
		if a.Model == nil || a.ModelErr != nil || a.Stubs == nil {
			t.Errorf("%s: model %v (%v), stubs %v", a.Module.Name, a.Model != nil, a.ModelErr, a.StubsErr)
			continue
		}
		for _, s := range a.Stubs.Slots {
			if len(s.Mismatch) > 0 {
				t.Errorf("%s slot %d (%s → %s): words %v differ from the model", a.Module.Name, s.Index, s.Kind, s.TargetName, s.Mismatch)
			}
		}
	}
	calls := func(mod string) map[uint64]bool {
		out := map[uint64]bool{}
		if a := set.Find(mod); a != nil && a.Stubs != nil {
			for _, s := range a.Stubs.Slots {
				if s.Kind == SlotCall {
					out[s.Target] = true
				}
			}
		}
		return out
	}
	if !calls("tcp_yeah")[exported["tcp_vegas"]["tcp_vegas_init"]] {
		t.Errorf("tcp_yeah has no call stub to tcp_vegas_init (%#x)", exported["tcp_vegas"]["tcp_vegas_init"])
	}
	for _, f := range []string{"pie_process_dequeue", "pie_calculate_probability", "pie_drop_early"} {
		if !calls("sch_fq_pie")[exported["sch_pie"][f]] {
			t.Errorf("sch_fq_pie has no call stub to %s (%#x)", f, exported["sch_pie"][f])
		}
	}
}
