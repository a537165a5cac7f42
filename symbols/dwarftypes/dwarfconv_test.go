package dwarftypes

import (
	"debug/dwarf"
	"fmt"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/dwarftest"
)

// TestFromDWARFKeepsEverything: every type of the synthetic DWARF (see
// synth) converts to a ctype type that prints, sizes and lays out exactly
// as debug/dwarf's decoding of it, member by member and bit by bit, and a
// cycle (struct mod's next points back to struct mod) stays one type.
func TestFromDWARFKeepsEverything(t *testing.T) {
	d := synthDWARF(t)
	r := d.Reader()
	n := 0
	for e := range dwarftest.Entries(t, r) {
		switch e.Tag {
		case dwarf.TagBaseType, dwarf.TagTypedef, dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagEnumerationType,
			dwarf.TagPointerType, dwarf.TagArrayType, dwarf.TagConstType, dwarf.TagVolatileType, dwarf.TagSubroutineType:
		default:
			continue
		}
		dt, err := d.Type(e.Offset)
		if err != nil {
			t.Fatalf("DIE %#x: %v", e.Offset, err)
		}
		n++
		if err := sameAsDWARF(dt, FromDWARF(dt), map[dwarf.Type]bool{}); err != nil {
			t.Errorf("%s: %v", dt, err)
		}
	}
	if n < 10 {
		t.Fatalf("only %d types in the synthetic DWARF", n)
	}
	ts := loadSynth(t)
	mod, err := ts.Lookup("struct mod")
	if err != nil {
		t.Fatal(err)
	}
	f, ok := FindField(mod, "next", nil)
	if !ok {
		t.Fatal("no member next")
	}
	if p, ok := f.Type.(*ctype.PtrType); !ok || p.Type != mod {
		t.Errorf("struct mod's next is %T %v, want a pointer to the same struct mod", f.Type, f.Type)
	}
}

func sameAsDWARF(d dwarf.Type, c ctype.Type, seen map[dwarf.Type]bool) error {
	if d == nil || c == nil {
		if (d == nil) != (c == nil) {
			return fmt.Errorf("nil mismatch: %v vs %v", d, c)
		}
		return nil
	}
	if seen[d] {
		return nil
	}
	seen[d] = true
	if d.String() != c.String() || d.Size() != c.Size() || d.Common().Name != c.Common().Name || d.Common().ByteSize != c.Common().ByteSize {
		return fmt.Errorf("%q size %d vs %q size %d", d, d.Size(), c, c.Size())
	}
	if want, got := fmt.Sprintf("%T", d)[len("*dwarf."):], fmt.Sprintf("%T", c)[len("*ctype."):]; want != got {
		return fmt.Errorf("%s is a %s, converted to %s", d, want, got)
	}
	switch x := d.(type) {
	case *dwarf.StructType:
		y := c.(*ctype.StructType)
		if x.Defn() != y.Defn() || len(x.Field) != len(y.Field) || x.Incomplete != y.Incomplete || x.Kind != y.Kind {
			return fmt.Errorf("definition %q vs %q", x.Defn(), y.Defn())
		}
		for i, f := range x.Field {
			g := y.Field[i]
			if f.Name != g.Name || f.ByteOffset != g.ByteOffset || f.ByteSize != g.ByteSize || f.BitOffset != g.BitOffset ||
				f.DataBitOffset != g.DataBitOffset || f.BitSize != g.BitSize {
				return fmt.Errorf("member %s: %+v vs %+v", f.Name, *f, *g)
			}
			if err := sameAsDWARF(f.Type, g.Type, seen); err != nil {
				return fmt.Errorf("member %s: %w", f.Name, err)
			}
		}
	case *dwarf.EnumType:
		y := c.(*ctype.EnumType)
		if len(x.Val) != len(y.Val) {
			return fmt.Errorf("%d vs %d enumerators", len(x.Val), len(y.Val))
		}
		for i, v := range x.Val {
			if v.Name != y.Val[i].Name || v.Val != y.Val[i].Val {
				return fmt.Errorf("enumerator %s=%d vs %s=%d", v.Name, v.Val, y.Val[i].Name, y.Val[i].Val)
			}
		}
	case *dwarf.PtrType:
		return sameAsDWARF(x.Type, c.(*ctype.PtrType).Type, seen)
	case *dwarf.TypedefType:
		return sameAsDWARF(x.Type, c.(*ctype.TypedefType).Type, seen)
	case *dwarf.QualType:
		return sameAsDWARF(x.Type, c.(*ctype.QualType).Type, seen)
	case *dwarf.ArrayType:
		y := c.(*ctype.ArrayType)
		if x.Count != y.Count || x.StrideBitSize != y.StrideBitSize {
			return fmt.Errorf("array %d/%d vs %d/%d", x.Count, x.StrideBitSize, y.Count, y.StrideBitSize)
		}
		return sameAsDWARF(x.Type, y.Type, seen)
	case *dwarf.FuncType:
		y := c.(*ctype.FuncType)
		if len(x.ParamType) != len(y.ParamType) {
			return fmt.Errorf("%d vs %d parameters", len(x.ParamType), len(y.ParamType))
		}
		for i := range x.ParamType {
			if err := sameAsDWARF(x.ParamType[i], y.ParamType[i], seen); err != nil {
				return err
			}
		}
		return sameAsDWARF(x.ReturnType, y.ReturnType, seen)
	}
	return nil
}
