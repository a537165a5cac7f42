// Package elfobj reads ELF object files the way the models need them: the
// ELF header, the section headers with their names, and section contents
// (SHF_COMPRESSED zlib and zstd sections decompressed), for a vmlinux, a
// module .ko or a debuginfo file. It also names the ELF constants the
// models use (section types and flags, symbol binding and type, the
// relocation types of x86_64, arm64 and ppc64), with debug/elf's names.
//
// Layer: a leaf under the models (symbols, modules, reloc, textcheck,
// kernel, debuginfo); it imports no project package.
//
// A file is hostile input: sizes in headers are checked against what the
// file holds before they are allocated (a section is read in steps of at
// most 16 MiB; a compressed section may declare at most MaxDecompressed,
// 4 GiB, and its stream must give exactly that size), every error is a FormatError with the file offset (but
// ErrNoBits, a read of an SHT_NOBITS section, in debug/elf's words), and
// nothing panics. It does not read program headers, symbol tables,
// relocations or DWARF: the callers read those from section data (symbols
// reads .symtab; symbols/dwarfread gives debug/elf's DWARF reader the
// same file), nor the pre-gABI ".zdebug_*" sections (GNU zlib-gnu
// compression): they are returned as stored.
package elfobj
