#!/bin/bash
# Build a ppc64le kernel (vmlinux + in-tree modules + selftest livepatch modules + extmod/)
# from SRC into BUILD_DIR. Runs INSIDE a Debian chroot (trixie: gcc 14 cross for 6.12;
# sid: gcc 16 cross for 7.2); the host runs it under `nice -n 10`.
# usage: build-kernel.sh SRC BUILD_DIR [config]   (config: also regenerate .config from the
#        fragment ppc64le-corpus.config + the version-specific one, FRAG=..., if given)
set -e
SRC=${1:?kernel source}; B=${2:?build dir}
M=${PB_TOOLS_MNT:-/pb-tools}
# KCC: the C compiler (default powerpc64le-linux-gnu-gcc), e.g. powerpc64le-linux-gnu-gcc-12
KCC=${KCC:-powerpc64le-linux-gnu-gcc}
MK="make ARCH=powerpc CROSS_COMPILE=powerpc64le-linux-gnu- CC=$KCC -C $SRC O=$B"
# config_from_fragment, build_klp_selftests
# shellcheck source=kbuild.sh
. "$M/kbuild.sh"
$KCC --version | head -1
if [ "$3" = config ]; then
	config_from_fragment "$MK" "$B" $M/ppc64le-corpus.config ${FRAG:+$M/$FRAG}
	cat "$B/fragment-not-applied.txt"
fi
time $MK -j2 vmlinux modules
# selftest livepatch modules (test_klp_*) as an external module build
build_klp_selftests "$MK" "$SRC" "$B"
KCC=$KCC bash $M/build-extmod.sh "$SRC" "$B"
