#!/usr/bin/env python3
# drgn's side of bench/vs-drgn: the same job as bench/cmd/modarch, printing
# the same canonical text (see the doc comment of bench/cmd/modarch/main.go).
# usage: modarch.py VMCORE VMLINUX
import hashlib
import sys

import drgn
from drgn import cast, sizeof
from drgn.helpers.linux.list import list_for_each_entry

core, vmlinux = sys.argv[1], sys.argv[2]
prog = drgn.Program()
prog.set_core_dump(core)
prog.load_debug_info([vmlinux], default=False, main=False)

module_t = prog.type("struct module")  # resolve struct module
stub_size = sizeof(prog.type("struct ppc64_stub_entry"))
ool_size = sizeof(prog.type("struct ftrace_ool_stub"))
arch_t = prog.type("struct mod_arch_specific")

MAX_HASHED = 1 << 20


def sections(mod):
    """Section name -> address from mod->sect_attrs (kernel/module/sysfs.c)."""
    out = {}
    sa = mod.sect_attrs
    if not sa:
        return out
    try:
        n = int(sa.nsections)
        for i in range(n):
            a = sa.attrs[i]
            out[a.battr.attr.name.string_().decode()] = int(a.address)
        return out
    except AttributeError:
        pass
    ba = sa.grp.bin_attrs
    for i in range(1 << 12):
        p = ba[i]
        if not p:
            break
        out[p.attr.name.string_().decode()] = int(p.private.value_())
    return out


def hash_range(base, n):
    if n > MAX_HASHED:
        return "%#x+%d:too-large" % (base, n)
    try:
        b = prog.read(base, n)
    except drgn.FaultError:
        return "%#x+%d:fault" % (base, n)
    return "%#x+%d:%s" % (base, n, hashlib.sha256(b).hexdigest())


lines = []
for mod in list_for_each_entry(module_t, prog["modules"].address_of_(), "list"):
    name = mod.name.string_().decode()
    members = []
    vals = {}
    for m in arch_t.members:
        o = mod.arch.member_(m.name)
        v = int(o.value_()) & ((1 << (8 * sizeof(o))) - 1)
        vals[m.name] = v
        members.append("%s=%#x" % (m.name, v) if v else "%s=0x0" % m.name)
    secs = sections(mod)
    stubs = "none"
    if ".stubs" in secs:
        stubs = hash_range(secs[".stubs"], vals.get("stub_count", 0) * stub_size)
    ool = "none"
    if "ool_stubs" in vals:
        ool = hash_range(vals["ool_stubs"], vals.get("ool_stub_count", 0) * ool_size)
    lines.append("%s %#x arch{%s} stubs=%s ool=%s" % (name, mod.value_(), ",".join(members), stubs, ool))
sys.stdout.write("".join(l + "\n" for l in lines))
