#!/usr/bin/env python3
"""truth.json for one bench/distro-dump dump: the guest's own truth (parsed
from console.log) and an independent reading of the dump by drgn 0.3.0,
cross-checked against each other. Runs inside the Debian sid chroot
(python3-drgn); make.sh calls it. Schema: README.md beside this file.

usage: truth-drgn.py --dump vmcore.elf --vmlinux VMLINUX --modules DBG_KO_DIR
                     --ko LOADED_KO_DIR --console console.log [--config CONFIG]
                     [--walker drgn|own] -o truth.json

Memory: the QEMU ELF dump has physical PT_LOADs only (p_vaddr 0) and no
VMCOREINFO note (pseries has no vmcoreinfo device). The VMCOREINFO text is
read out of the dump at the physical address the guest printed
(/sys/kernel/vmcoreinfo) and handed to drgn.Program(vmcoreinfo=...). drgn's
own ppc64 page-table walker (radix only) cannot read its top-level table
through itself ("recursive address translation"), so this script adds the
kernel linear map (0xc000000000000000 + physical, below VMALLOC_START) as a
memory segment; module addresses (vmalloc) are still translated by drgn's
radix walker. With --walker own (the default when the dump is hash MMU),
vmalloc addresses are translated by this script's own Linux page-table
walker (radix and hash, 4K and 64K geometries) instead, drgn providing only
types and symbols.

Everything about the module loader is feature-detected from the vmlinux
DWARF (struct module has mem[] or core_layout; mod_arch_specific has
stub_count / ool_stubs or neither; PCREL got_section), never from the
version string.
"""
import argparse, functools, json, os, re, struct, sys

import drgn
from drgn import FaultError
from drgn.helpers.linux.list import list_for_each_entry

# the shared helpers: bench/lib beside this script's directory (or the copy
# of it that make.sh puts beside the copy of this script in the chroot)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import drgntruth  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--dump', required=True)
ap.add_argument('--vmlinux', required=True)
ap.add_argument('--modules', required=True, help='directory of the DWARF .ko files (debug info)')
ap.add_argument('--ko', required=True, help='directory of the .ko files the guest loaded (stripped)')
ap.add_argument('--console', required=True)
ap.add_argument('--config')
ap.add_argument('--walker', choices=['drgn', 'own'])
ap.add_argument('-o', '--out', required=True)
a = ap.parse_args()

LINEAR = 0xc000000000000000
STUB_MAGIC = 0x73747562


def hx(v):
    return None if v is None else '0x%x' % v


# --------------------------------------------------------------------------
# the guest's truth, from console.log
# --------------------------------------------------------------------------
def parse_console(path):
    tags = {}
    raw = open(path, 'rb').read().decode('utf-8', 'replace').replace('\r', '')
    lines = raw.split('\n')
    for l in lines:
        m = re.match(r'^([a-z_]+)\| ?(.*)$', l)
        if m:
            tags.setdefault(m.group(1), []).append(m.group(2))
    g = {'init_log': [l for l in lines if l.startswith('kdi-init: ')],
         'errors': [l for l in lines if l.startswith('KDI-ERROR')]}
    g['proc_version'] = (tags.get('uname') or [None])[0]
    g['utsname'] = (tags.get('utsname') or [None])[0]
    g['cmdline'] = (tags.get('cmdline') or [None])[0]
    mods = []
    for l in tags.get('modules', []):
        f = l.split()
        mods.append({'name': f[0], 'size': int(f[1]), 'refcnt': int(f[2]), 'used_by': f[3],
                     'state': f[4], 'base': f[5]})
    g['proc_modules'] = mods
    secs = {}
    for l in tags.get('sections', []):
        m, s, v = l.split()
        secs.setdefault(m, {})[s] = '0x%x' % int(v, 16)
    g['sections'] = secs
    g['enabled_functions'] = tags.get('enabled_functions', [])
    g['set_ftrace_filter'] = tags.get('set_ftrace_filter', [])
    g['kprobe_events'] = tags.get('kprobe_events', [])
    g['kprobes_list'] = tags.get('kprobes_list', [])
    g['kallsyms_vmlinux'] = {}
    for l in tags.get('kallsyms_vmlinux', []):
        f = l.split()
        if f[0] != '-':
            g['kallsyms_vmlinux'].setdefault(f[2], []).append({'addr': '0x' + f[0].lstrip('0') if f[0].strip('0') else '0x0', 'type': f[1]})
    g['kallsyms_vmlinux_absent'] = [l.split()[2] for l in tags.get('kallsyms_vmlinux', []) if l.startswith('- ')]
    g['kallsyms_modules_count'] = len(tags.get('kallsyms_modules', []))
    g['config_guest'] = tags.get('config', [])
    g['touched_functions'] = tags.get('touched_functions', [])
    g['filter_addrs'] = tags.get('filter_addrs', [])
    g['trace_tail'] = tags.get('trace', [])
    g['kcore_loads'] = tags.get('kcore_loads', [])
    g['vmalloc_modules'] = tags.get('vmalloc_modules', [])
    va = (tags.get('vmcoreinfo_addr') or [''])[0].split()
    g['vmcoreinfo_addr'] = {'paddr': '0x%x' % int(va[0], 16), 'size': '0x%x' % int(va[1], 16)} if len(va) == 2 else None
    g['vmcoreinfo_guest'] = tags.get('vmcoreinfo', [])
    # .stubs bytes read by the guest from /proc/kcore
    stubs = {}
    for l in tags.get('stubs', []):
        f = l.split()
        name = f[0]
        if len(f) > 1 and f[1].startswith('.stubs='):
            m = re.match(r'(\S+) \.stubs=(\S+) bound=(\S+) \((.*)\) len=(\d+)', l)
            stubs[name] = {'stubs_addr': m.group(2), 'bound': m.group(3), 'bound_by': m.group(4),
                           'len': int(m.group(5)), 'slots': [], 'zero_runs': []}
        elif f[1] == 'zero':
            i0, i1 = f[2].split('-')
            s0, s1 = f[3].split('-')
            stubs[name]['zero_runs'].append({'slots': [int(i0), int(i1)], 'addr': s0, 'end': s1})
        elif f[1] in ('error', 'no'):
            stubs.setdefault(name, {})['error'] = ' '.join(f[1:])
        else:
            stubs[name]['slots'].append({'index': int(f[1]), 'addr': f[2], 'hex': f[3]})
    g['stubs_kcore'] = stubs
    sites = []
    for l in tags.get('sites', []):
        f = l.split()
        if len(f) == 4 and re.fullmatch(r'[0-9a-f]+', f[3]):
            sites.append({'module': f[0], 'function': f[1], 'addr': f[2], 'from': hx(int(f[2], 16) - 16), 'hex': f[3]})
        else:
            sites.append({'module': f[0], 'function': f[1], 'error': ' '.join(f[2:])})
    g['sites_kcore'] = sites
    return g


def stubs_kcore_bytes(st):
    """the guest's .stubs bytes (zero runs expanded)"""
    b = bytearray()
    items = [(s['index'], bytes.fromhex(s['hex'])) for s in st.get('slots', [])]
    for z in st.get('zero_runs', []):
        for i in range(z['slots'][0], z['slots'][1] + 1):
            items.append((i, None))
    items.sort(key=lambda x: x[0])
    total = st.get('len', 0)
    for i, d in items:
        if d is None:
            d = bytes(min(40, total - i * 40))
        b += d
    return bytes(b)


guest = parse_console(a.console)

# --------------------------------------------------------------------------
# the dump: PT_LOADs, VMCOREINFO
# --------------------------------------------------------------------------
df = open(a.dump, 'rb')
eh = df.read(64)
assert eh[:4] == b'\x7fELF' and eh[4] == 2, 'not an ELF64 dump'
E = '<' if eh[5] == 1 else '>'
phoff, = struct.unpack_from(E + 'Q', eh, 0x20)
phentsize, phnum = struct.unpack_from(E + 'HH', eh, 0x36)
loads, notes = [], []
for i in range(phnum):
    df.seek(phoff + i * phentsize)
    p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align = struct.unpack(E + 'IIQQQQQQ', df.read(56))
    if p_type == 1:
        loads.append((p_paddr, p_filesz, p_offset, p_vaddr))
    elif p_type == 4:
        df.seek(p_offset)
        notes.append(df.read(p_filesz))


def pread(pa, n):
    for base, size, off, _ in loads:
        if base <= pa and pa + n <= base + size:
            df.seek(off + pa - base)
            return df.read(n)
    raise FaultError('physical address not in the dump', pa)


elf_notes = []
for d in notes:
    o = 0
    while o + 12 <= len(d):
        nsz, dsz, typ = struct.unpack_from(E + 'III', d, o)
        name = d[o + 12:o + 12 + nsz].rstrip(b'\0').decode(errors='replace')
        elf_notes.append({'name': name, 'type': typ, 'descsz': dsz})
        o += 12 + ((nsz + 3) & ~3) + ((dsz + 3) & ~3)

vmci_pa = int(guest['vmcoreinfo_addr']['paddr'], 16)
vmci_size = int(guest['vmcoreinfo_addr']['size'], 16)
note = pread(vmci_pa, vmci_size)
namesz, descsz, _ = struct.unpack_from('<III', note, 0)
assert note[12:12 + namesz].rstrip(b'\0') == b'VMCOREINFO', 'no VMCOREINFO note at %#x' % vmci_pa
o = 12 + ((namesz + 3) & ~3)
vmcoreinfo = note[o:o + descsz]
vmci = dict(l.split('=', 1) for l in vmcoreinfo.decode().splitlines() if '=' in l)
page_size = int(vmci['PAGESIZE'])

# --------------------------------------------------------------------------
# drgn
# --------------------------------------------------------------------------
prog = drgn.Program(vmcoreinfo=vmcoreinfo)
prog.set_core_dump(a.dump)
ram_end = max(b + s for b, s, _, _ in loads if b < (1 << 44))


def linear_reader(address, count, offset, physical):
    return pread(offset, count)


prog.add_memory_segment(LINEAR, ram_end, linear_reader)
# drgn adds physical segments only when some p_paddr is non-zero; QEMU's
# single PT_LOAD starts at physical 0, so add them (the radix walker reads
# the lower page-table levels physically)
prog.add_memory_segment(0, ram_end, lambda address, count, offset, physical: pread(address, count), True)
kos = sorted(os.path.join(a.modules, f) for f in os.listdir(a.modules) if f.endswith('.ko'))
# vmlinux first (the MMU type decides who translates vmalloc addresses),
# the modules' debug info once module memory is readable
prog.load_debug_info([a.vmlinux])

mmu_features = prog['cur_cpu_spec'].mmu_features.value_()
radix = bool(mmu_features & 0x40)
walker = a.walker or ('drgn' if radix else 'own')

if walker == 'own':
    # Linux kernel page tables (book3s64), entries big-endian; index bits
    # (PTE, PMD, PUD, PGD) from arch/powerpc/include/asm/book3s/64/
    # {radix,hash}-{4k,64k}.h
    IDX = {(True, 65536): [5, 9, 9, 13], (True, 4096): [9, 9, 9, 13],
           (False, 65536): [8, 10, 10, 8], (False, 4096): [9, 7, 9, 9]}[(radix, page_size)]
    PAGE_SHIFT = page_size.bit_length() - 1
    swapper = int(vmci['SYMBOL(swapper_pg_dir)'], 16)
    MASKED = 0xc0000000000000ff
    RPN = ((1 << 53) - 1) & ~(page_size - 1)

    def translate(va):
        shifts = [PAGE_SHIFT, PAGE_SHIFT + IDX[0], PAGE_SHIFT + IDX[0] + IDX[1], PAGE_SHIFT + IDX[0] + IDX[1] + IDX[2]]
        table = swapper - LINEAR
        for level in (3, 2, 1, 0):
            idx = (va >> shifts[level]) & ((1 << IDX[level]) - 1)
            e, = struct.unpack('>Q', pread(table + idx * 8, 8))
            if not e & 0x8000000000000000:
                raise FaultError('not present at level %d (entry %#x)' % (level, e), va)
            if level == 0 or e & 0x4000000000000000:
                span = 1 << shifts[level]
                return (e & RPN & ~(span - 1)) | (va & (span - 1))
            table = e & ~MASKED
        raise AssertionError

    def vmalloc_reader(address, count, offset, physical):
        buf = bytearray()
        va = address
        while count:
            n = min(count, page_size - (va & (page_size - 1)))
            buf += pread(translate(va), n)
            va += n
            count -= n
        return bytes(buf)

    vm_start = int(vmci.get('NUMBER(VMALLOC_START)', '0xc008000000000000'), 0)
    prog.add_memory_segment(vm_start, (1 << 60) - (vm_start - LINEAR), vmalloc_reader)


try:
    prog.load_debug_info(kos)
except drgn.MissingDebugInfoError as e:
    print('debug info warning:', str(e)[:500], file=sys.stderr)


def u32(addr):
    return struct.unpack('<I', prog.read(addr, 4))[0]


def u64(addr):
    return struct.unpack('<Q', prog.read(addr, 8))[0]


sym = functools.partial(drgntruth.sym, prog)
sym_addr = functools.partial(drgntruth.sym_addr, prog)
has_member = drgntruth.has_member


def sizeof_or_none(t):
    try:
        return drgn.sizeof(t)
    except Exception:  # noqa
        return None


value_of = functools.partial(drgntruth.value_of, list_heads=True)


# kernel facts
res = {'tool': 'drgn %s (%s)' % (drgn.__version__, 'drgn radix page-table walker for vmalloc, linear map added as 0xc000000000000000+pa'
                               if walker == 'drgn' else "this script's own page-table walker for vmalloc, drgn for types/symbols"),
       'dump': os.path.basename(a.dump),
       'elf': {'endianness': 'little' if E == '<' else 'big', 'pt_loads': [{'paddr': hx(b), 'size': hx(s), 'vaddr': hx(v)} for b, s, _, v in loads],
               'notes': elf_notes},
       'vmcoreinfo': {'paddr': hx(vmci_pa), 'size': hx(vmci_size), 'source': 'read from the dump at the guest-printed /sys/kernel/vmcoreinfo address',
                      'text': vmcoreinfo.decode().splitlines()}}
kernel = {'uts_release': prog['init_uts_ns'].name.release.string_().decode(),
          'uts_version': prog['init_uts_ns'].name.version.string_().decode(),
          'page_size': page_size, 'mmu': 'radix' if radix else 'hash',
          'cur_cpu_spec_mmu_features': hx(mmu_features)}
for s in ('_stext', '_etext', 'ftrace_caller', 'ftrace_regs_caller', '_mcount', 'ftrace_stub', 'ftrace_nop_ops',
          'ftrace_list_ops', 'kprobe_ftrace_ops', 'kprobe_ipmodify_ops', 'global_ops', 'ftrace_tramp_text', 'ftrace_tramp_init',
          'modules', 'init_uts_ns', '__start_BTF', '__stop_BTF', 'swapper_pg_dir', 'kallsyms_num_syms', 'kallsyms_offsets',
          'kallsyms_relative_base', 'kallsyms_names', 'kallsyms_markers', 'kallsyms_token_table', 'kallsyms_token_index',
          'kallsyms_seqs_of_names', 'kallsyms_addresses'):
    kernel.setdefault('symbols', {})[s] = hx(sym_addr(s))
try:
    nr = prog['nr_cpu_ids'].value_()
    kernel['nr_cpu_ids'] = nr
    kernel['paca'] = []
    for c in range(nr):
        p = prog['paca_ptrs'][c]
        kernel['paca'].append({'cpu': c, 'paca': hx(p.value_()), 'kernel_toc': hx(p.kernel_toc.value_()),
                               'kernelbase': hx(p.kernelbase.value_()) if has_member(p.type_.type, 'kernelbase') else None})
    kernel_toc = prog['paca_ptrs'][0].kernel_toc.value_()
    kernel['paca_kernel_toc_offset'] = drgn.offsetof(prog.type('struct paca_struct'), 'kernel_toc')
except Exception as e:  # noqa
    kernel['paca_error'] = str(e)
    kernel_toc = None

# layout facts, feature-detected
modt = prog.type('struct module')
archt = prog.type('struct mod_arch_specific')
feat = {'module_mem_array': has_member(modt, 'mem'), 'module_core_layout': has_member(modt, 'core_layout'),
        'arch_stub_count': has_member(archt, 'stub_count'), 'arch_ool_stubs': has_member(archt, 'ool_stubs'),
        'arch_pcrel_got_section': has_member(archt, 'got_section'), 'arch_tramp_regs': has_member(archt, 'tramp_regs'),
        'ftrace_regs_caller_symbol': sym_addr('ftrace_regs_caller') is not None,
        'stub_entry_size': prog.type('struct ppc64_stub_entry').size}
if feat['arch_stub_count']:
    feat['stubs_generation'] = 'c: stub_count counter (no terminator entry)'
elif feat['arch_ool_stubs']:
    feat['stubs_generation'] = 'b: out-of-line ftrace stubs + sentinel loop'
else:
    feat['stubs_generation'] = 'a: sentinel loader (first zero funcdata ends the scan; one extra 0-terminator entry reserved)'
kernel['features'] = feat
res['kernel'] = kernel
STUB_SIZE = feat['stub_entry_size']

# ftrace flag bits: from DWARF when the enum constants are there, else
# include/linux/ftrace.h (same values in 6.1 and 6.12 for the common bits)
flbits, fl_source = dict(drgntruth.ftrace_fl_constants(prog)), 'dwarf'
if not flbits:
    fl_source = 'include/linux/ftrace.h table (enum constants not in DWARF)'
    flbits = {n: 1 << b for n, b in drgntruth.FTRACE_FL_BITS}
    # the low bits are the reference count: FTRACE_REF_MAX_SHIFT is 23 before
    # CALL_OPS (6.1), 19 with CALL_OPS/TOUCHED/MODIFIED (6.12, 7.x); feature-
    # detect by the fields those kernels added with them
    if not sym_addr('ftrace_touched_open'):
        for n in ('CALL_OPS', 'CALL_OPS_EN', 'TOUCHED', 'MODIFIED'):
            flbits.pop(n)
ref_shift = min(v.bit_length() - 1 for v in flbits.values())
res['ftrace_flag_bits'] = {'source': fl_source, 'bits': {n: hx(v) for n, v in flbits.items()}, 'ref_mask': hx((1 << ref_shift) - 1)}


def decode_flags(f):
    return [n for n, v in sorted(flbits.items(), key=lambda x: -x[1]) if f & v]


# --------------------------------------------------------------------------
# get_stubs_size() from the .ko, as arch/powerpc/kernel/module_64.c does
# --------------------------------------------------------------------------
ko_sections = drgntruth.ko_sections


def get_stubs_size(path):
    d, shs, nm = ko_sections(path)
    R_PPC64_REL24, R_PPC64_REL24_NOTOC = 10, 116

    # relacmp() swaps its arguments: descending (r_info, r_addend)
    count_relocs = drgntruth.count_relocs
    per_sec = {}
    rel24 = 0
    for h in shs[1:]:
        if h[1] == 4:  # SHT_RELA
            relas = drgntruth.relacmp_sorted(d, h)
            c = count_relocs(relas, R_PPC64_REL24)
            if feat['arch_pcrel_got_section']:
                c += count_relocs(relas, R_PPC64_REL24_NOTOC)
            if c:
                per_sec[nm(h[0])] = c
            rel24 += c
    pfe = drgntruth.patchable_function_entries(shs, nm)
    ftrace_tramps = (1 if sym_addr('ftrace_caller') else 0) + (1 if feat['arch_tramp_regs'] and feat['ftrace_regs_caller_symbol'] else 0)
    if feat['arch_stub_count']:
        terminator = 0
    else:
        terminator = 1
    ool_slots = -(-pfe * 24 // STUB_SIZE) if feat['arch_ool_stubs'] else 0
    total = terminator + rel24 + ftrace_tramps + ool_slots
    return {'generation': feat['stubs_generation'], 'terminator_entries': terminator, 'rel24_stub_candidates': rel24,
            'rel24_per_rela_section': per_sec, 'ftrace_tramp_slots': ftrace_tramps,
            'patchable_function_entries': pfe, 'ool_slots': ool_slots, 'total_slots': total,
            'size': total * STUB_SIZE}


def loader_replica(path):
    """the order in which the sentinel loader creates stubs: relocation
    sections in index order (target SHF_ALLOC, not SHF_RELA_LIVEPATCH),
    within each the sorted (descending) order, one stub per new undefined
    REL24 target; then module_finalize_ftrace(): ftrace_caller, ftrace_regs_caller."""
    d, shs, nm = ko_sections(path)
    symtab = [h for h in shs if h[1] == 2][0]
    strtab = shs[symtab[6]]
    syms = []
    for i in range(symtab[5] // 24):
        st_name, st_info, st_other, st_shndx, st_value, st_size = struct.unpack_from('<IBBHQQ', d, symtab[4] + i * 24)
        b = d[strtab[4] + st_name:]
        syms.append((b[:b.index(b'\0')].decode(), st_shndx))
    order = []
    for h in shs[1:]:
        if h[1] != 4 or not (shs[h[7]][2] & 2) or (h[2] & 0x00100000):
            continue
        for info, add in drgntruth.relacmp_sorted(d, h):
            if info & 0xffffffff != 10:
                continue
            name, shndx = syms[info >> 32]
            if shndx != 0:
                continue
            name = name.lstrip('.')
            key = (name, add)
            if key not in order:
                order.append(key)
    names = []
    for n, add in order:
        names.append(n + ('+%d' % add if add else ''))
    # stub_for_addr() reuses a slot whose funcdata equals the target
    uniq = []
    for n in names:
        if n not in uniq:
            uniq.append(n)
    uniq += ['ftrace_caller'] + (['ftrace_regs_caller'] if feat['arch_tramp_regs'] else [])
    return uniq


# --------------------------------------------------------------------------
# instructions
# --------------------------------------------------------------------------
branch_target = drgntruth.ppc64_branch_target


def insn_name(w, addr):
    if w == 0x60000000:
        return 'nop'
    if w == 0x7c0802a6:
        return 'mflr r0'
    if w == 0xf8010010:
        return 'std r0,16(r1)'
    if w == 0xe8410018:
        return 'ld r2,24(r1)'
    if w == 0x60420000:
        return 'ori r2,r2,0'
    if (w & 0xffff0000) == 0x3c4c0000:
        return 'addis r2,r12,%d' % signed16(w & 0xffff)
    if (w & 0xffff0000) == 0x38420000:
        return 'addi r2,r2,%d' % signed16(w & 0xffff)
    t = branch_target(w, addr)
    if t is not None:
        return ('bl ' if w & 1 else 'b ') + hx(t)
    return None


def signed16(v):
    return v - 0x10000 if v & 0x8000 else v


def classify_slot(addr, jump, magic, fd):
    """kind of a ppc64_stub_entry from its instruction words"""
    if not any(jump) and not magic and not fd:
        return {'kind': 'zero'}
    j = jump
    # module-TOC call stub (ELFv2): addis r11,r2,HA; addi r11,r11,LO; std r2,24(r1); ld r12,32(r11); mtctr r12; bctr
    if (j[0] & 0xffff0000) == 0x3d620000 and (j[1] & 0xffff0000) == 0x396b0000 and j[2] == 0xf8410018 \
            and j[3] == 0xe98b0020 and j[4] == 0x7d8903a6 and j[5] == 0x4e800420:
        rel = (signed16(j[0] & 0xffff) << 16) + signed16(j[1] & 0xffff)
        r2 = (addr - rel) & 0xffffffffffffffff
        return {'kind': 'call', 'template': 'addis r11,r2,HA; addi r11,r11,LO; std r2,24(r1); ld r12,32(r11); mtctr r12; bctr',
                'r11_points_to_entry': True, 'module_r2': hx(r2), 'target': hx(fd), 'target_sym': sym(fd)}
    # ftrace stub: ld r12,PACATOC(r13); addis r12,r12,HA; addi r12,r12,LO; mtctr r12; bctr
    if (j[0] & 0xffff0000) == 0xe98d0000 and (j[1] & 0xffff0000) == 0x3d8c0000 and (j[2] & 0xffff0000) == 0x398c0000 \
            and j[3] == 0x7d8903a6 and j[4] == 0x4e800420:
        rel = (signed16(j[1] & 0xffff) << 16) + signed16(j[2] & 0xffff)
        out = {'kind': 'ftrace', 'template': 'ld r12,%d(r13); addis r12,r12,HA; addi r12,r12,LO; mtctr r12; bctr' % (j[0] & 0xffff),
               'paca_offset': j[0] & 0xffff, 'kernel_toc_relative': rel}
        if kernel_toc is not None:
            t = (kernel_toc + rel) & 0xffffffffffffffff
            out['target'] = hx(t)
            out['target_sym'] = sym(t)
            out['target_equals_funcdata'] = t == fd
        return out
    return {'kind': 'other'}


# --------------------------------------------------------------------------
# dyn_ftrace records
# --------------------------------------------------------------------------
dynt = prog.type('struct dyn_ftrace')
dyn_size = dynt.size
dyn_off_ip = drgn.offsetof(dynt, 'ip')
dyn_off_flags = drgn.offsetof(dynt, 'flags')
dyn_has_mod = has_member(dynt, 'arch') and has_member(prog.type('struct dyn_arch_ftrace'), 'mod')
dyn_off_mod = drgn.offsetof(dynt, 'arch') if dyn_has_mod else None
records = []
pg = prog['ftrace_pages_start']
npages = 0
while pg.value_():
    idx = pg.index.value_()
    base = pg.records.value_()
    if idx:
        blob = prog.read(base, idx * dyn_size)
        for i in range(idx):
            o = i * dyn_size
            ip, = struct.unpack_from('<Q', blob, o + dyn_off_ip)
            fl, = struct.unpack_from('<Q', blob, o + dyn_off_flags)
            md = struct.unpack_from('<Q', blob, o + dyn_off_mod)[0] if dyn_has_mod else None
            records.append((ip, fl, md, base + o))
    pg = pg.next
    npages += 1
res['ftrace'] = {'pages': npages, 'records': len(records), 'dyn_ftrace_size': dyn_size,
                 'dyn_ftrace_arch_mod': dyn_has_mod}


def site_words(ip):
    out = {}
    for d in (-8, -4, 0):
        try:
            w = u32(ip + d)
            out['%+d' % d if d else '0'] = {'word': '%08x' % w, 'insn': insn_name(w, ip + d)}
        except FaultError as e:
            out['%+d' % d if d else '0'] = {'error': str(e)}
    return out


def record_json(ip, fl, md, addr, stubs_addr=None, stubs_size=0, slot_kind=None):
    r = {'ip': hx(ip), 'sym': sym(ip), 'record': hx(addr), 'flags': hx(fl), 'refcount': fl & ((1 << ref_shift) - 1),
         'flag_names': decode_flags(fl)}
    if dyn_has_mod:
        r['arch_mod'] = hx(md)
    r['site'] = site_words(ip)
    w = r['site']['0'].get('word')
    if w is not None:
        t = branch_target(int(w, 16), ip)
        if t is not None:
            r['call_target'] = hx(t)
            r['call_target_sym'] = sym(t)
            if stubs_addr and stubs_addr <= t < stubs_addr + stubs_size:
                r['call_target_stub_slot'] = (t - stubs_addr) // STUB_SIZE
                r['call_target_stub_offset'] = (t - stubs_addr) % STUB_SIZE
                if slot_kind:
                    r['call_target_slot_funcdata_sym'] = slot_kind.get((t - stubs_addr) // STUB_SIZE)
    return r


# --------------------------------------------------------------------------
# modules
# --------------------------------------------------------------------------
find_ko = drgntruth.find_ko

res['modules'] = []
all_ranges = []
for mod in list_for_each_entry('struct module', prog['modules'].address_of_(), 'list'):
    m = {}
    name = mod.name.string_().decode()
    m['name'] = name
    m['struct_module'] = hx(mod.value_())
    m['state'] = mod.state.format_(type_name=False)
    # memory
    ranges = []
    if feat['module_mem_array']:
        m['mem'] = []
        for i, base, size, rox in drgntruth.mem_regions(mod):
            e = {'type': i, 'base': hx(base), 'size': size}
            if rox is not None:
                e['is_rox'] = rox
            m['mem'].append(e)
            if base:
                ranges.append((base, size))
        m['base'] = m['mem'][0]['base']
    if feat['module_core_layout']:
        for lay in ('core_layout', 'init_layout'):
            lo = getattr(mod, lay)
            m[lay] = {f.name: (hx(getattr(lo, f.name).value_()) if f.name == 'base' else getattr(lo, f.name).value_())
                      for f in lo.type_.unaliased().members if f.name in ('base', 'size', 'text_size', 'ro_size', 'ro_after_init_size')}
            if lo.base.value_():
                ranges.append((lo.base.value_(), lo.size.value_()))
        m['base'] = m['core_layout']['base']
    # mod->arch
    arch = {}
    for mem in mod.arch.type_.unaliased().members:
        arch[mem.name] = value_of(getattr(mod.arch, mem.name))
    m['arch'] = arch
    m['arch_type_layout'] = [{'name': mem.name, 'offset': mem.offset, 'size': sizeof_or_none(mem.type),
                              'type': str(mem.type).split('\n')[0].rstrip(' {')} for mem in mod.arch.type_.unaliased().members]
    m['arch_type_size'] = mod.arch.type_.size
    # sections from mod->sect_attrs
    secs = drgntruth.module_sections(mod, {})
    m['sections'] = secs
    ko = find_ko(a.ko, name)
    m['ko_file'] = os.path.basename(ko) if ko else None
    stubs = int(secs.get('.stubs', '0x0'), 16)
    m['stubs_section_addr'] = hx(stubs)
    kinfo = get_stubs_size(ko) if ko else None
    m['stubs_size_from_ko'] = kinfo
    stubs_size = kinfo['size'] if kinfo else 0
    slot_sym = {}
    if stubs and stubs_size:
        raw = prog.read(stubs, stubs_size)
        m['stubs_raw_hex'] = raw.hex()
        m['stubs_raw_len'] = stubs_size
        slots = []
        first_zero = None
        for k in range(stubs_size // STUB_SIZE):
            b = raw[k * STUB_SIZE:(k + 1) * STUB_SIZE]
            jump, magic, fd = drgntruth.ppc64_stub_slot(b)
            sl = {'index': k, 'addr': hx(stubs + k * STUB_SIZE), 'jump': ['%08x' % j for j in jump],
                  'magic': '0x%08x' % magic, 'magic_ok': magic == STUB_MAGIC, 'funcdata': hx(fd), 'funcdata_sym': sym(fd)}
            sl.update(classify_slot(stubs + k * STUB_SIZE, jump, magic, fd))
            if fd == 0 and first_zero is None:
                first_zero = k
            slot_sym[k] = sym(fd)
            slots.append(sl)
        m['stub_slots'] = slots
        m['sentinel_first_zero_funcdata_slot'] = first_zero
        m['used_slots'] = first_zero if first_zero is not None else len(slots)
        for key in ('tramp', 'tramp_regs'):
            v = int(arch.get(key, '0x0'), 16) if isinstance(arch.get(key), str) else 0
            if v:
                m[key + '_slot'] = (v - stubs) // STUB_SIZE if stubs <= v < stubs + stubs_size else None
        if ko and not feat['arch_stub_count'] and not feat['arch_ool_stubs']:
            want = loader_replica(ko)
            got = [int(sl['funcdata'], 16) for sl in slots[:m['used_slots']]]
            # compare addresses (a .ko may call an alias: __crc32c_le = __crc32c_le_base)
            want_addr = []
            for n in want:
                base, _, add = n.partition('+')
                addr = sym_addr(base)
                want_addr.append(addr + int(add or 0) if addr is not None else None)
            m['loader_replica'] = {'expected_targets': want, 'expected_addrs': [hx(x) for x in want_addr],
                                   'match': want_addr == got}
    # guest's kcore view of .stubs
    gst = guest['stubs_kcore'].get(name)
    if gst and 'slots' in gst and stubs_size:
        gb = stubs_kcore_bytes(gst)
        m['check_stubs_vs_guest_kcore'] = gb[:stubs_size] == bytes.fromhex(m.get('stubs_raw_hex', ''))
        rest = gb[stubs_size:]
        m['guest_bytes_after_stubs_size'] = {'len': len(rest), 'all_zero': not any(rest)}
    # ftrace records in this module
    recs = []
    for ip, fl, md, ra in records:
        if any(b <= ip < b + s for b, s in ranges) or (dyn_has_mod and md == mod.value_()):
            recs.append(record_json(ip, fl, md, ra, stubs, stubs_size, slot_sym))
    all_ranges += ranges
    m['ftrace_records'] = recs
    m['ftrace_records_enabled'] = sum(1 for r in recs if 'ENABLED' in r['flag_names'])
    shp = {}
    for r in recs:
        st = r['site']
        n8 = st['-8'].get('insn')
        n8 = n8 if n8 in ('mflr r0', 'std r0,16(r1)', 'nop') else ('unmapped' if 'error' in st['-8'] else 'X')
        n4 = st['-4'].get('insn') or st['-4'].get('word') or 'unmapped'
        n0 = st['0'].get('insn') or st['0'].get('word') or 'unmapped'
        if n0.startswith('bl '):
            n0 = 'bl slot %s (%s)' % (r.get('call_target_stub_slot'), r.get('call_target_slot_funcdata_sym'))
        k = '%s ; %s ; %s ; %s' % (n8, n4, n0, ','.join(r['flag_names']) or '-')
        shp[k] = shp.get(k, 0) + 1
    m['ftrace_site_shapes'] = dict(sorted(shp.items(), key=lambda x: -x[1]))
    res['modules'].append(m)

# vmlinux records that are enabled / referenced
res['ftrace']['vmlinux_records_with_refs'] = [record_json(ip, fl, md, ra) for ip, fl, md, ra in records
                                             if (fl & ((1 << ref_shift) - 1) or fl & flbits.get('ENABLED', 0))
                                             and not any(b <= ip < b + s for b, s in all_ranges)]

# the call-site shapes of every vmlinux record (ip-8, ip-4, ip), counted
vm = sorted(ip for ip, fl, md, ra in records if not any(b <= ip < b + s for b, s in all_ranges))
shape = {}
if vm and LINEAR <= vm[0] and vm[-1] < LINEAR + ram_end:
    lo = vm[0] - 8
    text = pread(lo - LINEAR, vm[-1] + 4 - lo)
    for ip in vm:
        w8, w4, w0 = struct.unpack_from('<3I', text, ip - 8 - lo)
        n8 = insn_name(w8, ip - 8)
        n8 = n8 if n8 in ('mflr r0', 'std r0,16(r1)', 'nop') else 'X'
        n4 = insn_name(w4, ip - 4) or '%08x' % w4
        n0 = insn_name(w0, ip) or '%08x' % w0
        n0 = 'bl' if n0.startswith('bl ') else n0
        k = '%s ; %s ; %s' % (n8, n4, n0)
        shape[k] = shape.get(k, 0) + 1
res['ftrace']['vmlinux_site_shapes'] = {'note': 'ip-8 ; ip-4 ; ip of every vmlinux dyn_ftrace record (X: an instruction other than mflr/std/nop at ip-8)',
                                         'counts': dict(sorted(shape.items(), key=lambda x: -x[1]))}

# --------------------------------------------------------------------------
# cross-checks: drgn's reading of the dump vs the guest's own printout
# --------------------------------------------------------------------------
checks = {}
pm = {x['name']: x for x in guest['proc_modules']}
checks['modules_same_set'] = sorted(pm) == sorted(x['name'] for x in res['modules'])
checks['module_base_equal_proc_modules'] = {x['name']: int(x['base'], 16) == int(pm[x['name']]['base'], 16) for x in res['modules'] if x['name'] in pm}
size_ok = {}
for x in res['modules']:
    if x['name'] not in pm:
        continue
    if 'core_layout' in x:
        size_ok[x['name']] = x['core_layout']['size'] == pm[x['name']]['size']
    else:  # /proc/modules prints the sum of the core mem[] sizes
        size_ok[x['name']] = sum(e['size'] for e in x['mem'] if e['type'] < 4) == pm[x['name']]['size']
checks['module_size_equal_proc_modules'] = size_ok
checks['sections_equal_sysfs'] = {x['name']: x['sections'] == guest['sections'].get(x['name']) for x in res['modules']}
checks['stubs_equal_guest_kcore'] = {x['name']: x.get('check_stubs_vs_guest_kcore') for x in res['modules']}
checks['loader_replica_match'] = {x['name']: x.get('loader_replica', {}).get('match') for x in res['modules']}
# enabled records vs enabled_functions (name [module])
ef = sorted(re.sub(r' \(\d+\).*', '', l).strip() for l in guest['enabled_functions'] if l and not l[0].isspace())
def names_at(ip):
    """every symbol name at the start of the function holding ip (aliases:
    the kernel prints the first in kallsyms order, drgn may pick another)"""
    try:
        start = prog.symbol(ip).address
        return sorted({s.name for s in prog.symbols(start)})
    except (LookupError, ValueError):
        return ['?']


mine = []
for x in res['modules']:
    for r in x['ftrace_records']:
        if 'ENABLED' in r['flag_names']:
            mine.append(['%s [%s]' % (n, x['name']) for n in names_at(int(r['ip'], 16))])
for r in res['ftrace']['vmlinux_records_with_refs']:
    if 'ENABLED' in r['flag_names']:
        mine.append(names_at(int(r['ip'], 16)))
unmatched = list(ef)
for alts in mine:
    hit = [n for n in alts if n in unmatched]
    if hit:
        unmatched.remove(hit[0])
checks['enabled_records_vs_enabled_functions'] = {
    'equal': len(mine) == len(ef) and not unmatched, 'guest': ef, 'drgn_names_per_record': sorted(mine),
    'guest_unmatched': unmatched}
# site bytes the guest read vs the dump
site_ok = {}
for s in guest['sites_kcore']:
    if 'hex' not in s:
        continue
    try:
        site_ok['%s %s' % (s['module'], s['function'])] = prog.read(int(s['from'], 16), 80).hex() == s['hex']
    except FaultError as e:
        site_ok['%s %s' % (s['module'], s['function'])] = str(e)
checks['sites_equal_guest_kcore'] = site_ok
ks = guest['kallsyms_vmlinux']
checks['kallsyms_vs_drgn_symbols'] = {n: (int(ks[n][0]['addr'], 16) == int(v, 16)) for n, v in kernel['symbols'].items() if v and n in ks}
vg = [l for l in guest['vmcoreinfo_guest']]
checks['vmcoreinfo_guest_equals_dump'] = (vg == vmcoreinfo.decode().rstrip('\n').split('\n')) if vg else None
flat = []


def walk(o, path):
    if isinstance(o, dict):
        for k, v in o.items():
            walk(v, path + [k])
    elif o is False:
        flat.append('/'.join(map(str, path)))


walk({k: v for k, v in checks.items() if k != 'enabled_records_vs_enabled_functions'}, [])
if not checks['enabled_records_vs_enabled_functions']['equal']:
    flat.append('enabled_records_vs_enabled_functions')
checks['failed'] = flat
res['checks'] = checks

if a.config:
    res['config'] = [l.rstrip('\n') for l in open(a.config) if re.search(r'CONFIG_PPC_(4|64)K_PAGES|FTRACE|MPROFILE|LIVEPATCH|PATCHABLE_FUNCTION_ENTRY|CONFIG_CC_VERSION_TEXT|CONFIG_KPROBES', l)]
res['guest'] = guest

json.dump(res, open(a.out, 'w'), indent=1)
print('wrote %s: %d modules, %d ftrace records (%d pages); walker %s; checks failed: %s' % (
    a.out, len(res['modules']), len(records), npages, walker, flat or 'none'))
