#!/usr/bin/env python3
"""Cross-check of one crash dump dir: the bytes of klp_stub_bug's .stubs as the
guest printed them last before the dump (modarch_dump.ko's hexdump, from the last
'moddump' block, else the boot dmesg) against the bytes drgn read from the dump
(truth-drgn.json stubs_raw_hex). Prints one line; exit 1 on a difference.

usage: compare-stubs.py CASE_DIR
"""
import json, os, re, sys

c = sys.argv[1]
con = open(os.path.join(c, 'console.log'), errors='replace').read().replace('\r', '')
cc = os.path.join(c, 'crash-command.txt')
if os.path.exists(cc):
    con = con[:con.rfind('=== CORPUS: console command: ' + open(cc).read().strip())]
blocks = re.findall(r'=== CORPUS: BEGIN (moddump [^=]*?|dmesg) ===\n(.*?)=== CORPUS: END \1 ===', con, re.S)
name, body = blocks[-1]
raw = b''
for l in body.splitlines():
    m = re.search(r'MODDUMP klp_stub_bug stubs\+0x([0-9a-f]+): (.*)', l)
    if m:
        for w in m.group(2).split():
            raw += int(w, 16).to_bytes(4, 'little')
t = json.load(open(os.path.join(c, 'truth-drgn.json')))
mods = t['modules'] if isinstance(t, dict) else t
d = bytes.fromhex([m for m in mods if m['name'] == 'klp_stub_bug'][0]['stubs_raw_hex'])
n = min(len(d), len(raw))
ok = n > 0 and raw[:n] == d[:n]
print('klp_stub_bug .stubs: guest (%s, %d bytes) vs drgn (%d bytes): %s over the first %d bytes'
      % (name.strip(), len(raw), len(d), 'EQUAL' if ok else 'DIFFERENT', n))
sys.exit(0 if ok else 1)
