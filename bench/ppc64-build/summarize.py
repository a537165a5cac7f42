#!/usr/bin/env python3
"""Print the .stubs layout and ftrace call-site patterns of a truth.json (for README/report).
usage: summarize.py DUMP_DIR/truth.json [MODULE...]"""
import json, sys
t = json.load(open(sys.argv[1]))
d = t['dump']
want = set(sys.argv[2:])
print('uts_release', d['uts_release'], 'loader', d.get('loader_generation'))
print('mismatches dump vs guest:', t['dump_vs_guest_mismatches'])
NAMES = {'60000000': 'nop', '7c0802a6': 'mflr r0', 'f8010010': 'std r0,16(r1)', '7c0803a6': 'mtlr r0'}
def ins(w, addr=None):
    v = int(w, 16)
    if w in NAMES:
        return NAMES[w]
    if v >> 26 == 18:
        return ('bl' if v & 1 else 'b') + ' .%+d' % (((v & 0x03fffffc) ^ 0x02000000) - 0x02000000)
    return w
for m in d['modules']:
    if want and m['name'] not in want:
        continue
    k = m['stubs_size_from_ko']
    print('\n== %s  .stubs @%s  size %d (%d slots: term %d + rel24 %d + tramps %d + ool %d)  sentinel_slot=%s  arch=%s' % (
        m['name'], m['stubs_section_addr'], k['size'], k['total_slots'], k['terminator_slots'], k['rel24_stub_candidates'],
        k['ftrace_tramp_slots'], k['ool_slots'], m.get('sentinel_slot'),
        {a: v for a, v in m['arch'].items() if a in ('stub_count', 'tramp', 'tramp_regs', 'ool_stubs', 'ool_stub_count', 'ool_stub_index')}))
    for s in m.get('stub_slots', []):
        print('  slot %2d %s magic=%s funcdata=%s %-28s %s' % (s['index'], s['addr'], s['magic'], s['funcdata'],
              s['funcdata_sym'] or '', s['kind']))
    pats = {}
    for r in m.get('dyn_ftrace', []):
        w = r['words_ip-8_ip-4_ip_ip+4'] or []
        key = (tuple(r['flags_decoded']), ' ; '.join(ins(x) if x else '(unmapped)' for x in w[:3]),
               r.get('ip_branch_target_sym') or ('stub slot %s +%s (%s)' % (r['ip_branch_target_stub_slot'], r['ip_branch_target_stub_slot_offset'], r.get('ip_branch_target_stub_kind')) if 'ip_branch_target_stub_slot' in r else None))
        pats.setdefault(key, []).append(r['sym'])
    for (fl, p, tgt), syms in pats.items():
        print('  ftrace %-60s [ip-8; ip-4; ip] = %s  -> %s   %s' % (','.join(f.replace('FTRACE_FL_', '') for f in fl) or '-', p, tgt, syms[:4]))
