#!/bin/bash
# The Debian sid chroot of bench/x86-corpus: gcc 16 for the kernel build,
# QEMU 11.1 (qemu-system-x86) for the livepatch-kernel dumps, drgn 0.3.0
# (python3-drgn) for the truth. Bind mounts make $BUILD, $OUT and this
# worktree visible at the same paths inside.
# usage: chroot.sh setup|up|down|run CMD...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../sidchroot.sh
. "$here/../sidchroot.sh"
corpus_defaults x86
setup() {
  mkdir -p "$BUILD"
  if [ ! -x "$R/usr/bin/apt-get" ]; then
    command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
    debootstrap --variant=minbase --include=ca-certificates,python3-drgn sid "$R" "$MIRROR"
  fi
  # the mirror's sid Release may be past its Valid-Until by the machine's clock
  echo 'Acquire::Check-Valid-Until "false";' > "$R/etc/apt/apt.conf.d/99no-valid-until"
  corpus_up
  chroot "$R" apt-get update -qq
  chroot "$R" env DEBIAN_FRONTEND=noninteractive nice -n 10 apt-get install -y -qq --no-install-recommends \
    gcc make flex bison bc libelf-dev libssl-dev python3 cpio kmod xz-utils zstd rsync file binutils \
    libc6-dev qemu-system-x86 python3-drgn
  chroot "$R" sh -c 'gcc --version | head -1; qemu-system-x86_64 --version | head -1; python3 -c "import drgn; print(\"drgn\", drgn.__version__)"'
}
corpus_chroot setup "$@"
