package stack_test

import (
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/arch/x86"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testprog"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// guestVMCOREINFO is the guest's own VMCOREINFO (truth.json
// guest.blocks.vmcoreinfo: what the guest printed before the dump).
func guestVMCOREINFO(tr testcorpus.Truth) map[string]string {
	out := map[string]string{}
	g, _ := tr["guest"].(map[string]any)
	b, _ := g["blocks"].(map[string]any)
	lines, _ := b["vmcoreinfo"].([]any)
	for _, l := range lines {
		if k, v, ok := strings.Cut(l.(string), "="); ok {
			out[k] = v
		}
	}
	return out
}

// TestX86NoVMCOREINFOCorpus: bench/x86-corpus's distro-nokaslr was dumped
// by QEMU without -device vmcoreinfo, so neither file has a VMCOREINFO
// note (drgn 0.3.0 cannot open it; its truth comes from a copy with the
// note added). The layout comes from the QEMU CPU state and must be the
// guest's (KERNELOFFSET=0, NUMBER(phys_base)=0, 4 levels, as it printed
// them); then the modules (struct module and MOD_TEXT of each, drgn's
// truth), the CPUs' stacks (drgn's frames), the enabled ftrace records
// (drgn's) and the audit (no findings, the vmlinux fully checked) read as
// on any other dump.
func TestX86NoVMCOREINFOCorpus(t *testing.T) {
	dir := testcorpus.Corpora(t, "x86", "distro-nokaslr")
	tr := testcorpus.LoadTruth(t, dir)
	gvi := guestVMCOREINFO(tr)
	wantOff, _ := strconv.ParseUint(gvi["KERNELOFFSET"], 16, 64)
	wantPB, err := strconv.ParseInt(gvi["NUMBER(phys_base)"], 10, 64)
	if err != nil || gvi["KERNELOFFSET"] == "" {
		t.Fatalf("guest VMCOREINFO: KERNELOFFSET %q phys_base %q", gvi["KERNELOFFSET"], gvi["NUMBER(phys_base)"])
	}
	g := tr["guest"].(map[string]any)
	wantL5 := g["pgtable_l5_enabled"] == float64(1) || g["pgtable_l5_enabled"] == "1"
	dm := tr["dump"].(map[string]any)

	for _, name := range []string{"vmcore.kdump", "vmcore.elf.zst"} {
		t.Run(name, func(t *testing.T) {
			p := testprog.OpenWithVmlinux(t, dir, name)
			if p.Dump.VMCOREINFO != nil || p.Dump.VMCOREINFORaw != nil {
				t.Fatalf("the dump has a VMCOREINFO note: not the case under test")
			}
			k := p.Arch.(*x86.Kernel)
			if k.Offset != wantOff || int64(k.PhysBase) != wantPB || k.L5 != wantL5 {
				t.Errorf("layout: offset %#x phys_base %#x L5 %v; the guest printed KERNELOFFSET=%x phys_base=%d l5 %v", k.Offset, k.PhysBase, k.L5, wantOff, wantPB, wantL5)
			}
			if !strings.Contains(k.LayoutFrom(), "from the QEMU CPU state; no VMCOREINFO") {
				t.Errorf("layout source: %s", k.LayoutFrom())
			}
			if !strings.Contains(p.InfoSource, "they agree") {
				t.Errorf("VMCOREINFO source %q, warnings %q", p.InfoSource, p.Warnings)
			}
			a := analysis.New(p)
			// mod: every module of drgn's truth, at its struct module and
			// MOD_TEXT base.
			set := a.Modules()
			got := map[string][2]uint64{}
			for _, m := range set.Modules {
				for _, r := range m.Module.Regions {
					if r.Name == "MOD_TEXT" {
						got[m.Module.Name] = [2]uint64{m.Module.Addr, r.Base}
					}
				}
			}
			tms := tr.DumpModules()
			if len(tms) == 0 || len(got) != len(tms) {
				t.Errorf("%d modules, truth %d", len(got), len(tms))
			}
			for _, tm := range tms {
				var text uint64
				for _, r := range tm["mem"].([]any) {
					if r := r.(map[string]any); r["type"] == "MOD_TEXT" {
						text = testcorpus.Hex(t, r["base"])
					}
				}
				want := [2]uint64{testcorpus.Hex(t, tm["struct_module"]), text}
				if got[tm["name"].(string)] != want {
					t.Errorf("module %s: %#x, truth %#x", tm["name"], got[tm["name"].(string)], want)
				}
			}
			// bt: each CPU's frames, drgn's (inline frames share a PC).
			us, _ := a.Stacks()
			for _, c := range dm["cpus"].([]any) {
				c := c.(map[string]any)
				cpu := int(c["cpu"].(float64))
				var want, have []uint64
				for _, f := range c["stack"].([]any) {
					if f := f.(map[string]any); f["inline"] != true {
						want = append(want, testcorpus.Hex(t, f["pc"]))
					}
				}
				for _, u := range us {
					if u.CPU == cpu && !u.Stale {
						for _, f := range u.Frames {
							have = append(have, f.PC)
						}
					}
				}
				if len(want) == 0 || !slices.Equal(want, have) {
					t.Errorf("CPU %d: frames %#x, drgn's %#x", cpu, have, want)
				}
			}
			// ftrace: the enabled records are drgn's.
			st, err := a.Ftrace()
			if err != nil {
				t.Fatal(err)
			}
			var en, wantEn []uint64
			for _, r := range st.Enabled() {
				en = append(en, r.IP)
			}
			for _, r := range dm["vmlinux_records_decoded"].([]any) {
				wantEn = append(wantEn, testcorpus.Hex(t, r.(map[string]any)["ip"]))
			}
			for _, tm := range tms {
				recs, _ := tm["ftrace_records"].([]any)
				for _, r := range recs {
					r := r.(map[string]any)
					if testcorpus.Hex(t, r["flags"])&0x80000000 != 0 { // FTRACE_FL_ENABLED
						wantEn = append(wantEn, testcorpus.Hex(t, r["ip"]))
					}
				}
			}
			sort.Slice(en, func(i, j int) bool { return en[i] < en[j] })
			sort.Slice(wantEn, func(i, j int) bool { return wantEn[i] < wantEn[j] })
			if want := int(tr["checks"].(map[string]any)["dump_enabled_records"].(float64)); len(wantEn) != want || !slices.Equal(en, wantEn) {
				t.Errorf("enabled records: %d, drgn's %d (truth checks: %d)", len(en), len(wantEn), want)
			}
		})
	}
}

// TestX86LayoutWithoutNoteCorpus: on every x86 corpus dump that has a
// VMCOREINFO note (KASLR, 4 and 5 levels, negative and positive
// phys_base), the layout found from the QEMU CPU state with the note
// ignored is the note's: KERNELOFFSET, NUMBER(phys_base),
// NUMBER(pgtable_l5_enabled).
func TestX86LayoutWithoutNoteCorpus(t *testing.T) {
	root := testcorpus.Corpora(t, "x86")
	for _, d := range []string{"distro-kaslr-la57", "distro-its", "distro-inflight", "livepatch-kaslr", "livepatch-its"} {
		t.Run(d, func(t *testing.T) {
			dir := filepath.Join(root, d)
			f := filepath.Join(dir, "vmcore.kdump")
			p, err := kernel.Open([]string{f}, kernel.Options{Vmlinux: filepath.Join(dir, "vmlinux"), IgnoreVMCOREINFONote: true})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			vi := p.Dump.VMCOREINFO
			if vi == nil {
				t.Fatal("no VMCOREINFO note to compare with")
			}
			off, ok1 := vi.KernelOffset()
			pb, ok2 := vi.Number("phys_base")
			l5, ok3 := vi.Number("pgtable_l5_enabled")
			if !ok1 || !ok2 || !ok3 {
				t.Fatalf("the note lacks KERNELOFFSET, phys_base or pgtable_l5_enabled")
			}
			k := p.Arch.(*x86.Kernel)
			if k.Offset != off || k.PhysBase != uint64(pb) || k.L5 != (l5 != 0) {
				t.Errorf("from the CPU state: offset %#x phys_base %#x L5 %v; the note: %#x %#x %v", k.Offset, k.PhysBase, k.L5, off, uint64(pb), l5 != 0)
			}
			if off == 0 {
				t.Errorf("%s: KASLR offset 0: not a KASLR dump", d)
			}
			if !strings.Contains(k.LayoutFrom(), "QEMU CPU state") || !strings.Contains(p.InfoSource, "they agree") {
				t.Errorf("layout %q, VMCOREINFO %q", k.LayoutFrom(), p.InfoSource)
			}
		})
	}
}
