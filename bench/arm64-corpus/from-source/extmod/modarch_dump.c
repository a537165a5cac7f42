// SPDX-License-Identifier: GPL-2.0
/*
 * modarch_dump (arm64): in-guest ground truth of mod->arch for the arm64 corpus.
 * For every loaded module prints (pr_info, prefix "MODDUMP"):
 *   struct module address, name, state, mod->mem[] base/size, every section
 *   address from mod->sect_attrs, mod->arch.core / mod->arch.init
 *   (struct mod_plt_sec: plt_shndx, plt_num_entries, plt_max_entries),
 *   mod->arch.ftrace_trampolines / init_ftrace_trampolines, every PLT entry of
 *   the core .plt section (plt_max_entries + 1 entries: the section size
 *   module_frob_arch_sections() gave it) with its three words and its decoded
 *   target (adrp x16; add x16; br x16 from get_plt_entry(), or the ADRP
 *   veneer adrp xN; add xN; b loc+4), and the ftrace trampoline entry.
 * With ftrace_pages_start=ADDR (from /proc/kallsyms) it also prints every
 * dyn_ftrace record whose ip is in a module or whose flags are non-zero:
 *   ip, flags, the words at ALIGN_DOWN(ip - 12, 8) .. ip + 4 (the CALL_OPS
 *   literal, mov x9,x30 / nop, the bl / nop, the next one), the bl target and
 *   the literal (ops pointer) with their symbols.
 * usage: insmod modarch_dump.ko modules_addr=0x<modules> [ftrace_pages_start=0x<ftrace_pages_start>]
 */
#define pr_fmt(fmt) "MODDUMP " fmt
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/sysfs.h>
#include <linux/ftrace.h>
#include <linux/livepatch.h>
#include <linux/uaccess.h>
#include <asm/module.h>

/* modules_addr, the sysfs.c layouts, sect_addr(), dump_mem_sections() */
#include "modarch_common.h"

static unsigned long ftrace_pages_start;
module_param(ftrace_pages_start, ulong, 0444);

#ifdef MODARCH_FTRACE_PAGE_LAYOUT_OK
/* copy of the private layout in kernel/trace/ftrace.c (checked by the Makefile) */
struct ftrace_page_copy {
	struct ftrace_page_copy	*next;
	struct dyn_ftrace	*records;
	int			index;
	int			order;
};
#endif

/* b / bl imm26 target, or 0 */
static unsigned long branch_target(unsigned long pc, u32 insn)
{
	long off;

	if ((insn & 0x7c000000) != 0x14000000)
		return 0;
	off = (long)(insn & 0x03ffffff) << 2;
	if (off & (1L << 27))
		off -= 1L << 28;
	return pc + off;
}

/*
 * Decode a PLT entry: adrp xN, page; add xN, xN, #lo12; br x16 | b loc+4.
 * Returns the adrp/add target (0 if the words are not that template) and the
 * kind: "plt" (br x16, N=16), "veneer" (b, any N), "zero", "other".
 */
static unsigned long plt_decode(const u32 *w, unsigned long pc, const char **kind)
{
	u32 adrp = w[0], add = w[1], br = w[2];
	long imm;
	unsigned long page;
	unsigned int rd = adrp & 0x1f;

	if (!adrp && !add && !br) {
		*kind = "zero";
		return 0;
	}
	*kind = "other";
	if ((adrp & 0x9f000000) != 0x90000000)
		return 0;
	imm = ((adrp >> 29) & 3) | (((adrp >> 5) & 0x7ffff) << 2);
	imm = sign_extend64(imm, 20) << 12;
	page = (pc & ~0xfffUL) + imm;
	/* add (immediate), 64-bit, sh=0: 1001000100 imm12 Rn Rd */
	if ((add & 0xffc00000) != 0x91000000 || (add & 0x1f) != rd || ((add >> 5) & 0x1f) != rd)
		return 0;
	if (br == 0xd61f0200 && rd == 16)
		*kind = "plt";
	else if ((br & 0xfc000000) == 0x14000000)
		*kind = "veneer";
	else
		return 0;
	return page + ((add >> 10) & 0xfff);
}

static void dump_plt(struct module *mod, const char *what, unsigned long addr, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		const u32 *w = (const u32 *)(addr + i * sizeof(struct plt_entry));
		const char *kind;
		unsigned long tgt = plt_decode(w, (unsigned long)w, &kind);
		unsigned long b = !strcmp(kind, "veneer") ? branch_target((unsigned long)&w[2], w[2]) : 0;

		pr_info("%s %s[%d] @0x%px words=%08x %08x %08x kind=%s target=0x%lx (%pS) b=0x%lx (%pS)\n",
			mod->name, what, i, w, w[0], w[1], w[2], kind, tgt, (void *)tgt, b, (void *)b);
	}
}

static bool in_mem(struct module *mod, unsigned long a, int type)
{
	unsigned long b = (unsigned long)mod->mem[type].base;

	return b && a >= b && a < b + mod->mem[type].size;
}

static void dump_one(struct module *mod)
{
	struct mod_arch_specific *a = &mod->arch;
	unsigned long plt, tramp;

	pr_info("BEGIN module=%s struct_module=0x%px state=%d\n", mod->name, mod, mod->state);
	pr_info("%s arch.core.plt_shndx=%d arch.core.plt_num_entries=%d arch.core.plt_max_entries=%d\n",
		mod->name, a->core.plt_shndx, a->core.plt_num_entries, a->core.plt_max_entries);
	pr_info("%s arch.init.plt_shndx=%d arch.init.plt_num_entries=%d arch.init.plt_max_entries=%d\n",
		mod->name, a->init.plt_shndx, a->init.plt_num_entries, a->init.plt_max_entries);
	pr_info("%s arch.ftrace_trampolines=0x%px arch.init_ftrace_trampolines=0x%px\n",
		mod->name, a->ftrace_trampolines, a->init_ftrace_trampolines);
	dump_mem_sections(mod);
	plt = sect_addr(mod, ".plt");
	pr_info("%s plt_section_addr=0x%lx entries_shown=%d\n", mod->name, plt,
		plt ? a->core.plt_max_entries + 1 : 0);
	if (plt && in_mem(mod, plt, MOD_TEXT))
		dump_plt(mod, "plt", plt, a->core.plt_max_entries + 1);
	tramp = (unsigned long)a->ftrace_trampolines;
	if (tramp && in_mem(mod, tramp, MOD_TEXT))
		dump_plt(mod, "ftrace_trampolines", tramp, NR_FTRACE_PLTS);
	tramp = (unsigned long)a->init_ftrace_trampolines;
	pr_info("%s init_ftrace_trampolines %s\n", mod->name,
		tramp && in_mem(mod, tramp, MOD_INIT_TEXT) ? "in live init text" :
		"not in init text (init memory freed after init): not read");
	pr_info("END module=%s\n", mod->name);
}

static const char *kind_of(u32 insn)
{
	if (insn == 0xd503201f)
		return "nop";
	if (insn == 0xaa1e03e9)
		return "mov_x9_x30";
	if ((insn & 0xfc000000) == 0x94000000)
		return "bl";
	if ((insn & 0xfc000000) == 0x14000000)
		return "b";
	if ((insn & 0xffe0001f) == 0xd4200000)
		return "brk";
	if ((insn & 0xffffff3f) == 0xd503241f)
		return "bti";
	return "insn";
}

static bool in_module_text(struct list_head *head, unsigned long ip)
{
	struct module *mod;

	list_for_each_entry_rcu(mod, head, list)
		if (in_mem(mod, ip, MOD_TEXT) || in_mem(mod, ip, MOD_INIT_TEXT))
			return true;
	return false;
}

static void dump_ftrace_records(struct list_head *head)
{
#ifdef MODARCH_FTRACE_PAGE_LAYOUT_OK
	struct ftrace_page_copy *pg = *(struct ftrace_page_copy **)ftrace_pages_start;
	unsigned long total = 0, shown = 0;

	pr_info("FTRACE BEGIN ftrace_pages_start=0x%lx\n", ftrace_pages_start);
	for (; pg; pg = pg->next) {
		int i;

		for (i = 0; i < pg->index; i++) {
			struct dyn_ftrace *rec = &pg->records[i];
			unsigned long ip = rec->ip, lit = ALIGN_DOWN(ip - 12, 8);
			int nw = (ip + 8 - lit) / 4, k;
			u32 w[8];
			char buf[8 * 9 + 1];
			unsigned long bl, ops;

			total++;
			if (!rec->flags && !in_module_text(head, ip))
				continue;
			shown++;
			if (nw > 8)
				nw = 8;
			if (copy_from_kernel_nofault(w, (void *)lit, nw * 4)) {
				pr_info("FTRACE rec ip=0x%lx (%pS) flags=0x%lx words@0x%lx unreadable\n",
					ip, (void *)ip, rec->flags, lit);
				continue;
			}
			for (k = 0; k < nw; k++)
				snprintf(buf + 9 * k, 10, "%08x ", w[k]);
			buf[9 * nw - 1] = 0;
			k = (ip - lit) / 4;	/* index of the word at ip */
			bl = branch_target(ip, w[k]);
			ops = (unsigned long)w[0] | (unsigned long)w[1] << 32;
			pr_info("FTRACE rec ip=0x%lx (%pS) flags=0x%lx words@0x%lx=%s ip-4=%s ip=%s target=0x%lx (%pS) literal=0x%lx (%ps)\n",
				ip, (void *)ip, rec->flags, lit, buf, kind_of(w[k - 1]),
				kind_of(w[k]), bl, (void *)bl, ops, (void *)ops);
		}
	}
	pr_info("FTRACE END records=%lu shown=%lu\n", total, shown);
#else
	pr_info("FTRACE struct ftrace_page layout differs from this module's copy: not walked\n");
#endif
}

static int __init modarch_dump_init(void)
{
	struct list_head *head = (struct list_head *)modules_addr;

	if (!head) {
		pr_err("modules_addr= not given\n");
		return -EINVAL;
	}
	pr_info("DUMP BEGIN modules=0x%px sizeof(struct mod_arch_specific)=%zu sizeof(struct plt_entry)=%zu\n",
		head, sizeof(struct mod_arch_specific), sizeof(struct plt_entry));
	rcu_read_lock();
	dump_each_module(head);
	if (ftrace_pages_start)
		dump_ftrace_records(head);
	rcu_read_unlock();
	pr_info("DUMP END\n");
	return 0;
}

module_init(modarch_dump_init);
MODULE_DESCRIPTION("print mod->arch (PLTs, ftrace trampolines) and dyn_ftrace records of every module (arm64)");
MODULE_LICENSE("GPL");
