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
from drgn import Object, cast, FaultError
from drgn.helpers.linux.list import list_for_each_entry

out_path = sys.argv[1]
mods_dir = sys.argv[2] if len(sys.argv) > 2 else None
STUB_SIZE = prog.type('struct ppc64_stub_entry').size if True else 40

def sym(addr):
    if not addr:
        return None
    try:
        s = prog.symbol(addr)
        off = addr - s.address
        return s.name + ('+0x%x' % off if off else '')
    except (LookupError, ValueError):
        return None

def value_of(o):
    t = o.type_.unaliased()
    k = t.kind.name
    if k in ('INT', 'BOOL', 'ENUM'):
        v = int(o.value_())
        # 64-bit members (addresses such as tramp/tramp_regs) as hex strings: JSON
        # readers that decode numbers as float64 would lose precision
        return '0x%x' % v if t.size == 8 else v
    if k == 'POINTER':
        return '0x%x' % o.value_()
    return str(o)

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

def count_relocs(relas, r_type):
    """arch/powerpc/kernel/module_64.c count_relocs() after relacmp() sort, exactly"""
    n = 0; c_sym = 0; c_add = 0      # unsigned int caches, start at 0
    for info, add in relas:
        if info & 0xffffffff == r_type and (c_sym != info >> 32 or c_add != add):
            n += 1
            c_sym = info >> 32; c_add = add & 0xffffffff
    return n

def ko_info(path):
    """replicates get_stubs_size() of this kernel's loader generation; returns dict"""
    d = open(path, 'rb').read()
    shoff, = struct.unpack_from('<Q', d, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', d, 0x3a)
    shs = [struct.unpack_from('<IIQQQQIIQQ', d, shoff + i * shentsize) for i in range(shnum)]
    strt = shs[shstrndx]
    def nm(o):
        b = d[strt[4] + o:]
        return b[:b.index(b'\0')].decode()
    rel24 = 0
    per_sec = {}
    ool = 0
    for i, h in enumerate(shs):
        if h[1] == 4:  # SHT_RELA
            relas = []
            for r in range(h[5] // 24):
                off, info, add = struct.unpack_from('<QQq', d, h[4] + r * 24)
                relas.append((info, add))
            relas.sort(reverse=True)     # relacmp(): descending (r_info, r_addend)
            n = count_relocs(relas, 10)  # R_PPC_REL24
            if n:
                per_sec[nm(h[0])] = n
            rel24 += n
    if HAS_OOL:
        for h in shs[1:]:
            if nm(h[0]) == '__patchable_function_entries':
                ool = h[5] // 8
                break
    ool_slots = -(-ool * 24 // STUB_SIZE)
    term = 0 if HAS_STUB_COUNT else 1
    total = term + rel24 + FTRACE_TRAMPS + ool_slots
    return {'generation': ('c: stub_count counter' if HAS_STUB_COUNT else
                           ('b: sentinel + OOL ftrace stubs' if HAS_OOL else 'a: sentinel, no OOL stubs')),
            'terminator_slots': term,
            'rel24_stub_candidates': rel24, 'rel24_per_rela_section': per_sec,
            'ftrace_tramp_slots': FTRACE_TRAMPS, 'patchable_function_entries': ool,
            'ool_slots': ool_slots, 'total_slots': total, 'size': total * STUB_SIZE}

def find_ko(name):
    if not mods_dir:
        return None
    for f in os.listdir(mods_dir):
        if f.endswith('.ko') and f[:-3].replace('-', '_') == name:
            return os.path.join(mods_dir, f)
    return None

def branch_target(insn, addr):
    if (insn >> 26) != 18:
        return None
    off = insn & 0x03fffffc
    if off & 0x02000000:
        off -= 0x04000000
    return off if insn & 2 else (addr + off) & 0xffffffffffffffff

res = {'tool': 'drgn %s' % __import__('drgn').__version__, 'modules': []}
try:
    res['ftrace_nop_ops'] = '0x%x' % prog['ftrace_nop_ops'].address_of_().value_()
    res['ftrace_list_ops'] = '0x%x' % prog['ftrace_list_ops'].address_of_().value_()
except Exception as e:
    res['ftrace_ops_err'] = str(e)
res['uts_release'] = prog['init_uts_ns'].name.release.string_().decode()
try:
    res['radix_enabled'] = bool(prog['mmu_feature_keys'] is not None) and None
except Exception:
    pass
try:
    res['cur_cpu_spec_mmu_features'] = '0x%x' % prog['cur_cpu_spec'].mmu_features.value_()
except Exception as e:
    res['cur_cpu_spec_err'] = str(e)

for mod in list_for_each_entry('struct module', prog['modules'].address_of_(), 'list'):
    m = {}
    name = mod.name.string_().decode()
    m['name'] = name
    m['struct_module'] = '0x%x' % mod.value_()
    m['state'] = mod.state.format_(type_name=False)
    arch = {}
    for mem in mod.arch.type_.members:
        arch[mem.name] = value_of(getattr(mod.arch, mem.name))
    m['arch'] = arch
    m['arch_type_layout'] = [{'name': mem.name, 'offset': mem.offset, 'type': str(mem.type)}
                             for mem in mod.arch.type_.members]
    m['mem'] = []
    for i in range(len(mod.mem)):
        mm = mod.mem[i]
        m['mem'].append({'type': i, 'base': '0x%x' % mm.base.value_(),
                         'size': mm.size.value_()})
        if 'is_rox' in [x.name for x in mm.type_.members]:
            m['mem'][-1]['is_rox'] = bool(mm.is_rox.value_())
    secs = {}
    sa = mod.sect_attrs
    if sa:
        sa = cast('struct module_sect_attrs *', sa)
        if 'nsections' in [x.name for x in sa.type_.type.members]:
            # <= 6.13: struct module_sect_attr { battr; unsigned long address; }
            for i in range(sa.nsections.value_()):
                at = sa.attrs[i]
                secs[at.battr.attr.name.string_().decode()] = '0x%x' % at.address.value_()
        else:
            ba = sa.grp.bin_attrs
            i = 0
            while ba[i]:
                secs[ba[i].attr.name.string_().decode()] = '0x%x' % ba[i].private.value_()
                i += 1
    m['sections'] = secs
    ko = find_ko(name)
    kinfo = ko_info(ko) if ko else None
    m['ko_file'] = os.path.basename(ko) if ko else None
    m['stubs_size_from_ko'] = kinfo
    stubs = int(secs.get('.stubs', '0x0'), 16)
    m['stubs_section_addr'] = '0x%x' % stubs
    ool = mod.arch.ool_stubs.value_() if HAS_OOL else 0
    ool_n = mod.arch.ool_stub_count.value_() if HAS_OOL else 0
    stub_count = mod.arch.stub_count.value_() if HAS_STUB_COUNT else 0
    if stubs:
        m['ool_stubs_minus_stubs_section'] = ool - stubs if ool else None
        m['ool_stubs_slot_index'] = (ool - stubs) / STUB_SIZE if ool else None
        size = kinfo['size'] if kinfo else max(stub_count * STUB_SIZE, (ool - stubs) + -(-ool_n * 24 // STUB_SIZE) * STUB_SIZE)
        try:
            raw = prog.read(stubs, size)
            m['stubs_raw_hex'] = raw.hex()
            m['stubs_raw_len'] = size
            slots = []
            for k in range(size // STUB_SIZE):
                b = raw[k * STUB_SIZE:(k + 1) * STUB_SIZE]
                jump = struct.unpack_from('<7I', b, 0)
                magic, = struct.unpack_from('<I', b, 28)
                fd, = struct.unpack_from('<Q', b, 32)
                slots.append({'index': k, 'addr': '0x%x' % (stubs + k * STUB_SIZE),
                              'jump': ['%08x' % j for j in jump], 'magic': '0x%08x' % magic,
                              'funcdata': '0x%x' % fd, 'funcdata_sym': sym(fd)})
            m['stub_slots'] = slots
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
        except FaultError as e:
            m['stubs_read_error'] = str(e)
    oo = []
    for i in range(ool_n):
        o = mod.arch.ool_stubs[i]
        try:
            op = o.ftrace_op.value_()
            ins = [int(x) for x in o.insn.read_()]
            a = o.address_of_().value_()
            call = branch_target(ins[1], a + 8 + 4)
            ret = branch_target(ins[3], a + 8 + 12)
            cslot = ((call - stubs) // STUB_SIZE) if (call is not None and stubs and stubs <= call < stubs + (kinfo['size'] if kinfo else 0)) else None
            oo.append({'index': i, 'addr': '0x%x' % a, 'ftrace_op': '0x%x' % op,
                       'call_target_stub_slot': cslot,
                       'call_target_stub_slot_offset': ((call - stubs) % STUB_SIZE) if cslot is not None else None,
                       'ftrace_op_sym': sym(op), 'insn': ['%08x' % x for x in ins],
                       'call_target': '0x%x' % call if call is not None else None,
                       'call_target_sym': sym(call) if call else None,
                       'return_target': '0x%x' % ret if ret is not None else None,
                       'func_sym': sym(ret - 4) if ret else None})
        except FaultError as e:
            oo.append({'index': i, 'error': str(e)})
    m['ool_stubs_decoded'] = oo
    m['ool_ftrace_op_null_count'] = sum(1 for x in oo if x.get('ftrace_op') == '0x0')
    res['modules'].append(m)

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
