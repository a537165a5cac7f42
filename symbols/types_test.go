package symbols

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-delve/delve/pkg/dwarf/godwarf"
	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/dwarftest"
)

// synthDWARF is the synthetic DWARF of these tests (dwarftest.Synth).
func synthDWARF(t testing.TB) *dwarf.Data { return dwarftest.Synth(t) }

func loadSynth(t testing.TB) *Types {
	t.Helper()
	ty, err := LoadTypes(synthDWARF(t), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return ty
}

func TestLookupSynthetic(t *testing.T) {
	t.Parallel()
	ts := loadSynth(t)
	tests := []struct {
		name     string
		wantSize int64
		wantStr  string
	}{
		{"struct mod", 104, "struct mod"},
		{"mod", 104, "struct mod"}, // bare tag name tries struct first
		{"struct inner", 16, "struct inner"},
		{"unsigned int", 4, "unsigned int"},
		{"unsigned  long", 8, "unsigned long"}, // spaces normalised
		{"u32", 4, "u32"},
		{"my_u32", 4, "my_u32"},
		{"enum mod_mem_type", 4, "enum mod_mem_type"},
		{"mod_mem_type", 4, "enum mod_mem_type"},
		{"struct mod *", 8, "*struct mod"},
		{"struct mod **", 8, "**struct mod"},
		{"const struct inner", 16, "struct inner"},
		{"char [16]", 16, "[16]char"},
		{"struct inner [2]", 32, "[2]struct inner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ty, err := ts.Lookup(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			str := ty.String()
			if e, ok := ty.(*ctype.EnumType); ok {
				str = "enum " + e.EnumName
			}
			if ty.Size() != tt.wantSize || str != tt.wantStr {
				t.Errorf("Lookup(%q) = %s size %d, want %s size %d", tt.name, ty, ty.Size(), tt.wantStr, tt.wantSize)
			}
		})
	}
	// The typedef chain resolves to the base type.
	ty, _ := ts.Lookup("my_u32")
	if u := Underlying(ty); u.String() != "unsigned int" {
		t.Errorf("Underlying(my_u32) = %s, want unsigned int", u)
	}
	// The definition is preferred over the declaration that precedes it.
	if st := Underlying(mustLookup(t, ts, "struct mod")).(*ctype.StructType); st.Incomplete || len(st.Field) != 8 {
		t.Errorf("struct mod: incomplete=%v with %d fields, want the 8-field definition", st.Incomplete, len(st.Field))
	}
	for _, bad := range []string{"struct nosuch", "nosuch", "char [x]"} {
		_, err := ts.Lookup(bad)
		var le *LookupError
		if !errors.As(err, &le) || le.Name != bad {
			t.Errorf("Lookup(%q) error = %v, want *LookupError naming it", bad, err)
		}
	}
	if _, err := ts.Lookup("struct nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup(struct nosuch) = %v, want ErrNotFound", err)
	}
}

func mustLookup(t testing.TB, ts *Types, name string) ctype.Type {
	t.Helper()
	ty, err := ts.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return ty
}

func TestOffsetofSynthetic(t *testing.T) {
	t.Parallel()
	ts := loadSynth(t)
	tests := []struct {
		typ, path string
		want      int64
	}{
		{"struct mod", "state", 0},
		{"struct mod", "mem", 8},
		{"struct mod", "mem[1].size", 8 + 16 + 8},
		{"struct mod", "mem[MOD_RODATA].base", 8 + 2*16}, // enum constant as index
		{"struct mod", "anon_b", 56},                     // through the anonymous union
		{"struct mod", "f.state", 64},
		{"struct mod", "name[3]", 83},
		{"struct mod", "tail", 96},
		{"struct mod", "flex[5]", 100 + 5*4}, // flexible array: no bound
		{"mod", "next", 72},
	}
	for _, tt := range tests {
		got, err := ts.Offsetof(tt.typ, tt.path)
		if err != nil || got != tt.want {
			t.Errorf("Offsetof(%q, %q) = %d, %v; want %d", tt.typ, tt.path, got, err, tt.want)
		}
	}
	for _, tt := range []struct{ typ, path, member string }{
		{"struct mod", "nosuch", "nosuch"},
		{"struct mod", "f.a", "a"},         // bitfield has no byte offset
		{"struct mod", "mem[3]", "mem[3]"}, // out of bounds
		{"struct mod", "state[0]", "state[0]"},
		{"struct mod", "mem[NOPE]", "mem[NOPE]"},
	} {
		_, err := ts.Offsetof(tt.typ, tt.path)
		var me *MemberError
		if !errors.As(err, &me) || me.Member != tt.member {
			t.Errorf("Offsetof(%q, %q) error = %v, want *MemberError on %q", tt.typ, tt.path, err, tt.member)
		}
	}
	if n, err := ts.Sizeof("struct flags5"); err != nil || n != 8 {
		t.Errorf("Sizeof(struct flags5) = %d, %v", n, err)
	}
	if v, err := ts.EnumConstant("MOD_RODATA"); err != nil || v != 2 {
		t.Errorf("EnumConstant(MOD_RODATA) = %d, %v; want 2", v, err)
	}
}

// TestBitfields checks that both DWARF bitfield encodings normalise to the
// bit positions of the C declaration in synth (a at 32, b at 35, c at 42).
func TestBitfields(t *testing.T) {
	t.Parallel()
	ts := loadSynth(t)
	want := map[string][2]int64{"a": {32, 3}, "b": {35, 7}, "c": {42, 22}}
	for _, typ := range []string{"struct flags5", "struct flags4"} {
		st := mustLookup(t, ts, typ)
		for name, w := range want {
			f, ok := FindField(st, name, binary.LittleEndian)
			if !ok || f.BitOffset != w[0] || f.BitSize != w[1] {
				t.Errorf("%s.%s: bit offset %d size %d (found %v), want %d size %d", typ, name, f.BitOffset, f.BitSize, ok, w[0], w[1])
			}
		}
	}
	// Nested through a member: mod.f.b is at 64*8+35.
	f, ok := FindField(mustLookup(t, ts, "struct mod"), "f", binary.LittleEndian)
	if !ok {
		t.Fatal("no mod.f")
	}
	g, _ := FindField(f.Type, "b", binary.LittleEndian)
	if f.BitOffset+g.BitOffset != 64*8+35 {
		t.Errorf("mod.f.b at bit %d, want %d", f.BitOffset+g.BitOffset, 64*8+35)
	}
}

// TestGodwarfDropsDataBitOffset documents why this package reads types
// with debug/dwarf: delve's godwarf does not read DW_AT_data_bit_offset, so
// a DWARF 5 bitfield loses its position.
func TestGodwarfDropsDataBitOffset(t *testing.T) {
	t.Parallel()
	d := synthDWARF(t)
	ts, err := LoadTypes(d, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	off := dieOffset(ts, "type", "struct flags5")
	gt, err := godwarf.ReadType(d, 0, off, make(map[dwarf.Offset]godwarf.Type))
	if err != nil {
		t.Fatal(err)
	}
	st, ok := gt.(*godwarf.StructType)
	if !ok {
		t.Fatalf("godwarf type %T", gt)
	}
	for _, f := range st.Field {
		if f.Name != "b" {
			continue
		}
		// Truth (the C declaration): b starts at bit 35. godwarf's only
		// position fields say byte 0, bit 0.
		if pos := f.ByteOffset*8 + f.BitOffset; pos == 35 {
			t.Fatalf("godwarf now reads b at bit %d; the package doc's claim is stale", pos)
		}
		t.Logf("godwarf reads flags5.b at ByteOffset %d BitOffset %d (true position: bit 35)", f.ByteOffset, f.BitOffset)
		return
	}
	t.Fatal("godwarf lost member b")
}

func TestVariableType(t *testing.T) {
	t.Parallel()
	ts := loadSynth(t)
	ty, err := ts.VariableType("the_mod")
	if err != nil {
		t.Fatal(err)
	}
	if ty.String() != "struct mod" || ty.Size() != 104 {
		t.Errorf("VariableType(the_mod) = %s size %d", ty, ty.Size())
	}
	// The index points at the definition (via DW_AT_specification), not
	// the declaration.
	d, err := ts.Data()
	if err != nil {
		t.Fatal(err)
	}
	r := d.Reader()
	r.Seek(dieOffset(ts, "variable", "the_mod"))
	e, _ := r.Next()
	if e == nil || e.Val(dwarf.AttrLocation) == nil {
		t.Errorf("index entry for the_mod is not the definition: %v", e)
	}
	if _, err := ts.VariableType("nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("VariableType(nosuch) = %v", err)
	}
}

func TestIndexCache(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	id := []byte{0xde, 0xad, 0xbe, 0xef}
	d := synthDWARF(t)
	first, err := LoadTypes(d, id, dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.FromCache || first.CacheWarning != "" {
		t.Fatalf("first load: FromCache %v, warning %q", first.FromCache, first.CacheWarning)
	}
	path := filepath.Join(dir, "dwarf-index-deadbeef.idx")
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	second, err := LoadTypes(d, id, dir)
	if err != nil || !second.FromCache {
		t.Fatalf("second load: FromCache %v, err %v", second.FromCache, err)
	}
	if n, err := second.Offsetof("struct mod", "tail"); err != nil || n != 96 {
		t.Errorf("cached Offsetof = %d, %v", n, err)
	}
	// A corrupt cache is rebuilt, with a warning.
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := LoadTypes(d, id, dir)
	if err != nil || third.FromCache || third.CacheWarning == "" {
		t.Fatalf("corrupt cache: FromCache %v warning %q err %v", third.FromCache, third.CacheWarning, err)
	}
	// A cache file of another build-id (renamed into place) is rejected.
	other := []byte{1, 2}
	if _, err := LoadTypes(d, other, dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "dwarf-index-0102.idx"), path); err != nil {
		t.Fatal(err)
	}
	fourth, err := LoadTypes(d, id, dir)
	if err != nil || fourth.FromCache {
		t.Fatalf("wrong build-id: FromCache %v err %v", fourth.FromCache, err)
	}
	var ce *CacheError
	_ = ce
	if fourth.CacheWarning == "" {
		t.Error("wrong build-id: no warning")
	}
}
