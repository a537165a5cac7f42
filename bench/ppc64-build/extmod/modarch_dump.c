// SPDX-License-Identifier: GPL-2.0
/*
 * modarch_dump: in-guest ground-truth dumper for the ppc64le vmcore corpus.
 * For every loaded module prints (pr_info, prefix "MODDUMP"):
 *   struct module address, name, every mod->arch (struct mod_arch_specific)
 *   member, mod->mem[] base/size, every section address from mod->sect_attrs,
 *   a hex dump of the .stubs section up to the end of the ftrace OOL stub
 *   array (+1 slot), each ppc64_stub_entry slot decoded, and every
 *   struct ftrace_ool_stub at mod->arch.ool_stubs decoded.
 *
 * bench/ppc64-build port: builds against 6.12 (sentinel .stubs loader, no
 * OOL ftrace stubs, struct module_sect_attr with an address member, no
 * module_memory.is_rox) and against 7.2 with or without arch.stub_count.
 * The Makefile detects these from the kernel source and defines
 * MODARCH_HAVE_STUB_COUNT, MODARCH_SECT_ATTR_ADDRESS, MODARCH_HAVE_IS_ROX.
 * Also prints the slot index where the sentinel scan of stub_for_addr()
 * (first slot with funcdata == 0) stops ("sentinel_slot").
 * usage: insmod modarch_dump.ko modules_addr=0x<address of 'modules' from /proc/kallsyms>
 */
#define pr_fmt(fmt) "MODDUMP " fmt
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/sysfs.h>
#include <linux/ftrace.h>
#include <linux/livepatch.h>

/* modules_addr, the sysfs.c layouts, sect_addr(), dump_mem_sections() */
#include "modarch_common.h"

/* copy of the private layout in arch/powerpc/kernel/module_64.c (7.2, ELFv2) */
struct ppc64_stub_entry_copy {
	u32 jump[7];
	u32 magic;
	unsigned long funcdata;
} __aligned(8);

static unsigned long branch_target(u32 *p)
{
	u32 insn = *p;
	long off;

	if ((insn >> 26) != 18)
		return 0;
	off = insn & 0x03fffffc;
	if (off & 0x02000000)
		off -= 0x04000000;
	if (insn & 2)	/* AA */
		return off;
	return (unsigned long)p + off;
}

static void dump_one(struct module *mod)
{
	struct mod_arch_specific *a = &mod->arch;
	unsigned long stubs, end, p, text_end, used = 0;
	unsigned int sentinel;

	pr_info("BEGIN module=%s struct_module=0x%px state=%d\n", mod->name, mod, mod->state);
#ifdef MODARCH_HAVE_STUB_COUNT
	pr_info("%s arch.stubs_section=%u arch.stub_count=%u arch.toc_section=%u arch.toc_fixed=%d\n",
		mod->name, a->stubs_section, a->stub_count, a->toc_section, a->toc_fixed);
	used = a->stub_count;
#else
	pr_info("%s arch.stubs_section=%u arch.toc_section=%u arch.toc_fixed=%d\n",
		mod->name, a->stubs_section, a->toc_section, a->toc_fixed);
#endif
	pr_info("%s arch.tramp=0x%lx (%pS) arch.tramp_regs=0x%lx (%pS)\n",
		mod->name, a->tramp, (void *)a->tramp, a->tramp_regs, (void *)a->tramp_regs);
#ifdef CONFIG_PPC_FTRACE_OUT_OF_LINE
	pr_info("%s arch.ool_stubs=0x%px arch.ool_stub_count=%u arch.ool_stub_index=%u\n",
		mod->name, a->ool_stubs, a->ool_stub_count, a->ool_stub_index);
#endif
	dump_mem_sections(mod);
	stubs = sect_addr(mod, ".stubs");
	pr_info("%s stubs_section_addr=0x%lx\n", mod->name, stubs);
	if (!stubs)
		goto out;
	text_end = (unsigned long)mod->mem[MOD_TEXT].base + mod->mem[MOD_TEXT].size;
	/* where stub_for_addr()'s sentinel scan stops: first slot whose funcdata is 0 */
	for (sentinel = 0; stubs + (sentinel + 1) * sizeof(struct ppc64_stub_entry_copy) <= text_end &&
	     ((struct ppc64_stub_entry_copy *)stubs)[sentinel].funcdata; sentinel++)
		;
	pr_info("%s sentinel_slot=%u\n", mod->name, sentinel);
	if (sentinel + 1 > used)
		used = sentinel + 1;
	end = stubs + used * sizeof(struct ppc64_stub_entry_copy);
#ifdef CONFIG_PPC_FTRACE_OUT_OF_LINE
	if (a->ool_stubs) {
		unsigned long ool_end = (unsigned long)a->ool_stubs +
			roundup(a->ool_stub_count * sizeof(struct ftrace_ool_stub),
				sizeof(struct ppc64_stub_entry_copy));
		if (ool_end > end)
			end = ool_end;
	}
#endif
	end += sizeof(struct ppc64_stub_entry_copy);	/* one extra slot */
	if (end > text_end)
		end = text_end;
	pr_info("%s stubs_hexdump_begin addr=0x%lx len=0x%lx\n", mod->name, stubs, end - stubs);
	for (p = stubs; p < end; p += 32) {
		u32 *w = (u32 *)p;
		int n = (end - p) >= 32 ? 8 : (end - p) / 4, k;
		char buf[8 * 9 + 1];

		for (k = 0; k < n; k++)
			snprintf(buf + 9 * k, 10, "%08x ", w[k]);
		buf[9 * n] = 0;
		pr_info("%s stubs+0x%04lx: %s\n", mod->name, p - stubs, buf);
	}
	pr_info("%s stubs_hexdump_end\n", mod->name);
	for (p = stubs; p + sizeof(struct ppc64_stub_entry_copy) <= end; p += sizeof(struct ppc64_stub_entry_copy)) {
		struct ppc64_stub_entry_copy *s = (void *)p;

		pr_info("%s stubslot[%lu] @0x%lx magic=0x%08x funcdata=0x%lx (%pS)\n", mod->name,
			(p - stubs) / sizeof(*s), p, s->magic, s->funcdata, (void *)s->funcdata);
	}
#ifdef CONFIG_PPC_FTRACE_OUT_OF_LINE
	if (a->ool_stubs) {
		unsigned int i;

		for (i = 0; i < a->ool_stub_count; i++) {
			struct ftrace_ool_stub *o = &a->ool_stubs[i];
			unsigned long tgt = branch_target(&o->insn[3]);
			unsigned long call = branch_target(&o->insn[1]);

			pr_info("%s ool[%u] @0x%px ftrace_op=0x%px (%ps) insn=%08x %08x %08x %08x call=0x%lx (%pS) ret=0x%lx func=%pS\n",
				mod->name, i, o, o->ftrace_op, o->ftrace_op,
				o->insn[0], o->insn[1], o->insn[2], o->insn[3],
				call, (void *)call, tgt, tgt ? (void *)(tgt - 4) : NULL);
		}
	}
#endif
out:
	pr_info("END module=%s\n", mod->name);
}

static int __init modarch_dump_init(void)
{
	struct list_head *head = (struct list_head *)modules_addr;

	if (!head) {
		pr_info("no modules_addr given\n");
		return -EINVAL;
	}
	pr_info("DUMP BEGIN\n");
	rcu_read_lock();
	dump_each_module(head);
	rcu_read_unlock();
	pr_info("DUMP END\n");
	return 0;
}

module_init(modarch_dump_init);
MODULE_DESCRIPTION("dump mod->arch / .stubs / ftrace OOL stubs of every module");
MODULE_LICENSE("GPL");
