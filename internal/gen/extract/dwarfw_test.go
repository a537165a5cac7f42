package extract

import (
	"debug/dwarf"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/symbols/dwarftypes"
)

// TestWriteDWARFRoundTrip builds types in code, writes them and reads them
// back with debug/dwarf: sizes, member offsets, a bitfield, an enum, and a
// pointer to a struct outside the closure turned into a declaration.
func TestWriteDWARFRoundTrip(t *testing.T) {
	u32 := &ctype.UintType{BasicType: ctype.BasicType{CommonType: ctype.CommonType{ByteSize: 4, Name: "unsigned int"}}}
	other := &ctype.StructType{CommonType: ctype.CommonType{ByteSize: 64}, StructName: "other", Kind: "struct"}
	en := &ctype.EnumType{CommonType: ctype.CommonType{ByteSize: 4}, EnumName: "mod_mem_type", Val: []*ctype.EnumValue{{Name: "MOD_TEXT", Val: 0}, {Name: "MOD_DATA", Val: 1}}}
	arr := &ctype.ArrayType{CommonType: ctype.CommonType{ByteSize: 12}, Type: u32, Count: 3}
	s := &ctype.StructType{CommonType: ctype.CommonType{ByteSize: 32}, StructName: "s", Kind: "struct", Field: []*ctype.StructField{
		{Name: "a", Type: u32, ByteOffset: 0},
		{Name: "bf", Type: u32, DataBitOffset: 37, BitSize: 3},
		{Name: "p", Type: &ctype.PtrType{CommonType: ctype.CommonType{ByteSize: 8}, Type: other}, ByteOffset: 8},
		{Name: "arr", Type: arr, ByteOffset: 16},
		{Name: "e", Type: en, ByteOffset: 28},
	}}
	abbrev, info, err := WriteDWARF(DWARFInput{Types: []ctype.Type{s}, Enums: []*ctype.EnumType{en}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dwarf.New(abbrev, nil, nil, info, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := d.Reader()
	var got *ctype.StructType
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == dwarf.TagStructType && e.Val(dwarf.AttrName) == "s" {
			ty, err := d.Type(e.Offset)
			if err != nil {
				t.Fatal(err)
			}
			got = dwarftypes.FromDWARF(ty).(*ctype.StructType)
			break
		}
	}
	if got == nil {
		t.Fatal("struct s not found")
	}
	if got.ByteSize != 32 || len(got.Field) != 5 {
		t.Fatalf("struct s: size %d, %d fields", got.ByteSize, len(got.Field))
	}
	tests := []struct {
		name          string
		off, bit, bsz int64
	}{{"a", 0, 0, 0}, {"bf", 0, 37, 3}, {"p", 8, 0, 0}, {"arr", 16, 0, 0}, {"e", 28, 0, 0}}
	for i, tc := range tests {
		f := got.Field[i]
		if f.Name != tc.name || f.ByteOffset != tc.off || f.DataBitOffset != tc.bit || f.BitSize != tc.bsz {
			t.Errorf("field %d: %+v, want %+v", i, f, tc)
		}
	}
	if p, ok := got.Field[2].Type.(*ctype.PtrType); !ok || !p.Type.(*ctype.StructType).Incomplete {
		t.Errorf("pointer to struct other is %v, want a pointer to a declaration", got.Field[2].Type)
	}
	if a := got.Field[3].Type.(*ctype.ArrayType); a.Count != 3 || a.Size() != 12 {
		t.Errorf("array: count %d size %d", a.Count, a.Size())
	}
	if e := got.Field[4].Type.(*ctype.EnumType); len(e.Val) != 2 || e.Val[1].Name != "MOD_DATA" || e.Val[1].Val != 1 {
		t.Errorf("enum: %+v", e.Val)
	}
}
