#!/usr/bin/env drgn
"""Extract per-module ground truth from a ppc64le vmcore with drgn.

usage: drgn -c VMCORE -s vmlinux [-s mod.ko ...] truth-drgn.py OUT.json MODULES_DIR

For every module on the `modules` list records: name, address of struct
module, every member of mod->arch (struct mod_arch_specific) with its value,
mod->mem[] base/size/is_rox, every section address from mod->sect_attrs,
the .stubs section address (from mod->sect_attrs: the bin_attribute named
".stubs", whose ->private holds sh_addr), the .stubs section size
(recomputed from the module's .ko file exactly as get_stubs_size() in
arch/powerpc/kernel/module_64.c does: distinct (sym,addend) R_PPC64_REL24
relocations per SHT_RELA section + 2 ftrace trampolines + OOL stub slots),
the raw bytes of the whole .stubs section, every ppc64_stub_entry slot
decoded, and the struct ftrace_ool_stub array at mod->arch.ool_stubs decoded.

bench/ppc64-build version: loader generation detected from the vmlinux DWARF
(never from the version string): struct mod_arch_specific without a
stub_count member = the sentinel loader (stub_for_addr() scans for the first
slot whose funcdata is 0; get_stubs_size() reserves one extra terminator
slot); without ool_stubs = no out-of-line ftrace stubs (no OOL slots in
get_stubs_size()). count_relocs() is replicated exactly (sorted, 32-bit
r_info/r_addend caches starting at 0). Also records every dyn_ftrace record
(ftrace_pages_start list) whose ip lies in a module's memory: ip, flags
(decoded), arch members, and the instruction words at ip-8, ip-4, ip, ip+4.
"""
import json, os, struct, sys
from drgn import FaultError
from drgn.helpers.linux.list import list_for_each_entry

# the shared helpers: bench/lib beside this script's directory (or the copy
# of it that finalize-dump.sh puts beside the copy of this script)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import drgntruth  # noqa: E402

out_path = sys.argv[1]
mods_dir = sys.argv[2] if len(sys.argv) > 2 else None
STUB_SIZE = prog.type('struct ppc64_stub_entry').size if True else 40


def sym(addr):
    return drgntruth.sym(prog, addr)


value_of = drgntruth.value_of
branch_target = drgntruth.ppc64_branch_target
ARCH_MEMBERS = [m.name for m in prog.type('struct mod_arch_specific').members]
HAS_STUB_COUNT = 'stub_count' in ARCH_MEMBERS
HAS_OOL = 'ool_stubs' in ARCH_MEMBERS
def _has_sym(n):
    try:
        prog.symbol(n)
        return True
    except LookupError:
        return False
# CONFIG_DYNAMIC_FTRACE (tramp) + CONFIG_DYNAMIC_FTRACE_WITH_REGS (tramp_regs used only then)
FTRACE_TRAMPS = int(_has_sym('ftrace_caller')) + int(_has_sym('ftrace_regs_caller'))

def ko_info(path):
    """replicates get_stubs_size() of this kernel's loader generation; returns dict"""
    d, shs, nm = drgntruth.ko_sections(path)
    rel24 = 0
    per_sec = {}
    ool = 0
    for i, h in enumerate(shs):
        if h[1] == 4:  # SHT_RELA
            relas = drgntruth.relacmp_sorted(d, h)     # relacmp(): descending (r_info, r_addend)
            n = drgntruth.count_relocs(relas, 10)  # R_PPC_REL24
            if n:
                per_sec[nm(h[0])] = n
            rel24 += n
    if HAS_OOL:
        ool = drgntruth.patchable_function_entries(shs, nm)
    ool_slots = -(-ool * 24 // STUB_SIZE)
    term = 0 if HAS_STUB_COUNT else 1
    total = term + rel24 + FTRACE_TRAMPS + ool_slots
    return {'generation': ('c: stub_count counter' if HAS_STUB_COUNT else
                           ('b: sentinel + OOL ftrace stubs' if HAS_OOL else 'a: sentinel, no OOL stubs')),
            'terminator_slots': term,
            'rel24_stub_candidates': rel24, 'rel24_per_rela_section': per_sec,
            'ftrace_tramp_slots': FTRACE_TRAMPS, 'patchable_function_entries': ool,
            'ool_slots': ool_slots, 'total_slots': total, 'size': total * STUB_SIZE}



def slot_kinds(m, mod, slots, ool, ool_n, stubs):
    """where stub_for_addr()'s sentinel scan stops, and what each slot is"""
    # where stub_for_addr()'s sentinel scan stops (first slot with funcdata 0)
    m['sentinel_slot'] = next((x['index'] for x in slots if int(x['funcdata'], 16) == 0), None)
    def kind(x):
        fd = int(x['funcdata'], 16)
        if ool and stubs <= ool and (ool - stubs) // STUB_SIZE <= x['index'] < (ool - stubs) // STUB_SIZE + -(-ool_n * 24 // STUB_SIZE):
            k = 'ool_array'
        elif fd == 0:
            k = 'empty'
        elif x['jump'][0].startswith('e98d'):   # ld r12,N(r13): ftrace stub template (kernel TOC from the paca)
            k = 'ftrace_stub'
        else:
            k = 'call_stub'
        if int(x['addr'], 16) == mod.arch.tramp.value_():
            k += ' =arch.tramp'
        if int(x['addr'], 16) == mod.arch.tramp_regs.value_():
            k += ' =arch.tramp_regs'
        if int(x['magic'], 16) == 0x73747562 and k.startswith('ool_array'):
            k += ' (stub magic inside OOL array)'
        return k
    for x in slots:
        x['kind'] = kind(x)


res = drgntruth.ppc64_res_header(prog)
for mod in list_for_each_entry('struct module', prog['modules'].address_of_(), 'list'):
    ko = drgntruth.find_ko(mods_dir, mod.name.string_().decode()) if mods_dir else None
    res['modules'].append(drgntruth.ppc64_module(prog, mod, ko, ko_info(ko) if ko else None, STUB_SIZE,
                                                 HAS_OOL, HAS_STUB_COUNT, slot_kinds))

# ---- dyn_ftrace records in module memory
FL = {}
for n in ('FTRACE_FL_ENABLED', 'FTRACE_FL_REGS', 'FTRACE_FL_REGS_EN', 'FTRACE_FL_TRAMP', 'FTRACE_FL_TRAMP_EN',
          'FTRACE_FL_IPMODIFY', 'FTRACE_FL_DISABLED', 'FTRACE_FL_DIRECT', 'FTRACE_FL_DIRECT_EN',
          'FTRACE_FL_CALL_OPS', 'FTRACE_FL_CALL_OPS_EN', 'FTRACE_FL_TOUCHED', 'FTRACE_FL_MODIFIED'):
    try:
        FL[n] = int(prog.constant(n).value_())
    except (LookupError, ValueError):
        pass
res['ftrace_flag_values_source'] = 'vmlinux DWARF'
if not FL:
    # anonymous enum not in the DWARF: include/linux/ftrace.h (same bits in 6.12 and 7.2)
    FL = {n: 1 << b for n, b in (('FTRACE_FL_ENABLED', 31), ('FTRACE_FL_REGS', 30), ('FTRACE_FL_REGS_EN', 29),
          ('FTRACE_FL_TRAMP', 28), ('FTRACE_FL_TRAMP_EN', 27), ('FTRACE_FL_IPMODIFY', 26),
          ('FTRACE_FL_DISABLED', 25), ('FTRACE_FL_DIRECT', 24), ('FTRACE_FL_DIRECT_EN', 23),
          ('FTRACE_FL_CALL_OPS', 22), ('FTRACE_FL_CALL_OPS_EN', 21), ('FTRACE_FL_TOUCHED', 20),
          ('FTRACE_FL_MODIFIED', 19))}
    res['ftrace_flag_values_source'] = 'include/linux/ftrace.h (6.12 = 7.2)'
res['ftrace_flag_values'] = {k: '0x%x' % v for k, v in FL.items()}
ranges = []
for m_, mod in zip(res['modules'], list_for_each_entry('struct module', prog['modules'].address_of_(), 'list')):
    for i in range(len(mod.mem)):
        b = mod.mem[i].base.value_(); sz = mod.mem[i].size.value_()
        if b and sz:
            ranges.append((b, b + sz, m_))
def words(a):
    out = []
    for x in (a - 8, a - 4, a, a + 4):
        try:
            out.append('%08x' % struct.unpack('<I', prog.read(x, 4))[0])
        except FaultError:
            out.append(None)     # e.g. ip-8 before the first page of module text
    return out
nrec = 0
try:
    pg = prog['ftrace_pages_start']
    while pg:
        for i in range(pg.index.value_()):
            rec = pg.records[i]
            ip = rec.ip.value_()
            owner = next((r[2] for r in ranges if r[0] <= ip < r[1]), None)
            nrec += 1
            if owner is None:
                continue
            fl = rec.flags.value_()
            w = words(ip)
            e = {'ip': '0x%x' % ip, 'sym': sym(ip), 'flags': '0x%x' % fl,
                 'flags_decoded': [k for k, v in FL.items() if fl & v], 'ref': fl & ((1 << 19) - 1),
                 'words_ip-8_ip-4_ip_ip+4': w}
            for am in rec.arch.type_.members:
                e['arch.' + am.name] = value_of(getattr(rec.arch, am.name))
            if w[2]:
                t = branch_target(int(w[2], 16), ip)
                if t is not None:
                    e['ip_branch_target'] = '0x%x' % t
                    e['ip_branch_target_sym'] = sym(t)
                    st = int(owner.get('stubs_section_addr', '0x0'), 16)
                    sz = (owner.get('stubs_size_from_ko') or {}).get('size', 0)
                    if st and st <= t < st + sz:
                        e['ip_branch_target_stub_slot'] = (t - st) // STUB_SIZE
                        e['ip_branch_target_stub_slot_offset'] = (t - st) % STUB_SIZE
                        sl = owner.get('stub_slots') or []
                        k = e['ip_branch_target_stub_slot']
                        if k < len(sl):
                            e['ip_branch_target_stub_kind'] = sl[k].get('kind')
            owner.setdefault('dyn_ftrace', []).append(e)
        pg = pg.next
    res['dyn_ftrace_records_total'] = nrec
except (LookupError, FaultError) as ex:
    res['dyn_ftrace_error'] = str(ex)

res['loader_generation'] = {'mod_arch_specific_has_stub_count': HAS_STUB_COUNT,
                            'mod_arch_specific_has_ool_stubs': HAS_OOL, 'ftrace_tramp_slots': FTRACE_TRAMPS}
json.dump(res, open(out_path, 'w'), indent=1)
print('wrote', out_path, len(res['modules']), 'modules')
