/* SPDX-License-Identifier: GPL-2.0 */
/*
 * klp_stub_bug.h: what klp_stub_bug.c of bench/ppc64-build and of
 * bench/arm64-corpus (a link to this file) share, included after their
 * #includes. KLP_ASM_FUNC makes the hand-written caller of a klp symbol: an
 * assembler function in a section of its own, whose relocations
 * klp-convert-lite.py turns into a .klp.rela section. Then the livepatch
 * both register: klp_tgt's tgt_show() replaced by the .c's
 * livepatch_tgt_show(), enabled at module init (after a call to a helper,
 * so that the module has a call of its own besides the klp ones). Each .c
 * has its own MODULE_DESCRIPTION.
 */
/* KLP_ASM_FUNC(SECTION, NAME, BODY): function NAME, the instructions BODY, in SECTION */
#define KLP_ASM_FUNC(sect, name, body)				\
asm(								\
"	.pushsection " sect ",\"ax\",@progbits\n"		\
"	.balign 8\n"						\
"	.globl " name "\n"					\
"	.type " name ",@function\n"				\
name ":\n"							\
body								\
"	.size " name ",.-" name "\n"				\
"	.popsection\n")

static int livepatch_tgt_show(struct seq_file *m, void *v);

static noinline void klp_stub_bug_helper(void)
{
	pr_info("helper\n");
}

static struct klp_func funcs[] = {
	{
		.old_name = "tgt_show",
		.new_func = livepatch_tgt_show,
	}, { }
};

static struct klp_object objs[] = {
	{
		.name = "klp_tgt",
		.funcs = funcs,
	}, { }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int klp_stub_bug_init(void)
{
	klp_stub_bug_helper();
	return klp_enable_patch(&patch);
}

static void klp_stub_bug_exit(void)
{
}

module_init(klp_stub_bug_init);
module_exit(klp_stub_bug_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
