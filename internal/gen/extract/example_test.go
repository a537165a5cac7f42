package extract

import (
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testprog"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// example is the committed example, relative to this package.
var example = filepath.Join("..", "..", "..", "testdata", "example", "buggy-radix", "vmcore.zst")

func openExample(t *testing.T) (*kernel.Program, *modules.Set) {
	t.Helper()
	p := testprog.Open(t, []string{example}, kernel.Options{CacheDir: t.TempDir()})
	set := modules.Analyze(p)
	if set.ListErr != nil {
		t.Fatalf("modules list: %v", set.ListErr)
	}
	return p, set
}

// TestExampleOpens needs no corpus: the example is in the repository. The
// corpus README lists 16 loaded modules for buggy-radix (its "The
// modules" section: 8 samples, 5 selftests, 3 of the corpus's own).
func TestExampleOpens(t *testing.T) {
	p, set := openExample(t)
	if p.InfoSource != "memory (vmcoreinfo_data)" {
		t.Errorf("VMCOREINFO from %q, want it read from memory (the example has no note)", p.InfoSource)
	}
	if len(set.Modules) != 16 {
		t.Errorf("%d modules, want 16", len(set.Modules))
	}
	for _, a := range set.Modules {
		if a.Debuginfo == nil {
			t.Errorf("%s: no .ko found beside the example: %v", a.Module.Name, a.Warnings)
		}
		if a.StubsErr != nil || a.ModelErr != nil {
			t.Errorf("%s: stubs %v, model %v", a.Module.Name, a.StubsErr, a.ModelErr)
		}
	}
	// Reads outside the recorded pages fault rather than read zeros.
	if _, err := p.Phys.ReadAt(make([]byte, 8), 0x3000_0000); err == nil {
		t.Errorf("reading physical %#x, a page the job never read, did not fault", 0x3000_0000)
	}
}

// TestExampleTruth holds klp_stub_bug in the example against truth.json.
func TestExampleTruth(t *testing.T) {
	dir := testcorpus.Dir(t, "buggy-radix")
	tr := testcorpus.LoadTruth(t, dir)
	want := tr.DumpModule(t, "klp_stub_bug")
	p, set := openExample(t)
	a := set.Find("klp_stub_bug")
	if a == nil || a.Stubs == nil {
		t.Fatalf("klp_stub_bug or its .stubs missing from the example")
	}
	raw, err := hex.DecodeString(want["stubs_raw_hex"].(string))
	if err != nil {
		t.Fatal(err)
	}
	base := testcorpus.Hex(t, want["stubs_section_addr"])
	got, err := p.Read(base, len(raw))
	if err != nil {
		t.Fatalf("reading .stubs at %#x: %v", base, err)
	}
	if hex.EncodeToString(got) != hex.EncodeToString(raw) {
		t.Errorf(".stubs bytes differ from truth stubs_raw_hex")
	}
	if a.Stubs.Base != base {
		t.Errorf(".stubs base %#x, truth %#x", a.Stubs.Base, base)
	}
	for name, v := range want["arch"].(map[string]any) {
		g, ok := a.Module.Arch.Member(name)
		if !ok {
			t.Errorf("arch.%s not read", name)
			continue
		}
		if w := testcorpus.Hex(t, v); g != w {
			t.Errorf("arch.%s = %#x, truth %#x", name, g, w)
		}
	}
	slots := want["stub_slots"].([]any)
	s5 := slots[5].(map[string]any)
	if s5["funcdata_sym"] != "tgt_secret" {
		t.Fatalf("truth slot 5 funcdata_sym %v", s5["funcdata_sym"])
	}
	if len(a.Stubs.Slots) <= 5 {
		t.Fatalf("%d slots", len(a.Stubs.Slots))
	}
	sl := a.Stubs.Slots[5]
	if w := testcorpus.Hex(t, s5["funcdata"]); sl.Funcdata != w {
		t.Errorf("slot 5 funcdata %#x, truth %#x (tgt_secret)", sl.Funcdata, w)
	}
	if !sl.InOOL {
		t.Errorf("slot 5 not inside the OOL array")
	}
	if !strings.HasPrefix(sl.TargetName, "tgt_secret") {
		t.Errorf("slot 5 target %q, want tgt_secret", sl.TargetName)
	}
}

// TestMinimalTypes compares every member offset and bitfield of the types
// the minimal vmlinux holds with the real vmlinux's.
func TestMinimalTypes(t *testing.T) {
	real, _ := testprog.OpenCorpus(t, "buggy-radix")
	min, _ := openExample(t)
	names := []string{"struct module", "struct mod_arch_specific", "struct ppc64_stub_entry", "struct ftrace_ool_stub",
		"struct list_head", "struct klp_modinfo", "struct dyn_ftrace", "struct ftrace_page", "struct module_sect_attrs", "struct paca_struct", "struct cpu_spec"}
	members := 0
	defer func() { t.Logf("%d members compared", members) }()
	for _, n := range names {
		rt, err := real.Types.Lookup(n)
		if err != nil {
			t.Errorf("real %s: %v", n, err)
			continue
		}
		mt, err := min.Types.Lookup(n)
		if err != nil {
			t.Errorf("minimal %s: %v", n, err)
			continue
		}
		if rs, ms := real.Types.Complete(rt).Size(), min.Types.Complete(mt).Size(); rs != ms {
			t.Errorf("sizeof(%s) %d, real %d", n, ms, rs)
		}
		compareFields(t, n, real.Types.Complete(rt), min.Types.Complete(mt), 0, &members)
	}
	for _, c := range []string{"MOD_TEXT", "FTRACE_FL_ENABLED", "FTRACE_FL_CALL_OPS_EN"} {
		rv, err1 := real.Types.EnumConstant(c)
		mv, err2 := min.Types.EnumConstant(c)
		if err1 != nil || err2 != nil || rv != mv {
			t.Errorf("%s: real %d (%v), minimal %d (%v)", c, rv, err1, mv, err2)
		}
	}
}

func compareFields(t *testing.T, path string, r, m ctype.Type, depth int, count *int) {
	if depth > 8 {
		return
	}
	rf := symbols.Fields(symbols.Underlying(r), nil)
	mf := symbols.Fields(symbols.Underlying(m), nil)
	if len(rf) != len(mf) {
		t.Errorf("%s: %d members, real %d", path, len(mf), len(rf))
		return
	}
	for i := range rf {
		a, b := rf[i], mf[i]
		if a.Name != b.Name || a.BitOffset != b.BitOffset || a.BitSize != b.BitSize || a.Type.Size() != b.Type.Size() {
			t.Errorf("%s.%s: minimal %s bit %d size %d/%d, real bit %d size %d/%d", path, a.Name, b.Name, b.BitOffset, b.BitSize, b.Type.Size(), a.BitOffset, a.BitSize, a.Type.Size())
			continue
		}
		if _, ok := symbols.Underlying(a.Type).(*ctype.StructType); ok {
			compareFields(t, path+"."+a.Name, a.Type, b.Type, depth+1, count)
		}
		*count++
	}
}
