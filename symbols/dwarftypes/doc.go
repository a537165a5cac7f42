// Package dwarftypes reads the C types of a kernel or module from DWARF:
// a name index of top-level types, variables and enumeration constants
// (built by a minimal DIE walker of our own over the raw sections,
// parallel across units, checked against debug/dwarf's reader in the
// tests, and cached on disk in a format of our own: indexfile.go), and
// types decoded by the standard library's debug/dwarf when first asked
// for — each over a Data of its own compile unit when the unit allows it
// (unitdwarf.go), through a read-only mapping of the file rather than
// debug/elf's copies (dwarfmap.go) — and handed out as ctype types
// (dwarfconv.go). A unit that cannot be read is left out, named in
// Warnings; a cached index that verifies but names a DIE that is not what
// it says is refused at decoding (typeAt).
//
// Types are decoded with debug/dwarf, not delve's godwarf: godwarf drops
// DW_AT_data_bit_offset, so DWARF 5 bitfields (GCC's default) would read
// at the wrong bits (TestGodwarfDropsDataBitOffset in symbols keeps
// checking that it still does).
//
// Layer: files (docs/ARCHITECTURE.md). It imports no package of the
// project but ctype and internal/container, so that symbols' own tests can
// use it; symbols.Types stands in front of a Source (symbols.DWARFSource),
// and symbols/dwarfread connects the two for the programs that import it.
//
// What it does not do: look types up by C spelling ("struct module *",
// "char [16]": symbols.Types.Lookup), complete declarations, read BTF,
// line tables or frame information.
package dwarftypes
