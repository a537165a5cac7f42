#!/bin/bash
# Bind mounts the Debian chroots need (builds, QEMU, drgn see the same /work paths as the host).
# usage: chroot-mounts.sh up|down      (unmount before deleting ${PB_BUILD:?scratch build dir}!)
# Chroots: $PB_BUILD/sid-root (gcc 16 cross, QEMU, drgn) and $PB_BUILD/trixie-root (gcc 14 cross).
T=$(cd "$(dirname "$0")" && pwd)
B=${PB_BUILD:?scratch build dir}; O=${PB_OUT:?output dir}; M=${PB_TOOLS_MNT:-/pb-tools}
for R in $B/sid-root $B/trixie-root; do
	[ -d $R ] || continue
	case "$1" in
	up)
		for m in proc dev sys; do mountpoint -q $R/$m || mount --bind /$m $R/$m; done
		mkdir -p $R$B $R$O $R$M
		mountpoint -q $R$B || mount --bind $B $R$B
		mountpoint -q $R$O || mount --bind $O $R$O
		mountpoint -q $R$M || mount --bind "$T" $R$M ;;
	down)
		for m in $M $O $B /sys /dev /proc; do
			mountpoint -q $R$m && umount $R$m
		done; true ;;
	*) echo "usage: $0 up|down"; exit 1 ;;
	esac
done
