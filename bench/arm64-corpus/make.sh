#!/bin/bash
# bench/arm64-corpus/make.sh [DUMP...]: the whole arm64 corpus from an empty machine.
#   1. chroot.sh setup: a Debian sid chroot (debootstrap) with the cross binutils/gcc 16,
#      QEMU 11.1 (qemu-system-aarch64), drgn 0.3.0, qemu-user + makedumpfile:arm64
#      (skipped when the chroot exists; `chroot.sh setup` again re-installs the packages)
#   2. make-distro.sh: the pinned Debian arm64 kernel packages, kdi_ftrace.ko, the guest
#      initramfs, the boots and dumps, the truth (each step skipped when its output exists)
# Default dumps: distro-kaslr (+ distro-kaslr-sysrq) distro-nokaslr distro-a53 distro-ftrace-ops
# distro-ftrace-ops-nokaslr (4K pages), distro16k-kaslr distro16k-nokaslr (16K pages).
# Env: BUILD (scratch, default /work/corpus-build/arm64), OUT (default /work/corpora/arm64),
#      FORCE_BOOT=1 (boot again), FORCE_TRUTH=1 (recompute truth.json from the kept raw files).
# Needs: root, debootstrap (installed with apt-get if missing), Go (/usr/local/go or $GO) for
# the guest's /init, ~10 GB in BUILD (the -dbg package alone is 1.2 GB, the chroot 2.7 GB).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export BUILD=${BUILD:-/work/corpus-build/arm64} OUT=${OUT:-/work/corpora/arm64}
mkdir -p "$BUILD" "$OUT"
[ -x "$BUILD/sid-root/usr/bin/apt-get" ] && [ -x "$BUILD/sid-root/usr/bin/qemu-system-aarch64" ] ||
  "$here/chroot.sh" setup 2>&1 | tee "$BUILD/setup.log"
t0=$(date +%s)
# the 4K dumps (FLAVOUR=arm64), then the 16K ones (FLAVOUR=arm64-16k: dumps distro16k-*)
k4=() k16=()
for d in "$@"; do case $d in distro16k-*) k16+=("$d") ;; *) k4+=("$d") ;; esac; done
if [ $# = 0 ] || [ ${#k4[@]} -gt 0 ]; then
  FLAVOUR=arm64 "$here/make-distro.sh" "${k4[@]}" 2>&1 | tee -a "$BUILD/make.log"
fi
if [ $# = 0 ] || [ ${#k16[@]} -gt 0 ]; then
  FLAVOUR=arm64-16k "$here/make-distro.sh" "${k16[@]}" 2>&1 | tee -a "$BUILD/make.log"
fi
echo "make.sh: $(( $(date +%s) - t0 )) s" | tee -a "$BUILD/make.log"
