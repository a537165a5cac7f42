// SPDX-License-Identifier: GPL-2.0
/*
 * klp_stub_bug (arm64 port): livepatch module carrying two real klp relocation
 * sections, made by klp-convert-lite.py from ordinary ones:
 *
 *  .klp.rela.klp_tgt..klptext   R_AARCH64_CALL26 to ".klp.sym.klp_tgt.tgt_secret,0"
 *      (the unexported static function of klp_tgt), applied by
 *      klp_init_object_loaded() at klp_enable_patch() time, after the module's
 *      text is read-only and after module_finalize() set up its PLTs and
 *      ftrace trampoline. Module to module: normally within BL range (all
 *      modules share the 2 GiB module region and are allocated together), so
 *      no PLT entry; if it were out of range, module_emit_plt_entry() would
 *      write the PLT slot into read-only text.
 *  .klp.rela.vmlinux..klptext2  R_AARCH64_CALL26 to
 *      ".klp.sym.vmlinux.version_proc_show,0" (static in fs/proc/version.c),
 *      applied while the module is loading (apply_relocations(), module still
 *      UNFORMED): with KASLR and the 2 GiB module region, out of BL range, so
 *      the loader emits a PLT entry for it in the core .plt.
 *
 * Both relocation sections target executable sections, so
 * module_frob_arch_sections() counts their CALL26 relocations into
 * mod->arch.core.plt_max_entries.
 *
 * /sys/module/klp_stub_bug/parameters/crash: when set to 1, the next read of
 * /proc/klp_tgt (livepatched: livepatch_tgt_show) dereferences NULL in
 * livepatch code (for a real crash dump with a livepatched frame on the stack).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>
/* KLP_ASM_FUNC and the klp_patch of tgt_show (shared with ppc64-build's klp_stub_bug.c) */
#include "klp_stub_bug.h"

static int crash;
module_param(crash, int, 0644);

/* klp_call_secret(x) = klp_tgt:tgt_secret(x); frame record kept for unwinders */
KLP_ASM_FUNC(".klptext", "klp_call_secret",
"	stp	x29, x30, [sp, #-16]!\n"
"	mov	x29, sp\n"
"	bl	\".klp.sym.klp_tgt.tgt_secret,0\"\n"
"	ldp	x29, x30, [sp], #16\n"
"	ret\n");

/* klp_call_version(m, v) = vmlinux:version_proc_show(m, v) */
KLP_ASM_FUNC(".klptext2", "klp_call_version",
"	stp	x29, x30, [sp, #-16]!\n"
"	mov	x29, sp\n"
"	bl	\".klp.sym.vmlinux.version_proc_show,0\"\n"
"	ldp	x29, x30, [sp], #16\n"
"	ret\n");

extern int klp_call_secret(int x);
extern int klp_call_version(struct seq_file *m, void *v);

static noinline int livepatch_tgt_show(struct seq_file *m, void *v)
{
	if (READ_ONCE(crash)) {
		pr_emerg("crash requested: NULL dereference in livepatch_tgt_show\n");
		*(volatile int *)NULL = 0x6b6c70;
	}
	seq_printf(m, "klp_tgt livepatched by klp_stub_bug: tgt_secret(5)=%d\n",
		   klp_call_secret(5));
	klp_call_version(m, v);
	return 0;
}

MODULE_DESCRIPTION("livepatch with module-specific and vmlinux klp relocations (arm64 PLT reproducer)");
