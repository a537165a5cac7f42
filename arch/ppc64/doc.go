// Package ppc64 holds what is specific to 64-bit Power (Book3S-64) Linux:
//
//   - the Linux page-table geometry of the radix and hash MMUs with 4K and
//     64K pages, and a walker (Translator) that resolves kernel virtual
//     addresses through swapper_pg_dir in a dump's physical memory;
//   - instruction helpers used by the module-loader and ftrace models and by
//     the disassembly view: I-form/B-form branch targets, create_branch(),
//     PPC_HA/PPC_LO halves, the module_64.c call-stub and ftrace-stub
//     templates, the out-of-line ftrace stub, and a wrapper over
//     golang.org/x/arch/ppc64/ppc64asm that prints absolute branch targets.
//
// It does not open dump files (package dump does, and may import this
// package; this package must not import dump), does not know where
// swapper_pg_dir is (the caller passes its physical address), and does not
// walk the hash page table (HPT) itself: on hash, as in the kernel, the Linux
// page table rooted at swapper_pg_dir is the authority for vmalloc space,
// and the bolted linear map is plain arithmetic.
//
// Everything here takes hostile input: page-table entries from a crashed
// kernel, instruction words from memory. Nothing panics; walks have a fixed
// depth; errors are typed and name the address (%#x).
//
// Layer: architecture (docs/ARCHITECTURE.md).
package ppc64
