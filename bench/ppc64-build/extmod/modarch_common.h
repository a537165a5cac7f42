/* SPDX-License-Identifier: GPL-2.0 */
/*
 * modarch_common.h: what modarch_dump.c of bench/ppc64-build and of
 * bench/arm64-corpus (a link to this file) share, included after their
 * #includes: the modules_addr parameter (the address of `modules` from
 * /proc/kallsyms), the private layouts of kernel/module/sysfs.c, a
 * section's address by name, and the lines every architecture prints for a
 * module: mod->mem[], every section of mod->sect_attrs, the klp_info
 * section headers; the walk of the modules list (each module but those still
 * being loaded, through the .c's dump_one()) and the module's (empty) exit.
 * The Makefile (modarch_common.mk) defines
 * MODARCH_SECT_ATTR_ADDRESS (<= 6.13: struct module_sect_attr with an
 * address member) and MODARCH_HAVE_IS_ROX from the kernel's source.
 */
static unsigned long modules_addr;
module_param(modules_addr, ulong, 0444);

static void dump_one(struct module *mod);

/* dump_one() of every module on the list at head, but those still being loaded */
static void dump_each_module(struct list_head *head)
{
	struct module *mod;

	list_for_each_entry_rcu(mod, head, list) {
		if (mod->state == MODULE_STATE_UNFORMED)
			continue;
		dump_one(mod);
	}
}

static void __exit modarch_dump_exit(void)
{
}

module_exit(modarch_dump_exit);

#ifdef MODARCH_SECT_ATTR_ADDRESS
/* copy of the private layout in kernel/module/sysfs.c (6.12) */
struct module_sect_attr_copy {
	struct bin_attribute battr;
	unsigned long address;
};
#define SECT_ADDR(ba) (container_of((ba), struct module_sect_attr_copy, battr)->address)
typedef struct bin_attribute *const *ba_iter_t;
#else
#define SECT_ADDR(ba) ((unsigned long)(ba)->private)
typedef const struct bin_attribute *const *ba_iter_t;
#endif
/* copy of the private layout in kernel/module/sysfs.c (7.2); on 6.12 only grp is used */
struct module_sect_attrs_copy {
	struct attribute_group grp;
};

static unsigned long sect_addr(struct module *mod, const char *name)
{
	struct module_sect_attrs_copy *sa = (void *)mod->sect_attrs;
	ba_iter_t ba;

	if (!sa || !sa->grp.bin_attrs)
		return 0;
	for (ba = sa->grp.bin_attrs; *ba; ba++)
		if (!strcmp((*ba)->attr.name, name))
			return SECT_ADDR(*ba);
	return 0;
}

/* "MOD mem[T] ...", "MOD section NAME=ADDR", "MOD klp_info.sechdr[I] ..." */
static void dump_mem_sections(struct module *mod)
{
	struct module_sect_attrs_copy *sa = (void *)mod->sect_attrs;
	ba_iter_t ba;
	int t;

	for (t = 0; t < MOD_MEM_NUM_TYPES; t++)
#ifdef MODARCH_HAVE_IS_ROX
		pr_info("%s mem[%d] base=0x%px size=0x%x is_rox=%d\n", mod->name, t,
			mod->mem[t].base, mod->mem[t].size, mod->mem[t].is_rox);
#else
		pr_info("%s mem[%d] base=0x%px size=0x%x\n", mod->name, t,
			mod->mem[t].base, mod->mem[t].size);
#endif
	if (sa && sa->grp.bin_attrs)
		for (ba = sa->grp.bin_attrs; *ba; ba++)
			pr_info("%s section %s=0x%px\n", mod->name, (*ba)->attr.name, (void *)SECT_ADDR(*ba));
#ifdef CONFIG_LIVEPATCH
	if (mod->klp_info) {
		unsigned int i;
		struct klp_modinfo *ki = mod->klp_info;

		for (i = 1; i < ki->hdr.e_shnum; i++)
			pr_info("%s klp_info.sechdr[%u] name=%s type=%u flags=0x%llx addr=0x%llx size=0x%llx\n",
				mod->name, i, ki->secstrings + ki->sechdrs[i].sh_name,
				ki->sechdrs[i].sh_type, (u64)ki->sechdrs[i].sh_flags,
				(u64)ki->sechdrs[i].sh_addr, (u64)ki->sechdrs[i].sh_size);
	}
#endif
}
