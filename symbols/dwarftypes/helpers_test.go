package dwarftypes

import (
	"debug/dwarf"
	"debug/elf"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/dwarftest"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// testTypes is what the tests look types up through: symbols.Types in
// front of a Source (as symbols/dwarfread connects them), the Source kept
// to look at its index and units.
type testTypes struct {
	*symbols.Types
	src *Source
}

func over(src *Source) *testTypes { return &testTypes{symbols.NewDWARFTypes(src), src} }

func LoadTypes(d *dwarf.Data, buildID []byte, cacheDir string) (*testTypes, error) {
	src, err := Load(d, buildID, cacheDir)
	if err != nil {
		return nil, err
	}
	return over(src), nil
}

func loadTypes(get func() (*dwarf.Data, *rawDWARF, error), buildID []byte, cacheDir string) (*testTypes, error) {
	src, err := load(get, buildID, cacheDir)
	if err != nil {
		return nil, err
	}
	return over(src), nil
}

func fileOf(f *symbols.ELFFile) File {
	ef, err := elf.NewFile(f.ReaderAt())
	if err != nil {
		panic(err) // the file opened as an ELFFile: debug/elf reads it too
	}
	return File{ELF: ef, OS: f.OSFile(), Path: f.Path}
}

func LoadELFTypes(f *symbols.ELFFile, key []byte, cacheDir string) (*testTypes, error) {
	if key == nil {
		key = f.BuildID
	}
	src, err := LoadFile(fileOf(f), key, cacheDir)
	if err != nil {
		return nil, err
	}
	return over(src), nil
}

// typesOver is a Source over a whole-file Data with a given index (what
// Load makes, without building the index).
func typesOver(d *dwarf.Data, ix *typeIndex) *testTypes {
	return over(&Source{whole: d, ix: ix, PtrSize: 8, units: map[int]unitData{}})
}

func synthDWARF(t testing.TB) *dwarf.Data { return dwarftest.Synth(t) }

func loadSynth(t testing.TB) *testTypes {
	t.Helper()
	ty, err := LoadTypes(synthDWARF(t), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return ty
}

var (
	OpenELF   = symbols.OpenELF
	FindField = symbols.FindField
	Fields    = symbols.Fields
)
