// Package reloc applies the RELA relocations of a relocatable object (a
// kernel module's .ko) to its section bytes at the addresses a dump shows,
// as the architecture's apply_relocate_add() does when the module loads —
// today ppc64 (arch/powerpc/kernel/module_64.c, ELFv2 and ELFv1, not
// PC-relative kernels).
//
// It computes bytes and records, per relocation, what it wrote and why; it
// does not find the .ko, resolve symbols (the caller gives every symbol's
// st_value as simplify_symbols() leaves it) or decide where call stubs go
// (the caller's Stub function is stub_for_addr()). A relocation the kernel
// would refuse (a value out of range, a type it does not know) is an error
// naming the section, offset and type, never a silent zero: the module in
// the dump was loaded, so such an error means the inputs are not the ones
// the kernel had.
//
// Layer: models (docs/ARCHITECTURE.md).
package reloc
