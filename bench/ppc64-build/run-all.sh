#!/bin/bash
# bench/ppc64-build/run-all.sh: two ppc64le kernels built from source, booted under QEMU
# pseries (TCG), dumped, with ground truth — for issue 14 (loader generations a and b).
#   6.12.107    Debian trixie linux-source-6.12 (6.12.107-1): sentinel .stubs loader,
#               mprofile-kernel ftrace (gcc 12: no -fpatchable-function-entry), no OOL stubs
#   7.2.13-genb Debian sid linux-source-7.2 (7.2.13-1) + revert-stub-counter.patch: sentinel
#               loader + out-of-line ftrace stubs (the 6.13 .. counter-fix generation)
# Debian 12 x86_64 host, root. Steps are skipped when their output exists (FORCE=1: redo all).
# Env: PB_BUILD (scratch, default /work/corpus-build/ppc64-build), PB_OUT (default /work/corpora/ppc64-build).
set -ex
T=$(cd "$(dirname "$0")" && pwd)
export PB_BUILD=${PB_BUILD:-/work/corpus-build/ppc64-build} PB_OUT=${PB_OUT:-/work/corpora/ppc64-build}
export PB_TOOLS_MNT=/pb-tools
W=$PB_BUILD; O=$PB_OUT
MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
mkdir -p $W $O
[ "$FORCE" = 1 ] && rm -rf $W/build-* $W/stage-* $W/dumps
N="nice -n 10"

# 1. host packages (bookworm)
apt-get install -y --no-install-recommends debootstrap python3 cpio gzip makedumpfile zstd xz-utils

# 2. chroots: trixie (cross gcc 12/14 for 6.12), sid (cross gcc 16 for 7.2, QEMU 11, drgn 0.3.0)
for d in trixie sid; do
	R=$W/$d-root
	[ -x $R/usr/bin/apt-get ] || $N debootstrap --variant=minbase --include=ca-certificates $d $R "$MIRROR"
	echo 'Acquire::Check-Valid-Until "false";' > $R/etc/apt/apt.conf.d/99no-valid-until
	cp /etc/resolv.conf $R/etc/resolv.conf || true
done
$T/chroot-mounts.sh up
COMMON="binutils-powerpc64le-linux-gnu make flex bison bc libelf-dev libssl-dev python3 cpio kmod xz-utils gcc libc6-dev rsync file"
chroot $W/trixie-root apt-get update
$N chroot $W/trixie-root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	$COMMON gcc-powerpc64le-linux-gnu gcc-12-powerpc64le-linux-gnu gcc-13-powerpc64le-linux-gnu
chroot $W/sid-root dpkg --add-architecture ppc64el
chroot $W/sid-root apt-get update
$N chroot $W/sid-root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	$COMMON gcc-powerpc64le-linux-gnu python3-drgn qemu-system-ppc zstd

# which trixie compilers pass the kernel's own -fpatchable-function-entry check (6.12's script):
# gcc 13 and 14 pass (=> ARCH_USING_PATCHABLE_FUNCTION_ENTRY, no mprofile-kernel `bl _mcount`),
# gcc 12 fails (=> -pg -mprofile-kernel). The 6.12 build uses gcc 12 for mprofile-kernel sites.

# 3. sources: linux-source-6.12 6.12.107-1 (trixie), linux-source-7.2 7.2.13-1 (sid), busybox-static ppc64el (sid)
cd $W
if [ ! -d linux-source-6.12 ]; then
	TB=/work/corpora/src/usr/src/linux-source-6.12.tar.xz
	if [ ! -f $TB ]; then
		chroot $W/trixie-root sh -c "cd $W && apt-get download linux-source-6.12=6.12.107-1"
		dpkg-deb -x linux-source-6.12_6.12.107-1_all.deb pkg612; TB=pkg612/usr/src/linux-source-6.12.tar.xz
	fi
	$N tar xf $TB; rm -rf pkg612
fi
if [ ! -d linux-source-7.2 ]; then
	chroot $W/sid-root sh -c "cd $W && apt-get download linux-source-7.2=7.2.13-1"
	dpkg-deb -x linux-source-7.2_7.2.13-1_all.deb pkg72 && $N tar xf pkg72/usr/src/linux-source-7.2.tar.xz && rm -rf pkg72
	# generation (b): revert the explicit stub counter (see README.md)
	(cd linux-source-7.2 && patch -p1 < $T/revert-stub-counter.patch)
fi
grep -q 'Find the next available entry' linux-source-7.2/arch/powerpc/kernel/module_64.c
if [ ! -x bb/usr/bin/busybox ]; then
	chroot $W/sid-root sh -c "cd $W && apt-get download busybox-static:ppc64el"
	mkdir -p bb && dpkg-deb -x busybox-static_*_ppc64el.deb bb
fi

# 4. builds (allnoconfig + ppc64le-corpus.config; vmlinux, samples, selftest klp modules, extmod/)
[ -f build-6.12/extmod/klp_stub_bug.ko ] || $N chroot $W/trixie-root env KCC=powerpc64le-linux-gnu-gcc-12 \
	PB_TOOLS_MNT=$PB_TOOLS_MNT bash $PB_TOOLS_MNT/build-kernel.sh $W/linux-source-6.12 $W/build-6.12 config
[ -f build-7.2genb/extmod/klp_stub_bug.ko ] || $N chroot $W/sid-root env \
	PB_TOOLS_MNT=$PB_TOOLS_MNT bash $PB_TOOLS_MNT/build-kernel.sh $W/linux-source-7.2 $W/build-7.2genb config
$T/stage.sh $W/build-6.12 $W/stage-6.12
$T/stage.sh $W/build-7.2genb $W/stage-7.2genb

# 5. boot + dump (QEMU 11.1 of the sid chroot) + truth, then lay out like /work/shared/corpus
QEMU="nice -n 10 chroot $W/sid-root qemu-system-ppc64"
for k in 6.12:6.12.107 7.2genb:7.2.13-genb; do
	st=${k%%:*}; kn=${k#*:}; args=""
	for mmu in radix hash; do
		D=$W/dumps/$kn-$mmu
		if [ ! -f $D/truth.json ]; then
			rm -rf $D
			python3 $T/boot-and-dump.py --kernel $W/stage-$st/vmlinux --initrd $W/stage-$st/initramfs.cpio.gz \
				--outdir $D --mmu $mmu --qemu "$QEMU"
			$T/finalize-dump.sh $W/stage-$st $D
		fi
		args="$args $D $kn-$mmu"
	done
	$T/publish.sh $W/stage-$st $kn $args
done
$T/chroot-mounts.sh down
