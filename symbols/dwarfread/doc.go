// Package dwarfread connects the DWARF readers to symbols: importing it
// (cmd/kdump-inspect does, as database/sql's drivers are imported)
// registers the type reader of symbols/dwarftypes (symbols.LoadELFTypes),
// the call-frame reader of this package (symbols.ParseFrames: delve's
// pkg/dwarf/frame over .debug_frame, under recover) and its line-table
// reader (symbols.LoadVmlinuxLines,
// LoadModuleLines: delve's pkg/dwarf/line over .debug_line, a module's
// .rela.debug_line applied at its runtime section addresses, every line
// program header checked by our own parser before delve's reader sees it
// and every call into delve under recover). It also gives the whole-file
// debug/dwarf Data behind a symbols.Types or ELF file (Data, FileData) to
// the few that decode DWARF themselves (the example extractor, tests).
//
// Layer: files (docs/ARCHITECTURE.md). The packages that only ask for a
// type or a line — kernel, modules, analysis, the views — do not depend on
// it, nor on debug/dwarf or delve.
//
// What it does not do: big-endian line tables (delve's reader decodes
// little-endian only; such a file is refused with a reason), DWARF
// location expressions, or finding the .ko (the
// caller gives the file and its section addresses).
package dwarfread

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/symbols"
	"github.com/kdump-inspect/kdump-inspect/symbols/dwarftypes"
)

func init() {
	symbols.RegisterDWARFLoader(func(f *symbols.ELFFile, key []byte, cacheDir string) (symbols.DWARFSource, error) {
		df, err := file(f)
		if err != nil {
			return nil, err
		}
		src, err := dwarftypes.LoadFile(df, key, cacheDir)
		if err != nil {
			return nil, err
		}
		return src, nil
	})
	symbols.RegisterFrameReader(ParseFrames)
	symbols.RegisterLineReader(symbols.LineReader{
		Vmlinux: func(f *symbols.ELFFile, types *symbols.Types) (symbols.LineTable, error) {
			lt, err := LoadVmlinuxLines(f, types)
			if lt == nil {
				return nil, err
			}
			return lt, err
		},
		Module: func(f *symbols.ELFFile, secAddr func(string) (uint64, bool)) (symbols.LineTable, error) {
			lt, err := LoadModuleLines(f, secAddr)
			if lt == nil {
				return nil, err
			}
			return lt, err
		},
	})
}

// file is f for the DWARF type reader, which reads DWARF through
// debug/elf (its DWARF method applies a .ko's relocations to the debug
// sections): debug/elf reads f's headers again from the same bytes.
func file(f *symbols.ELFFile) (df dwarftypes.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: malformed ELF file (debug/elf panicked: %v)", f.Path, p)
		}
	}()
	ef, err := elf.NewFile(f.ReaderAt())
	if err != nil {
		return df, fmt.Errorf("%s: %w", f.Path, err)
	}
	return dwarftypes.File{ELF: ef, OS: f.OSFile(), Path: f.Path}, nil
}

// LoadTypes indexes d as DWARF-backed Types (dwarftypes.Load): the
// index cached under cacheDir keyed by buildID when both are given.
func LoadTypes(d *dwarf.Data, buildID []byte, cacheDir string) (*symbols.Types, error) {
	src, err := dwarftypes.Load(d, buildID, cacheDir)
	if err != nil {
		return nil, err
	}
	return symbols.NewDWARFTypes(src), nil
}

// Data returns the whole-file debug/dwarf Data behind t: its own DWARF,
// or for BTF-backed Types the DWARF SetDWARF stands behind them (opened
// now); symbols.ErrNoDWARF when there is none. Callers that decode types
// through it must not do so concurrently with each other.
func Data(t *symbols.Types) (*dwarf.Data, error) {
	d, err := t.DWARF()
	if err != nil {
		return nil, err
	}
	src, ok := d.DWARFSource().(*dwarftypes.Source)
	if !ok {
		return nil, errors.New("the DWARF types come from another reader")
	}
	return src.Data()
}

// FileData returns f's whole-file DWARF Data (dwarftypes.FileData).
func FileData(f *symbols.ELFFile) (*dwarf.Data, error) {
	df, err := file(f)
	if err != nil {
		return nil, err
	}
	return dwarftypes.FileData(df)
}
