#!/usr/bin/env python3
"""walk-words.py VMCORE.elf TRUTH.json WHAT... : the page-table words of drgn's translations

For each translation of truth.json (dump.translations: drgn's follow_phys(init_mm)) named
WHAT, the descriptors an MMU reads for it, read straight from the ELF dump's PT_LOADs
(not through any page-table reader): from __pa(swapper_pg_dir) (SYMBOL(swapper_pg_dir) -
kimage_voffset of VMCOREINFO), with the granule of PAGESIZE and the TTBR1 VA size
64 - NUMBER(TCR_EL1_T1SZ) (Arm ARM D8: each level indexes PAGE_SHIFT - 3 VA bits, the
first level what is left), stopping at a block (bits 1:0 = 0b01) or the last level.
A table descriptor's next-level address is read as the architecture defines it for the
granule: 64K, bits 47:16 with PA bits 51:48 in descriptor bits 15:12 (FEAT_LPA); 4K/16K
with a 52-bit VA (FEAT_LPA2, TCR_EL1.DS = 1), bits 49:g with PA bits 51:50 in bits 9:8;
else bits 47:g. Prints Go literals for arch/arm64's TestWalkRealK64 / TestWalkReal16K:
  {what, pgd, va, drgn's pa, []uint64{entry address, entry, ...}},
Used on k64-va52-nokaslr (FRAG=arm64-64k.config KVAR=64k make-livepatch.sh) and
k16-va52-nokaslr (FRAG=arm64-16k.config KVAR=16k)."""
import json, struct, sys

elf, truthp, want = sys.argv[1], sys.argv[2], sys.argv[3:]
t = json.load(open(truthp))
vi = t['dump']['vmcoreinfo']
page = int(vi['PAGESIZE'])
g = page.bit_length() - 1
assert g in (12, 14, 16), 'PAGESIZE %d' % page
va_bits = 64 - int(vi['NUMBER(TCR_EL1_T1SZ)'], 0)
lpa2 = va_bits == 52 and g != 16
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


def next_table(w):
    if g == 16:
        return (w & ((1 << 48) - 1) & ~0xffff) | ((w >> 12) & 0xf) << 48
    if lpa2:
        return (w & ((1 << 50) - 1) & ~((1 << g) - 1)) | ((w >> 8) & 3) << 50
    return w & ((1 << 48) - 1) & ~((1 << g) - 1)


# (shift, width) of each level, the first one first
per = g - 3
levels = []
shift = g
while shift < va_bits:
    levels.append((shift, min(per, va_bits - shift)))
    shift += per
levels.reverse()

pgd = int(vi['SYMBOL(swapper_pg_dir)'], 16) - int(vi['NUMBER(kimage_voffset)'], 16)
for e in t['dump']['translations']['entries']:
    if e['what'] not in want or 'pa' not in e:
        continue
    va, table, steps = int(e['va'], 16), pgd, []
    for lvl, (shift, width) in enumerate(levels):
        ea = table + ((va >> shift) & ((1 << width) - 1)) * 8
        w = rd(ea)
        steps.append('%#x, %#018x' % (ea, w))
        if w & 3 == 1 or lvl == len(levels) - 1:
            break
        table = next_table(w)
    # the leaf's output address (same field layout as a table's) plus the offset
    # below the leaf size must be drgn's answer
    size = 1 << levels[len(steps) - 1][0]
    got = next_table(w) & ~(size - 1) | va & (size - 1)
    if got != int(e['pa'], 16):
        print('%s: the words give %#x, drgn %s' % (e['what'], got, e['pa']), file=sys.stderr)
        sys.exit(1)
    print('{"%s", %#x, %#x, %s, []uint64{%s}},' % (e['what'], pgd, va, e['pa'], ', '.join(steps)))
