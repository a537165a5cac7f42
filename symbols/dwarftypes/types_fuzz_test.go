package dwarftypes

import (
	"debug/dwarf"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-delve/delve/pkg/dwarf/dwarfbuilder"
	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/dwarftest"
)

// synthSections returns the sections of the synthetic DWARF, for fuzzing.
func synthSections(t testing.TB) (abbrev, info []byte) {
	t.Helper()
	s := dwarftest.New()
	u := s.Base("unsigned int", dwarfbuilder.DW_ATE_unsigned, 4)
	s.Open(dwarf.TagStructType, "x", 8)
	s.Member("a", u, 0)
	s.Bits5("b", u, 35, 7)
	s.TagClose()
	s.Open(dwarf.TagEnumerationType, "e", 4)
	s.TagOpen(dwarf.TagEnumerator, "E0")
	s.Attr(dwarf.AttrConstValue, uint8(0))
	s.TagClose()
	s.TagClose()
	abbrev, _, _, info, _, _, _, _, _, err := s.Build()
	if err != nil {
		t.Fatal(err)
	}
	return abbrev, info
}

// FuzzIndexDWARF builds the index of mutated .debug_info/.debug_abbrev and
// looks types up: corrupt DWARF must give errors, not panics or hangs.
func FuzzIndexDWARF(f *testing.F) {
	abbrev, info := synthSections(f)
	f.Add(abbrev, info)
	f.Fuzz(func(t *testing.T, abbrev, info []byte) {
		d, err := dwarf.New(abbrev, nil, nil, info, nil, nil, nil, nil)
		if err != nil {
			return
		}
		ts, err := LoadTypes(d, nil, "")
		if err != nil {
			return
		}
		exerciseTypes(ts)
	})
}

// FuzzUnitTypes is FuzzIndexDWARF through the path a mapped vmlinux
// takes: the fast walker's index (or, where it gives up, debug/dwarf's on
// a whole-file Data made on demand) and types decoded through a Data of
// their own unit (unitdwarf.go), the unit's header and abbreviations read
// by our own code first.
func FuzzUnitTypes(f *testing.F) {
	abbrev, info := synthSections(f) // DW_FORM_ref_addr: the whole-file path
	f.Add(abbrev, info)
	abbrev, info = ref4Sections() // DW_FORM_ref4: the per-unit path
	f.Add(abbrev, info)
	f.Fuzz(func(t *testing.T, abbrev, info []byte) {
		raw := &rawDWARF{info: info, abbrev: abbrev, order: binary.LittleEndian, path: "fuzz"}
		ts, err := loadTypes(func() (*dwarf.Data, *rawDWARF, error) { return nil, raw, nil }, nil, "")
		if err != nil {
			return
		}
		exerciseTypes(ts)
	})
}

// exerciseTypes looks up what the fuzzers' seeds define (and a variable
// they do not).
func exerciseTypes(ts *testTypes) {
	for _, n := range []string{"struct x", "x", "unsigned int", "enum e", "struct x *"} {
		if ty, err := ts.Lookup(n); err == nil {
			FindField(ty, "b", nil)
			Fields(ty, nil)
		}
	}
	ts.Offsetof("struct x", "a")
	ts.EnumConstant("E0")
	ts.VariableType("v")
}

// ref4Sections is a hand-laid DWARF 4 unit whose type references are
// DW_FORM_ref4 (delve's dwarfbuilder writes DW_FORM_ref_addr, which keeps a
// unit from being decoded alone): struct x { unsigned int a; unsigned int
// b; }, 8 bytes. Encodings: DWARF 4 §7.5 (unit header, abbreviations,
// forms 0x08 string, 0x0b data1, 0x13 ref4), DW_ATE_unsigned 0x08.
func ref4Sections() (abbrev, info []byte) {
	abbrev = []byte{
		1, 0x11, 1, 0, 0, // compile_unit, children
		2, 0x24, 0, 0x03, 0x08, 0x0b, 0x0b, 0x3e, 0x0b, 0, 0, // base_type: name, byte_size, encoding
		3, 0x13, 1, 0x03, 0x08, 0x0b, 0x0b, 0, 0, // structure_type: name, byte_size
		4, 0x0d, 0, 0x03, 0x08, 0x49, 0x13, 0x38, 0x0b, 0, 0, // member: name, type, data_member_location
		0,
	}
	body := []byte{1}      // the CU at offset 11
	base := 11 + len(body) // offsets count from the unit header
	body = append(body, 2) // base_type
	body = append(body, "unsigned int\x00"...)
	body = append(body, 4, 0x08)
	body = append(body, 3, 'x', 0, 8) // struct x, 8 bytes
	for i, m := range []byte{'a', 'b'} {
		body = append(body, 4, m, 0, byte(base), 0, 0, 0, byte(4*i))
	}
	body = append(body, 0, 0) // end of struct x's and the CU's children
	hdr := []byte{0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 8}
	binary.LittleEndian.PutUint32(hdr, uint32(len(hdr)-4+len(body)))
	return abbrev, append(hdr, body...)
}

// TestUnitTypesSeed: the ref4 seed of FuzzUnitTypes does reach the
// per-unit decoding (else the fuzzer would not be testing it) and decodes
// to what ref4Sections laid down.
func TestUnitTypesSeed(t *testing.T) {
	abbrev, info := ref4Sections()
	raw := &rawDWARF{info: info, abbrev: abbrev, order: binary.LittleEndian, path: "seed"}
	ts, err := loadTypes(func() (*dwarf.Data, *rawDWARF, error) { return nil, raw, nil }, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	ty, err := ts.Lookup("struct x")
	if err != nil || ty.Size() != 8 {
		t.Fatalf("Lookup(struct x) = %v, %v", ty, err)
	}
	st, ok := ty.(*ctype.StructType)
	if !ok || len(st.Field) != 2 || st.Field[1].Name != "b" || st.Field[1].ByteOffset != 4 || st.Field[1].Type.String() != "unsigned int" {
		t.Fatalf("struct x = %#v", ty)
	}
	u, err := ts.src.dataFor(ts.src.ix.Types["struct x"])
	if err != nil || !u.alone {
		t.Errorf("struct x not decoded through its unit's Data: %+v, %v", u, err)
	}
	if ts.src.whole != nil {
		t.Error("whole-file Data made")
	}
}

// FuzzLoadIndex feeds arbitrary bytes to the cache reader: it must reject
// them with an error or accept only a verified index.
func FuzzLoadIndex(f *testing.F) {
	dir := f.TempDir()
	d := synthDWARF(f)
	if _, err := LoadTypes(d, []byte{1}, dir); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, "dwarf-index-01.idx"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Recompute the trailing CRC-32C so that mutations reach the
		// decoder instead of stopping at the checksum.
		if len(b) >= 4 {
			binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], container.CRCTable))
		}
		p := filepath.Join(t.TempDir(), "i.idx")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ix, err := loadIndex(p, []byte{1})
		if err != nil {
			return
		}
		if ix.Version != indexVersion || string(ix.BuildID) != "\x01" {
			t.Fatalf("accepted index version %d build-id %x", ix.Version, ix.BuildID)
		}
		// A cache that verifies but lies about offsets must not yield a
		// wrong type: typeAt checks the DIE's name.
		ts := typesOver(d, ix)
		if ty, err := ts.Lookup("struct mod"); err == nil && ty.String() != "struct mod" {
			t.Fatalf("Lookup(struct mod) = %s", ty)
		}
	})
}
