#!/usr/bin/env python3
"""Print the offset of the first instruction boundary at or after MIN bytes
into FUNC in an object file (objdump -d), e.g. for an int3 kprobe that must
not sit on the function's ftrace site (endbr64 at +0, the 5-byte __fentry__
call/NOP at +4: MIN 9).

usage: insn-offset.py OBJECT FUNC [MIN]   -> prints 0x..; exits 1 if not found
"""
import re, subprocess, sys

obj, func = sys.argv[1], sys.argv[2]
lo = int(sys.argv[3], 0) if len(sys.argv) > 3 else 9
out = subprocess.run(['objdump', '-d', '--no-show-raw-insn', obj], capture_output=True, text=True, check=True).stdout
base = None
for l in out.splitlines():
    m = re.match(r'^([0-9a-f]+) <(.*)>:$', l)
    if m:
        if base is not None:
            break
        if m.group(2) == func:
            base = int(m.group(1), 16)
        continue
    m = re.match(r'^\s*([0-9a-f]+):', l)
    if base is not None and m and int(m.group(1), 16) - base >= lo:
        print(hex(int(m.group(1), 16) - base))
        sys.exit(0)
sys.exit('%s: no instruction of %s at +%#x or later' % (obj, func, lo))
