#!/bin/bash
# Build extmod/ (klp_tgt, klp_stub_bug, modarch_dump) against BUILD_DIR and post-process
# klp_stub_bug.ko into a real livepatch module with two klp relocation sections.
# Runs inside the chroot.  usage: build-extmod.sh SRC BUILD_DIR
set -e
SRC=${1:?kernel source}; B=${2:?build dir}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$B/extmod"; mkdir -p "$B/extmod"
cp "$here"/extmod/*.c "$here"/extmod/*.h "$here"/extmod/*.mk "$here"/extmod/Makefile "$B/extmod/"
# KBUILD_MODPOST_WARN=1: modpost must not fail on the undefined .klp.sym.* symbols
make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- -C $SRC O=$B M=$B/extmod KBUILD_MODPOST_WARN=1 -j2 modules
cd "$B/extmod"
mv klp_stub_bug.ko klp_stub_bug.ko.unconverted
python3 $here/klp-convert-lite.py klp_stub_bug.ko.unconverted klp_stub_bug.ko.tmp .rela.klptext .klp.rela.klp_tgt..klptext
python3 $here/klp-convert-lite.py klp_stub_bug.ko.tmp klp_stub_bug.ko .rela.klptext2 .klp.rela.vmlinux..klptext2
rm klp_stub_bug.ko.tmp
aarch64-linux-gnu-readelf -W -S klp_stub_bug.ko | grep -E 'klp|plt|ftrace_tramp'
aarch64-linux-gnu-readelf -W -s klp_stub_bug.ko | grep klp.sym
aarch64-linux-gnu-readelf -W -r klp_stub_bug.ko | grep -A3 "klp.rela"
