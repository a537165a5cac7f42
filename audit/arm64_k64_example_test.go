package audit

import (
	"strconv"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/arch/arm64"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// arm64K64Truth is testdata/example/arm64-k64-va52/truth.json (and
// arm64-k16-va52's), trimmed by bench/arm64-corpus/from-source/example-truth.py
// from the k64-va52-kaslr (k16-va52-kaslr) dump's truth (drgn 0.3.0 on the
// dump, checked against the guest).
type arm64K64Truth struct {
	VMCOREINFO  map[string]string `json:"vmcoreinfo"`
	ProcModules []struct {
		Name string `json:"name"`
		Addr string `json:"addr"`
	} `json:"proc_modules"`
	Translations []struct {
		What string `json:"what"`
		VA   string `json:"va"`
		PA   string `json:"pa"`
	} `json:"translations"`
	Modules []struct {
		Name    string           `json:"name"`
		PLTCore map[string]int64 `json:"plt_core"`
	} `json:"modules"`
	Livepatch struct {
		Patches []struct {
			Mod string `json:"mod"`
		} `json:"patches"`
	} `json:"livepatch"`
}

// TestArm64K64Example: the livepatch kernel built with 64K pages and
// 52-bit VA, booted on a CPU with FEAT_LVA (TCR_EL1.T1SZ 12), as the
// committed extract testdata/example/arm64-k64-va52 holds it: the layout
// from VMCOREINFO (a 64K granule, 52 bits in use, ARM64_HW_PGTABLE_LEVELS
// = (52 - 4) / (16 - 3) = 3 levels, no LPA2, KERNELPACMASK), every
// module's text base as the guest's /proc/modules printed it (struct
// modules read through the 3-level walk of the module region), the walk of
// the subject modules' regions (first and last byte of MOD_TEXT, MOD_DATA,
// MOD_RODATA) equal to drgn's follow_phys(init_mm) with three steps and a
// 64K leaf, the subjects' PLT counts as drgn read mod->arch.core, every
// livepatch, and the audit of klp_tgt, klp_stub_bug and the system: no
// finding, KLP-FUNC run.
func TestArm64K64Example(t *testing.T) {
	checkArm64VA52Example(t, "arm64-k64-va52", 16, 3, false)
}

// TestArm64K16Example: the same kernel built with 16K pages and 52-bit
// VA, booted on a CPU with FEAT_LPA2 (TCR_EL1.DS, T1SZ 12), as the
// committed extract testdata/example/arm64-k16-va52 holds it: a 16K
// granule, ARM64_HW_PGTABLE_LEVELS = (52 - 4) / (14 - 3) = 4 levels, LPA2
// (output-address bits 51:50 in descriptor bits 9:8), the module regions'
// walks equal to drgn's in four steps with a 16K leaf, and the rest as
// for the 64K extract.
func TestArm64K16Example(t *testing.T) {
	checkArm64VA52Example(t, "arm64-k16-va52", 14, 4, true)
}

// checkArm64VA52Example: a 52-bit-VA extract of the from-source livepatch
// kernel with 1<<pageShift pages, walked in levels steps, LPA2 or not.
func checkArm64VA52Example(t *testing.T, name string, pageShift uint, levels int, lpa2 bool) {
	var tr arm64K64Truth
	p := openExample(t, name, nil, &tr)
	k, ok := p.Arch.(*arm64.Kernel)
	if !ok {
		t.Fatalf("arch %T", p.Arch)
	}
	num := func(key string) uint64 {
		t.Helper()
		v, err := strconv.ParseUint(tr.VMCOREINFO[key], 0, 64)
		if err != nil {
			t.Fatalf("truth VMCOREINFO %s: %v", key, err)
		}
		return v
	}
	if num("PAGESIZE") != 1<<pageShift || num("NUMBER(VA_BITS)") != 52 || num("NUMBER(TCR_EL1_T1SZ)") != 12 {
		t.Fatalf("truth %v: not the %dK, 52-bit-VA dump this test expects", tr.VMCOREINFO, 1<<(pageShift-10))
	}
	if k.PageSize() != num("PAGESIZE") || uint64(k.VABitsActual) != 64-num("NUMBER(TCR_EL1_T1SZ)") || k.VABits != 52 ||
		k.Levels != levels || k.LPA2 != lpa2 || k.PACMask != num("NUMBER(KERNELPACMASK)") {
		t.Errorf("arch: %d-byte pages, %d-bit VA of %d, %d levels, LPA2 %v, PAC mask %#x; truth %v",
			k.PageSize(), k.VABitsActual, k.VABits, k.Levels, k.LPA2, k.PACMask, tr.VMCOREINFO)
	}
	off, err := strconv.ParseUint(tr.VMCOREINFO["KERNELOFFSET"], 16, 64)
	if err != nil || k.KernelOffset() != off {
		t.Errorf("KASLR offset %#x, truth KERNELOFFSET %s", k.KernelOffset(), tr.VMCOREINFO["KERNELOFFSET"])
	}

	if len(tr.Translations) < 12 {
		t.Fatalf("truth has %d translations", len(tr.Translations))
	}
	for _, e := range tr.Translations {
		va, pa := testcorpus.Hex(t, e.VA), testcorpus.Hex(t, e.PA)
		w, err := k.Walk(va)
		if err != nil || w.PA != pa || len(w.Steps) != levels || w.LeafSize != 1<<pageShift {
			t.Errorf("%s: walk of %#x = %#x in %d steps, leaf %#x (%v); drgn %#x", e.What, va, w.PA, len(w.Steps), w.LeafSize, err, pa)
		}
	}

	a := analysis.New(p)
	set := a.Modules()
	if len(set.Modules) != len(tr.ProcModules) {
		t.Errorf("%d modules, /proc/modules %d", len(set.Modules), len(tr.ProcModules))
	}
	for _, pm := range tr.ProcModules {
		m := set.Find(pm.Name)
		if m == nil {
			t.Errorf("module %s missing", pm.Name)
			continue
		}
		base := uint64(0)
		for _, r := range m.Module.Regions {
			if r.Name == "MOD_TEXT" {
				base = r.Base
			}
		}
		if base != testcorpus.Hex(t, pm.Addr) {
			t.Errorf("%s text at %#x, /proc/modules %s", pm.Name, base, pm.Addr)
		}
	}
	for _, tm := range tr.Modules {
		m := set.Find(tm.Name)
		if m == nil || m.PLT == nil {
			t.Errorf("%s: no PLT model", tm.Name)
			continue
		}
		c := m.PLT.Core
		if c.Shndx != tm.PLTCore["plt_shndx"] || c.Num != tm.PLTCore["plt_num_entries"] || c.Max != tm.PLTCore["plt_max_entries"] {
			t.Errorf("%s mod->arch.core %d %d/%d, drgn %v", tm.Name, c.Shndx, c.Num, c.Max, tm.PLTCore)
		}
	}

	st, err := a.Ftrace()
	if err != nil {
		t.Fatal(err)
	}
	if st.Livepatch == nil || len(st.Livepatch.Patches) != len(tr.Livepatch.Patches) {
		t.Errorf("livepatch %+v; drgn %d patches", st.Livepatch, len(tr.Livepatch.Patches))
	}
	r := Run(a, Options{Subjects: []string{"klp_tgt", "klp_stub_bug", "system"}})
	noFindings(t, r)
	if ranOn(r)["KLP-FUNC"] == 0 {
		t.Errorf("KLP-FUNC did not run: %s", r.CoverageLine())
	}
}
