#!/usr/bin/env python3
"""Parse console.log of a corpus boot into JSON ground truth (in-guest view).

usage: parse-console.py console.log OUT.json
Collects the text blocks between '=== CORPUS: BEGIN X ===' / '=== CORPUS: END X ==='
markers and decodes the modarch_dump.ko printk lines ('MODDUMP ...') from the
dmesg block into per-module records.
"""
import json, re, sys

txt = open(sys.argv[1], errors='replace').read().replace('\r', '')
blocks = {}
for m in re.finditer(r'=== CORPUS: BEGIN (.*?) ===\n(.*?)=== CORPUS: END \1 ===', txt, re.S):
    blocks[m.group(1)] = m.group(2)
res = {'blocks': {k: v.splitlines() for k, v in blocks.items() if k != 'dmesg'}}
res['insmod_failed'] = re.findall(r'=== CORPUS: insmod (\S+) FAILED ===', txt)
res['insmod_order'] = re.findall(r'=== CORPUS: insmod (\S+)', txt)
mods = {}
cur = None
dm = blocks.get('dmesg', '')
for line in dm.splitlines():
    i = line.find('MODDUMP ')
    if i < 0:
        continue
    s = line[i + 8:]
    m = re.match(r'BEGIN module=(\S+) struct_module=(\S+) state=(\d+)', s)
    if m:
        cur = {'name': m.group(1), 'struct_module': m.group(2), 'state': int(m.group(3)),
               'arch': {}, 'mem': [], 'sections': {}, 'klp_info_sechdrs': [],
               'stubs_hexdump': [], 'stub_slots': [], 'ool': []}
        mods[cur['name']] = cur
        continue
    if cur is None or not s.startswith(cur['name'] + ' '):
        continue
    s = s[len(cur['name']) + 1:]
    for k, v in re.findall(r'arch\.(\w+)=(\S+)', s):
        cur['arch'][k] = v if v.startswith('0x') else int(v)
    m = re.match(r'mem\[(\d+)\] base=(\S+) size=(\S+)(?: is_rox=(\d))?', s)
    if m:
        cur['mem'].append({'type': int(m.group(1)), 'base': m.group(2), 'size': int(m.group(3), 16)})
        if m.group(4) is not None:
            cur['mem'][-1]['is_rox'] = m.group(4) == '1'
    m = re.match(r'sentinel_slot=(\d+)', s)
    if m:
        cur['sentinel_slot'] = int(m.group(1))
    m = re.match(r'section (\S+)=(\S+)', s)
    if m:
        cur['sections'][m.group(1)] = m.group(2)
    m = re.match(r'klp_info\.sechdr\[(\d+)\] name=(\S*) type=(\d+) flags=(\S+) addr=(\S+) size=(\S+)', s)
    if m:
        cur['klp_info_sechdrs'].append({'index': int(m.group(1)), 'name': m.group(2), 'type': int(m.group(3)),
                                        'flags': m.group(4), 'addr': m.group(5), 'size': m.group(6)})
    m = re.match(r'stubs_section_addr=(\S+)', s)
    if m:
        cur['stubs_section_addr'] = m.group(1)
    m = re.match(r'stubs\+0x([0-9a-f]+): (.*)', s)
    if m:
        cur['stubs_hexdump'].append([int(m.group(1), 16)] + m.group(2).split())
    m = re.match(r'stubslot\[(\d+)\] @(\S+) magic=(\S+) funcdata=(\S+) \((.*)\)', s)
    if m:
        cur['stub_slots'].append({'index': int(m.group(1)), 'addr': m.group(2), 'magic': m.group(3),
                                  'funcdata': m.group(4), 'funcdata_sym': m.group(5)})
    m = re.match(r'ool\[(\d+)\] @(\S+) ftrace_op=(\S+) \((.*?)\) insn=(\S+) (\S+) (\S+) (\S+) call=(\S+) \((.*?)\) ret=(\S+) func=(.*)', s)
    if m:
        cur['ool'].append({'index': int(m.group(1)), 'addr': m.group(2), 'ftrace_op': m.group(3),
                           'ftrace_op_sym': m.group(4), 'insn': list(m.group(5, 6, 7, 8)),
                           'call_target': m.group(9), 'call_target_sym': m.group(10),
                           'return_target': m.group(11), 'func_sym': m.group(12)})
for m in mods.values():
    # words in the hexdump are printed as host-order u32 (little-endian guest)
    raw = b''
    for row in m['stubs_hexdump']:
        for w in row[1:]:
            raw += int(w, 16).to_bytes(4, 'little')
    m['stubs_raw_hex'] = raw.hex()
    del m['stubs_hexdump']
    m['ool_ftrace_op_null_count'] = sum(1 for o in m['ool'] if int(o['ftrace_op'], 16) == 0)
res['modules'] = list(mods.values())
res['warnings'] = [l for l in txt.splitlines() if 'WARNING' in l or 'Oops' in l or 'BUG' in l]
json.dump(res, open(sys.argv[2], 'w'), indent=1)
print('modules:', len(mods), 'insmod failed:', res['insmod_failed'])
