#!/usr/bin/env python3
"""offsets.py VMLINUX: the struct layouts the guest's /init needs to read
mod->arch through /proc/kcore (written to the initramfs as /kdi/offsets),
from the kernel's own DWARF, read by drgn without a core dump."""
import sys
import drgn

prog = drgn.Program(drgn.Platform(drgn.Architecture.AARCH64,
                                  drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN))
# drgn 0.3.0: a program without a core has no modules, and load_debug_info([path])
# ignores a file no module matches: make an extra module (with some address
# range, else try_file() does nothing) and give it the file
m = prog.extra_module('vmlinux', create=True)
m.address_range = (0xffff800080000000, 0xffff800090000000)
m.try_file(sys.argv[1], force=True)
mod = prog.type('struct module')
arch = prog.type('struct mod_arch_specific')
sec = prog.type('struct mod_plt_sec')
print('module.arch', drgn.offsetof(mod, 'arch'))
print('module.name', drgn.offsetof(mod, 'name'))
for m in ('core', 'init', 'ftrace_trampolines', 'init_ftrace_trampolines'):
    print('mod_arch_specific.%s' % m, drgn.offsetof(arch, m))
print('mod_arch_specific.size', drgn.sizeof(arch))
for m in ('plt_shndx', 'plt_num_entries', 'plt_max_entries'):
    print('mod_plt_sec.%s' % m, drgn.offsetof(sec, m))
print('plt_entry.size', drgn.sizeof(prog.type('struct plt_entry')))
# NR_FTRACE_PLTS is a macro (1 in 7.2: FTRACE_PLT_IDX 0 only); the size of the
# .text.ftrace_trampoline section is NR_FTRACE_PLTS entries
print('NR_FTRACE_PLTS', 1)
