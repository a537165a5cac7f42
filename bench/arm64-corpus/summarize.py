#!/usr/bin/env python3
"""summarize.py truth.json [MODULE...]: a readable summary of an arm64 truth.json:
checks, VMCOREINFO keys, PRSTATUS, per module mod->arch and PLT use, every PLT entry
and ftrace trampoline of the named modules (default: those with enabled records or
fewer than 8 PLT entries), the enabled records, kprobes, livepatch, the crash."""
import json, sys

t = json.load(open(sys.argv[1]))
want = set(sys.argv[2:])
d = t['dump']
S = t['summary']
print('checks failed: %s' % (t['checks_failed'] or 'none'))
print('checks: %s' % ' '.join('%s=%s' % kv for kv in t['checks'].items()))
print('\nVMCOREINFO:')
for k, v in S['vmcoreinfo'].items():
    print('  %-26s %s' % (k, v))
print('kernel: %s' % ' '.join('%s=%s' % kv for kv in S['kernel'].items()))
print('\nPRSTATUS (QEMU notes) and info registers:')
cpus = {c['cpu']: c for c in d.get('cpus', [])}
for p in S['prstatus']:
    c = cpus.get(p['pid'] - 1, {})
    print('  cpu%d (pr_pid %s) pc=%s (%s) sp=%s x29=%s x30=%s (%s) task=%s pid %s online=%s' % (
        p['pid'] - 1, p['pid'], p['pc'], c.get('prstatus_pc_sym'), p['sp'], p['x29'], p['x30'],
        c.get('prstatus_x30_sym') or c.get('prstatus_x30_sym_minus_4'), c.get('comm'), c.get('pid'), c.get('online')))
if S.get('crash'):
    print('crash: %s' % S['crash'])
md = t.get('makedumpfile')
if md:
    print('\nmakedumpfile -d 31: rc=%s output=%s %s' % (md['rc'], md['output'], '' if md['rc'] == 0 else md['log'][-2:]))
print('kdump files with drgn: %s' % [(k['file'], k['ok'], k.get('error', '')[:80]) for k in S.get('kdump_files') or []])
print('\nmodules (text base, core/init PLT used/max, kinds, templates valid, trampoline ok, ftrace_caller in BL range, enabled -> targets, literals):')
for m in S['modules']:
    print('  %-22s %s core %-8s init %-6s %s valid=%s tramp=%s inrange=%s enabled=%d %s %s' % (
        m['name'], m['text'], m['core_plt'], m['init_plt'], m['plt_kinds'], m['plt_entries_valid'],
        m['ftrace_trampoline_ok'], m['ftrace_caller_in_bl_range'], m['enabled_records'], m['enabled_targets'], m['enabled_literals']))
for mod in d['modules']:
    en = [r for r in mod['ftrace_records'] if 'ENABLED' in r['flags_decoded']]
    if want and mod['name'] not in want:
        continue
    if not want and not en and mod['arch']['core']['plt_max_entries'] >= 8:
        continue
    print('\n== %s: struct module %s, arch core=%s init=%s ftrace_trampolines=%s init_ftrace_trampolines=%s, .plt %s' % (
        mod['name'], mod['struct_module'], mod['arch']['core'], mod['arch']['init'], mod['arch']['ftrace_trampolines'],
        mod['arch']['init_ftrace_trampolines'], mod['plt_section']))
    for e in mod['plt']:
        print('   plt[%d] %s %s %-6s %s -> %s %s%s' % (e['index'], e['addr'], e['words'], e['kind'], 'used' if e.get('used') else 'spare',
                                               e['target'], e['target_sym'], ' veneer b->%s' % e.get('veneer_b_target_sym') if e['kind'] == 'veneer' else ''))
    for e in mod['ftrace_trampolines_entries']:
        print('   ftrace_trampolines[%d] %s %s -> %s %s (get_plt_entry(FTRACE_ADDR) equal: %s)' % (
            e['index'], e['addr'], e['words'], e['target'], e['target_sym'], e.get('equals_get_plt_entry_of_expected')))
    for r in en:
        print('   rec %s %-32s %s refs=%s words %s | %s ; %s -> %s (%s) literal %s' % (
            r['ip'], r['sym'], ','.join(r['flags_decoded']), r['refs'], r['words'], r['ip_minus_4'], r['ip_insn'], r.get('target'),
            r.get('target_is'), r.get('literal_sym')))
print('\nvmlinux enabled records:')
for r in d['vmlinux_records']:
    if 'ENABLED' in r['flags_decoded']:
        print('   rec %s %-24s %s refs=%s words %s -> %s (%s) literal %s' % (r['ip'], r['sym'], ','.join(r['flags_decoded']), r['refs'], r['words'],
                                                                r.get('target_sym'), r.get('target_is'), r.get('literal_sym')))
print('\nkprobes:')
for k in d['kprobes']:
    print('   %s %-34s flags %s saved opcode %s now %s (%s)' % (k['addr'], k['sym'], k['flags'], k['opcode'], k['word_at_addr'], k['kind_at_addr']))
lp = d.get('livepatch', {})
for p in lp.get('patches', []):
    print('\nlivepatch %s enabled=%s' % (p['mod'], p['enabled']))
    for o in p['objs']:
        for f in o['funcs']:
            print('   %s: %s %s -> %s patched=%s transition=%s' % (o['name'], f['old_name'], f['old_func'], f['new_func_sym'], f['patched'], f['transition']))
for o in lp.get('klp_ops', []):
    print('klp_ops %s fops %s func %s flags %s stack %s' % (o['klp_ops'], o['fops'], o['fops_func'], o['fops_flags'],
          ' '.join('%s->%s' % (f['old_name'], f['new_func_sym']) for f in o['func_stack'])))
if 'task_patch_state_counts' in lp:
    print('klp_transition_patch %s target_state %s task patch_state counts %s' % (lp['klp_transition_patch'], lp['klp_target_state'], lp['task_patch_state_counts']))
print('\nftrace_ops (ftrace_ops_list):')
for o in d['ftrace_ops']:
    print('   %s %s func %s flags %s%s filter %s' % (o['addr'], o['sym'], o['func_sym'], o['flags'],
          ' direct_call %s' % o['direct_call'] if o.get('direct_call') not in (None, '0x0') else '',
          [x[1] for x in o.get('filter_hash', [])] if 'filter_hash' in o else o.get('filter_hash_error')))
if t['guest'].get('kdi_ftrace_log'):
    print('\nkdi_ftrace.ko (guest kernel log):')
    for l in t['guest']['kdi_ftrace_log']:
        print('   ' + l)
