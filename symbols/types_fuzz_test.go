package symbols

import (
	"debug/dwarf"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-delve/delve/pkg/dwarf/dwarfbuilder"
	"github.com/kdump-inspect/kdump-inspect/internal/dwarftest"
)

func TestCanonicalBaseName(t *testing.T) {
	t.Parallel()
	// GCC's spellings (as in the corpus vmlinux's DW_TAG_base_type names)
	// and C's usual ones.
	for in, want := range map[string]string{
		"long unsigned int":      "unsigned long",
		"unsigned long":          "unsigned long",
		"long int":               "long",
		"long long int":          "long long",
		"long long unsigned int": "unsigned long long",
		"short unsigned int":     "unsigned short",
		"short int":              "short",
		"unsigned int":           "unsigned int",
		"unsigned":               "unsigned int",
		"signed int":             "int",
		"int":                    "int",
		"char":                   "char",
		"unsigned char":          "unsigned char",
		"signed char":            "signed char",
		"_Bool":                  "_Bool",
		"u64":                    "u64",
		"struct module":          "struct module",
		"long long long":         "long long long",
	} {
		if got := CanonicalBaseName(in); got != want {
			t.Errorf("CanonicalBaseName(%q) = %q, want %q", in, got, want)
		}
	}
}

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
		for _, n := range []string{"struct x", "x", "unsigned int", "enum e", "struct x *"} {
			if ty, err := ts.Lookup(n); err == nil {
				FindField(ty, "b", nil)
				Fields(ty, nil)
			}
		}
		ts.Offsetof("struct x", "a")
		ts.EnumConstant("E0")
	})
}

// FuzzLoadIndex feeds arbitrary bytes to the cache reader: it must reject
// them with an error or accept only a verified index.
func FuzzLoadIndex(f *testing.F) {
	dir := f.TempDir()
	d := synthDWARF(f)
	if _, err := LoadTypes(d, []byte{1}, dir); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, "dwarf-index-01.gob"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "i.gob")
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
