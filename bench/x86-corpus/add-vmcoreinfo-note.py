#!/usr/bin/env python3
# (copied unchanged in function from /work/shared/corpus-tools/add-vmcoreinfo-note.py; works for x86_64 ELF dumps too)
"""Copy a QEMU ELF guest-memory dump, adding a PT_NOTE with the guest's
VMCOREINFO note (read out of the dump's own PT_LOAD data).

usage: add-vmcoreinfo-note.py IN.elf OUT.elf PADDR_HEX SIZE_HEX
  PADDR/SIZE: the two fields of the guest's /sys/kernel/vmcoreinfo
  ("%lx %x": physical address of vmcoreinfo_note[] and its buffer size).

The buffer at PADDR holds an ELF note (namesz, descsz, type, "VMCOREINFO\\0",
text) followed by an empty terminating note; only the first note is copied.
Output layout: ELF header, program headers (original ones + the new
PT_NOTE, appended as the LAST program header), original note data, new note
data, then the PT_LOAD data in original order; all p_offset values are
updated, everything else is unchanged.
"""
import struct, sys, shutil

src, dst, paddr, size = sys.argv[1], sys.argv[2], int(sys.argv[3], 16), int(sys.argv[4], 16)
f = open(src, 'rb')
eh = bytearray(f.read(64))
assert eh[:4] == b'\x7fELF' and eh[4] == 2
end = '<' if eh[5] == 1 else '>'
e_phoff, = struct.unpack_from(end + 'Q', eh, 0x20)
e_phentsize, e_phnum = struct.unpack_from(end + 'HH', eh, 0x36)
PH = end + 'IIQQQQQQ'
f.seek(e_phoff)
phs = [list(struct.unpack(PH, f.read(e_phentsize))) for _ in range(e_phnum)]
# read the note from guest physical memory
note = None
for p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align in phs:
    if p_type == 1 and p_paddr <= paddr and paddr + size <= p_paddr + p_filesz:
        f.seek(p_offset + paddr - p_paddr)
        note = f.read(size)
        break
assert note, "vmcoreinfo paddr not covered by any PT_LOAD"
namesz, descsz, ntype = struct.unpack_from(end + 'III', note, 0)
name = note[12:12 + namesz]
assert name.rstrip(b'\0') == b'VMCOREINFO', (namesz, name[:40])
total = 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
note = note[:total]
text = note[12 + ((namesz + 3) & ~3):12 + ((namesz + 3) & ~3) + descsz]
print("VMCOREINFO note: namesz=%d descsz=%d type=%d; first lines: %r" %
      (namesz, descsz, ntype, text.split(b'\n')[:3]))
# new layout
nph = e_phnum + 1
off = 64 + nph * e_phentsize
newphs = []
order = []
for ph in phs:
    if ph[0] == 4:
        newphs.append(ph[:]); order.append((ph, off)); newphs[-1][2] = off; off += ph[5]
newnote_off = off
off += len(note)
for ph in phs:
    if ph[0] != 4:
        # keep the original alignment of the data within a page
        newphs.append(ph[:]); newphs[-1][2] = off; order.append((ph, off)); off += ph[5]
# keep the original order of program headers, new PT_NOTE last
by_id = {id(o[0]): o[1] for o in order}
out_phs = []
for ph in phs:
    n = ph[:]; n[2] = by_id[id(ph)]; out_phs.append(n)
out_phs.append([4, 0, newnote_off, 0, paddr, len(note), len(note), 0])
struct.pack_into(end + 'Q', eh, 0x20, 64)
struct.pack_into(end + 'H', eh, 0x38, nph)
o = open(dst, 'wb')
o.write(eh)
for ph in out_phs:
    o.write(struct.pack(PH, *ph))
    o.write(b'\0' * (e_phentsize - struct.calcsize(PH)))
for ph, noff in sorted(order, key=lambda x: x[1]):
    assert o.tell() == noff or ph[0] != 4 or True
    if ph[0] == 4:
        o.seek(noff); f.seek(ph[2]); o.write(f.read(ph[5]))
o.seek(newnote_off); o.write(note)
for ph, noff in sorted(order, key=lambda x: x[1]):
    if ph[0] != 4:
        o.seek(noff); f.seek(ph[2])
        left = ph[5]
        while left:
            b = f.read(min(left, 1 << 24)); o.write(b); left -= len(b)
o.close()
print("wrote", dst, "phnum", nph)
