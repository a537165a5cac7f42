#!/usr/bin/env python3
"""make-truth.py: the guest's printout + drgn's reading of the dump -> truth.json,
cross-checked.

usage: make-truth.py --console console.log --drgn truth-drgn.json --raw RAWDIR -o truth.json
                     [--makedumpfile makedumpfile.json]

truth.json:
  guest: what the guest printed before the dump (first KDI-TRUTH block set):
         blocks (raw lines per tag) and parsed: proc_modules, sections, modarch (mod->arch
         read through /proc/kcore), plt / ftrace_tramp entries, site_words (every enabled
         record), module_records (every module record), kprobes, kprobe_words,
         enabled_functions, vmcoreinfo (text + location), variables, kallsyms_vmlinux,
         uname, cmdline; moddump (the modarch_dump module's kernel-log lines, when loaded)
  qemu:  version and command line, per-CPU PC/SP/PSTATE/X29/X30 from `info registers -a`
         just before the dump, crash.txt (panic dumps)
  dump:  truth-drgn.json (drgn 0.3.0 on the ELF dump)
  checks: each a boolean, failed: the names of the false ones; details in check_details
  summary: per module: plt used/max, kinds, template validity, the enabled records and
         where their bl goes; VMCOREINFO keys of the issue; PRSTATUS PCs
"""
import argparse, json, os, re

ap = argparse.ArgumentParser()
ap.add_argument('--console', required=True)
ap.add_argument('--drgn', required=True)
ap.add_argument('--raw', required=True)
ap.add_argument('--makedumpfile')
ap.add_argument('-o', '--out', required=True)
a = ap.parse_args()

txt = open(a.console, errors='replace').read()
# the first truth only (the crash dumps share the boot's console)
i0 = txt.find('KDI-TRUTH-BEGIN ')
i1 = txt.find('KDI-TRUTH-END', i0)
truth_txt = txt[i0:i1] if i0 >= 0 else ''
blocks = {}
cur = None
for line in truth_txt.splitlines():
    m = re.match(r'KDI-BEGIN (\S+)', line)
    if m:
        cur = m.group(1)
        blocks.setdefault(cur, [])
        continue
    if line.startswith('KDI-END '):
        cur = None
        continue
    # inside a block, every "TAG| " line belongs to TAG (modarch_kcore holds
    # plt_kcore and ftrace_tramp_kcore lines)
    m = re.match(r'(\w+)\| ', line) if cur else None
    if m:
        blocks.setdefault(m.group(1), []).append(line[len(m.group(1)) + 2:])


def I(s):
    return int(s, 16) if s.startswith('0x') else int(s, 16)


g = {}
g['uname'] = blocks.get('uname')
g['utsname'] = blocks.get('utsname')
g['cmdline'] = blocks.get('cmdline')
# kdi_ftrace.ko's kernel-log lines (prefix KDIFT) before the truth, and what /init logged
g['kdi_ftrace_log'] = [l[l.index('KDIFT ') + 6:] for l in txt[:i1 if i0 >= 0 else len(txt)].splitlines() if 'KDIFT ' in l]
g['init_log'] = [l for l in txt[:i0 if i0 >= 0 else len(txt)].splitlines() if l.startswith('kdi-init: ')]
pm = []
for l in blocks.get('modules', []):
    f = l.split()
    pm.append({'name': f[0], 'size': int(f[1]), 'refs': int(f[2]), 'deps': f[3], 'state': f[4], 'addr': f[5]})
g['proc_modules'] = pm
secs = {}
malformed = []
for l in blocks.get('sections', []):
    f = l.split()
    if len(f) != 3 or not re.fullmatch(r'0x[0-9a-f]+', f[2]):
        malformed.append('sections| ' + l)  # a kernel message printed into the line
        continue
    m, s, ad = f
    secs.setdefault(m, {})[s] = '0x%x' % int(ad, 16)
g['malformed_lines'] = malformed
g['sections'] = secs
ma = {}
for l in blocks.get('modarch_kcore', []):
    f = l.split()
    d = {'name': f[0]}
    for kv in f[1:]:
        if '=' in kv:
            k, v = kv.split('=', 1)
            d[k] = v
    ma[f[0]] = d
g['modarch'] = ma


def plt_entries(tag, used):
    """the entries of block TAG, by module: "MOD I ADDR W0 W1 W2 KIND [used |
    beyond_num_entries] target=T target_sym=S ..." (the usage word with used)"""
    out = {}
    t = 8 if used else 7
    for l in blocks.get(tag, []):
        f = l.split()
        if len(f) < t + 1:
            continue
        d = {'index': int(f[1]), 'addr': f[2], 'words': ' '.join(f[3:6]), 'kind': f[6]}
        if used:
            d['used'] = f[7] == 'used'
        d['target'] = f[t].split('=')[1]
        d['target_sym'] = f[t + 1].split('=', 1)[1]
        out.setdefault(f[0], []).append(d)
    return out


plt = g['plt'] = plt_entries('plt_kcore', True)
tramp = g['ftrace_tramp'] = plt_entries('ftrace_tramp_kcore', False)


def parse_sites(tag):
    out = {}
    for l in blocks.get(tag, []):
        m = re.match(r'(0x[0-9a-f]+) (\S+) words@(0x[0-9a-f]+)=([0-9a-f ]+) ip-4=(\S+) ip=(\S+) target=(\S+) (\S+) literal=(0x[0-9a-f]+) (\S+)', l)
        if m:
            out[m.group(1)] = {'name': m.group(2), 'words_at': m.group(3), 'words': m.group(4).strip(), 'ip_minus_4': m.group(5),
                               'ip_insn': m.group(6), 'target': m.group(7), 'target_sym': m.group(8), 'literal': m.group(9),
                               'literal_sym': m.group(10)}
    return out


g['site_words'] = parse_sites('site_words')
g['module_records'] = parse_sites('module_records')
g['enabled_functions'] = blocks.get('enabled_functions', [])
kp = []
for l in blocks.get('kprobes_list', []):
    f = l.split()
    kp.append({'addr': '0x' + f[0], 'type': f[1], 'sym': f[2], 'mod': f[3] if len(f) > 3 and not f[3].startswith('[') else None,
               'state': [x for x in f[3:] if x.startswith('[')]})
g['kprobes'] = kp
kw = {}
for l in blocks.get('kprobe_words', []):
    m = re.match(r'(0x[0-9a-f]+) (\S+) words@(0x[0-9a-f]+)=([0-9a-f ]+) at=(\S+)', l)
    if m:
        kw[m.group(1)] = {'sym': m.group(2), 'words_at': m.group(3), 'words': m.group(4).strip(), 'at': m.group(5)}
g['kprobe_words'] = kw
g['kprobe_events'] = blocks.get('kprobe_events', [])
vi = [l for l in blocks.get('vmcoreinfo', []) if not l.startswith('#')]
g['vmcoreinfo_text'] = '\n'.join(vi)
g['vmcoreinfo_location'] = blocks.get('vmcoreinfo_location')
g['vmcoreinfo'] = dict(l.split('=', 1) for l in vi if '=' in l)
var = {}
for l in blocks.get('variables', []):
    f = l.split()
    if len(f) == 3 and not f[1].startswith('-'):
        var[f[0]] = {'addr': '0x' + f[1], 'value': '0x' + f[2]}
g['variables'] = var
ksv = {}
for l in blocks.get('kallsyms_vmlinux', []):
    f = l.split()
    if len(f) >= 3 and f[0] != '-':
        ksv.setdefault(f[2], '0x' + f[0])
g['kallsyms_vmlinux'] = ksv
g['livepatch'] = blocks.get('livepatch', [])
g['klp_tgt'] = blocks.get('klp_tgt', [])
g['current_tracer'] = blocks.get('current_tracer')
g['set_ftrace_filter'] = blocks.get('set_ftrace_filter')
g['percpu'] = blocks.get('percpu')
g['cpuinfo'] = blocks.get('cpuinfo')
g['iomem'] = blocks.get('iomem')
g['kcore_loads'] = blocks.get('kcore_loads')
g['trace_tail'] = blocks.get('trace_tail')
g['touched_functions_count'] = len(blocks.get('touched_functions', []))
g['kallsyms_modules_count'] = len(blocks.get('kallsyms_modules', []))
# modarch_dump's printk lines (the console carries the kernel log)
md = {}
mdf = []
for l in txt[:i1 if i1 > 0 else len(txt)].splitlines():
    m = re.search(r'MODDUMP (.*)', l)
    if not m:
        continue
    s = m.group(1)
    if s.startswith('FTRACE rec '):
        mdf.append(s[len('FTRACE rec '):])
    elif s.startswith(('BEGIN module=', 'END module=', 'DUMP ', 'FTRACE ')):
        continue
    else:
        name, rest = s.split(' ', 1)
        md.setdefault(name, []).append(rest)
g['moddump'] = md
g['moddump_ftrace'] = mdf
g_init_log = [l for l in txt.splitlines() if l.startswith('kdi-init:')]
g['init_log'] = g_init_log

# QEMU
q = {}
try:
    q['cmdline'] = open(os.path.join(a.raw, 'qemu-cmdline.txt')).read().splitlines()
except OSError:
    pass
regs = []
try:
    rt = open(os.path.join(a.raw, 'cpu-registers.txt')).read()
    for cpu, body in re.findall(r'CPU#(\d+)\n(.*?)(?=CPU#|\Z)', rt, re.S):
        d = {'cpu': int(cpu)}
        for k in ('PC', 'SP', 'X29', 'X30', 'PSTATE'):
            m = re.search(r'\b%s=([0-9a-f]+)' % k, body)
            if m:
                d[k.lower()] = '0x' + m.group(1).lstrip('0') if m.group(1).strip('0') else '0x0'
        m = re.search(r'PSTATE=\S+ (\S+) (EL\S+)', body)
        if m:
            d['el'] = m.group(2)
        regs.append(d)
except OSError:
    pass
q['registers'] = regs
for f in ('crash.txt', 'boot-time.txt'):
    try:
        q[f] = open(os.path.join(a.raw, f)).read().strip()
    except OSError:
        pass

dr = json.load(open(a.drgn))
res = {'guest': g, 'qemu': q, 'dump': dr}
if a.makedumpfile:
    try:
        res['makedumpfile'] = json.load(open(a.makedumpfile))
    except (OSError, ValueError):
        pass

# ---- checks: the guest against drgn --------------------------------------------------
checks, details = {}, {}
dmods = {m['name']: m for m in dr.get('modules', [])}
checks['modules_same_set'] = set(dmods) == {m['name'] for m in pm}
bad = []
for m in pm:
    d = dmods.get(m['name'])
    if not d or int(d['mem'][0]['base'], 16) != int(m['addr'], 16):
        bad.append(m['name'])
checks['module_text_base_equals_proc_modules'] = not bad
details['module_text_base_equals_proc_modules'] = bad
bad = []
for name, ss in secs.items():
    d = dmods.get(name)
    if not d:
        continue
    for s, v in ss.items():
        if int(d['sections'].get(s, '0x0'), 16) != int(v, 16):
            bad.append('%s %s guest %s drgn %s' % (name, s, v, d['sections'].get(s)))
checks['sections_equal_sysfs'] = not bad and bool(secs)
details['sections_equal_sysfs'] = bad[:50]
bad = []
for name, x in ma.items():
    d = dmods.get(name)
    if not d:
        bad.append(name)
        continue
    A = d['arch']
    want = {'core.plt_shndx': A['core']['plt_shndx'], 'core.plt_num_entries': A['core']['plt_num_entries'],
            'core.plt_max_entries': A['core']['plt_max_entries'], 'init.plt_shndx': A['init']['plt_shndx'],
            'init.plt_num_entries': A['init']['plt_num_entries'], 'init.plt_max_entries': A['init']['plt_max_entries']}
    for k, v in want.items():
        if int(x.get(k, -1)) != v:
            bad.append('%s %s guest %s drgn %s' % (name, k, x.get(k), v))
    for k in ('ftrace_trampolines', 'init_ftrace_trampolines'):
        if int(x.get(k, '0x0'), 16) != int(A[k], 16):
            bad.append('%s %s' % (name, k))
    if int(x['struct_module'], 16) != int(d['struct_module'], 16):
        bad.append('%s struct_module' % name)
checks['modarch_equal'] = not bad and bool(ma)
details['modarch_equal'] = bad
bad = []
n = 0
for name, es in plt.items():
    d = dmods.get(name)
    dp = {e['addr']: e for e in d['plt']} if d else {}
    for e in es:
        n += 1
        de = dp.get(e['addr'])
        if not de or de['words'] != e['words']:
            bad.append('%s %d' % (name, e['index']))
for name, es in tramp.items():
    d = dmods.get(name)
    for e in es:
        n += 1
        de = d['ftrace_trampolines_entries'][e['index']] if d and d['ftrace_trampolines_entries'] else None
        if not de or de['words'] != e['words']:
            bad.append('%s tramp %d' % (name, e['index']))
checks['plt_and_trampoline_words_equal'] = not bad and n > 0
details['plt_and_trampoline_words_equal'] = bad[:50]
details['plt_and_trampoline_entries_compared'] = n
drecs = {}
for d in dr.get('modules', []):
    for r in d['ftrace_records']:
        drecs[r['ip']] = r
for r in dr.get('vmlinux_records', []):
    drecs[r['ip']] = r
bad = []
n = 0
for tag in ('site_words', 'module_records'):
    for ip, s in g[tag].items():
        n += 1
        r = drecs.get(ip)
        if r is None:
            # a vmlinux record with flags 0 is not in drgn's list: fine only for module_records of vmlinux (none)
            bad.append('%s %s no drgn record' % (tag, ip))
        elif r.get('words') != s['words']:
            bad.append('%s %s guest %s drgn %s' % (tag, ip, s['words'], r.get('words')))
checks['site_words_equal'] = not bad and n > 0
details['site_words_equal'] = bad[:50]
details['site_words_compared'] = n
# one record per line; a direct call adds a continuation line ("\tdirect-->TRAMP")
n_enabled = sum(1 for l in g['enabled_functions'] if l and not l[0].isspace())
checks['enabled_records_count_equal'] = n_enabled == dr.get('ftrace_records_enabled')
details['enabled_records_count'] = [n_enabled, dr.get('ftrace_records_enabled')]
checks['kprobes_equal'] = sorted(int(k['addr'], 16) for k in kp) == sorted(int(k['addr'], 16) for k in dr.get('kprobes', []))
bad = []
dk = {int(k['addr'], 16): k for k in dr.get('kprobes', [])}
for ad, w in kw.items():
    k = dk.get(int(ad, 16))
    if not k or int(w['words'].split()[2], 16) != int(k['word_at_addr'], 16):
        bad.append(ad)
checks['kprobe_words_equal'] = not bad
details['kprobe_words_equal'] = bad
vin = dr['elf'].get('vmcoreinfo_note') or dr.get('vmcoreinfo_memory_text') or ''
checks['vmcoreinfo_guest_equals_dump'] = g['vmcoreinfo_text'].strip() == vin.strip()
bad = []
dsym = dr['kernel']['symbols']
for s, v in ksv.items():
    if dsym.get(s) and s != '_end' and int(dsym[s], 16) != int(v, 16):
        bad.append('%s guest %s drgn %s' % (s, v, dsym[s]))
checks['kallsyms_vs_drgn_symbols'] = not bad
details['kallsyms_vs_drgn_symbols'] = bad
if md:
    bad = []
    for name, ls in md.items():
        d = dmods.get(name)
        if not d:
            continue
        s = ' '.join(ls)
        for k in ('plt_num_entries', 'plt_max_entries'):
            m = re.search(r'arch\.core\.%s=(-?\d+)' % k, s)
            # modarch_dump ran before the dump: counts can only grow after (klp)
            if m and int(m.group(1)) != d['arch']['core'][k]:
                bad.append('%s core.%s moddump %s drgn %s' % (name, k, m.group(1), d['arch']['core'][k]))
        for l in ls:
            m = re.match(r'plt\[(\d+)\] @0x([0-9a-f]+) words=([0-9a-f]{8} [0-9a-f]{8} [0-9a-f]{8})', l)
            if m:
                de = d['plt'][int(m.group(1))] if int(m.group(1)) < len(d['plt']) else None
                if not de or de['words'] != m.group(3):
                    bad.append('%s plt[%s]' % (name, m.group(1)))
    checks['moddump_equal'] = not bad
    details['moddump_equal'] = bad[:50]
    bad = []
    for l in mdf:
        m = re.match(r'ip=(0x[0-9a-f]+) .*? flags=(0x[0-9a-f]+) words@(0x[0-9a-f]+)=([0-9a-f ]+?) ip-4=', l)
        if not m:
            continue
        r = drecs.get(m.group(1))
        if r and r.get('words') != m.group(4).strip():
            bad.append(m.group(1))
    checks['moddump_ftrace_words_equal'] = not bad
    details['moddump_ftrace_words_equal'] = bad[:50]
# livepatch: the guest's /sys/kernel/livepatch/<patch>/{enabled,transition},
# <patch>/<obj>/patched against drgn's klp_patches
glp = {}
for l in g.get('livepatch') or []:
    f = l.split()
    if len(f) == 2 and f[0].startswith('/sys/kernel/livepatch/'):
        glp[f[0][len('/sys/kernel/livepatch/'):]] = f[1]
dlp = dr.get('livepatch') or {}
if glp or dlp.get('patches'):
    bad = []
    for pt in dlp.get('patches', []):
        name = pt['mod']
        if glp.get(name + '/enabled') != str(int(pt['enabled'])):
            bad.append('%s/enabled guest %s drgn %s' % (name, glp.get(name + '/enabled'), pt['enabled']))
        trans = any(f['transition'] for o in pt['objs'] for f in o['funcs'])
        if glp.get(name + '/transition') not in (None, str(int(trans and dlp.get('klp_transition_patch') == pt.get('addr')))):
            bad.append('%s/transition guest %s' % (name, glp.get(name + '/transition')))
        for o in pt['objs']:
            k = '%s/%s/patched' % (name, o['name'])
            if k in glp and glp[k] != str(int(o['patched'])):
                bad.append('%s guest %s drgn %s' % (k, glp[k], o['patched']))
    gp = {k.split('/')[0] for k in glp if k.endswith('/enabled')}
    dp = {pt['mod'] for pt in dlp.get('patches', [])}
    if gp != dp:
        bad.append('patch set guest %s drgn %s' % (sorted(gp), sorted(dp)))
    checks['livepatch_equal'] = not bad
    details['livepatch_equal'] = bad
res['checks'] = checks
res['checks_failed'] = [k for k, v in checks.items() if not v]
res['check_details'] = details

# ---- summary ---------------------------------------------------------------------------------
S = {}
vk = dr.get('vmcoreinfo', {})
S['vmcoreinfo'] = {k: vk.get(k) for k in ('OSRELEASE', 'PAGESIZE', 'KERNELOFFSET', 'NUMBER(VA_BITS)', 'NUMBER(kimage_voffset)',
                                          'NUMBER(PHYS_OFFSET)', 'NUMBER(TCR_EL1_T1SZ)', 'NUMBER(KERNELPACMASK)',
                                          'NUMBER(MODULES_VADDR)', 'NUMBER(MODULES_END)', 'NUMBER(VMALLOC_START)',
                                          'NUMBER(VMALLOC_END)', 'NUMBER(VMEMMAP_START)', 'NUMBER(VMEMMAP_END)', 'BUILD-ID')}
S['kernel'] = {k: dr['kernel'].get(k) for k in ('uts_release', 'kimage_voffset', 'memstart_addr', 'module_direct_base', 'module_plt_base', 'FTRACE_ADDR')}
S['kernel']['_text'] = dr['kernel']['symbols'].get('_text')
S['prstatus'] = dr['elf']['prstatus']
S['crash'] = {k: v for k, v in dr.get('crash', {}).items() if k != 'drgn_crashed_thread'}
ms = []
for d in dr.get('modules', []):
    kinds = {}
    for e in d['plt']:
        kinds[e['kind']] = kinds.get(e['kind'], 0) + 1
    en = [r for r in d['ftrace_records'] if 'ENABLED' in r['flags_decoded']]
    ms.append({'name': d['name'], 'text': d['mem'][0]['base'], 'core_plt': '%d/%d' % (d['arch']['core']['plt_num_entries'], d['arch']['core']['plt_max_entries']),
               'init_plt': '%d/%d' % (d['arch']['init']['plt_num_entries'], d['arch']['init']['plt_max_entries']),
               'plt_kinds': kinds,
               'plt_entries_valid': all(e.get('equals_get_plt_entry_of_target', True) for e in d['plt'] if e['kind'] == 'plt'),
               'plt_used_nonzero': all(e['kind'] != 'zero' for e in d['plt'] if e.get('used')),
               'ftrace_trampoline_ok': all(e.get('equals_get_plt_entry_of_expected') for e in d['ftrace_trampolines_entries']),
               'ftrace_caller_in_bl_range': d.get('ftrace_caller_within_bl_range_of_text_base'),
               'enabled_records': len(en),
               'enabled_targets': sorted({r.get('target_is', '?') for r in en}),
               'enabled_literals': sorted({r.get('literal_sym') or '?' for r in en})})
S['modules'] = ms
S['modules_with_plt_entries'] = [m['name'] for m in ms if not m['core_plt'].startswith('0/')]
S['vmlinux_enabled'] = [{'sym': r['sym'], 'target_is': r.get('target_is'), 'literal_sym': r.get('literal_sym'), 'flags': r['flags_decoded']}
                        for r in dr.get('vmlinux_records', []) if 'ENABLED' in r['flags_decoded']]
S['kprobes'] = [{'sym': k['sym'], 'kind_at_addr': k['kind_at_addr'], 'opcode': k['opcode'], 'flags': k['flags']} for k in dr.get('kprobes', [])]
S['livepatch'] = dr.get('livepatch')
S['kdump_files'] = dr.get('kdump_files')
res['summary'] = S
json.dump(res, open(a.out, 'w'), indent=1)
print('make-truth: %d modules; checks failed: %s -> %s' % (len(pm), res['checks_failed'] or 'none', a.out))
