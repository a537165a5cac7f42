// SPDX-License-Identifier: GPL-2.0
/*
 * kdi_ftrace (bench/arm64-corpus): ftrace users of a kind a distro kernel
 * without CONFIG_LIVEPATCH still has, for the distro-ftrace-ops dump.
 * Built out of tree against Debian's linux-headers-7.2.13+deb14-arm64.
 *
 *  kdi_redirect_ops  FTRACE_OPS_FL_IPMODIFY, handler kdi_redirect_handler:
 *                    what klp_ftrace_handler does (ftrace_regs_set_instruction_pointer
 *                    to a replacement), on loadavg_proc_show (vmlinux) ->
 *                    kdi_loadavg_proc_show and tcp_vegas_get_info (module
 *                    tcp_vegas, also under the function tracer's filter) ->
 *                    kdi_vegas_get_info
 *  kdi_count_ops     a plain ops (counts calls) on crc16 (module crc16: no PLT
 *                    entry used) and tcp_yeah_ssthresh (module tcp_yeah)
 *  kdi_direct_ops    register_ftrace_direct() to kdi_tramp (this module's text)
 *                    on pie_drop_early (module sch_pie: kdi_tramp within BL
 *                    range, so the site branches to it directly) and
 *                    vfs_fsync_range (vmlinux: out of range under KASLR, so
 *                    through ftrace_caller and ops->direct_call)
 * Every address involved is printed with the prefix "KDIFT".
 */
#define pr_fmt(fmt) "KDIFT " fmt
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/ftrace.h>
#include <linux/seq_file.h>
#include <linux/string.h>

static atomic_long_t kdi_count_calls = ATOMIC_LONG_INIT(0);
static atomic_long_t kdi_direct_calls = ATOMIC_LONG_INIT(0);
static atomic_long_t kdi_redirect_calls = ATOMIC_LONG_INIT(0);

static noinline int kdi_loadavg_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "kdi_ftrace: loadavg_proc_show redirected to kdi_loadavg_proc_show (%ld redirects)\n",
		   atomic_long_read(&kdi_redirect_calls));
	return 0;
}

static noinline size_t kdi_vegas_get_info(void *sk, u32 ext, int *attr, void *info)
{
	return 0;
}

static void notrace kdi_redirect_handler(unsigned long ip, unsigned long parent_ip,
					 struct ftrace_ops *op, struct ftrace_regs *fregs);

/* one IPMODIFY ops per redirected function, as klp has one klp_ops per function */
static struct ftrace_ops kdi_redirect_vmlinux_ops = {
	.func = kdi_redirect_handler,
	.flags = FTRACE_OPS_FL_IPMODIFY,
	.private = kdi_loadavg_proc_show,
};

static struct ftrace_ops kdi_redirect_module_ops = {
	.func = kdi_redirect_handler,
	.flags = FTRACE_OPS_FL_IPMODIFY,
	.private = kdi_vegas_get_info,
};

static void notrace kdi_redirect_handler(unsigned long ip, unsigned long parent_ip,
					 struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	atomic_long_inc(&kdi_redirect_calls);
	ftrace_regs_set_instruction_pointer(fregs, (unsigned long)op->private);
}

static void notrace kdi_count_handler(unsigned long ip, unsigned long parent_ip,
				      struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	atomic_long_inc(&kdi_count_calls);
}

static struct ftrace_ops kdi_count_ops = {
	.func = kdi_count_handler,
};

static struct ftrace_ops kdi_direct_ops;

void kdi_direct_func(void);
void notrace kdi_direct_func(void)
{
	atomic_long_inc(&kdi_direct_calls);
}

void kdi_tramp(void);
/*
 * Entered from a patched site: x9 = the traced function's return address
 * (mov x9, x30 before the bl), x30 = the instruction after the site. Saves the
 * argument registers x0-x8, calls kdi_direct_func, returns into the traced
 * function with its x30 restored (as samples/ftrace/ftrace-direct-too.c).
 */
asm(
"	.pushsection	.text, \"ax\", @progbits\n"
"	.type		kdi_tramp, @function\n"
"	.globl		kdi_tramp\n"
"kdi_tramp:\n"
"	hint	34\n" /* bti c */
"	sub	sp, sp, #96\n"
"	stp	x9, x30, [sp]\n"
"	stp	x0, x1, [sp, #16]\n"
"	stp	x2, x3, [sp, #32]\n"
"	stp	x4, x5, [sp, #48]\n"
"	stp	x6, x7, [sp, #64]\n"
"	str	x8, [sp, #80]\n"
"	bl	kdi_direct_func\n"
"	ldr	x8, [sp, #80]\n"
"	ldp	x6, x7, [sp, #64]\n"
"	ldp	x4, x5, [sp, #48]\n"
"	ldp	x2, x3, [sp, #32]\n"
"	ldp	x0, x1, [sp, #16]\n"
"	ldp	x30, x9, [sp]\n"
"	add	sp, sp, #96\n"
"	ret	x9\n"
"	.size		kdi_tramp, .-kdi_tramp\n"
"	.popsection\n"
);

static int kdi_filter(struct ftrace_ops *ops, const char *name, int reset)
{
	char buf[64];
	int ret;

	strscpy(buf, name, sizeof(buf));
	ret = ftrace_set_filter(ops, buf, strlen(buf), reset);
	pr_info("filter %ps += %s: %d\n", ops, name, ret);
	return ret;
}

static int __init kdi_ftrace_init(void)
{
	int ret;

	ret = kdi_filter(&kdi_redirect_vmlinux_ops, "loadavg_proc_show", 1) ?:
	      kdi_filter(&kdi_redirect_module_ops, "tcp_vegas_get_info", 1) ?:
	      kdi_filter(&kdi_count_ops, "crc16", 1) ?:
	      kdi_filter(&kdi_count_ops, "tcp_yeah_ssthresh", 0) ?:
	      kdi_filter(&kdi_direct_ops, "pie_drop_early", 1) ?:
	      kdi_filter(&kdi_direct_ops, "vfs_fsync_range", 0);
	if (ret)
		return ret;
	ret = register_ftrace_function(&kdi_redirect_vmlinux_ops);
	pr_info("register_ftrace_function(kdi_redirect_vmlinux_ops %px): %d\n", &kdi_redirect_vmlinux_ops, ret);
	if (ret)
		return ret;
	ret = register_ftrace_function(&kdi_redirect_module_ops);
	pr_info("register_ftrace_function(kdi_redirect_module_ops %px): %d\n", &kdi_redirect_module_ops, ret);
	if (ret)
		goto out1;
	ret = register_ftrace_function(&kdi_count_ops);
	pr_info("register_ftrace_function(kdi_count_ops %px): %d\n", &kdi_count_ops, ret);
	if (ret)
		goto out2;
	ret = register_ftrace_direct(&kdi_direct_ops, (unsigned long)kdi_tramp);
	pr_info("register_ftrace_direct(kdi_direct_ops %px, kdi_tramp %px): %d\n", &kdi_direct_ops, kdi_tramp, ret);
	if (ret)
		goto out3;
	pr_info("kdi_loadavg_proc_show %px kdi_vegas_get_info %px kdi_redirect_handler %px kdi_count_handler %px kdi_direct_func %px\n",
		kdi_loadavg_proc_show, kdi_vegas_get_info, kdi_redirect_handler, kdi_count_handler, kdi_direct_func);
	return 0;
out3:
	unregister_ftrace_function(&kdi_count_ops);
out2:
	unregister_ftrace_function(&kdi_redirect_module_ops);
out1:
	unregister_ftrace_function(&kdi_redirect_vmlinux_ops);
	return ret;
}

static void __exit kdi_ftrace_exit(void)
{
	unregister_ftrace_direct(&kdi_direct_ops, (unsigned long)kdi_tramp, true);
	unregister_ftrace_function(&kdi_count_ops);
	unregister_ftrace_function(&kdi_redirect_module_ops);
	unregister_ftrace_function(&kdi_redirect_vmlinux_ops);
	pr_info("unloaded: %ld redirects, %ld counted calls, %ld direct calls\n",
		atomic_long_read(&kdi_redirect_calls), atomic_long_read(&kdi_count_calls),
		atomic_long_read(&kdi_direct_calls));
}

module_init(kdi_ftrace_init);
module_exit(kdi_ftrace_exit);
MODULE_DESCRIPTION("kdump-inspect arm64 corpus: ftrace ops, IPMODIFY redirects and direct calls on module and vmlinux functions");
MODULE_LICENSE("GPL");
