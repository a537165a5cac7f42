#!/usr/bin/env python3
"""plt-placement.py CONSOLE.LOG: did this boot place module text out of BL range
(+-128 MiB) of ftrace_caller, so that module call sites need PLTs and
mod->arch.ftrace_trampolines? Reads the guest's truth printout (the /proc/modules
block and ftrace_caller from the kallsyms_vmlinux block). Exit 0: every module out of
range; 1: some module in range; 2: cannot tell.

Under KASLR with RANDOMIZE_MODULE_REGION_FULL the 2 GiB module region is a random
box around the kernel image (arch/arm64/mm/init.c module_init_limits), and modules
are allocated from its bottom: when the kernel lands in the box's first 128 MiB (a
few percent of boots) the modules are within BL range and no PLT is used."""
import sys

ftrace_caller, mods = None, []
for line in open(sys.argv[1], errors='replace'):
    if line.startswith('KDI-TRUTH-END'):
        break
    f = line.split()
    if line.startswith('kallsyms_vmlinux| ') and len(f) == 4 and f[3] == 'ftrace_caller':
        ftrace_caller = int(f[1], 16)
    elif line.startswith('modules| ') and len(f) >= 7:
        mods.append((f[1], int(f[6], 16)))
if ftrace_caller is None or not mods:
    print('plt-placement: no ftrace_caller or no modules in %s' % sys.argv[1])
    sys.exit(2)
near = [(n, a) for n, a in mods if abs(ftrace_caller - a) < (1 << 27)]
print('plt-placement: ftrace_caller %#x, %d modules, %d within BL range%s' % (
    ftrace_caller, len(mods), len(near), ': ' + ' '.join(n for n, _ in near) if near else ''))
sys.exit(1 if near else 0)
