#!/usr/bin/env python3
"""truth.txt of one crash dump dir: what the guest printed last before the dump.

usage: truth-text.py CASE_DIR > CASE_DIR/truth.txt
Reads CASE_DIR/console.log (the console up to the dump), scenario.txt,
steps.txt and crash-command.txt. Prints the scenario's description, the steps
the host ran, then the last occurrence of every '=== CORPUS: BEGIN X ===' block
(the boot-time dmesg block excepted; 'module kallsyms' cut to the klp_stub_bug
and klp_tgt lines: the whole block is in truth-guest.json), and for a crash the
exact command and the console from it to the end (the oops, as oops.txt).
"""
import os, re, sys

d = sys.argv[1]
def rd(name):
    p = os.path.join(d, name)
    return open(p, errors='replace').read().replace('\r', '') if os.path.exists(p) else ''
con = rd('console.log')
crash = rd('crash-command.txt').strip()
case = os.path.basename(os.path.abspath(d))
print('# %s: ground truth printed by the guest (from console.log)' % case)
print('kernel: 7.2.13-%s' % rd('kernel.txt').strip())
print('qemu: %s' % rd('qemu-cmdline.txt').strip())
print()
print('## scenario (bench/crash-dumps/scenario-*.txt)')
print(rd('scenario.txt').rstrip())
print()
print('## steps run before the dump')
print(rd('steps.txt').rstrip())
print()
cut = len(con)
if crash:
    i = con.rfind('=== CORPUS: console command: ' + crash)
    if i >= 0:
        cut = i
blocks = {}
order = []
for m in re.finditer(r'=== CORPUS: BEGIN (.*?) ===\n(.*?)=== CORPUS: END \1 ===', con[:cut], re.S):
    name = m.group(1)
    if name == 'dmesg':
        continue
    blocks[name] = m.group(2)
    if name in order:
        order.remove(name)
    order.append(name)
for name in order:
    body = blocks[name]
    if name == 'module kallsyms':
        body = ''.join(l + '\n' for l in body.splitlines() if '[klp_stub_bug]' in l or '[klp_tgt]' in l)
        name += ' (klp_stub_bug and klp_tgt lines only)'
    print('## %s' % name)
    print(body.rstrip())
    print()
if crash:
    print('## crash command')
    print(crash)
    print()
    print('## console from the crash command to the end (oops.txt)')
    print(con[cut:].rstrip())
