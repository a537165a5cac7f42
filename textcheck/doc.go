// Package textcheck holds every byte of a loaded object's text against its
// ELF file: it rebuilds what each executable section must contain — the
// module's .ko with its relocations applied at the addresses of this dump
// (package reloc), or the vmlinux's own bytes — reads the same bytes from
// the dump, and explains each difference by a mechanism the kernel uses to
// change text after it is loaded, each a model citing the function it
// mirrors:
//
//   - ftrace call sites in their record's state (package ftrace's models),
//     and the `mflr r0` ftrace_init_nop() writes at ip-4 on kernels with
//     patchable entries and no out-of-line stubs;
//   - jump labels: each __jump_table entry's instruction in its key's
//     state (arch_jump_label_transform());
//   - ppc64 feature fixups as module_finalize() applies them (__ftr_fixup,
//     __mmu_ftr_fixup, __fw_ftr_fixup, __lwsync_fixup; modules' own
//     __barrier_nospec_fixup sections are never applied, since
//     module_finalize() looks for __spec_barrier_fixup — modelled
//     faithfully: their sites must keep the .ko's bytes);
//   - kprobes (a `trap` at a registered struct kprobe's address, or the
//     branch of an optimized probe);
//   - livepatch relocations whose object is not loaded now: ppc64 never
//     clears them (clear_relocate_add() is a weak no-op), so a call through
//     a .stubs slot left by an earlier load is expected;
//   - calls through .stubs slots other than the loader model's, when the
//     slot holds a stub to the same target;
//   - in the vmlinux only: the Spectre/Meltdown fixups of
//     lib/feature-fixups.c (stf entry/exit barriers, rfi, entry and scv
//     entry flushes, uaccess flush, barrier_nospec) in the state the
//     kernel's variables record, the ftrace_ool_stub_text arrays written at
//     boot (package ftrace's OOL model), ftrace_tramp_text
//     (ftrace_dyn_arch_init()), ftrace_call/ftrace_regs_call and
//     ftrace_graph_call, optimized kprobes' detour buffers in
//     optinsn_slot, and head_64.S's variables in .head.text;
//   - in the arm64 vmlinux: its image relocated as relocate_kernel()
//     does by the KASLR offset (.rela.dyn R_AARCH64_RELATIVE, .relr.dyn),
//     then alternatives by system_cpucaps (the callbacks
//     alt_cb_patch_nops, kvm_update_va_mask, kvm_get_kimage_voffset,
//     kvm_compute_final_ctr_el0, smccc_patch_fw_mitigation_conduit,
//     spectre_v4_patch_fw_mitigation_enable, kvm_patch_vector_branch,
//     kvm_compute_ich_hcr_trap_bits and the spectre_bhb_patch_* ones
//     rebuilt from the variables they read, cpucaps found by their .desc
//     in cpucap_ptrs[]; other callbacks accept any content and are
//     reported partial), ftrace sites, jump labels and kprobes as in its
//     modules, the runtime constants of runtime_const_init() (a pointer
//     whose variable the compiler dropped checked against the kmem_cache
//     of the name it was created with in slab_caches), the nVHE hyp
//     relocations of kvm_apply_hyp_relocations(), and the PE CheckSum and
//     Certificate Table fields a Secure Boot signer writes in the Image
//     header.
//   - in the x86_64 vmlinux (.text at the KASLR-moved addresses; init
//     text not compared): handle_relocations()'s KASLR relocations, found
//     from the bytes since x86 strips .rela from the vmlinux (a 4-byte
//     field now its file value plus or minus KERNELOFFSET, an 8-byte one
//     plus it), the boot-time patchers over the vmlinux's own tables
//     (alternatives, retpolines and ITS thunks, return thunks, sealed
//     endbr, smp locks), runtime_const_fixup()'s runtime constants, the
//     static call trampolines and sites, ftrace_call/ftrace_regs_call
//     (ftrace_update_ftrace_func()), besides ftrace, jump labels, kprobes
//     and the text-poke batch.
//
// Where a mechanism's state cannot be read (no ftrace records, no
// struct jump_entry or struct kprobe in the types), its sites — known from
// the ELF file (__patchable_function_entries, __mcount_loc, __jump_table's
// own relocations) — accept any state it can write, and the result says
// it is incomplete: an unreadable state never makes a finding.
//
// What no mechanism explains is returned as an unexplained difference, with
// the nearest explanation that almost matched. Unreadable pages and
// relocations the model could not apply are named, never compared as zero.
//
// It does not judge (package audit turns unexplained differences into
// findings) and does not print (package repl formats).
//
// Layer: models (docs/ARCHITECTURE.md).
package textcheck
