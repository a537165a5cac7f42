#!/bin/bash
# The Debian sid chroot of bench/arm64-corpus: gcc-aarch64-linux-gnu (cross gcc 16)
# for the kernel build, QEMU 11.1 (qemu-system-arm: qemu-system-aarch64) for the
# boots, drgn 0.3.0 (python3-drgn) for the truth, and Debian's arm64
# makedumpfile run through qemu-user (qemu-aarch64) for the -d 31 kdump files.
# Bind mounts make $BUILD, $OUT and this worktree visible at the same paths inside.
# usage: chroot.sh setup|up|down|run CMD...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../sidchroot.sh
. "$here/../sidchroot.sh"
corpus_defaults arm64
setup() {
  mkdir -p "$BUILD" "$OUT"
  if [ ! -x "$R/usr/bin/apt-get" ]; then
    command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
    nice -n 10 debootstrap --variant=minbase --include=ca-certificates sid "$R" "$MIRROR"
  fi
  # the mirror's sid Release may be past its Valid-Until by the machine's clock
  echo 'Acquire::Check-Valid-Until "false";' > "$R/etc/apt/apt.conf.d/99no-valid-until"
  cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
  corpus_up
  chroot "$R" dpkg --add-architecture arm64
  chroot "$R" apt-get update -qq
  chroot "$R" env DEBIAN_FRONTEND=noninteractive nice -n 10 apt-get install -y -qq --no-install-recommends \
    gcc make flex bison bc libelf-dev libssl-dev python3 cpio kmod xz-utils zstd rsync file binutils \
    libc6-dev gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-system-arm ipxe-qemu python3-drgn \
    qemu-user dwarves
  # Debian's arm64 makedumpfile (an amd64 one cannot read arm64 dumps), run with qemu-aarch64
  chroot "$R" env DEBIAN_FRONTEND=noninteractive nice -n 10 apt-get install -y -qq --no-install-recommends makedumpfile:arm64 ||
    echo "makedumpfile:arm64 not installable: no -d 31 dumps" >&2
  chroot "$R" sh -c 'aarch64-linux-gnu-gcc --version | head -1; qemu-system-aarch64 --version | head -1;
    python3 -c "import drgn; print(\"drgn\", drgn.__version__)"; qemu-aarch64 /usr/bin/makedumpfile -v | head -1 || true'
}
corpus_chroot --lazy setup "$@"
