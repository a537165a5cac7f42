#!/usr/bin/env python3
"""Ground truth of an x86_64 vmcore read by drgn (0.3.0, Debian sid python3-drgn).

usage: truth-drgn.py VMCORE VMLINUX MODULES_DIR OUT.json [--all-records]

VMCORE must be an ELF dump with a VMCOREINFO note (QEMU's with -device
vmcoreinfo, or a copy made by add-vmcoreinfo-note.py). MODULES_DIR holds
the modules' debug .ko files (loaded when their build IDs match).

Writes (hex strings for 64-bit values, so that float64 JSON readers keep them):
  kernel: uts release, KERNELOFFSET (from VMCOREINFO) and _text - System.map-free
          check, phys_base, page_offset_base, vmalloc_base, vmemmap_base,
          pgtable_l5_enabled, vmcoreinfo text
  modules[]: name, struct module address, state, mem[] (type name, base, size,
          is_rox), sections (mod->sect_attrs), arch (num_orcs, orc_unwind_ip,
          orc_unwind and their byte sizes, its_pages.pages[], num, each ITS page's
          bytes), ftrace records (every dyn_ftrace in the module: ip, symbol,
          flags raw + decoded, ref count, 5 bytes at ip decoded)
  vmlinux_records: every dyn_ftrace record of vmlinux whose flags are not 0
          (with --all-records: every record), compact [ip, flags, bytes5]
  ftrace_ops[]: the ftrace_ops_list: address, symbol, func, flags decoded,
          trampoline, trampoline_size, the ops pointer stored at its end,
          trampoline bytes, direct_call, filter hash count
  ftrace: ftrace_trace_function, function_trace_op, bytes at ftrace_call /
          ftrace_regs_call and the call targets
  text_poke_array: nr_entries, vec[0:nr_entries] decoded (address =
          _stext + rel_addr, symbol, disp, len, opcode, text, old, and the
          bytes now at the address), per-CPU text_poke_array_refs
  kprobes[]: every kprobe in kprobe_table: addr, symbol, flags, opcode,
          byte at addr, offset, symbol_name
  livepatch: klp_patches (patch module, enabled, objects, funcs with
          old/new func, patched, transition) and klp_ops (fops and their funcs)
"""
import functools, hashlib, json, os, re, sys

import drgn
from drgn import FaultError
from drgn.helpers.linux.list import list_for_each_entry
from drgn.helpers.linux.percpu import per_cpu
from drgn.helpers.linux.cpumask import for_each_possible_cpu

# the shared helpers: bench/lib beside this script's directory
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import drgntruth  # noqa: E402

args, regs_file = [], None
argv = sys.argv[1:]
while argv:
    x = argv.pop(0)
    if x == '--regs':
        regs_file = argv.pop(0)
    elif not x.startswith('--'):
        args.append(x)
all_records = '--all-records' in sys.argv
core, vmlinux, moddir, out_path = args[:4]

prog, e = drgntruth.open_program(core, vmlinux, moddir)
if e is not None:
    print('warning:', str(e)[:400], file=sys.stderr)


def h(v):
    return '0x%x' % v


sym = functools.partial(drgntruth.sym, prog)
rd = functools.partial(drgntruth.rd, prog)
const = functools.partial(drgntruth.const, prog)


def decode_flags(value, names):
    return [n for n, b in names if b and value & b == b]


def insn5(ip, b):
    """decode the 5 bytes at an ftrace site"""
    if b is None:
        return {'bytes': None}
    d = {'bytes': b.hex()}
    if b[0] in (0xe8, 0xe9):
        t = (ip + 5 + int.from_bytes(b[1:5], 'little', signed=True)) & 0xffffffffffffffff
        d['insn'] = 'call' if b[0] == 0xe8 else 'jmp'
        d['target'] = h(t)
        d['target_sym'] = sym(t)
    elif b == bytes.fromhex('0f1f440000'):
        d['insn'] = 'nop5'
    elif b[0] == 0xcc:
        d['insn'] = 'int3'
    else:
        d['insn'] = 'other'
    return d


res = {'tool': 'drgn %s' % drgn.__version__, 'vmcore': os.path.basename(core)}

# --- kernel -----------------------------------------------------------------
k = {}
k['uts_release'] = prog['init_uts_ns'].name.release.string_().decode()
try:
    vi = prog.read(prog['vmcoreinfo_data'].value_(), prog['vmcoreinfo_size'].value_()).rstrip(b'\0').decode()
    k['vmcoreinfo'] = vi.splitlines()
    m = re.search(r'^KERNELOFFSET=([0-9a-f]+)$', vi, re.M)
    if m:
        k['kaslr_offset'] = h(int(m.group(1), 16))
except Exception as e:
    k['vmcoreinfo_error'] = str(e)
for name in ('phys_base',):  # asm symbols without DWARF: read 8 bytes at the symbol
    try:
        k[name] = h(int.from_bytes(prog.read(prog.symbol(name).address, 8), 'little'))
    except (LookupError, FaultError):
        k[name] = None
for name in ('page_offset_base', 'vmalloc_base', 'vmemmap_base', '__pgtable_l5_enabled',
             'pgdir_shift', 'ptrs_per_p4d', 'sme_me_mask'):
    try:
        v = prog[name].value_()
        k[name] = h(v) if isinstance(v, int) and v > 0xffff else v
    except (KeyError, LookupError) as e:
        k.setdefault(name, None)
for name in ('_text', '_stext', '_etext', 'init_top_pgt', 'text_poke_array', 'ftrace_caller',
             'ftrace_regs_caller', 'ftrace_stub', '__start_BTF', '__stop_BTF', 'kallsyms_num_syms',
             'kallsyms_offsets', 'kallsyms_relative_base', 'kallsyms_names', 'kallsyms_markers',
             'kallsyms_token_table', 'kallsyms_token_index', 'kallsyms_seqs_of_names',
             '__start_orc_unwind_ip', '__stop_orc_unwind_ip', '__start_orc_unwind', '__stop_orc_unwind'):
    try:
        k.setdefault('symbols', {})[name] = h(prog.symbol(name).address)
    except LookupError:
        k.setdefault('symbols', {})[name] = None
res['kernel'] = k
stext = prog.symbol('_stext').address

# --- flag names from the kernel's own enums (DWARF) -------------------------
fl_names = [(n, v & 0xffffffffffffffff) for n, v in drgntruth.ftrace_fl_constants(prog)]
low = min(v for _, v in fl_names)
ref_mask = low - 1
ops_fl_names = []  # the enum is anonymous: look each enumerator up by name
for n in ('ENABLED', 'DYNAMIC', 'SAVE_REGS', 'SAVE_REGS_IF_SUPPORTED', 'RECURSION', 'STUB', 'INITIALIZED',
          'DELETED', 'ADDING', 'REMOVING', 'MODIFYING', 'ALLOC_TRAMP', 'IPMODIFY', 'PID', 'RCU', 'TRACE_ARRAY',
          'PERMANENT', 'DIRECT', 'SUBOP', 'GRAPH', 'JMP'):
    v = const('FTRACE_OPS_FL_' + n)
    if v is not None:
        ops_fl_names.append((n, v))
res['ftrace_flag_bits'] = {n: h(v) for n, v in fl_names}
res['ftrace_ref_mask'] = h(ref_mask)

# --- modules ----------------------------------------------------------------
mem_types = {}
try:
    for e in prog.type('enum mod_mem_type').enumerators:
        mem_types[e.value] = e.name
except LookupError:
    pass
mods = []
ranges = []
for mod in list_for_each_entry('struct module', prog['modules'].address_of_(), 'list'):
    m = {'name': mod.name.string_().decode(), 'struct_module': h(mod.value_()),
         'state': mod.state.format_(type_name=False)}
    m['mem'] = []
    for i, base, size, rox in drgntruth.mem_regions(mod):
        ent = {'type': mem_types.get(i, i), 'base': h(base), 'size': size}
        if rox is not None:
            ent['is_rox'] = rox
        m['mem'].append(ent)
        if size:
            ranges.append((base, base + size, m))
    m['sections'] = drgntruth.module_sections(mod, {})
    arch = {}
    at = mod.arch
    for mem in at.type_.members:
        arch[mem.name] = None
    if 'num_orcs' in arch:
        n = at.num_orcs.value_()
        arch['num_orcs'] = n
        arch['orc_unwind_ip'] = h(at.orc_unwind_ip.value_())
        arch['orc_unwind'] = h(at.orc_unwind.value_())
        arch['orc_unwind_ip_bytes'] = n * prog.type('int').size
        arch['orc_unwind_bytes'] = n * prog.type('struct orc_entry').size
        arch['orc_unwind_ip_sha256'] = hashlib.sha256(rd(at.orc_unwind_ip.value_(), n * 4) or b'').hexdigest() if n else None
    if 'its_pages' in arch:
        ip = at.its_pages
        try:
            num = ip.num.value_()
            pages = [ip.pages[j].value_() for j in range(num)]
            arch['its_pages'] = {'pages': h(ip.pages.value_()), 'num': num, 'page_addrs': [h(p) for p in pages],
                                 'page_bytes': [(rd(p, 4096) or b'').hex() for p in pages]}
        except AttributeError:
            arch['its_pages'] = 'struct its_array has no members (CONFIG_MITIGATION_ITS off)'
    m['arch'] = arch
    m['arch_type_layout'] = [{'name': mem.name, 'offset': mem.offset, 'type': str(mem.type)} for mem in at.type_.members]
    m['ftrace_records'] = []
    mods.append(m)
res['modules'] = mods


def mod_of(a):
    for lo, hi, m in ranges:
        if lo <= a < hi:
            return m
    return None


# --- ftrace records ---------------------------------------------------------
vml = []
nrec = 0
pg = prog['ftrace_pages_start']
rec_size = prog.type('struct dyn_ftrace').size
while pg:
    n = pg.index.value_()
    base = pg.records.value_()
    raw = prog.read(base, n * rec_size)
    for i in range(n):
        ip = int.from_bytes(raw[i * rec_size:i * rec_size + 8], 'little')
        flags = int.from_bytes(raw[i * rec_size + 8:i * rec_size + 16], 'little')
        nrec += 1
        m = mod_of(ip)
        if m is not None:
            b = rd(ip, 5)
            r = {'ip': h(ip), 'sym': sym(ip), 'flags': h(flags), 'refs': flags & ref_mask,
                 'flags_decoded': decode_flags(flags, fl_names)}
            r.update(insn5(ip, b))
            m['ftrace_records'].append(r)
        elif flags or all_records:
            b = rd(ip, 5)
            vml.append([h(ip), h(flags), b.hex() if b else None])
    pg = pg.next
res['ftrace_records_total'] = nrec
res['vmlinux_records_format'] = '[ip, flags, 5 bytes at ip] of every vmlinux record with flags != 0' + (' (all records)' if all_records else '')
res['vmlinux_records'] = vml
res['vmlinux_records_enabled'] = sum(1 for r in vml if int(r[1], 16) & dict(fl_names)['ENABLED'])
if len(vml) <= 2000:
    # few (a steady dump): the same decoded form as the module records
    dec = []
    for ip, fl, b in vml:
        ip, fl = int(ip, 16), int(fl, 16)
        r = {'ip': h(ip), 'sym': sym(ip), 'flags': h(fl), 'refs': fl & ref_mask, 'flags_decoded': decode_flags(fl, fl_names)}
        r.update(insn5(ip, bytes.fromhex(b) if b else None))
        dec.append(r)
    res['vmlinux_records_decoded'] = dec

# --- ftrace_ops -------------------------------------------------------------
ops_list = []
end = prog['ftrace_list_end'].address_of_().value_()
op = prog['ftrace_ops_list']
seen = 0
while op.value_() and op.value_() != end and seen < 1000:
    seen += 1
    o = {'addr': h(op.value_()), 'sym': sym(op.value_()), 'func': h(op.func.value_()), 'func_sym': sym(op.func.value_())}
    fl = op.flags.value_()
    o['flags'] = h(fl)
    o['flags_decoded'] = decode_flags(fl, ops_fl_names)
    t, ts = op.trampoline.value_(), op.trampoline_size.value_()
    o['trampoline'] = h(t)
    o['trampoline_sym'] = sym(t) if t else None
    o['trampoline_size'] = ts
    if t and ts:
        b = rd(t, ts)
        if b:
            o['trampoline_bytes'] = b.hex()
            o['ops_ptr_at_end'] = h(int.from_bytes(b[-8:], 'little'))
    try:
        o['direct_call'] = h(op.direct_call.value_())
        o['direct_call_sym'] = sym(op.direct_call.value_())
    except AttributeError:
        pass
    try:
        fh = op.func_hash
        if fh:
            o['filter_hash_count'] = fh.filter_hash.count.value_() if fh.filter_hash else 0
            o['notrace_hash_count'] = fh.notrace_hash.count.value_() if fh.notrace_hash else 0
    except (AttributeError, FaultError):
        pass
    ops_list.append(o)
    op = op.next
res['ftrace_ops'] = ops_list

f = {}
for name in ('ftrace_trace_function', 'function_trace_op'):
    try:
        v = prog[name].value_()
        f[name] = h(v)
        f[name + '_sym'] = sym(v)
    except (KeyError, LookupError):
        pass
for name in ('ftrace_call', 'ftrace_regs_call', 'ftrace_graph_call'):
    try:
        a = prog.symbol(name).address
        f[name] = dict(addr=h(a), **insn5(a, rd(a, 5)))
    except LookupError:
        pass
res['ftrace'] = f

# --- text_poke_array --------------------------------------------------------
try:
    tpa = prog['text_poke_array']
    n = tpa.nr_entries.value_()
    t = {'addr': h(tpa.address_), 'nr_entries': n, 'vec': []}
    for i in range(min(n, len(tpa.vec))):
        e = tpa.vec[i]
        rel = e.rel_addr.value_()
        a = (stext + rel) & 0xffffffffffffffff
        ln = e.len.value_()
        cur = rd(a, max(ln, 1))
        t['vec'].append({'i': i, 'rel_addr': rel, 'addr': h(a), 'sym': sym(a), 'disp': e.disp.value_(), 'len': ln,
                         'opcode': '0x%02x' % e.opcode.value_(), 'text': bytes(e.text.read_()).hex(),
                         'old': '0x%02x' % e.old.value_(), 'now': cur.hex() if cur else None})
    refs = prog['text_poke_array_refs']
    t['refs'] = {str(c): per_cpu(refs, c).counter.value_() for c in for_each_possible_cpu(prog)}
    res['text_poke_array'] = t
except (KeyError, LookupError) as e:
    res['text_poke_array'] = {'error': str(e)}

# --- kprobes ----------------------------------------------------------------
kp = []
# macros in include/linux/kprobes.h (7.2), not in DWARF
kp_fl_names = [('GONE', 1), ('DISABLED', 2), ('OPTIMIZED', 4), ('FTRACE', 8), ('ON_FUNC_ENTRY', 16)]
try:
    for p in drgntruth.for_each_kprobe(prog):
        a = p.addr.value_()
        b = rd(a, 1)
        kp.append({'addr': h(a), 'sym': sym(a), 'flags': p.flags.value_(),
                   'flags_decoded': decode_flags(p.flags.value_(), kp_fl_names), 'opcode': '0x%02x' % p.opcode.value_(),
                   'byte_at_addr': b.hex() if b else None, 'offset': p.offset.value_(),
                   'symbol_name': p.symbol_name.string_().decode() if p.symbol_name else None,
                   'pre_handler': sym(p.pre_handler.value_())})
except (KeyError, LookupError) as e:
    kp = {'error': str(e)}
res['kprobes'] = kp

# --- livepatch --------------------------------------------------------------
lp = {}
try:
    pats = []
    for p in list_for_each_entry('struct klp_patch', prog['klp_patches'].address_of_(), 'list'):
        pp = {'addr': h(p.value_()), 'mod': p.mod.name.string_().decode(), 'enabled': bool(p.enabled.value_()),
              'forced': bool(p.forced.value_()), 'objs': []}
        for ob in list_for_each_entry('struct klp_object', p.obj_list.address_of_(), 'node'):
            oo = {'name': ob.name.string_().decode() if ob.name else 'vmlinux', 'patched': bool(ob.patched.value_()),
                  'mod': ob.mod.name.string_().decode() if ob.mod else None, 'funcs': []}
            for fn in list_for_each_entry('struct klp_func', ob.func_list.address_of_(), 'node'):
                oo['funcs'].append({'old_name': fn.old_name.string_().decode(), 'old_func': h(fn.old_func.value_()),
                                    'old_sym': sym(fn.old_func.value_()), 'new_func': h(fn.new_func.value_()),
                                    'new_sym': sym(fn.new_func.value_()), 'old_size': fn.old_size.value_(),
                                    'new_size': fn.new_size.value_(), 'patched': bool(fn.patched.value_()),
                                    'transition': bool(fn.transition.value_())})
            pp['objs'].append(oo)
        pats.append(pp)
    lp['patches'] = pats
    kops = []
    for ko in list_for_each_entry('struct klp_ops', prog['klp_ops'].address_of_(), 'node'):
        fops = ko.fops
        funcs = [sym(fn.new_func.value_()) for fn in list_for_each_entry('struct klp_func', ko.func_stack.address_of_(), 'stack_node')]
        kops.append({'addr': h(ko.value_()), 'old_func': h(ko.old_func.value_()) if hasattr(ko, 'old_func') else None,
                     'fops': h(fops.address_of_().value_()), 'fops_func_sym': sym(fops.func.value_()),
                     'fops_trampoline': h(fops.trampoline.value_()), 'func_stack': funcs})
    lp['klp_ops'] = kops
except (KeyError, LookupError, AttributeError) as e:
    lp['error'] = '%s: %s' % (type(e).__name__, e)
res['livepatch'] = lp

# --- CPUs: the task on each CPU and its stack (drgn unwinds from the dump's
# PRSTATUS notes with ORC); the RIPs QEMU printed before the dump, symbolized
cpus = []
try:
    from drgn.helpers.linux.sched import cpu_curr
    from drgn.helpers.linux.cpumask import for_each_online_cpu
    for c in for_each_online_cpu(prog):
        t = cpu_curr(prog, c)
        e = {'cpu': c, 'task': h(t.value_()), 'pid': t.pid.value_(), 'comm': t.comm.string_().decode()}
        try:
            e['stack'] = [{'pc': h(fr.pc), 'sym': sym(fr.pc), 'name': fr.name, 'inline': fr.is_inline,
                           'interrupted': fr.interrupted, 'sp': h(fr.sp)}
                          for fr in prog.stack_trace(t)]
        except Exception as ex:
            e['stack_error'] = '%s: %s' % (type(ex).__name__, ex)
        cpus.append(e)
except Exception as ex:
    cpus = {'error': '%s: %s' % (type(ex).__name__, ex)}
res['cpus'] = cpus
if regs_file and os.path.exists(regs_file):
    res['cpus_by_rip'] = {h(int(r, 16)): sym(int(r, 16)) for r in re.findall(r'RIP=([0-9a-f]+)', open(regs_file).read())}

json.dump(res, open(out_path, 'w'), indent=1)
print('wrote %s: %d modules, %d records (%d vmlinux with flags), %d ops, text_poke_array.nr_entries=%s, %d kprobes' % (
    out_path, len(mods), nrec, len(vml), len(ops_list), res['text_poke_array'].get('nr_entries'),
    len(kp) if isinstance(kp, list) else -1))
