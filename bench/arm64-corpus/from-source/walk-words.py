#!/usr/bin/env python3
"""walk-words.py VMCORE.elf TRUTH.json WHAT... : the page-table words of drgn's translations

For each translation of truth.json (dump.translations: drgn's follow_phys(init_mm)) named
WHAT, the descriptors an MMU reads for it, read straight from the ELF dump's PT_LOADs
(not through any page-table reader): from __pa(swapper_pg_dir) (SYMBOL(swapper_pg_dir) -
kimage_voffset of VMCOREINFO), a 64K granule with a 52-bit TTBR1 (3 levels indexing VA
bits 51:42, 41:29 and 28:16; Arm ARM D8), stopping at a block (bits 1:0 = 0b01) or the
third level. Prints Go literals for arch/arm64's TestWalkRealK64:
  {what, pgd, va, drgn's pa, []uint64{entry address, entry, ...}},
Used on k64-va52-nokaslr (FRAG=arm64-64k.config KVAR=64k make-livepatch.sh)."""
import json, struct, sys

elf, truthp, want = sys.argv[1], sys.argv[2], sys.argv[3:]
t = json.load(open(truthp))
vi = t['dump']['vmcoreinfo']
assert vi['PAGESIZE'] == '65536' and vi['NUMBER(TCR_EL1_T1SZ)'] == '0xc', 'not a 64K 52-bit dump'
data = open(elf, 'rb').read()
phoff, = struct.unpack_from('<Q', data, 0x20)
phnum, = struct.unpack_from('<H', data, 0x38)
loads = []
for i in range(phnum):
    p_type, _, p_offset, _, p_paddr, p_filesz = struct.unpack_from('<IIQQQQ', data, phoff + 56 * i)
    if p_type == 1:
        loads.append((p_paddr, p_filesz, p_offset))


def rd(pa):
    for b, sz, off in loads:
        if b <= pa < b + sz:
            return struct.unpack_from('<Q', data, off + pa - b)[0]
    raise KeyError('physical %#x not in the dump' % pa)


pgd = int(vi['SYMBOL(swapper_pg_dir)'], 16) - int(vi['NUMBER(kimage_voffset)'], 16)
for e in t['dump']['translations']['entries']:
    if e['what'] not in want or 'pa' not in e:
        continue
    va, table, steps = int(e['va'], 16), pgd, []
    for lvl, (shift, width) in enumerate(((42, 10), (29, 13), (16, 13))):
        ea = table + ((va >> shift) & ((1 << width) - 1)) * 8
        w = rd(ea)
        steps.append('%#x, %#018x' % (ea, w))
        if w & 3 == 1 or lvl == 2:
            break
        table = w & ((1 << 48) - 1) & ~0xffff
    print('{"%s", %#x, %#x, %s, []uint64{%s}},' % (e['what'], pgd, va, e['pa'], ', '.join(steps)))
