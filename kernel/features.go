package kernel

import (
	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// Features are the kernel build options that change how the ppc64 module
// loader and ftrace lay out memory, decided from the presence of members in
// the vmlinux's DWARF (feature detection, never version checks). Each is
// false when the struct itself is missing from the DWARF.
//
// No DWARF difference tells a buggy loader from a fixed one: the two fixes
// that the corpus's buggy kernel reverts (setup_ftrace_ool_stubs counting
// the out-of-line stubs in arch.stub_count, and ftrace_init_nop setting the
// idle ftrace_op) change code in arch/powerpc/kernel/module_64.c and
// trace/ftrace.c, not any type. Which behaviour a dump shows must be read
// from its memory (package modules and ftrace do that).
type Features struct {
	// OOLStubs: struct mod_arch_specific has ool_stubs (with
	// ool_stub_count, ool_stub_index): CONFIG_PPC_FTRACE_OUT_OF_LINE, the
	// module's ftrace call sites branch to out-of-line stubs (struct
	// ftrace_ool_stub) laid out in the module's .stubs section after the
	// relocation stubs (arch/powerpc/include/asm/module.h).
	OOLStubs bool
	// StubCount: mod_arch_specific has stub_count, the number of
	// ppc64_stub_entry slots used in .stubs (every ppc64 kernel that
	// records it; a fixed loader counts the OOL array in it).
	StubCount bool
	// GOTSection: mod_arch_specific has got_section (and pcpu_section):
	// CONFIG_PPC_KERNEL_PCREL, modules address data PC-relative through a
	// GOT instead of a TOC (toc_section/toc_fixed are absent then).
	GOTSection bool
	// StartOPD: mod_arch_specific has start_opd/end_opd. Kernels before
	// 6.x had them for every ppc64 ABI (Debian's ELFv2 6.1 and 6.12 have
	// them): they do not say ELFv1; Program.ELFv1 (the vmlinux's e_flags
	// or .opd) does.
	StartOPD bool
	// Tramp, TrampRegs: mod_arch_specific has tramp and tramp_regs:
	// CONFIG_DYNAMIC_FTRACE, the module's ftrace_caller and
	// ftrace_regs_caller trampolines (themselves .stubs entries).
	Tramp, TrampRegs bool
	// OOLFtraceOp: struct ftrace_ool_stub has ftrace_op:
	// CONFIG_DYNAMIC_FTRACE_WITH_CALL_OPS, each OOL stub carries the
	// struct ftrace_ops * its call site uses (ftrace_nop_ops when idle in a
	// fixed kernel); without it the stub is just insn[4].
	OOLFtraceOp bool
	// DynFtraceOOLStub: struct dyn_ftrace has arch.ool_stub (struct
	// dyn_arch_ftrace, asm/ftrace.h), the address of the record's OOL stub.
	DynFtraceOOLStub bool
	// ModuleKLPInfo: struct module has klp_info (CONFIG_LIVEPATCH): the
	// module's ELF section headers kept for livepatch relocations
	// (klp_info->sechdrs), which is how a relocation stub can be written
	// after the OOL stubs were laid out.
	ModuleKLPInfo bool
	// ModuleMem: struct module has mem[], an array of struct
	// module_memory indexed by enum mod_mem_type (Linux 6.4 and later);
	// older kernels have core_layout/init_layout instead.
	ModuleMem bool
}

// DetectFeatures reads Features from the types. A type missing from the
// DWARF leaves its features false.
func DetectFeatures(ts TypeSource) Features {
	has := func(typeName, path string) bool {
		if ts == nil {
			return false
		}
		t, err := ts.Lookup(typeName)
		if err != nil {
			return false
		}
		return hasMember(ts, t, path)
	}
	f := Features{
		OOLStubs:         has("struct mod_arch_specific", "ool_stubs"),
		StubCount:        has("struct mod_arch_specific", "stub_count"),
		GOTSection:       has("struct mod_arch_specific", "got_section"),
		StartOPD:         has("struct mod_arch_specific", "start_opd"),
		Tramp:            has("struct mod_arch_specific", "tramp"),
		TrampRegs:        has("struct mod_arch_specific", "tramp_regs"),
		OOLFtraceOp:      has("struct ftrace_ool_stub", "ftrace_op"),
		DynFtraceOOLStub: has("struct dyn_ftrace", "arch.ool_stub"),
		ModuleKLPInfo:    has("struct module", "klp_info"),
	}
	if ts != nil {
		if t, err := ts.Lookup("struct module"); err == nil {
			if m, ok := findPath(ts, t, "mem"); ok {
				if at, ok := symbols.Underlying(m).(*ctype.ArrayType); ok {
					el := symbols.Underlying(at.Type)
					st, ok := el.(*ctype.StructType)
					f.ModuleMem = ok && st.StructName == "module_memory"
				}
			}
		}
	}
	return f
}

// hasMember reports whether t has the "."-separated member path.
func hasMember(ts TypeSource, t ctype.Type, path string) bool {
	_, ok := findPath(ts, t, path)
	return ok
}

// findPath returns the type of a "."-separated member path (no indexes),
// completing declaration-only structs through ts.
func findPath(ts TypeSource, t ctype.Type, path string) (ctype.Type, bool) {
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '.' {
			continue
		}
		name := path[start:i]
		start = i + 1
		u := symbols.Underlying(t)
		if st, ok := u.(*ctype.StructType); ok && st.Incomplete && st.StructName != "" {
			if def, err := ts.Lookup(st.Kind + " " + st.StructName); err == nil {
				u = def
			}
		}
		f, ok := symbols.FindField(u, name, nil)
		if !ok {
			return nil, false
		}
		t = f.Type
	}
	return t, true
}
