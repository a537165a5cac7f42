#!/usr/bin/env python3
"""elf-for-makedumpfile.py IN.elf OUT.elf: a copy of QEMU's dump-guest-memory ELF that
makedumpfile 1.7.8 can read.

QEMU (11.1) writes the ELF header with e_ehsize 8, two section headers at offset 64
and the program headers after them (e_phoff 192). makedumpfile's get_elf64_phdr()
reads program header i at sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), ignoring
e_phoff, so it finds no PT_LOAD ("Can't get the number of PT_LOAD."). The copy has
the program headers moved to offset 64 (over the section headers, which nothing
needs), e_phoff 64, e_ehsize 64, no section headers; every note and page stays at
its file offset."""
import shutil, struct, sys

src, dst = sys.argv[1:3]
shutil.copyfile(src, dst)
with open(dst, 'r+b') as f:
    eh = bytearray(f.read(64))
    assert eh[:4] == b'\x7fELF' and eh[4] == 2 and eh[5] == 1
    e_phoff, = struct.unpack_from('<Q', eh, 32)
    e_phentsize, e_phnum = struct.unpack_from('<HH', eh, 54)
    f.seek(e_phoff)
    ph = f.read(e_phentsize * e_phnum)
    first = min(struct.unpack_from('<Q', ph, i * e_phentsize + 8)[0] for i in range(e_phnum))
    assert 64 + len(ph) <= first and 64 + len(ph) <= e_phoff + len(ph), 'no room at offset 64'
    struct.pack_into('<Q', eh, 32, 64)          # e_phoff
    struct.pack_into('<Q', eh, 40, 0)           # e_shoff
    struct.pack_into('<H', eh, 52, 64)          # e_ehsize
    struct.pack_into('<HHH', eh, 58, 0, 0, 0)   # e_shentsize, e_shnum, e_shstrndx
    f.seek(0)
    f.write(eh)
    f.write(ph)
    print('%s: program headers %d at 64 (were at %d), section headers dropped' % (dst, e_phnum, e_phoff))
