"""What the truth-drgn.py scripts of bench/ share (x86-corpus, arm64-corpus,
ppc64-build, crash-dumps, distro-dump): reading a vmcore with drgn the same
way in each of them.

Not installed anywhere: each script puts its own directory's sibling lib/
on sys.path (bench/lib/ in the repository; a copy of the script made for
a chroot takes a copy of this file to the same relative place) and
imports it. Everything that needs the program takes it (or an object of
it) as an argument; the scripts keep their own output formats.
"""
import os
import struct

import drgn
from drgn import FaultError, cast


# ---- program -------------------------------------------------------------
def open_program(core, vmlinux, moddir):
    """drgn.Program on core with the DWARF of vmlinux and of every .ko in
    moddir (used when their build IDs match); returns (prog, the
    MissingDebugInfoError or None)."""
    prog = drgn.Program()
    prog.set_core_dump(core)
    kos = []
    if moddir and os.path.isdir(moddir):
        kos = [os.path.join(moddir, f) for f in sorted(os.listdir(moddir)) if f.endswith('.ko')]
    try:
        prog.load_debug_info([vmlinux] + kos, default=False, main=False)
    except drgn.MissingDebugInfoError as e:
        return prog, e
    return prog, None


def sym(prog, addr):
    """"name" or "name+0xoff" of the symbol holding addr; None for 0 or none."""
    if not addr:
        return None
    try:
        s = prog.symbol(addr)
        off = addr - s.address
        return s.name + ('+0x%x' % off if off else '')
    except (LookupError, ValueError):
        return None


def sym_addr(prog, name):
    """the address of a symbol, None when there is none"""
    try:
        return prog.symbol(name).address
    except LookupError:
        return None


def rd(prog, addr, n):
    """n bytes at addr, None when they cannot be read"""
    try:
        return prog.read(addr, n)
    except FaultError:
        return None


def const(prog, name):
    """the value of an object (an enumerator) as an int, None when absent"""
    try:
        return int(prog[name].value_())
    except (KeyError, LookupError):
        return None


def has_member(t, name):
    try:
        t = t.unaliased()
        return any(m.name == name for m in t.members)
    except (AttributeError, TypeError):
        return False


def value_of(o, list_heads=False):
    """a member's value for JSON: integers (64-bit ones and pointers as hex
    strings: float64 readers would lose them), str() of anything else; with
    list_heads, a struct with next and prev as {next, prev, self}"""
    t = o.type_.unaliased()
    k = t.kind.name
    if k in ('INT', 'BOOL', 'ENUM'):
        v = int(o.value_())
        return '0x%x' % v if t.size == 8 else v
    if k == 'POINTER':
        return '0x%x' % o.value_()
    if list_heads and k == 'STRUCT' and has_member(t, 'next') and has_member(t, 'prev'):
        return {'next': '0x%x' % o.next.value_(), 'prev': '0x%x' % o.prev.value_(),
                'self': '0x%x' % o.address_of_().value_()}
    return str(o)


# ---- ftrace ----------------------------------------------------------------
# the dyn_ftrace flag bits of include/linux/ftrace.h (7.2; the same bits in
# 6.12, where the enum constants are not always in the DWARF)
FTRACE_FL_BITS = [('ENABLED', 31), ('REGS', 30), ('REGS_EN', 29), ('TRAMP', 28), ('TRAMP_EN', 27),
                  ('IPMODIFY', 26), ('DISABLED', 25), ('DIRECT', 24), ('DIRECT_EN', 23), ('CALL_OPS', 22),
                  ('CALL_OPS_EN', 21), ('TOUCHED', 20), ('MODIFIED', 19)]


def ftrace_fl_constants(prog):
    """[(NAME, value)] of the FTRACE_FL_NAME enumerators the DWARF has, in
    FTRACE_FL_BITS order"""
    out = []
    for n, _ in FTRACE_FL_BITS:
        try:
            out.append((n, int(prog.constant('FTRACE_FL_' + n).value_())))
        except (KeyError, LookupError, ValueError):
            pass
    return out


# ---- modules -----------------------------------------------------------------
def find_ko(dirname, name):
    """the .ko of module name in dirname ('-' in file names is '_' in module names)"""
    for f in os.listdir(dirname):
        if f.endswith('.ko') and f[:-3].replace('-', '_') == name:
            return os.path.join(dirname, f)
    return None


def module_sections(mod, secs):
    """mod->sect_attrs into secs: section name -> address ('0x%x'); <= 6.13:
    struct module_sect_attr {battr; address}, later the bin_attribute's
    ->private holds the address. Filled in place, so that what was read
    before a fault stays."""
    sa = mod.sect_attrs
    if sa:
        sa = cast('struct module_sect_attrs *', sa)
        if 'nsections' in [x.name for x in sa.type_.type.members]:
            for i in range(sa.nsections.value_()):
                at = sa.attrs[i]
                secs[at.battr.attr.name.string_().decode()] = '0x%x' % at.address.value_()
        else:
            ba = sa.grp.bin_attrs
            i = 0
            while ba[i]:
                secs[ba[i].attr.name.string_().decode()] = '0x%x' % ba[i].private.value_()
                i += 1
    return secs


def mem_regions(mod):
    """[(type index, base, size, is_rox or None when struct module_memory has
    no is_rox)] of mod->mem[]"""
    out = []
    for i in range(len(mod.mem)):
        mm = mod.mem[i]
        rox = bool(mm.is_rox.value_()) if has_member(mm.type_, 'is_rox') else None
        out.append((i, mm.base.value_(), mm.size.value_(), rox))
    return out


# ---- ppc64 ---------------------------------------------------------------------
def ppc64_branch_target(insn, addr):
    """target of a ppc64 I-form branch (b/bl/ba/bla) at addr, None for other words"""
    if (insn >> 26) != 18:
        return None
    off = insn & 0x03fffffc
    if off & 0x02000000:
        off -= 0x04000000
    return off if insn & 2 else (addr + off) & 0xffffffffffffffff


def ko_sections(path):
    """a little-endian ELF64 .ko: its bytes, its section headers (struct
    tuples: name, type, flags, addr, offset, size, link, info, addralign,
    entsize) and a function naming a section name offset"""
    d = open(path, 'rb').read()
    shoff, = struct.unpack_from('<Q', d, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', d, 0x3a)
    shs = [struct.unpack_from('<IIQQQQIIQQ', d, shoff + i * shentsize) for i in range(shnum)]
    strt = shs[shstrndx]

    def nm(o):
        b = d[strt[4] + o:]
        return b[:b.index(b'\0')].decode()
    return d, shs, nm


def relacmp_sorted(d, h):
    """the (r_info, r_addend) pairs of the SHT_RELA section h of .ko bytes d,
    sorted as the ppc64 loader's relacmp() sorts them: descending"""
    relas = [struct.unpack_from('<QQq', d, h[4] + r * 24)[1:] for r in range(h[5] // 24)]
    relas.sort(reverse=True)
    return relas


def patchable_function_entries(shs, nm):
    """the number of entries of a .ko's __patchable_function_entries (0
    without one)"""
    for h in shs[1:]:
        if nm(h[0]) == '__patchable_function_entries':
            return h[5] // 8
    return 0


def count_relocs(relas, rtype):
    """arch/powerpc/kernel/module_64.c count_relocs() over (r_info, r_addend)
    pairs already sorted as relacmp() sorts them, exactly: the caches are
    unsigned int and start at 0"""
    n, c_sym, c_add = 0, 0, 0
    for info, add in relas:
        if info & 0xffffffff == rtype and (c_sym != (info >> 32) or c_add != add):
            n += 1
            c_sym = (info >> 32) & 0xffffffff
            c_add = add & 0xffffffff
    return n


def ppc64_stub_slot(b):
    """the words of one struct ppc64_stub_entry: jump[7], magic, funcdata"""
    jump = struct.unpack_from('<7I', b, 0)
    magic, = struct.unpack_from('<I', b, 28)
    fd, = struct.unpack_from('<Q', b, 32)
    return jump, magic, fd


def ppc64_res_header(prog):
    """the first keys of the corpus truth (corpus-tools/truth-drgn.py)"""
    res = {'tool': 'drgn %s' % drgn.__version__, 'modules': []}
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
    return res


def ppc64_module(prog, mod, ko, kinfo, stub_size, has_ool=True, has_stub_count=True, on_slots=None):
    """one module of the corpus truth (corpus-tools/truth-drgn.py): struct
    module, mod->arch and its layout, mem[], sections, the .ko and
    get_stubs_size() as the caller computed it (kinfo), the .stubs bytes and
    slots, the OOL stub array decoded. on_slots(m, mod, slots, ool, ool_n,
    stubs), if given, adds to m right after the slots are read."""
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
    for i, base, size, rox in mem_regions(mod):
        m['mem'].append({'type': i, 'base': '0x%x' % base, 'size': size})
        if rox is not None:
            m['mem'][-1]['is_rox'] = rox
    m['sections'] = module_sections(mod, {})
    secs = m['sections']
    m['ko_file'] = os.path.basename(ko) if ko else None
    m['stubs_size_from_ko'] = kinfo
    stubs = int(secs.get('.stubs', '0x0'), 16)
    m['stubs_section_addr'] = '0x%x' % stubs
    ool = mod.arch.ool_stubs.value_() if has_ool else 0
    ool_n = mod.arch.ool_stub_count.value_() if has_ool else 0
    stub_count = mod.arch.stub_count.value_() if has_stub_count else 0
    if stubs:
        m['ool_stubs_minus_stubs_section'] = ool - stubs if ool else None
        m['ool_stubs_slot_index'] = (ool - stubs) / stub_size if ool else None
        size = kinfo['size'] if kinfo else max(stub_count * stub_size, (ool - stubs) + -(-ool_n * 24 // stub_size) * stub_size)
        try:
            raw = prog.read(stubs, size)
            m['stubs_raw_hex'] = raw.hex()
            m['stubs_raw_len'] = size
            slots = []
            for k in range(size // stub_size):
                jump, magic, fd = ppc64_stub_slot(raw[k * stub_size:(k + 1) * stub_size])
                slots.append({'index': k, 'addr': '0x%x' % (stubs + k * stub_size),
                              'jump': ['%08x' % j for j in jump], 'magic': '0x%08x' % magic,
                              'funcdata': '0x%x' % fd, 'funcdata_sym': sym(prog, fd)})
            m['stub_slots'] = slots
            if on_slots:
                on_slots(m, mod, slots, ool, ool_n, stubs)
        except FaultError as e:
            m['stubs_read_error'] = str(e)
    oo = []
    for i in range(ool_n):
        o = mod.arch.ool_stubs[i]
        try:
            op = o.ftrace_op.value_()
            ins = [int(x) for x in o.insn.read_()]
            a = o.address_of_().value_()
            call = ppc64_branch_target(ins[1], a + 8 + 4)
            ret = ppc64_branch_target(ins[3], a + 8 + 12)
            cslot = ((call - stubs) // stub_size) if (call is not None and stubs and stubs <= call < stubs + (kinfo['size'] if kinfo else 0)) else None
            oo.append({'index': i, 'addr': '0x%x' % a, 'ftrace_op': '0x%x' % op,
                       'call_target_stub_slot': cslot,
                       'call_target_stub_slot_offset': ((call - stubs) % stub_size) if cslot is not None else None,
                       'ftrace_op_sym': sym(prog, op), 'insn': ['%08x' % x for x in ins],
                       'call_target': '0x%x' % call if call is not None else None,
                       'call_target_sym': sym(prog, call) if call else None,
                       'return_target': '0x%x' % ret if ret is not None else None,
                       'func_sym': sym(prog, ret - 4) if ret else None})
        except FaultError as e:
            oo.append({'index': i, 'error': str(e)})
    m['ool_stubs_decoded'] = oo
    m['ool_ftrace_op_null_count'] = sum(1 for x in oo if x.get('ftrace_op') == '0x0')
    return m


def for_each_kprobe(prog):
    """every struct kprobe of kprobe_table"""
    from drgn.helpers.linux.list import hlist_for_each_entry
    table = prog['kprobe_table']
    for i in range(len(table)):
        yield from hlist_for_each_entry('struct kprobe', table[i].address_of_(), 'hlist')
