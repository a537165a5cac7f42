#!/bin/bash
# Build extmod/ (klp_tgt, klp_stub_bug, modarch_dump) against BUILD_DIR and post-process
# klp_stub_bug.ko into a real livepatch module with a klp relocation section.
# Runs inside the chroot.  usage: build-extmod.sh SRC BUILD_DIR
set -e
SRC=${1:?kernel source}; B=${2:?build dir}
M=${PB_TOOLS_MNT:-/pb-tools}
rm -rf "$B/extmod"; mkdir -p "$B/extmod"
cp "$M"/extmod/*.c "$M"/extmod/*.h "$M"/extmod/*.mk "$M"/extmod/Makefile "$B/extmod/"
# KBUILD_MODPOST_WARN=1: modpost must not fail on the undefined ".klp.sym.klp_tgt.tgt_secret,0"
make ARCH=powerpc CROSS_COMPILE=powerpc64le-linux-gnu- CC=${KCC:-powerpc64le-linux-gnu-gcc} -C $SRC O=$B M=$B/extmod KBUILD_MODPOST_WARN=1 -j2 modules
cd "$B/extmod"
mv klp_stub_bug.ko klp_stub_bug.ko.unconverted
python3 $M/klp-convert-lite.py klp_stub_bug.ko.unconverted klp_stub_bug.ko .rela.klptext .klp.rela.klp_tgt..klptext
powerpc64le-linux-gnu-readelf -W -S klp_stub_bug.ko | grep -E 'klp|stubs'
powerpc64le-linux-gnu-readelf -W -s klp_stub_bug.ko | grep klp.sym
powerpc64le-linux-gnu-readelf -W -r klp_stub_bug.ko | grep -A3 "klp.rela"
