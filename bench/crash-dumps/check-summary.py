#!/usr/bin/env python3
"""Summarise check.sh's outputs: per crash dump, the oops (from the guest's
console) beside what kdump-inspect said: the PANIC line of `sys`, the crashing
task's frames around the exception, the klp_stub_bug rows of `stubs`, and the
audit findings for klp_stub_bug and klp_tgt (rule, where) with the audit's
exit status, with --modules and with only what lies beside the dump.

usage: check-summary.py OUT_DIR
"""
import json, os, re, sys

out = sys.argv[1]
def rd(p):
    try:
        return open(p, errors='replace').read()
    except FileNotFoundError:
        return ''
for case in sorted(os.listdir(out)):
    d = os.path.join(out, case)
    if not os.path.exists(os.path.join(d, 'kernel.txt')):
        continue
    print('=' * 100)
    print('%s (7.2.13-%s)  crash command: %s' % (case, rd(os.path.join(d, 'kernel.txt')).strip(),
          rd(os.path.join(d, 'crash-command.txt')).strip() or '(none: healthy dump)'))
    oops = rd(os.path.join(d, 'oops.txt'))
    for l in oops.splitlines():
        if re.match(r'(Oops|BUG:|Kernel panic|NIP |LR |NIP:|Faulting|Code:)', l):
            print('  guest: ' + l)
    for dump in ('vmcore.elf.zst', 'vmcore-vmcoreinfo.kdump'):
        repl = rd(os.path.join(d, 'check', 'repl-%s.txt' % dump))
        if not repl:
            continue
        print('  -- kdump-inspect on %s (%s)' % (dump, repl.strip().splitlines()[-1]))
        for l in repl.splitlines():
            if l.strip().startswith('PANIC:'):
                print('    sys: ' + l.strip())
        # bt: the frames from the first kernel exception frame to 3 frames after it
        lines = repl.splitlines()
        for i, l in enumerate(lines):
            if 'kernel exception frame' in l and not 'system reset' in l:
                print('    bt: ' + l.strip())
                k = i + 1
                while k < len(lines) and not lines[k].lstrip().startswith('#'):
                    if lines[k].strip().startswith('NIP:'):
                        print('    bt:   ' + lines[k].strip())
                    k += 1
                for l2 in lines[k:k + 4]:
                    print('    bt: ' + l2.strip())
                break
        m = re.search(r'^MODULE klp_stub_bug.*?(?=\nexit status)', repl, re.S | re.M)
        if m:
            for l in m.group(0).splitlines():
                if re.match(r'\s*(\d+|IDX|SLOT)\s', l) or 'stub_count' in l or 'warning' in l:
                    if re.match(r'\s*(9|10)\s+\S+\s+free\s+0\s+ok', l):
                        continue
                    print('    stubs: ' + l.rstrip())
        for kind, name in (('audit', 'audit-%s.txt' % dump), ('audit-beside', 'audit-beside-%s.txt' % dump)):
            txt = rd(os.path.join(d, 'check', name))
            if not txt:
                continue
            status = txt.strip().splitlines()[-1]
            head = [l.strip() for l in txt.splitlines()[:2] if 'findings' in l]
            print('    %s: %s; %s' % (kind, status, head[0] if head else ''))
        js = rd(os.path.join(d, 'check', 'audit-%s.json' % dump))
        if js:
            try:
                rep = json.loads(js)[0]
            except Exception as e:
                print('    audit json: %s' % e)
                continue
            rules = {}
            for f in rep.get('findings', []):
                rules[f['rule']] = rules.get(f['rule'], 0) + 1
            print('    audit rules (all modules): ' + ', '.join('%s x%d' % kv for kv in sorted(rules.items())))
            for f in rep.get('findings', []):
                if f.get('module') in ('klp_stub_bug', 'klp_tgt'):
                    print('    audit %-7s %-22s %-13s %s | %s' % (f['severity'], f['rule'], f['module'],
                          ' '.join(f.get('slots', [])), f['message'][:150]))
