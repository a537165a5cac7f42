#!/bin/bash
# Build an arm64 kernel (vmlinux + Image + in-tree modules + selftest livepatch modules
# + extmod/) from SRC into BUILD_DIR. Runs INSIDE the sid chroot (cross gcc 16);
# the host runs it under `nice -n 10`.
# usage: build-kernel.sh SRC BUILD_DIR [config]   (config: regenerate .config from
#        allnoconfig + arm64-corpus.config [+ $FRAG], listing what did not apply)
set -e
SRC=${1:?kernel source}; B=${2:?build dir}
here=$(cd "$(dirname "$0")" && pwd)
MK="make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- -C $SRC O=$B"
# config_from_fragment, build_klp_selftests
# shellcheck source=../../ppc64-build/kbuild.sh
. "$here/kbuild.sh"
aarch64-linux-gnu-gcc --version | head -1
if [ "$3" = config ]; then
	config_from_fragment "$MK" "$B" $here/arm64-corpus.config ${FRAG:+$here/$FRAG}
	echo "--- fragment lines not applied:"; cat "$B/fragment-not-applied.txt"
fi
time $MK -j2 vmlinux Image modules
# selftest livepatch modules (test_klp_*) as an external module build
build_klp_selftests "$MK" "$SRC" "$B"
bash $here/build-extmod.sh "$SRC" "$B"
