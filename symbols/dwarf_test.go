package symbols

// The tests' program links the DWARF type reader cmd/kdump-inspect links
// (through symbols/dwarfread, which cannot be imported here: it imports
// symbols), and these helpers stand where the Types methods that needed
// debug/dwarf stood before the reader left the package.

import (
	"debug/dwarf"
	"debug/elf"

	"github.com/kdump-inspect/kdump-inspect/symbols/dwarftypes"
)

func dwarfFile(f *ELFFile) dwarftypes.File {
	ef, err := elf.NewFile(f.ReaderAt())
	if err != nil {
		panic(err) // the file opened as an ELFFile: debug/elf reads it too
	}
	return dwarftypes.File{ELF: ef, OS: f.OSFile(), Path: f.Path}
}

func init() {
	RegisterDWARFLoader(func(f *ELFFile, key []byte, cacheDir string) (DWARFSource, error) {
		src, err := dwarftypes.LoadFile(dwarfFile(f), key, cacheDir)
		if err != nil {
			return nil, err
		}
		return src, nil
	})
}

// LoadTypes is dwarfread.LoadTypes.
func LoadTypes(d *dwarf.Data, buildID []byte, cacheDir string) (*Types, error) {
	src, err := dwarftypes.Load(d, buildID, cacheDir)
	if err != nil {
		return nil, err
	}
	return NewDWARFTypes(src), nil
}

// Data is dwarfread.Data.
func (t *Types) Data() (*dwarf.Data, error) {
	d, err := t.DWARF()
	if err != nil {
		return nil, err
	}
	return d.dw.(*dwarftypes.Source).Data()
}

// DWARF is dwarfread.FileData.
func (f *ELFFile) DWARF() (*dwarf.Data, error) { return dwarftypes.FileData(dwarfFile(f)) }

// FromDWARF is dwarftypes.FromDWARF.
var FromDWARF = dwarftypes.FromDWARF

// dieOffset is the DIE the index names for a type or variable.
func dieOffset(t *Types, kind, name string) dwarf.Offset {
	off, _ := t.dw.(*dwarftypes.Source).DIEOffset(kind, name)
	return off
}
