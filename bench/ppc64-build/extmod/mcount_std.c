// SPDX-License-Identifier: GPL-2.0
/*
 * mcount_std: mprofile-kernel call sites in both forms the ppc64 ftrace code accepts
 * (arch/powerpc/kernel/trace/ftrace.c ftrace_init_nop(), CONFIG_MPROFILE_KERNEL):
 *   mflr r0; bl _mcount                   (what gcc >= 7 emits for -mprofile-kernel)
 *   mflr r0; std r0,16(r1); bl _mcount    (what older gcc emitted; hand-written here)
 * The two asm functions carry the 3-instruction form; objtool --mcount records their
 * `bl _mcount` in __mcount_loc like the compiler's. mcount_std_c() is ordinary C (2-insn).
 * Built only for kernels without -fpatchable-function-entry (see Makefile).
 * The guest traces mcount_std_traced (enabled site) and leaves mcount_std_idle disabled.
 */
#include <linux/module.h>
#include <linux/kernel.h>

asm(
"	.pushsection .text,\"ax\",@progbits\n"
"	.balign 16\n"
"	.globl mcount_std_traced\n"
"	.type mcount_std_traced,@function\n"
"mcount_std_traced:\n"
"	mflr	0\n"
"	std	0,16(1)\n"
"	bl	_mcount\n"
"	ld	0,16(1)\n"
"	mtlr	0\n"
"	addi	3,3,7\n"
"	blr\n"
"	.size mcount_std_traced,.-mcount_std_traced\n"
"	.balign 16\n"
"	.globl mcount_std_idle\n"
"	.type mcount_std_idle,@function\n"
"mcount_std_idle:\n"
"	mflr	0\n"
"	std	0,16(1)\n"
"	bl	_mcount\n"
"	ld	0,16(1)\n"
"	mtlr	0\n"
"	addi	3,3,11\n"
"	blr\n"
"	.size mcount_std_idle,.-mcount_std_idle\n"
"	.popsection\n");

extern long mcount_std_traced(long x);
extern long mcount_std_idle(long x);

noinline long mcount_std_c(long x)
{
	return mcount_std_traced(x) + mcount_std_idle(x);
}

static int __init mcount_std_init(void)
{
	pr_info("mcount_std: %ld\n", mcount_std_c(1));
	return 0;
}

static void __exit mcount_std_exit(void)
{
}

module_init(mcount_std_init);
module_exit(mcount_std_exit);
MODULE_DESCRIPTION("mprofile-kernel call sites with and without std r0,16(r1)");
MODULE_LICENSE("GPL");
