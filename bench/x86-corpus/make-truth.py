#!/usr/bin/env python3
"""Merge the guest's own truth (console.log) and drgn's reading of the dump
(truth-drgn.json) into truth.json, and cross-check them.

usage: make-truth.py DUMP_DIR [--drgn truth-drgn.json] [--console console.log]
                     [--monitor monitor.json] [--regs cpu-registers.txt]
                     [--vmlinux-nm FILE] [--out truth.json] [--name NAME]

Schema: README.md beside this file ("truth.json").
"""
import argparse, json, os, re, sys, hashlib

ap = argparse.ArgumentParser()
ap.add_argument('dir')
ap.add_argument('--drgn')
ap.add_argument('--console')
ap.add_argument('--monitor')
ap.add_argument('--regs')
ap.add_argument('--out')
ap.add_argument('--name')
ap.add_argument('--stale-guest', action='store_true',
                help='the console truth was printed before the state the dump holds (in-flight dumps)')
a = ap.parse_args()
d = a.dir
drgn_path = a.drgn or os.path.join(d, 'truth-drgn.json')
console = a.console or os.path.join(d, 'console.log')
regs_path = a.regs or os.path.join(d, 'cpu-registers.txt')
out_path = a.out or os.path.join(d, 'truth.json')


def h(v):
    return '0x%x' % v


# --- guest truth from the console ------------------------------------------
blocks = {}
order = []
if os.path.exists(console):
    txt = open(console, errors='replace').read().replace('\r\n', '\n')
    # only the first truth print (at KDI-READY); later prints are "-N" suffixed
    m = re.search(r'^KDI-TRUTH-BEGIN ([^\n]*)\n(.*?)^KDI-TRUTH-END$', txt, re.M | re.S)
    body = m.group(2) if m else ''
    for l in body.splitlines():
        l = l.rstrip('\r')
        mm = re.match(r'^([a-z_]+)\| ?(.*)$', l)
        if mm:
            tag = mm.group(1)
            if tag not in blocks:
                blocks[tag] = []
                order.append(tag)
            blocks[tag].append(mm.group(2))
    guest_init = [l for l in txt.splitlines() if l.startswith('kdi-init:') or l.startswith('KDI-ERROR')]
else:
    txt = ''
    guest_init = []

g = {'blocks': blocks, 'init_log': guest_init}
# /proc/modules: name size refcount deps state base
mods = []
for l in blocks.get('modules', []):
    f = l.split()
    if len(f) >= 6:
        mods.append({'name': f[0], 'size': int(f[1]), 'refcount': int(f[2]),
                     'deps': [x for x in f[3].split(',') if x and x != '-'], 'state': f[4], 'base': f[5]})
g['modules'] = mods
ksv = {}
for l in blocks.get('kallsyms_vmlinux', []):
    f = l.split()
    if len(f) == 3 and f[0] != '-':
        ksv[f[2]] = '0x' + f[0]
g['kallsyms_vmlinux'] = ksv
variables = {}
for l in blocks.get('variables', []):
    f = l.split()
    if len(f) == 3:
        variables[f[0]] = {'addr': '0x' + f[1], 'u64': '0x' + f[2]}
g['variables'] = variables
g['percpu_offset'] = {m.group(1): '0x' + m.group(2) for m in
                      (re.match(r'cpu(\d+) ([0-9a-f]+)', l) for l in blocks.get('percpu', [])) if m}
sites = {}
for l in blocks.get('site_bytes', []):
    f = l.split()
    if len(f) == 3 and f[0] != '-':
        sites.setdefault(f[1].replace('_[', ' [').split('_(one_of')[0], []).append({'ip': '0x' + f[0], 'bytes16': f[2]})
efs = []
for l in blocks.get('enabled_functions', []):
    # "NAME [MOD] (REFS) FLAGS \ttramp: ADDR|SYM (OPS_FUNC) ->CALLS" and, for
    # direct calls, a continuation line "\tdirect-->TARGET"
    if l[:1] in ('\t', ' ') and efs:
        m = re.match(r'^\s*direct-->(.*)$', l)
        efs[-1].setdefault('more', []).append(l)
        if m:
            efs[-1]['direct'] = m.group(1).strip()
        continue
    m = re.match(r'^(\S+(?: \[\S+\])?) \((\d+)\)\s*([A-Z ]*?)\s*(?:\ttramp: (\S+) \((.*?)\)\s*)?(?:->(.*))?$', l)
    if not m:
        efs.append({'line': l, 'parse_error': True})
        continue
    name = m.group(1)
    tr = m.group(4)
    e = {'line': l, 'name': name, 'refs': int(m.group(2)), 'flags': m.group(3).split(),
         'tramp': tr if tr and tr.startswith('0x') else None, 'tramp_sym': tr if tr and not tr.startswith('0x') else None,
         'tramp_func': m.group(5), 'calls': m.group(6).strip() if m.group(6) else None,
         'sites': sites.get(name, [])}
    efs.append(e)
g['enabled_functions'] = efs
kps = []
bytes_at = {}
for l in blocks.get('kprobe_bytes', []):
    f = l.split()
    if len(f) == 3:
        bytes_at[f[0]] = f[2]
for l in blocks.get('kprobes_list', []):
    f = l.split()
    if len(f) >= 3:
        kps.append({'addr': '0x' + f[0], 'type': f[1], 'where': f[2],
                    'module': f[3] if len(f) > 3 and not f[3].startswith('[') else None,
                    'flags': [x.strip('[]') for x in f[3:] if x.startswith('[')],
                    'bytes16': bytes_at.get(f[0])})
g['kprobes'] = kps
loc = blocks.get('vmcoreinfo_location', [''])
if loc and loc[0]:
    p, s = loc[0].split()
    g['vmcoreinfo_location'] = {'paddr': '0x' + p, 'size': '0x' + s}
vi = {}
for l in blocks.get('vmcoreinfo', []):
    if '=' in l:
        k, v = l.split('=', 1)
        vi[k] = v
if 'KERNELOFFSET' in vi:
    g['kaslr_offset'] = '0x' + vi['KERNELOFFSET']
if '__pgtable_l5_enabled' in variables:
    g['pgtable_l5_enabled'] = int(variables['__pgtable_l5_enabled']['u64'], 16) & 0xffffffff
for l in blocks.get('cpuinfo', []):
    if l.startswith('address sizes'):
        g['address_sizes'] = l.split(':', 1)[1].strip()
    if l.startswith('vendor_id'):
        g['vendor_id'] = l.split(':', 1)[1].strip()
    if l.startswith('model name'):
        g['model_name'] = l.split(':', 1)[1].strip()
g['uname'] = (blocks.get('uname') or [None])[0]
g['cmdline'] = (blocks.get('cmdline') or [None])[0]

# --- CPUs as QEMU saw them before the dump -----------------------------------
cpus = []
if os.path.exists(regs_path):
    r = open(regs_path).read()
    for i, chunk in enumerate(re.split(r'(?m)^CPU#\d+\n', r)[1:]):
        c = {'cpu': i}
        for k in ('RIP', 'RSP', 'RFL', 'CR3', 'CR4'):
            m = re.search(r'\b%s=([0-9a-f]+)' % k, chunk)
            if m:
                c[k.lower()] = '0x' + m.group(1)
        m = re.search(r'CPL=(\d)', chunk)
        c['cpl'] = int(m.group(1)) if m else None
        m = re.search(r'HLT=(\d)', chunk)
        c['hlt'] = int(m.group(1)) if m else None
        cpus.append(c)

res = {'schema': 'bench/x86-corpus truth.json v1 (README.md)', 'name': a.name or os.path.basename(os.path.abspath(d)),
       'guest_truth_is_stale': bool(a.stale_guest), 'guest': g, 'qemu_cpus': cpus}
cmdline = os.path.join(d, 'qemu-cmdline.txt')
if os.path.exists(cmdline):
    res['qemu'] = open(cmdline).read().splitlines()
if a.monitor and os.path.exists(a.monitor):
    res['monitor'] = json.load(open(a.monitor))

# --- drgn and cross-checks -------------------------------------------------
mism = []
if os.path.exists(drgn_path):
    dr = json.load(open(drgn_path))
    res['dump'] = dr
    # symbolize the QEMU RIPs with drgn's symbols (truth-drgn.py --regs writes rip_sym)
    for c in cpus:
        s = (dr.get('cpus_by_rip') or {}).get(h(int(c['rip'], 16))) if c.get('rip') else None
        if s:
            c['rip_sym'] = s
    if not a.stale_guest and blocks:
        # modules: /proc/modules base = mem[MOD_TEXT].base
        dm = {m['name']: m for m in dr['modules']}
        for m in mods:
            x = dm.get(m['name'])
            if not x:
                mism.append('module %s not in dump' % m['name'])
                continue
            text = [mm for mm in x['mem'] if mm['type'] in ('MOD_TEXT', 0)]
            if text and int(text[0]['base'], 16) != int(m['base'], 16):
                mism.append('module %s base guest %s dump %s' % (m['name'], m['base'], text[0]['base']))
        if len(dm) != len(mods):
            mism.append('module count guest %d dump %d' % (len(mods), len(dm)))
        # enabled records: every guest site (ip, 5 bytes) = drgn's record with ENABLED and its bytes
        drec = {}
        for m in dr['modules']:
            for r in m['ftrace_records']:
                drec[int(r['ip'], 16)] = (r['flags_decoded'], r.get('bytes'))
        en_bit = int(dr['ftrace_flag_bits']['ENABLED'], 16)
        for ip, fl, b in dr['vmlinux_records']:
            drec[int(ip, 16)] = (['ENABLED'] if int(fl, 16) & en_bit else [], b)
        n_sites = 0
        for e in efs:
            for s in e.get('sites', []):
                ip = int(s['ip'], 16)
                n_sites += 1
                if ip not in drec:
                    mism.append('enabled %s ip %s: no record in the dump' % (e['name'], s['ip']))
                    continue
                fl, b = drec[ip]
                if 'ENABLED' not in fl and len(e['sites']) == 1:
                    mism.append('enabled %s ip %s: record not ENABLED in the dump' % (e['name'], s['ip']))
                if b != s['bytes16'][:10]:
                    mism.append('site %s %s: guest bytes %s dump %s' % (e['name'], s['ip'], s['bytes16'][:10], b))
        n_en = sum(1 for v in drec.values() if 'ENABLED' in v[0])
        res['checks'] = {'modules': len(mods), 'enabled_functions_lines': len(efs), 'enabled_sites_checked': n_sites,
                         'dump_enabled_records': n_en}
        if n_en != len(efs):
            mism.append('enabled records: guest %d lines, dump %d ENABLED records' % (len(efs), n_en))
        # trampolines named by the guest = some ops' trampoline in the dump
        tr = {int(o['trampoline'], 16) for o in dr['ftrace_ops'] if o.get('trampoline')}
        for e in efs:
            if e.get('tramp') and int(e['tramp'], 16) not in tr:
                mism.append('tramp %s of %s: no ftrace_ops has it' % (e['tramp'], e['name']))
        # kprobes
        dk = {int(k['addr'], 16): k for k in dr['kprobes']} if isinstance(dr['kprobes'], list) else {}
        for k in kps:
            x = dk.get(int(k['addr'], 16))
            if not x:
                mism.append('kprobe %s %s not in the dump' % (k['addr'], k['where']))
            elif k['bytes16'] and x['byte_at_addr'] != k['bytes16'][:2]:
                mism.append('kprobe %s byte guest %s dump %s' % (k['addr'], k['bytes16'][:2], x['byte_at_addr']))
        # KASLR offset, l5
        if g.get('kaslr_offset') and dr['kernel'].get('kaslr_offset') and int(g['kaslr_offset'], 16) != int(dr['kernel']['kaslr_offset'], 16):
            mism.append('kaslr offset guest %s dump %s' % (g['kaslr_offset'], dr['kernel']['kaslr_offset']))
        if 'pgtable_l5_enabled' in g and g['pgtable_l5_enabled'] != dr['kernel'].get('__pgtable_l5_enabled'):
            mism.append('l5 guest %s dump %s' % (g['pgtable_l5_enabled'], dr['kernel'].get('__pgtable_l5_enabled')))
        # vmlinux symbols: guest kallsyms = drgn symbol addresses
        for n, v in (dr['kernel'].get('symbols') or {}).items():
            if v and n in ksv and int(ksv[n], 16) != int(v, 16):
                mism.append('symbol %s guest %s dump %s' % (n, ksv[n], v))
    # in-flight batch: where each entry stands (smp_text_poke_batch_finish():
    # int3 over every first byte, sync, tails, sync, first bytes, sync, refs 0)
    tp = dr.get('text_poke_array') or {}
    if tp.get('nr_entries'):
        fb = {'int3': 0, 'new': 0, 'old': 0, 'other': 0}
        tails_new = 0
        for v in tp['vec']:
            now = bytes.fromhex(v['now']) if v.get('now') else b''
            text = bytes.fromhex(v['text'])
            ln = v['len']
            if not now:
                fb['other'] += 1
                continue
            if now[0] == 0xcc:
                fb['int3'] += 1
            elif now[0] == text[0]:
                fb['new'] += 1
            elif now[0] == int(v['old'], 16):
                fb['old'] += 1
            else:
                fb['other'] += 1
            if ln > 1 and now[1:ln] == text[1:ln]:
                tails_new += 1
        refs = list(tp.get('refs', {}).values())
        res['inflight_summary'] = {
            'nr_entries': tp['nr_entries'], 'refs': tp.get('refs'),
            'kind': 'int3-window' if any(refs) else 'queued',
            'first_byte_now': fb, 'tails_equal_new_text': tails_new,
            'opcodes': sorted(set(v['opcode'] for v in tp['vec'])),
            'note': 'old is meaningful only inside the int3 window (it is saved when the int3 is written; '
                    'a queued entry keeps the old of an earlier batch); a NOP is queued as JMP32 with disp 0'}
res['dump_vs_guest_mismatches'] = mism
json.dump(res, open(out_path, 'w'), indent=1)
print('wrote %s (%d guest blocks, %d mismatches)' % (out_path, len(blocks), len(mism)))
for x in mism[:30]:
    print('  MISMATCH', x)
