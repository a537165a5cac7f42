#!/usr/bin/env python3
"""Print offsetof(struct STRUCT, MEMBER) from a vmlinux's DWARF, with drgn
(run inside the sid chroot: python3-drgn 0.3.0).

usage: struct-offset.py VMLINUX STRUCT MEMBER

drgn wants a kernel program to load a vmlinux as its main module: a
"custom" Linux kernel target with a minimal VMCOREINFO (the vmlinux's own
build ID; no memory is ever read, so the rest is a placeholder).
"""
import subprocess, sys

import drgn

vmlinux, struct, member = sys.argv[1:4]
bid = ''
for l in subprocess.run(['readelf', '-n', vmlinux], capture_output=True, text=True).stdout.splitlines():
    if 'Build ID' in l:
        bid = l.split()[-1]
        break
p = drgn.Program(drgn.host_platform)
p.set_linux_kernel_custom(('OSRELEASE=unknown\nBUILD-ID=%s\nPAGESIZE=4096\nKERNELOFFSET=0\n'
                           'SYMBOL(swapper_pg_dir)=ffffffff82000000\nNUMBER(pgtable_l5_enabled)=0\n' % bid).encode(), False)
try:
    p.load_debug_info([vmlinux], default=False, main=True)
except drgn.MissingDebugInfoError:
    pass  # no modules: expected
print(drgn.offsetof(p.type('struct ' + struct), member))
