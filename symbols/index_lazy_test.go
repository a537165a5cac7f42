package symbols

// A measured prototype of per-unit lazy type decoding (issue 8, cached
// start-up ≤ 0.15 s), kept as a test: it is NOT used by Types, because
// Types.Data is an exported whole-file *dwarf.Data that repl/lines.go and
// internal/extract read directly, so LoadELFTypes cannot return before the
// whole-file dwarf.New is done without changing that contract (see
// docs/PERFORMANCE.md, "Not met"). What it establishes for that change:
//
//   - a dwarf.Data made by dwarf.New over one unit's bytes of .debug_info
//     (with the whole .debug_abbrev, .debug_str, .debug_line_str and
//     .debug_str_offsets) decodes every type the module/ftrace/livepatch
//     job resolves to the same type graph as the whole-file Data, at the
//     index's offset minus the unit's start;
//   - whether it may be used is decided from the unit's abbreviation table:
//     a form that refers outside the unit or to another file
//     (DW_FORM_ref_addr, ref_sig8, ref_sup4/8, strp_sup, GNU_ref_alt,
//     GNU_strp_alt) or whose form is only known per DIE (DW_FORM_indirect)
//     makes the unit unsafe, and the whole-file Data must be used;
//   - BenchmarkUnitDWARF gives its cost against BenchmarkWholeDWARF.

import (
	"debug/dwarf"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testcorpus"
)

// lazyJobTypes are the types the `mod`/audit job resolves (modules,
// ftrace, livepatch); absent ones are skipped.
var lazyJobTypes = []string{
	"struct module", "struct mod_arch_specific", "struct ftrace_ool_stub",
	"struct ppc64_stub_entry", "struct dyn_ftrace", "struct ftrace_ops",
	"struct klp_patch", "struct klp_object", "struct klp_func",
	"struct klp_state", "struct klp_ops", "struct module_memory",
	"struct module_sect_attrs", "enum mod_mem_type",
}

// unitSpan finds the unit of info that holds off: its start and end, and
// its abbreviation table offset. It walks the unit headers (DWARF 2-5,
// 32- and 64-bit).
func unitSpan(raw *rawDWARF, off uint64) (start, end, abbrevOff uint64, err error) {
	b := &dbuf{data: raw.info, order: raw.order, what: ".debug_info"}
	for b.err == nil && b.off < len(raw.info) {
		start = uint64(b.off)
		n := uint64(b.u32())
		is64 := false
		if n == 0xffffffff {
			n, is64 = b.u64(), true
		} else if n >= 0xfffffff0 {
			return 0, 0, 0, fmt.Errorf("unit at %#x: reserved length %#x", start, n)
		}
		if n > uint64(len(raw.info)-b.off) {
			return 0, 0, 0, fmt.Errorf("unit at %#x: length %#x beyond .debug_info", start, n)
		}
		end = uint64(b.off) + n
		if off >= end {
			b.off = int(end)
			continue
		}
		vers := b.u16()
		if vers >= 5 {
			b.u8() // unit type
			b.u8() // address size
		}
		if is64 {
			abbrevOff = b.u64()
		} else {
			abbrevOff = uint64(b.u32())
		}
		if b.err != nil {
			return 0, 0, 0, b.err
		}
		return start, end, abbrevOff, nil
	}
	return 0, 0, 0, fmt.Errorf("no unit holds %#x", off)
}

// unitSafe reports whether the unit's abbreviations use only forms that a
// one-unit Data resolves as the whole-file Data does.
func unitSafe(raw *rawDWARF, abbrevOff uint64) (bool, string, error) {
	_, _, arena, err := parseAbbrevs(raw.abbrev, abbrevOff, raw.order, nil, nil)
	if err != nil {
		return false, "", err
	}
	for _, s := range arena {
		switch s.form {
		case formRefAddr, formRefSig8, formRefSup4, formRefSup8, formStrpSup,
			formGNURefAlt, formGNUStrpAlt, formIndirect:
			return false, fmt.Sprintf("form %#x (attribute %#x)", s.form, s.attr), nil
		}
	}
	return true, "", nil
}

// unitDWARF is a dwarf.Data over the unit [start, end) of .debug_info.
func unitDWARF(raw *rawDWARF, start, end uint64) (*dwarf.Data, error) {
	d, err := newDWARF(raw.abbrev, raw.info[start:end:end], nil, nil, raw.str)
	if err != nil {
		return nil, err
	}
	for _, s := range []struct {
		name string
		b    []byte
	}{{".debug_line_str", raw.lineStr}, {".debug_str_offsets", raw.strOffsets}} {
		if s.b != nil {
			if err := d.AddSection(s.name, s.b); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// sameType compares two type graphs: kinds, names, sizes, members
// (offsets, bit positions), element counts, enumerators, parameters,
// recursively, each pair of nodes once (the graphs have cycles).
func sameType(a, b dwarf.Type, seen map[[2]dwarf.Type]bool, path string) error {
	if a == nil || b == nil {
		if a == nil && b == nil {
			return nil
		}
		return fmt.Errorf("%s: %v vs %v", path, a, b)
	}
	if seen[[2]dwarf.Type{a, b}] {
		return nil
	}
	seen[[2]dwarf.Type{a, b}] = true
	if fmt.Sprintf("%T", a) != fmt.Sprintf("%T", b) || a.Size() != b.Size() || a.Common().Name != b.Common().Name {
		return fmt.Errorf("%s: %T %q size %d vs %T %q size %d", path, a, a.Common().Name, a.Size(), b, b.Common().Name, b.Size())
	}
	switch x := a.(type) {
	case *dwarf.StructType:
		y := b.(*dwarf.StructType)
		if x.Kind != y.Kind || x.StructName != y.StructName || x.Incomplete != y.Incomplete || len(x.Field) != len(y.Field) {
			return fmt.Errorf("%s: %s %s (%d members, incomplete %v) vs %s %s (%d, %v)", path,
				x.Kind, x.StructName, len(x.Field), x.Incomplete, y.Kind, y.StructName, len(y.Field), y.Incomplete)
		}
		for i, f := range x.Field {
			g := y.Field[i]
			if f.Name != g.Name || f.ByteOffset != g.ByteOffset || f.ByteSize != g.ByteSize ||
				f.BitOffset != g.BitOffset || f.DataBitOffset != g.DataBitOffset || f.BitSize != g.BitSize {
				return fmt.Errorf("%s.%s: member %+v vs %+v", path, f.Name, *f, *g)
			}
			if err := sameType(f.Type, g.Type, seen, path+"."+f.Name); err != nil {
				return err
			}
		}
	case *dwarf.ArrayType:
		y := b.(*dwarf.ArrayType)
		if x.Count != y.Count || x.StrideBitSize != y.StrideBitSize {
			return fmt.Errorf("%s: array [%d] vs [%d]", path, x.Count, y.Count)
		}
		return sameType(x.Type, y.Type, seen, path+"[]")
	case *dwarf.PtrType:
		return sameType(x.Type, b.(*dwarf.PtrType).Type, seen, path+"*")
	case *dwarf.TypedefType:
		return sameType(x.Type, b.(*dwarf.TypedefType).Type, seen, path+"(typedef)")
	case *dwarf.QualType:
		y := b.(*dwarf.QualType)
		if x.Qual != y.Qual {
			return fmt.Errorf("%s: %s vs %s", path, x.Qual, y.Qual)
		}
		return sameType(x.Type, y.Type, seen, path+"("+x.Qual+")")
	case *dwarf.EnumType:
		y := b.(*dwarf.EnumType)
		if x.EnumName != y.EnumName || len(x.Val) != len(y.Val) {
			return fmt.Errorf("%s: enum %s (%d) vs %s (%d)", path, x.EnumName, len(x.Val), y.EnumName, len(y.Val))
		}
		for i, v := range x.Val {
			if *v != *y.Val[i] {
				return fmt.Errorf("%s: enumerator %+v vs %+v", path, *v, *y.Val[i])
			}
		}
	case *dwarf.FuncType:
		y := b.(*dwarf.FuncType)
		if len(x.ParamType) != len(y.ParamType) {
			return fmt.Errorf("%s: %d vs %d parameters", path, len(x.ParamType), len(y.ParamType))
		}
		if err := sameType(x.ReturnType, y.ReturnType, seen, path+"()"); err != nil {
			return err
		}
		for i := range x.ParamType {
			if err := sameType(x.ParamType[i], y.ParamType[i], seen, fmt.Sprintf("%s(arg %d)", path, i)); err != nil {
				return err
			}
		}
	default:
		if a.String() != b.String() {
			return fmt.Errorf("%s: %s vs %s", path, a, b)
		}
	}
	return nil
}

// compareLazy opens path, loads its name index, and for every job type
// decodes it through the whole-file Data and through its unit's own Data.
func compareLazy(t *testing.T, path string) {
	f, err := OpenELF(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, raw, err := f.dwarf()
	if err != nil {
		t.Fatal(err)
	}
	if raw == nil {
		t.Fatal("DWARF not mapped (uncompressed sections expected)")
	}
	ts, err := LoadTypes(d, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	found, compared := 0, 0
	var first dwarf.Type
	for _, name := range lazyJobTypes {
		off, ok := ts.ix.Types[name]
		if !ok {
			continue
		}
		found++
		whole, err := d.Type(off)
		if err != nil {
			t.Fatalf("%s: whole-file Data: %v", name, err)
		}
		start, end, aoff, err := unitSpan(raw, uint64(off))
		if err != nil {
			t.Fatalf("%s at %#x: %v", name, off, err)
		}
		ok, why, err := unitSafe(raw, aoff)
		if err != nil {
			t.Fatalf("%s: unit at %#x: %v", name, start, err)
		}
		if !ok {
			t.Logf("%s: unit at %#x uses %s: whole-file Data only", name, start, why)
			continue
		}
		ud, err := unitDWARF(raw, start, end)
		if err != nil {
			t.Fatalf("%s: unit at %#x: %v", name, start, err)
		}
		lazy, err := ud.Type(off - dwarf.Offset(start))
		if err != nil {
			t.Fatalf("%s: unit Data at %#x: %v", name, uint64(off)-start, err)
		}
		if err := sameType(whole, lazy, map[[2]dwarf.Type]bool{}, name); err != nil {
			t.Errorf("whole-file and per-unit decodings differ: %v", err)
		}
		compared++
		// The comparison can fail: two different job types differ.
		if first == nil {
			first = whole
		} else if sameType(first, lazy, map[[2]dwarf.Type]bool{}, name) == nil {
			t.Errorf("sameType(%s, %s) found no difference", first, name)
		}
	}
	// raw is a slice of the mapping that d's cleanup unmaps.
	runtime.KeepAlive(d)
	t.Logf("%d job types in the index, %d compared through their unit's Data", found, compared)
	// struct module, mod_arch_specific, dyn_ftrace, ftrace_ops at least
	// (kernel source: include/linux/module.h, arch/powerpc/include/asm/
	// module.h, include/linux/ftrace.h).
	if found < 4 {
		t.Errorf("only %d of the job's types are in the index", found)
	}
}

// TestLazyUnitTypesMatchWhole: on the corpus vmlinux, every job type
// decodes identically through its unit's own Data (the prototype above).
func TestLazyUnitTypesMatchWhole(t *testing.T) {
	compareLazy(t, filepath.Join(testcorpus.Require(t), "kernels", "7.2.13-fixed", "vmlinux.zst"))
}

// TestLazyUnitTypesMatchWholeDistro: the same on the Debian distro vmlinux
// ($KDUMP_INSPECT_DISTRO_VMLINUX).
func TestLazyUnitTypesMatchWholeDistro(t *testing.T) {
	p := os.Getenv("KDUMP_INSPECT_DISTRO_VMLINUX")
	if p == "" {
		t.Skip("KDUMP_INSPECT_DISTRO_VMLINUX not set")
	}
	compareLazy(t, p)
}

// TestUnitSafeRejectsRefAddr: a unit whose abbreviations use
// DW_FORM_ref_addr (0x10) is not safe to decode alone; one with only
// DW_FORM_ref4 is (forms: DWARF 5 §7.5.6 Table 7.6).
func TestUnitSafeRejectsRefAddr(t *testing.T) {
	tests := []struct {
		name   string
		abbrev []byte
		want   bool
	}{
		{"ref4", []byte{1, 0x13, 0, 0x49, 0x13, 0, 0, 0}, true},
		{"ref_addr", []byte{1, 0x13, 0, 0x49, 0x10, 0, 0, 0}, false},
		{"ref_sig8", []byte{1, 0x13, 0, 0x49, 0x20, 0, 0, 0}, false},
		{"indirect", []byte{1, 0x13, 0, 0x49, 0x16, 0, 0, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why, err := unitSafe(&rawDWARF{abbrev: tt.abbrev}, 0)
			if err != nil || got != tt.want {
				t.Errorf("unitSafe = %v (%s), %v; want %v", got, why, err, tt.want)
			}
		})
	}
}

// benchVmlinux is the distro vmlinux when named, else the corpus one.
func benchVmlinux(b *testing.B) string {
	if p := os.Getenv("KDUMP_INSPECT_DISTRO_VMLINUX"); p != "" {
		return p
	}
	return filepath.Join(testcorpus.Require(b), "kernels", "7.2.13-fixed", "vmlinux.zst")
}

// BenchmarkWholeDWARF: dwarf.New over the whole mapped .debug_info and
// `struct module` decoded (what a cached start-up waits for today).
// BenchmarkUnitDWARF: the unit holding `struct module` found by walking
// the unit headers, its own Data made, and the type decoded.
func BenchmarkWholeDWARF(b *testing.B) { benchLazy(b, false) }
func BenchmarkUnitDWARF(b *testing.B)  { benchLazy(b, true) }

func benchLazy(b *testing.B, unit bool) {
	path := benchVmlinux(b)
	f, err := OpenELF(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	d, raw, err := f.dwarf()
	if err != nil || raw == nil {
		b.Fatal("no mapped DWARF", err)
	}
	ts, err := LoadTypes(d, nil, "")
	if err != nil {
		b.Fatal(err)
	}
	off := ts.ix.Types["struct module"]
	b.ResetTimer()
	for b.Loop() {
		var ty dwarf.Type
		if unit {
			start, end, aoff, err := unitSpan(raw, uint64(off))
			if err != nil {
				b.Fatal(err)
			}
			if ok, why, err := unitSafe(raw, aoff); !ok {
				b.Fatal(why, err)
			}
			ud, err := unitDWARF(raw, start, end)
			if err != nil {
				b.Fatal(err)
			}
			ty, err = ud.Type(off - dwarf.Offset(start))
			if err != nil {
				b.Fatal(err)
			}
		} else {
			wd, err := newDWARF(raw.abbrev, raw.info, nil, nil, raw.str)
			if err != nil {
				b.Fatal(err)
			}
			for _, s := range []struct {
				name string
				b    []byte
			}{{".debug_line_str", raw.lineStr}, {".debug_str_offsets", raw.strOffsets}} {
				if s.b != nil {
					if err := wd.AddSection(s.name, s.b); err != nil {
						b.Fatal(err)
					}
				}
			}
			if ty, err = wd.Type(off); err != nil {
				b.Fatal(err)
			}
		}
		if !strings.Contains(ty.String(), "module") {
			b.Fatal("not struct module:", ty)
		}
	}
	runtime.KeepAlive(d) // raw is a slice of the mapping d's cleanup unmaps
}
