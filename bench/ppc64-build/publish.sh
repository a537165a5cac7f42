#!/bin/bash
# Lay out one kernel and its dumps like /work/shared/corpus (run on the host).
# usage: publish.sh STAGE_DIR KERNEL_NAME [DUMP_SCRATCH_DIR DUMP_NAME]...
#   $PB_OUT/kernels/KERNEL_NAME/{vmlinux.zst,System.map,config,modules/*.ko,klp_stub_bug.ko.unconverted}
#   $PB_OUT/DUMP_NAME/{vmcore*.zst,vmcore*.kdump,truth.json,console.log,qemu-cmdline.txt,
#                      vmcoreinfo-location.txt,truth-summary.txt} + symlinks modules, vmlinux.zst
set -e
S=${1:?}; K=${2:?}; shift 2
O=${PB_OUT:?output dir}
KD=$O/kernels/$K
mkdir -p "$KD/modules"
[ -f "$KD/vmlinux.zst" ] || nice -n 10 zstd -q -T2 -12 "$S/vmlinux" -o "$KD/vmlinux.zst"
cp "$S/System.map" "$S/config" "$KD/"
cp "$S/klp_stub_bug.ko.unconverted" "$KD/"
rm -f "$KD"/modules/*.ko; cp "$S"/modules/*.ko "$KD/modules/"     # the exact files in the initramfs
while [ $# -ge 2 ]; do
	D=$1; N=$2; shift 2
	mkdir -p "$O/$N"
	for f in console.log qemu-cmdline.txt vmcoreinfo-location.txt truth.json truth-summary.txt \
	         vmcore.kdump vmcore-vmcoreinfo.kdump; do
		[ -f "$D/$f" ] && cp "$D/$f" "$O/$N/"
	done
	for f in vmcore.elf vmcore-vmcoreinfo.elf; do
		[ -f "$D/$f" ] && nice -n 10 zstd -q -f -T2 -3 "$D/$f" -o "$O/$N/$f.zst"
	done
	ln -sfn ../kernels/$K/modules "$O/$N/modules"
	ln -sfn ../kernels/$K/vmlinux.zst "$O/$N/vmlinux.zst"
	ls -la "$O/$N"
done
ls -la "$KD"
