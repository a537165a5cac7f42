#!/usr/bin/env python3
"""Merge drgn-extracted truth (from the dump) and in-guest truth (console
MODDUMP lines) into truth.json, cross-check them and add a summary.

usage: make-truth.py DRGN.json GUEST.json OUT.json [--guest-stale]
  --guest-stale: the dump was taken after the guest state changed (panic dump);
                 the guest view is kept for reference, mismatches are expected.
"""
import json, sys


def opt_json(name):
    """the JSON of the last --NAME=FILE argument whose file exists (None without one)"""
    v = None
    for a in sys.argv:
        if a.startswith('--%s=' % name):
            try:
                v = json.load(open(a.split('=', 1)[1]))
            except FileNotFoundError:
                pass
    return v


dr = json.load(open(sys.argv[1])) if sys.argv[1] != '-' else None
drgn_error = None
for a in sys.argv:
    if a.startswith('--drgn-log='):
        try:
            lines = [l for l in open(a.split('=', 1)[1]).read().splitlines() if l.strip() and 'did not match any loaded modules' not in l]
            drgn_error = lines[-1] if (dr is None and lines) else None
        except FileNotFoundError:
            pass
gu = json.load(open(sys.argv[2]))
stale = '--guest-stale' in sys.argv
alt = opt_json('alt')
if dr is None and alt is not None:
    dr, alt = alt, None
res = {'source_note': 'dump: read from this dump file (vmcore-vmcoreinfo.elf) by the tool named in dump_tool '
       '(drgn 0.3.0 with its own page-table walker on radix; on hash, where drgn cannot translate, '
       'corpus-tools/pgtable-truth.py: our own Linux page-table walker feeding drgn as a memory reader, '
       'drgn only providing DWARF types/symbols); '
       'guest: printed inside the guest by modarch_dump.ko just before READY (console.log)',
       'dump_tool': dr['tool'] if dr else None, 'dump': dr, 'guest': gu}
kd = opt_json('kdump-json')
if kd is not None and dr is not None:
    res['kdump_truth_tool'] = kd['tool']
    res['kdump_truth_agrees_with_elf'] = json.dumps(kd['modules'], sort_keys=True) == json.dumps(dr['modules'], sort_keys=True)
if alt is not None and dr is not None:
    res['pgtable_walker_agrees_with_drgn'] = json.dumps(alt['modules'], sort_keys=True) == json.dumps(dr['modules'], sort_keys=True)
summary = []
mism = []
gmods = {m['name']: m for m in gu.get('modules', [])}
dmods = {m['name']: m for m in (dr or {}).get('modules', [])}
for name in sorted(set(gmods) | set(dmods)):
    d = dmods.get(name); g = gmods.get(name)
    src = d or g
    arch = src['arch']
    def I(v):
        return int(v, 0) if isinstance(v, str) else int(v)
    stubs = I(src.get('stubs_section_addr', '0x0'))
    ool = I(arch.get('ool_stubs', 0))
    s = {'name': name, 'struct_module': src['struct_module'],
         'stub_count': I(arch['stub_count']) if 'stub_count' in arch else None,
         'sentinel_slot': src.get('sentinel_slot'),
         'ool_stub_count': I(arch.get('ool_stub_count', 0)),
         'ool_stub_index': I(arch.get('ool_stub_index', 0)),
         'stubs_section_addr': hex(stubs), 'ool_stubs': hex(ool),
         'ool_stubs_offset_in_stubs': (ool - stubs) if ool and stubs else None,
         'ool_stubs_first_slot': ((ool - stubs) // 40) if ool and stubs else None}
    oo = (d or {}).get('ool_stubs_decoded') or (g or {}).get('ool') or []
    s['ool_ftrace_op_null'] = sum(1 for o in oo if 'ftrace_op' in o and I(o['ftrace_op']) == 0)
    s['ool_ftrace_op_syms'] = sorted(set(str(o.get('ftrace_op_sym')) for o in oo if 'ftrace_op' in o))
    slots = (d or {}).get('stub_slots') or (g or {}).get('stub_slots') or []
    magic_slots = [x['index'] for x in slots if I(x['magic']) == 0x73747562]
    s['slots_with_stub_magic'] = magic_slots
    if ool and stubs:
        first = (ool - stubs) // 40
        nool = -(-s['ool_stub_count'] * 24 // 40)
        inside = [i for i in magic_slots if first <= i < first + nool]
        s['stub_magic_slots_inside_ool_array'] = inside
        s['stub_count_covers_ool_array'] = s['stub_count'] >= first + nool if s['stub_count'] is not None else None
        s['sentinel_slot_after_ool_array'] = (s['sentinel_slot'] >= first + nool) if s['sentinel_slot'] is not None else None
    bad = []
    for o in oo:
        if 'insn' in o and o['insn'][0] != '7c0802a6' and s['ool_stub_index'] > o['index']:
            bad.append(o['index'])
    s['ool_entries_not_starting_with_mflr_r0'] = bad
    summary.append(s)
    if d and g:
        if d.get('sentinel_slot') != g.get('sentinel_slot'):
            mism.append('%s sentinel_slot drgn=%s guest=%s' % (name, d.get('sentinel_slot'), g.get('sentinel_slot')))
        for k in ('stub_count', 'ool_stub_count', 'ool_stub_index', 'ool_stubs', 'stubs_section', 'tramp', 'tramp_regs'):
            if k in d['arch'] and k in g['arch'] and I(d['arch'][k]) != I(g['arch'][k]):
                mism.append('%s arch.%s drgn=%s guest=%s' % (name, k, d['arch'][k], g['arch'][k]))
        graw = g.get('stubs_raw_hex', '')
        draw = d.get('stubs_raw_hex', '')
        n = min(len(graw), len(draw))
        if graw[:n] != draw[:n]:
            mism.append('%s .stubs bytes differ (compared %d bytes)' % (name, n // 2))
        for a, b in zip(d.get('ool_stubs_decoded', []), g.get('ool', [])):
            if 'insn' in a and (a['insn'] != b['insn'] or I(a['ftrace_op']) != I(b['ftrace_op'])):
                mism.append('%s ool[%d] drgn=%s/%s guest=%s/%s' % (name, a['index'], a['ftrace_op'], a['insn'], b['ftrace_op'], b['insn']))
    elif dr is not None and (d or g):
        mism.append('%s only in %s' % (name, 'drgn' if d else 'guest'))
res['summary'] = summary
res['dump_vs_guest_mismatches'] = mism if dr is not None else None
res['guest_view_stale'] = stale
res['drgn_error'] = drgn_error
json.dump(res, open(sys.argv[3], 'w'), indent=1)
for s in summary:
    print('%-28s stub_count=%-4s sentinel=%-4s ool_stub_count=%-3d ool_idx=%-3d ool_first_slot=%s null_ops=%d magic_in_ool=%s covers=%s' % (
        s['name'], s['stub_count'], s['sentinel_slot'], s['ool_stub_count'], s['ool_stub_index'], s['ool_stubs_first_slot'],
        s['ool_ftrace_op_null'], s.get('stub_magic_slots_inside_ool_array'), s.get('stub_count_covers_ool_array')))
print('dump truth from:', res['dump_tool'])
if 'pgtable_walker_agrees_with_drgn' in res:
    print('own page-table walker output identical to drgn output:', res['pgtable_walker_agrees_with_drgn'])
if drgn_error:
    print('drgn error:', drgn_error)
if 'kdump_truth_agrees_with_elf' in res:
    print('truth extracted from vmcore-vmcoreinfo.kdump identical to the ELF one:', res['kdump_truth_agrees_with_elf'])
print('mismatches dump vs guest:', len(mism) if dr is not None else 'n/a (no dump data)')
for m in mism[:20]:
    print('  ', m)
