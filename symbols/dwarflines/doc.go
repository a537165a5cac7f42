// Package dwarflines reads DWARF source line tables (`dis -l`, `bt -l`)
// with delve's pkg/dwarf/line: the vmlinux's, whose compile unit for a pc
// is found through the vmlinux DWARF, and a module's .ko's, with its
// .rela.debug_line applied at the module's runtime section addresses.
// Every line program header is checked by our own parser before delve's
// reader sees it, and every call into delve runs under recover.
//
// Layer: files (docs/ARCHITECTURE.md). It registers itself with symbols
// (symbols.RegisterLineReader) when imported, so the packages that only
// ask for a line — analysis, the views — do not depend on a DWARF line
// reader; cmd/kdump-inspect imports it.
//
// What it does not do: big-endian line tables (delve's reader decodes
// little-endian only; such a file is refused with a reason), DWARF
// location expressions or frame information, or finding the .ko (the
// caller gives the file and its section addresses).
package dwarflines

import "github.com/kdump-inspect/kdump-inspect/symbols"

func init() {
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
