#!/usr/bin/env python3
"""Ground truth of an arm64 vmcore read by drgn (0.3.0, Debian sid python3-drgn).

usage: truth-drgn.py --dump VMCORE.elf --vmlinux VMLINUX --modules DIR -o OUT.json
                     [--kdump VMCORE.kdump ...]

VMCORE must be an ELF dump with a VMCOREINFO note (QEMU's with -device vmcoreinfo
and the guest's fw_cfg driver loaded). DIR holds the modules' debug .ko (used when
their build IDs match). --kdump: also try to open these files with drgn (libkdumpfile)
and read from them; the result (or the error) is recorded.

Hex strings for addresses and 64-bit values (JSON readers keep them exact).
Sections of the output:
  elf: e_machine, PT_LOADs, notes; prstatus[]: per CPU pid, pc, sp, pstate, x29, x30
       (the NT_PRSTATUS registers QEMU wrote), and the VMCOREINFO note text
  vmcoreinfo: every KEY=VALUE of the note (and the text in memory, compared)
  kernel: release, page size, the arm64 layout variables in memory (kimage_voffset,
       memstart_addr, vabits_actual, module_direct_base, module_plt_base), symbol
       addresses, FTRACE_ADDR (= ftrace_caller)
  modules[]: name, struct module, state, mem[] (type, base, size, is_rox), sections
       (mod->sect_attrs), arch (core/init mod_plt_sec, ftrace_trampolines,
       init_ftrace_trampolines, raw bytes), plt[] (every entry of the core .plt, i.e.
       plt_max_entries + 1 entries: address, the three words, kind plt/veneer/zero/other,
       decoded target and symbol, re-encoded get_plt_entry(target, slot) equal?, used =
       index < plt_num_entries, forbidden ADRP offset (erratum 843419)),
       ftrace_trampolines[] (the same per entry, expected get_plt_entry(FTRACE_ADDR, slot)),
       ftrace_records[] (every dyn_ftrace whose ip is in the module: ip, symbol, flags raw
       + decoded + refs, the words from ALIGN_DOWN(ip-12, 8) to ip+4, the CALL_OPS literal
       and its symbol, the kinds at ip-4 and ip, the bl target, its symbol and what it is:
       ftrace_caller / the module's ftrace trampoline / a PLT slot / other)
  vmlinux_records: every vmlinux record whose flags are not 0 (as above, compact)
  ftrace_ops[]: the ftrace_ops_list: address, symbol, func, flags, trampoline
  kprobes[]: kprobe_table: addr, symbol, flags, saved opcode, word at addr now
  livepatch: klp_patches (objects, funcs: old/new, sizes, nop, patched, transition), klp_ops
       (each fops and its func_stack), klp_transition_patch, klp_target_state, every task's
       patch_state (and TIF_PATCH_PENDING), and the stack of each task a transition waits for
  cpus[]: per CPU the task (rq->curr), its PRSTATUS pc, drgn's stack trace
  crash: panic_cpu, the task on it, its stack (when the kernel panicked)
  translations: drgn's follow_phys(init_mm) of module regions and a few kernel addresses
  kdump_files: what drgn did with the kdump-compressed files
"""
import argparse, functools, json, os, struct, sys, traceback

import drgn
from drgn.helpers.linux.list import list_for_each_entry, hlist_for_each_entry
from drgn.helpers.linux.percpu import per_cpu
from drgn.helpers.linux.cpumask import for_each_possible_cpu, for_each_online_cpu

# the shared helpers: bench/lib beside this script's directory
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import drgntruth  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--dump', required=True)
ap.add_argument('--vmlinux', required=True)
ap.add_argument('--modules', default=None)
ap.add_argument('--kdump', action='append', default=[])
ap.add_argument('-o', '--out', required=True)
a = ap.parse_args()


def h(v):
    return None if v is None else '0x%x' % v


# ---- the ELF file itself -----------------------------------------------------
def read_elf(path):
    r = {'path': os.path.basename(path)}
    with open(path, 'rb') as f:
        eh = f.read(64)
        assert eh[:4] == b'\x7fELF'
        e_machine, = struct.unpack_from('<H', eh, 18)
        e_phoff, = struct.unpack_from('<Q', eh, 32)
        e_phentsize, e_phnum = struct.unpack_from('<HH', eh, 54)
        r['e_machine'] = e_machine
        r['e_ehsize'], = struct.unpack_from('<H', eh, 52)
        loads, notes = [], []
        f.seek(e_phoff)
        phs = [struct.unpack('<IIQQQQQQ', f.read(e_phentsize)[:56]) for _ in range(e_phnum)]
        prstatus, vmcoreinfo = [], None
        for (p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align) in phs:
            if p_type == 1:
                loads.append({'paddr': h(p_paddr), 'vaddr': h(p_vaddr), 'filesz': h(p_filesz), 'memsz': h(p_memsz), 'offset': h(p_offset)})
            elif p_type == 4:
                f.seek(p_offset)
                data = f.read(p_filesz)
                off = 0
                while off + 12 <= len(data):
                    namesz, descsz, ntype = struct.unpack_from('<III', data, off)
                    name = data[off + 12:off + 12 + namesz].rstrip(b'\0').decode(errors='replace')
                    doff = off + 12 + ((namesz + 3) & ~3)
                    desc = data[doff:doff + descsz]
                    notes.append({'name': name, 'type': ntype, 'size': descsz})
                    if name == 'CORE' and ntype == 1 and descsz >= 112 + 34 * 8:
                        pid, = struct.unpack_from('<i', desc, 32)
                        regs = struct.unpack_from('<34Q', desc, 112)
                        prstatus.append({'pid': pid, 'pc': h(regs[32]), 'sp': h(regs[31]), 'pstate': h(regs[33]),
                                         'x29': h(regs[29]), 'x30': h(regs[30]), 'x0': h(regs[0])})
                    if name == 'VMCOREINFO':
                        vmcoreinfo = desc.rstrip(b'\0').decode(errors='replace')
                    off = doff + ((descsz + 3) & ~3)
        r['loads'] = loads
        r['notes'] = notes
        r['prstatus'] = prstatus
        r['vmcoreinfo_note'] = vmcoreinfo
    return r


res = {'tool': 'drgn %s' % drgn.__version__, 'dump': os.path.basename(a.dump), 'errors': []}
res['elf'] = read_elf(a.dump)


def err(where, e):
    res['errors'].append('%s: %s: %s' % (where, type(e).__name__, str(e)[:300]))


prog, e = drgntruth.open_program(a.dump, a.vmlinux, a.modules)
if e is not None:
    err('load_debug_info', e)
sym = functools.partial(drgntruth.sym, prog)
rd = functools.partial(drgntruth.rd, prog)
const = functools.partial(drgntruth.const, prog)


def u32s(b):
    return list(struct.unpack('<%dI' % (len(b) // 4), b))


def hexw(ws):
    return ' '.join('%08x' % w for w in ws)


def sx(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def branch_target(pc, insn):
    if insn & 0x7c000000 != 0x14000000:
        return None
    return (pc + sx((insn & 0x03ffffff) << 2, 28)) & 0xffffffffffffffff


def insn_kind(insn):
    if insn == 0xd503201f:
        return 'nop'
    if insn == 0xaa1e03e9:
        return 'mov_x9_x30'
    if insn & 0xfc000000 == 0x94000000:
        return 'bl'
    if insn & 0xfc000000 == 0x14000000:
        return 'b'
    if insn & 0xffe0001f == 0xd4200000:
        return 'brk_0x%x' % ((insn >> 5) & 0xffff)
    if insn & 0xffffff3f == 0xd503241f:
        return 'bti'
    if insn == 0xd503233f:
        return 'paciasp'
    return 'insn'


# aarch64_insn_gen_adr(ADRP) + add (module-plts.c __get_adrp_add_pair) + br x16
def gen_adrp(pc, dst, reg):
    off = ((dst & ~0xfff) - (pc & ~0xfff)) >> 12
    immlo, immhi = off & 3, (off >> 2) & 0x7ffff
    return 0x90000000 | (immlo << 29) | (immhi << 5) | reg


def gen_add(dst, reg):
    return 0x91000000 | ((dst & 0xfff) << 10) | (reg << 5) | reg


def get_plt_entry(dst, pc):
    return [gen_adrp(pc, dst, 16), gen_add(dst, 16), 0xd61f0200]


def plt_decode(w, pc):
    if w == [0, 0, 0]:
        return 'zero', None
    adrp, add, br = w
    if adrp & 0x9f000000 != 0x90000000:
        return 'other', None
    rd_ = adrp & 0x1f
    imm = ((adrp >> 29) & 3) | (((adrp >> 5) & 0x7ffff) << 2)
    page = ((pc & ~0xfff) + (sx(imm, 21) << 12)) & 0xffffffffffffffff
    if add & 0xffc00000 != 0x91000000 or add & 0x1f != rd_ or (add >> 5) & 0x1f != rd_:
        return 'other', None
    t = page + ((add >> 10) & 0xfff)
    if br == 0xd61f0200 and rd_ == 16:
        return 'plt', t
    if br & 0xfc000000 == 0x14000000:
        return 'veneer', t
    return 'other', None


def entry(addr, w, expected_target=None):
    kind, t = plt_decode(w, addr)
    d = {'addr': h(addr), 'words': hexw(w), 'kind': kind, 'target': h(t), 'target_sym': sym(t),
         'forbidden_adrp_offset': (addr & 0xfff) >= 0xff8}
    if kind == 'plt':
        d['equals_get_plt_entry_of_target'] = get_plt_entry(t, addr) == w
    if kind == 'veneer':
        bt = branch_target(addr + 8, w[2])
        d['veneer_rd'] = w[0] & 0x1f
        d['veneer_b_target'] = h(bt)
        d['veneer_b_target_sym'] = sym(bt)
    if expected_target is not None:
        d['expected_target'] = h(expected_target)
        d['equals_get_plt_entry_of_expected'] = get_plt_entry(expected_target, addr) == w
    return d


def addr_of(name):
    ad = drgntruth.sym_addr(prog, name)
    if ad is not None:
        return ad
    try:
        return prog[name].address_
    except Exception:
        return None


# ---- VMCOREINFO ------------------------------------------------------------------
vi_note = res['elf']['vmcoreinfo_note']
vmi = {}
for line in (vi_note or '').splitlines():
    if '=' in line:
        k, v = line.split('=', 1)
        vmi[k] = v
res['vmcoreinfo'] = vmi
try:
    vi_mem = prog.read(prog['vmcoreinfo_data'].value_(), prog['vmcoreinfo_size'].value_()).rstrip(b'\0').decode()
    res['vmcoreinfo_memory_equals_note'] = (vi_mem.strip() == (vi_note or '').strip())
    if not vi_note:
        res['vmcoreinfo_memory_text'] = vi_mem
except Exception as e:
    err('vmcoreinfo in memory', e)

# ---- kernel ------------------------------------------------------------------------
k = {}
try:
    k['uts_release'] = prog['init_uts_ns'].name.release.string_().decode()
    k['uts_version'] = prog['init_uts_ns'].name.version.string_().decode()
except Exception as e:
    err('uts', e)
for v in ('kimage_voffset', 'memstart_addr', 'vabits_actual', 'module_direct_base', 'module_plt_base',
          'arm64_use_ng_mappings', 'ftrace_number_of_pages', 'ftrace_number_of_groups'):
    try:
        k[v] = h(int(prog[v].value_()) & 0xffffffffffffffff)
    except Exception as e:
        k[v] = None
syms = {}
for s in ('_text', '_stext', '_etext', '_end', 'swapper_pg_dir', 'ftrace_caller', 'ftrace_common', 'ftrace_call',
          'ftrace_graph_call', 'ftrace_stub', 'ftrace_stub_graph', 'ftrace_list_ops', 'ftrace_nop_ops', 'global_ops',
          'kprobe_ftrace_ops', 'ftrace_ops_list_func', 'arch_ftrace_ops_list_func', 'klp_ftrace_handler',
          'modules', 'vfs_read', 'tcp_sendmsg', 'version_proc_show', 'sysrq_handle_crash', 'panic'):
    syms[s] = h(addr_of(s))
k['symbols'] = syms
FTRACE_ADDR = addr_of('ftrace_caller')
k['FTRACE_ADDR'] = h(FTRACE_ADDR)
try:
    k['page_size'] = int(prog['PAGE_SIZE'])
except Exception:
    k['page_size'] = int(vmi.get('PAGESIZE', '0') or 0)
res['kernel'] = k

# ---- ftrace flags ------------------------------------------------------------------
flag_names = drgntruth.ftrace_fl_constants(prog)
res['ftrace_flag_bits'] = {n: h(v) for n, v in flag_names}
lowest = min(v for n, v in flag_names) if flag_names else 1 << 19
REF_MASK = lowest - 1
res['ftrace_ref_mask'] = h(REF_MASK)

# all records
records = []
try:
    pg = prog['ftrace_pages_start']
    while pg:
        recs = pg.records
        for i in range(int(pg.index)):
            r = recs[i]
            records.append((int(r.ip), int(r.flags)))
        pg = pg.next
except Exception as e:
    err('ftrace pages', e)
res['ftrace_records_total'] = len(records)


def site(ip, flags, mod=None):
    lit = (ip - 12) & ~7
    b = rd(lit, ip + 8 - lit)
    d = {'ip': h(ip), 'sym': sym(ip), 'flags': h(flags), 'refs': flags & REF_MASK,
         'flags_decoded': [n for n, v in flag_names if flags & v]}
    if b is None:
        d['words'] = None
        return d
    w = u32s(b)
    kk = (ip - lit) // 4
    d['words_at'] = h(lit)
    d['words'] = hexw(w)
    lv = struct.unpack_from('<Q', b, 0)[0]
    d['literal'] = h(lv)
    d['literal_sym'] = sym(lv)
    d['ip_minus_4'] = insn_kind(w[kk - 1])
    d['ip_insn'] = insn_kind(w[kk])
    t = branch_target(ip, w[kk])
    if t is not None:
        d['target'] = h(t)
        d['target_sym'] = sym(t)
        if t == FTRACE_ADDR:
            d['target_is'] = 'ftrace_caller'
        elif mod is not None and mod.get('_tramp') and t == mod['_tramp']:
            d['target_is'] = 'module_ftrace_trampoline'
        elif mod is not None and mod.get('_plt') and mod['_plt'] <= t < mod['_plt'] + 12 * (mod['arch']['core']['plt_max_entries'] + 1):
            d['target_is'] = 'module_plt_slot_%d' % ((t - mod['_plt']) // 12)
        else:
            d['target_is'] = 'other'
    return d


# ---- modules -------------------------------------------------------------------------
mods = []
try:
    mem_type = prog.type('enum mod_mem_type')
    mem_names = {v: n for n, v in mem_type.enumerators}
except LookupError:
    mem_names = {}
mod_ranges = []
try:
    for mod in list_for_each_entry('struct module', prog['modules'].address_of_(), 'list'):
        m = {'name': mod.name.string_().decode(), 'struct_module': h(mod.value_()), 'state': int(mod.state)}
        mem = []
        for t, base, size, rox in drgntruth.mem_regions(mod):
            e = {'type': mem_names.get(t, str(t)), 'base': h(base), 'size': size}
            if rox is not None:
                e['is_rox'] = rox
            mem.append(e)
            if base:
                mod_ranges.append((base, base + size, len(mods)))
        m['mem'] = mem
        secs = {}
        try:
            drgntruth.module_sections(mod, secs)
        except Exception as e:
            err('sections %s' % m['name'], e)
        m['sections'] = secs
        ar = mod.arch
        arch = {'core': {f: int(getattr(ar.core, f)) for f in ('plt_shndx', 'plt_num_entries', 'plt_max_entries')},
                'init': {f: int(getattr(ar.init, f)) for f in ('plt_shndx', 'plt_num_entries', 'plt_max_entries')},
                'ftrace_trampolines': h(ar.ftrace_trampolines.value_()),
                'init_ftrace_trampolines': h(ar.init_ftrace_trampolines.value_())}
        raw = rd(ar.address_, drgn.sizeof(ar))
        arch['raw'] = raw.hex() if raw else None
        arch['sizeof'] = drgn.sizeof(ar)
        arch['type_layout'] = [{'name': mb.name, 'offset': mb.bit_offset // 8, 'type': str(mb.type)} for mb in ar.type_.members]
        m['arch'] = arch
        m['offsetof_module_arch'] = drgn.offsetof(prog.type('struct module'), 'arch')
        try:
            m['klp'] = bool(mod.klp)
            m['klp_alive'] = bool(mod.klp_alive)
        except AttributeError:
            pass
        plt = int(secs['.plt'], 16) if '.plt' in secs else None
        m['_plt'] = plt
        m['plt_section'] = h(plt)
        m['init_plt_section'] = secs.get('.init.plt')
        m['plt'] = []
        if plt:
            for i in range(arch['core']['plt_max_entries'] + 1):
                ea = plt + 12 * i
                b = rd(ea, 12)
                if b is None:
                    m['plt'].append({'index': i, 'addr': h(ea), 'words': None})
                    continue
                d = entry(ea, u32s(b))
                d['index'] = i
                d['used'] = i < arch['core']['plt_num_entries']
                m['plt'].append(d)
        tr = ar.ftrace_trampolines.value_()
        m['_tramp'] = tr
        m['ftrace_trampolines_entries'] = []
        if tr:
            b = rd(tr, 12)
            if b is not None:
                d = entry(tr, u32s(b), FTRACE_ADDR)
                d['index'] = 0
                m['ftrace_trampolines_entries'].append(d)
        itr = ar.init_ftrace_trampolines.value_()
        m['init_ftrace_trampolines_readable'] = rd(itr, 12) is not None if itr else None
        # BL range of the kernel text from module text
        tb = int(mem[0]['base'], 16)
        if tb and FTRACE_ADDR:
            m['text_to_ftrace_caller'] = h((FTRACE_ADDR - tb) & 0xffffffffffffffff)
            m['ftrace_caller_within_bl_range_of_text_base'] = -(1 << 27) <= FTRACE_ADDR - tb < (1 << 27)
        m['ftrace_records'] = []
        mods.append(m)
except Exception as e:
    err('modules', e)
    traceback.print_exc()

vml = []
for ip, fl in records:
    owner = None
    for lo, hi, idx in mod_ranges:
        if lo <= ip < hi:
            owner = idx
            break
    if owner is not None:
        mods[owner]['ftrace_records'].append(site(ip, fl, mods[owner]))
    elif fl:
        vml.append(site(ip, fl))
for m in mods:
    m['ftrace_records_enabled'] = sum(1 for r in m['ftrace_records'] if 'ENABLED' in r['flags_decoded'])
    m.pop('_plt', None)
    m.pop('_tramp', None)
res['modules'] = mods
res['vmlinux_records'] = vml
res['ftrace_records_enabled'] = sum(m['ftrace_records_enabled'] for m in mods) + sum(1 for r in vml if 'ENABLED' in r['flags_decoded'])

# ---- ftrace ops ------------------------------------------------------------------------
ops = []
try:
    end_ = addr_of('ftrace_list_end')
    o = prog['ftrace_ops_list']
    n = 0
    while o and o.value_() != end_ and n < 64:
        d = {'addr': h(o.value_()), 'sym': sym(o.value_()), 'func': h(o.func.value_()), 'func_sym': sym(o.func.value_()),
             'flags': h(int(o.flags))}
        for f in ('trampoline', 'direct_call', 'private'):
            try:
                d[f] = h(int(getattr(o, f)))
            except AttributeError:
                pass
        # the ips of the ops' filter and notrace hashes (struct ftrace_hash buckets)
        for hn in ('filter_hash', 'notrace_hash'):
            try:
                hp = getattr(o.func_hash, hn)
                ips = []
                if hp.value_():
                    for i in range(1 << int(hp.size_bits)):
                        for e in hlist_for_each_entry('struct ftrace_func_entry', hp.buckets[i].address_of_(), 'hlist'):
                            ips.append(int(e.ip))
                d[hn] = [[h(ip), sym(ip)] for ip in sorted(ips)]
            except Exception as e:
                d[hn + '_error'] = str(e)
        ops.append(d)
        o = o.next
        n += 1
except Exception as e:
    err('ftrace_ops_list', e)
res['ftrace_ops'] = ops
# a site branching straight to an ops' direct trampoline (register_ftrace_direct, within BL range)
directs = {int(d['direct_call'], 16): d['sym'] for d in ops if d.get('direct_call') not in (None, '0x0')}
for r in [r for m in mods for r in m['ftrace_records']] + vml:
    if r.get('target_is') == 'other' and r.get('target') and int(r['target'], 16) in directs:
        r['target_is'] = 'direct_trampoline_of_%s' % directs[int(r['target'], 16)]

# ---- kprobes ------------------------------------------------------------------------------
kps = []
try:
    for p in drgntruth.for_each_kprobe(prog):
        addr = p.addr.value_()
        b = rd(addr, 4)
        d = {'addr': h(addr), 'sym': sym(addr), 'flags': h(int(p.flags)), 'opcode': h(int(p.opcode)),
             'word_at_addr': h(u32s(b)[0]) if b else None, 'kind_at_addr': insn_kind(u32s(b)[0]) if b else None,
             'symbol_name': p.symbol_name.string_().decode() if p.symbol_name else None, 'offset': int(p.offset),
             'pre_handler': sym(p.pre_handler.value_())}
        try:
            d['ainsn_xol'] = h(p.ainsn.xol_insn.value_())
        except AttributeError:
            pass
        kps.append(d)
except Exception as e:
    err('kprobes', e)
res['kprobes'] = kps

# ---- livepatch ----------------------------------------------------------------------------
# klp_patches (kernel/livepatch/core.c): every patch, object, func; klp_ops
# (kernel/livepatch/patch.c, a static LIST_HEAD): one ftrace_ops per patched old_func and
# its func_stack (the active klp_func first); the transition state
# (kernel/livepatch/transition.c) and every task's patch_state.
lp = {'patches': []}


def cstr(p):
    return p.string_().decode(errors='replace') if p else None


try:
    for p in list_for_each_entry('struct klp_patch', prog['klp_patches'].address_of_(), 'list'):
        pd = {'addr': h(p.value_()), 'mod': p.mod.name.string_().decode(), 'enabled': bool(p.enabled),
              'replace': bool(p.replace), 'forced': bool(p.forced), 'objs': []}
        for o in list_for_each_entry('struct klp_object', p.obj_list.address_of_(), 'node'):
            od = {'addr': h(o.value_()), 'name': o.name.string_().decode() if o.name else 'vmlinux',
                  'mod': cstr(o.mod.name) if o.mod else None,
                  'patched': bool(o.patched), 'dynamic': bool(o.dynamic), 'funcs': []}
            for f in list_for_each_entry('struct klp_func', o.func_list.address_of_(), 'node'):
                od['funcs'].append({'addr': h(f.value_()), 'old_name': f.old_name.string_().decode(),
                                    'old_sympos': int(f.old_sympos),
                                    'old_func': h(f.old_func.value_()),
                                    'old_func_sym': sym(f.old_func.value_()), 'old_size': int(f.old_size),
                                    'new_func': h(f.new_func.value_()),
                                    'new_func_sym': sym(f.new_func.value_()), 'new_size': int(f.new_size),
                                    'nop': bool(f.nop), 'patched': bool(f.patched),
                                    'transition': bool(f.transition)})
            pd['objs'].append(od)
        lp['patches'].append(pd)
except Exception as e:
    lp['error'] = '%s: %s' % (type(e).__name__, e)
try:
    ops_l = []
    for ko in list_for_each_entry('struct klp_ops', prog['klp_ops'].address_of_(), 'node'):
        fo = ko.fops
        stack = []
        for f in list_for_each_entry('struct klp_func', ko.func_stack.address_of_(), 'stack_node'):
            stack.append({'func': h(f.value_()), 'old_name': f.old_name.string_().decode(),
                          'old_func': h(f.old_func.value_()), 'new_func': h(f.new_func.value_()),
                          'new_func_sym': sym(f.new_func.value_()), 'patched': bool(f.patched),
                          'transition': bool(f.transition)})
        ops_l.append({'klp_ops': h(ko.value_()), 'fops': h(fo.address_of_().value_()),
                      'fops_func': sym(fo.func.value_()), 'fops_flags': h(int(fo.flags)),
                      'fops_trampoline': h(int(fo.trampoline)), 'func_stack': stack})
    lp['klp_ops'] = ops_l
except Exception as e:
    lp['klp_ops_error'] = '%s: %s' % (type(e).__name__, e)
try:
    tp = prog['klp_transition_patch']
    lp['klp_transition_patch'] = h(tp.value_())
    lp['klp_target_state'] = int(prog['klp_target_state'])
    from drgn.helpers.linux.pid import for_each_task
    st = {}
    tasks = []
    for t in for_each_task(prog):
        ps = int(t.patch_state)
        st[str(ps)] = st.get(str(ps), 0) + 1
        tasks.append({'pid': int(t.pid), 'comm': t.comm.string_().decode(errors='replace'), 'patch_state': ps,
                      # TIF_PATCH_PENDING is 13 in arch/arm64/include/asm/thread_info.h (7.2.13)
                      'tif_patch_pending': bool(int(t.thread_info.flags) & (1 << 13))})
    lp['task_patch_state_counts'] = st
    # the tasks a transition in progress waits for: their stacks (klp_check_stack())
    target = lp['klp_target_state']
    if target != -1:
        for t, d in zip(for_each_task(prog), tasks):
            if d['patch_state'] != target:
                try:
                    d['stack'] = [{'pc': h(fr.pc), 'sym': sym(fr.pc)} for fr in prog.stack_trace(t)]
                except Exception as e:
                    d['stack_error'] = '%s: %s' % (type(e).__name__, e)
    lp['tasks'] = tasks
except Exception as e:
    lp['tasks_error'] = '%s: %s' % (type(e).__name__, e)
res['livepatch'] = lp

# ---- CPUs, the crash --------------------------------------------------------------------
cpus = []


def frames(st):
    # a return address (every frame but the first) can lie just past the end of a
    # function that ends in a call to a noreturn function: name pc - 4 as well
    out = []
    for i, fr in enumerate(st):
        d = {'pc': h(fr.pc), 'sym': sym(fr.pc)}
        if i:
            d['sym_pc_minus_4'] = sym(fr.pc - 4)
        out.append(d)
    return out


def trace(t):
    try:
        return frames(prog.stack_trace(t))
    except Exception as e:
        return 'error %s: %s' % (type(e).__name__, str(e)[:200])


# QEMU writes one NT_PRSTATUS per vCPU in cpu order, pr_pid = cpu index + 1
prs = {p['pid'] - 1: p for p in res['elf']['prstatus']}
try:
    online = set(for_each_online_cpu(prog))
    for cpu in for_each_possible_cpu(prog):
        rq = per_cpu(prog['runqueues'], cpu)
        t = rq.curr
        d = {'cpu': cpu, 'online': cpu in online, 'task': h(t.value_()), 'comm': t.comm.string_().decode(), 'pid': int(t.pid)}
        ps = prs.get(cpu)
        if ps:
            d['prstatus_pc'] = ps['pc']
            d['prstatus_pc_sym'] = sym(int(ps['pc'], 16))
            d['prstatus_x30'] = ps['x30']
            d['prstatus_x30_sym'] = sym(int(ps['x30'], 16))
            d['prstatus_x30_sym_minus_4'] = sym(int(ps['x30'], 16) - 4)
        d['stack'] = trace(t)
        cpus.append(d)
except Exception as e:
    err('cpus', e)
res['cpus'] = cpus
crash = {}
try:
    pc = int(prog['panic_cpu'].counter)
    crash['panic_cpu'] = pc
    if pc >= 0:
        t = per_cpu(prog['runqueues'], pc).curr
        crash['task'] = h(t.value_())
        crash['comm'] = t.comm.string_().decode()
        crash['pid'] = int(t.pid)
        crash['stack'] = trace(t)
        try:
            ct = prog.crashed_thread()
            crash['drgn_crashed_thread'] = {'tid': ct.tid, 'stack': frames(ct.stack_trace())}
        except Exception as e:
            crash['drgn_crashed_thread'] = 'error %s: %s' % (type(e).__name__, str(e)[:200])
except Exception as e:
    err('panic_cpu', e)
res['crash'] = crash

# ---- page-table translations (drgn's own walk of init_mm) ------------------------------
# For every module memory region: its first byte, the first byte of its second page and
# its last byte, virtual -> physical by drgn.helpers.linux.mm.follow_phys(init_mm, addr),
# plus a few kernel-image and linear-map addresses. An independent check of a reader's
# page-table walk (the granule, the level count, LPA2 output addresses).
tr = {'walker': 'drgn.helpers.linux.mm.follow_phys(init_mm)', 'entries': []}
try:
    from drgn.helpers.linux.mm import follow_phys
    init_mm = prog['init_mm'].address_of_()
    psz = int(vmi.get('PAGESIZE', '4096') or 4096)

    def tr_one(what, va):
        d = {'what': what, 'va': h(va)}
        try:
            d['pa'] = h(int(follow_phys(init_mm, va)))
        except Exception as e:
            d['error'] = '%s: %s' % (type(e).__name__, str(e)[:200])
        tr['entries'].append(d)
    for m in mods:
        for mm in m.get('mem') or []:
            b, sz = int(mm['base'], 16), int(mm['size'])
            if b == 0 or sz == 0:
                continue
            tr_one('%s %s' % (m['name'], mm['type']), b)
            if sz > psz:
                tr_one('%s %s +page' % (m['name'], mm['type']), (b & ~(psz - 1)) + psz)
            tr_one('%s %s last' % (m['name'], mm['type']), b + sz - 1)
    for name in ('_text', 'swapper_pg_dir', 'init_task', 'ftrace_caller', 'vmcoreinfo_data'):
        try:
            tr_one(name, int(prog.symbol(name).address))
        except Exception as e:
            tr['entries'].append({'what': name, 'error': '%s: %s' % (type(e).__name__, str(e)[:200])})
    # the linear map across RAM: 16 addresses per PT_LOAD, phys_to_virt() (arithmetic)
    # then drgn's walk back to the physical address
    try:
        from drgn.helpers.linux.mm import phys_to_virt
        for ld in res['elf']['loads']:
            base, size = int(ld['paddr'], 16), int(ld['memsz'], 16)
            for i in range(16):
                pa = base + (size // 16) * i + 0x1238 * (i + 1)
                tr_one('linear map pa %s' % h(pa), int(phys_to_virt(prog, pa).value_()))
    except Exception as e:
        tr['entries'].append({'what': 'linear map', 'error': '%s: %s' % (type(e).__name__, str(e)[:200])})
    # vmalloc: the kernel stacks of the first tasks (VMAP_STACK: each one a vmalloc
    # area), their first byte, second page and last byte
    try:
        from drgn.helpers.linux.pid import for_each_task
        n = 0
        for task in for_each_task(prog):
            st = int(task.stack.value_())
            if not st:
                continue
            tsz = 16384 if psz < 16384 else psz   # THREAD_SIZE: 16K, or a page when bigger
            tr_one('stack of pid %d' % int(task.pid), st)
            if tsz > psz:
                tr_one('stack of pid %d +page' % int(task.pid), st + psz)
            tr_one('stack of pid %d last' % int(task.pid), st + tsz - 1)
            n += 1
            if n == 6:
                break
    except Exception as e:
        tr['entries'].append({'what': 'task stacks', 'error': '%s: %s' % (type(e).__name__, str(e)[:200])})
    try:
        tr_one('vmcoreinfo_data (linear map)', int(prog['vmcoreinfo_data'].value_()))
    except Exception as e:
        tr['entries'].append({'what': 'vmcoreinfo_data value', 'error': '%s: %s' % (type(e).__name__, str(e)[:200])})
except Exception as e:
    tr['error'] = '%s: %s' % (type(e).__name__, str(e)[:200])
res['translations'] = tr

# ---- the kdump-compressed files ---------------------------------------------------------
kd = []
probe = None
for m in mods:
    if m['plt']:
        probe = (m['name'], int(m['plt'][0]['addr'], 16))
        break
for path in a.kdump:
    d = {'file': os.path.basename(path)}
    try:
        p2 = drgn.Program()
        p2.set_core_dump(path)
        d['opened'] = True
        try:
            p2.load_debug_info([a.vmlinux], default=False, main=False)
            d['uts_release'] = p2['init_uts_ns'].name.release.string_().decode()
            if probe:
                b = p2.read(probe[1], 12)
                d['probe'] = '%s .plt[0] at %s' % (probe[0], h(probe[1]))
                d['probe_equals_elf'] = b == rd(probe[1], 12)
            d['ok'] = True
        except Exception as e:
            d['ok'] = False
            d['error'] = '%s: %s' % (type(e).__name__, str(e)[:300])
    except Exception as e:
        d['opened'] = False
        d['ok'] = False
        d['error'] = '%s: %s' % (type(e).__name__, str(e)[:300])
    kd.append(d)
res['kdump_files'] = kd

json.dump(res, open(a.out, 'w'), indent=1)
print('truth-drgn: %d modules, %d records (%d enabled), %d kprobes, %d errors -> %s' % (
    len(mods), len(records), res['ftrace_records_enabled'], len(kps), len(res['errors']), a.out))
for e in res['errors']:
    print('  error:', e)
