// Package symbols turns the names of a ppc64 Linux kernel into addresses and
// back.
//
// It reads ELF symbol tables of vmlinux and module .ko files (OpenELF, whole
// files compressed with .zst/.xz/.gz through internal/container; headers and
// sections, SHF_COMPRESSED ones decompressed, through elfobj), with nm-style type
// letters, the ppc64 ELFv2 local-entry offsets from st_other, ELFv1 .opd
// function descriptors resolved to entry addresses, the GNU build-id, the
// section list, RELA relocations and raw symbol-table entries (st_shndx
// special values such as SHN_LIVEPATCH kept). It reads the kernel's own
// compressed kallsyms table and a module's core kallsyms out of a dump's
// memory (ReadKallsyms, ModuleKallsyms) through a one-method Memory
// interface of its own, so that it never imports package dump. Table gives
// name and address lookups over one symbol set; Resolver combines vmlinux
// and module tables with module memory regions and section addresses into
// crash-style locations ("sym+0x10 [mod]", "mod:.stubs+0x28").
//
// It also stands in front of DWARF types (Types: Lookup, Offsetof,
// Sizeof, VariableType, EnumConstant, Complete, FindField) without reading
// DWARF itself: a DWARFSource does (symbols/dwarftypes: a name index built
// in parallel across units and cached on disk, types decoded by
// debug/dwarf, each over its own unit, and handed out as the project's
// type model, package ctype), registered by symbols/dwarfread, which also
// registers the line-table reader (LoadVmlinuxLines, LoadModuleLines).
// A program that links neither gets ErrNoDWARFReader and ErrNoLineReader,
// never an empty answer. So symbols imports no DWARF reader, and neither
// does anything above it that only asks for a type or a line.
//
// It also reads BTF (btf.go, btfconv.go, btftypes.go): a vmlinux's .BTF
// (base BTF) and a module's (split BTF over it, type IDs and string
// offsets continuing the base's), in either byte order (the magic says
// which), every kind of include/uapi/linux/btf.h up to ENUM64, and kinds
// newer than that skipped through 7.2's layout section. LoadBTFTypes and
// LoadSplitBTFTypes return the same Types as DWARF gives, backed by the
// BTF: types are built as ctype ones lazily and once per type
// ID, in the shapes debug/dwarf gives for GCC's DWARF 5 (a bitfield's
// DataBitOffset, a typedef's size, ...), so that no consumer changes; a
// pointer's struct is a declaration-shaped shell that Types.Complete turns
// into exactly that type's definition. What BTF does not have, it does not
// invent: VariableType answers only for per-CPU variables (the VAR records
// pahole writes) and wraps ErrNotInBTF otherwise; DWARF says ErrNoDWARF;
// there are no line tables, locations or CFI — unless the caller stands
// the same kernel's DWARF behind them (SetDWARF, btfdwarf.go: opened the
// first time a variable BTF lacks or DWARF is asked for, never for a type
// lookup) and the declarations of the variables it reads
// (SetVariableDecls). A module built with a
// distilled base (.BTF.base) is parsed over that base as found in the
// file, not relocated to the vmlinux's BTF as the kernel does on load (the
// copy in a dump's memory is already relocated). Every count and offset is
// bounded by the blob, type references are range- and cycle-checked, and
// malformed input is a *BTFError with the byte offset, never a panic
// (FuzzBTF).
// Damaged input is confined, not believed: a symbol table is checked
// against the file's own sections (symcheck.go; suspect symbols marked,
// one SymtabReport per file, and the resolver names no address by a
// suspect size alone), and a .debug_info unit that cannot be read is left
// out of the type index, said in Types.Warnings, the other units kept
// (symbols/dwarftypes).
//
// It does not find modules in a dump (package modules walks struct module
// and fills ModuleLayout), apply relocations to code, disassemble, or decide
// which symbol table is "right" when vmlinux and kallsyms disagree: it
// reports what each one says.
//
// Layer: files (docs/ARCHITECTURE.md).
package symbols
