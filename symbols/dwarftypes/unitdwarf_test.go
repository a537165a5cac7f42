package dwarftypes

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// lazyJobTypes are the types the `mod`/audit job resolves (modules,
// ftrace, livepatch); absent ones are skipped.
var lazyJobTypes = []string{
	"struct module", "struct mod_arch_specific", "struct ftrace_ool_stub",
	"struct ppc64_stub_entry", "struct dyn_ftrace", "struct ftrace_ops",
	"struct klp_patch", "struct klp_object", "struct klp_func",
	"struct klp_state", "struct klp_ops", "struct module_memory",
	"struct module_sect_attrs", "enum mod_mem_type", "struct printk_info",
}

// sameType compares two type graphs: kinds, names, sizes, members
// (offsets, bit positions), element counts, enumerators, parameters,
// recursively, each pair of nodes once (the graphs have cycles).
func sameType(a, b ctype.Type, seen map[[2]ctype.Type]bool, path string) error {
	if a == nil || b == nil {
		if a == nil && b == nil {
			return nil
		}
		return fmt.Errorf("%s: %v vs %v", path, a, b)
	}
	if seen[[2]ctype.Type{a, b}] {
		return nil
	}
	seen[[2]ctype.Type{a, b}] = true
	if fmt.Sprintf("%T", a) != fmt.Sprintf("%T", b) || a.Size() != b.Size() || a.Common().Name != b.Common().Name {
		return fmt.Errorf("%s: %T %q size %d vs %T %q size %d", path, a, a.Common().Name, a.Size(), b, b.Common().Name, b.Size())
	}
	switch x := a.(type) {
	case *ctype.StructType:
		y := b.(*ctype.StructType)
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
	case *ctype.ArrayType:
		y := b.(*ctype.ArrayType)
		if x.Count != y.Count || x.StrideBitSize != y.StrideBitSize {
			return fmt.Errorf("%s: array [%d] vs [%d]", path, x.Count, y.Count)
		}
		return sameType(x.Type, y.Type, seen, path+"[]")
	case *ctype.PtrType:
		return sameType(x.Type, b.(*ctype.PtrType).Type, seen, path+"*")
	case *ctype.TypedefType:
		return sameType(x.Type, b.(*ctype.TypedefType).Type, seen, path+"(typedef)")
	case *ctype.QualType:
		y := b.(*ctype.QualType)
		if x.Qual != y.Qual {
			return fmt.Errorf("%s: %s vs %s", path, x.Qual, y.Qual)
		}
		return sameType(x.Type, y.Type, seen, path+"("+x.Qual+")")
	case *ctype.EnumType:
		y := b.(*ctype.EnumType)
		if x.EnumName != y.EnumName || len(x.Val) != len(y.Val) {
			return fmt.Errorf("%s: enum %s (%d) vs %s (%d)", path, x.EnumName, len(x.Val), y.EnumName, len(y.Val))
		}
		for i, v := range x.Val {
			if *v != *y.Val[i] {
				return fmt.Errorf("%s: enumerator %+v vs %+v", path, *v, *y.Val[i])
			}
		}
	case *ctype.FuncType:
		y := b.(*ctype.FuncType)
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

// compareUnitDecoding loads the Types of the vmlinux at path as the tool
// does (mapped sections, types decoded per unit) and holds every job type
// against its decoding through a whole-file Data.
func compareUnitDecoding(t *testing.T, path string) {
	f, err := OpenELF(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts, err := LoadELFTypes(f, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if ts.src.raw == nil {
		t.Fatal("DWARF not mapped (uncompressed sections expected)")
	}
	whole, err := FileData(fileOf(f)) // a Data of its own, not ts's
	if err != nil {
		t.Fatal(err)
	}
	found, alone := 0, 0
	var first ctype.Type
	for _, name := range lazyJobTypes {
		off, ok := ts.src.ix.Types[name]
		if !ok {
			continue
		}
		found++
		wantD, err := whole.Type(off)
		want := FromDWARF(wantD)
		if err != nil {
			t.Fatalf("%s: whole-file Data: %v", name, err)
		}
		got, err := ts.Lookup(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := sameType(want, got, map[[2]ctype.Type]bool{}, name); err != nil {
			t.Errorf("whole-file and per-unit decodings differ: %v", err)
		}
		u, err := ts.src.dataFor(off)
		if err != nil {
			t.Fatal(err)
		}
		if u.alone {
			alone++
		} else {
			t.Logf("%s: decoded through the whole-file Data: %s", name, u.why)
		}
		// The comparison can fail: two different job types differ.
		if first == nil {
			first = want
		} else if sameType(first, got, map[[2]ctype.Type]bool{}, name) == nil {
			t.Errorf("sameType(%s, %s) found no difference", first, name)
		}
	}
	t.Logf("%d job types in the index, %d decoded through their unit's own Data", found, alone)
	// struct module, mod_arch_specific, dyn_ftrace, ftrace_ops at least
	// (kernel source: include/linux/module.h, arch/powerpc/include/asm/
	// module.h, include/linux/ftrace.h); GCC emits no cross-unit
	// references in a vmlinux built without LTO or dwz, so every one of
	// them is decoded alone.
	if found < 4 || alone != found {
		t.Errorf("%d job types found, %d decoded alone", found, alone)
	}
	// A variable through its unit: `LIST_HEAD(modules)` in
	// kernel/module/main.c is a struct list_head.
	if ty, err := ts.VariableType("modules"); err != nil || ty.String() != "struct list_head" {
		t.Errorf("VariableType(modules) = %v, %v; want struct list_head", ty, err)
	}
	// Nothing above needed the whole-file Data.
	if ts.src.whole != nil {
		t.Error("the whole-file Data was made for type lookups")
	}
	d, err := ts.src.Data()
	if err != nil || d == nil {
		t.Fatalf("Data() = %v, %v", d, err)
	}
	if e, err := d.Reader().Next(); err != nil || e == nil || e.Tag != dwarf.TagCompileUnit {
		t.Errorf("whole-file Data: first entry %v, %v", e, err)
	}
}

// TestUnitDecodingMatchesWhole: on the corpus vmlinux, every job type
// decodes identically through its unit's own Data.
func TestUnitDecodingMatchesWhole(t *testing.T) {
	compareUnitDecoding(t, filepath.Join(testcorpus.Require(t), "kernels", "7.2.13-fixed", "vmlinux.zst"))
}

// TestUnitDecodingMatchesWholeDistro: the same on the Debian distro
// vmlinux ($KDUMP_INSPECT_DISTRO_VMLINUX).
func TestUnitDecodingMatchesWholeDistro(t *testing.T) {
	compareUnitDecoding(t, distroVmlinux(t))
}

// TestUnitSafe: a unit whose abbreviations use DW_FORM_ref_addr (0x10),
// ref_sig8 (0x20) or indirect (0x16), or that is in the 64-bit DWARF
// format, is not decoded alone; one with only DW_FORM_ref4 (0x13) is
// (DWARF 5 §7.4 and §7.5.6 Table 7.6; unit header: DWARF 4 §7.5.1.1).
func TestUnitSafe(t *testing.T) {
	// A DWARF 4 unit: unit_length 8, version 4, debug_abbrev_offset 0,
	// address_size 8, one null DIE.
	unit32 := []byte{8, 0, 0, 0, 4, 0, 0, 0, 0, 0, 8, 0}
	unit64 := []byte{0xff, 0xff, 0xff, 0xff, 12, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0}
	abbrev := func(form byte) []byte { return []byte{1, 0x13, 0, 0x49, form, 0, 0, 0} }
	tests := []struct {
		name   string
		info   []byte
		abbrev []byte
		want   bool
	}{
		{"ref4", unit32, abbrev(0x13), true},
		{"ref_addr", unit32, abbrev(0x10), false},
		{"ref_sig8", unit32, abbrev(0x20), false},
		{"indirect", unit32, abbrev(0x16), false},
		{"dwarf64", unit64, abbrev(0x13), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := &rawDWARF{info: tt.info, abbrev: tt.abbrev, order: binary.LittleEndian}
			end, got, why, err := unitSafe(raw, 0)
			if err != nil || got != tt.want || end != len(tt.info) {
				t.Errorf("unitSafe = end %d, %v (%s), %v; want end %d, %v", end, got, why, err, len(tt.info), tt.want)
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
// `struct module` decoded (what start-up waited for before unitdwarf.go).
// BenchmarkUnitDWARF: a fresh Types over the same index, `struct module`
// decoded through its unit's own Data (unit list, header, abbreviations,
// dwarf.New over one unit).
func BenchmarkWholeDWARF(b *testing.B) { benchUnit(b, false) }
func BenchmarkUnitDWARF(b *testing.B)  { benchUnit(b, true) }

func benchUnit(b *testing.B, unit bool) {
	f, err := OpenELF(benchVmlinux(b))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	ts, err := LoadELFTypes(f, nil, "")
	if err != nil || ts.src.raw == nil {
		b.Fatal("no mapped DWARF", err)
	}
	off := ts.src.ix.Types["struct module"]
	for b.Loop() {
		var ty ctype.Type
		if unit {
			fresh := over(&Source{raw: ts.src.raw, ix: ts.src.ix, PtrSize: 8, units: map[int]unitData{}})
			ty, err = fresh.Lookup("struct module")
		} else {
			var d *dwarf.Data
			if d, err = ts.src.raw.whole(); err == nil {
				var dt dwarf.Type
				dt, err = d.Type(off)
				ty = FromDWARF(dt)
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		if ty.String() != "struct module" {
			b.Fatal("not struct module:", ty)
		}
	}
}
