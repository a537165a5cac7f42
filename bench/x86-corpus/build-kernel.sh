#!/bin/bash
# Build the x86_64 livepatch corpus kernel (Debian sid linux-source-7.2
# 7.2.13-1) INSIDE the sid chroot (gcc 16): x86_64_defconfig + the fragment
# x86_64-livepatch.config, then vmlinux, bzImage and modules (the livepatch
# and ftrace samples among them).
# usage: build-kernel.sh SRC BUILD_DIR [config]   (config: regenerate .config)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SRC=${1:?kernel source dir}
B=${2:?build dir}
MK=(nice -n 10 make -C "$SRC" O="$B" ARCH=x86_64)
if [ "${3:-}" = config ] || [ ! -s "$B/.config" ]; then
  mkdir -p "$B"
  "${MK[@]}" x86_64_defconfig
  "$SRC/scripts/kconfig/merge_config.sh" -m -O "$B" "$B/.config" "$here/x86_64-livepatch.config"
  "${MK[@]}" olddefconfig
  # report fragment lines that did not make it into .config
  while IFS= read -r l; do
    case "$l" in
      CONFIG_*=*) grep -qx "$l" "$B/.config" || echo "config: wanted $l, got: $(grep "^${l%%=*}=" "$B/.config" || echo unset)" ;;
      "# CONFIG_"*" is not set") n=${l#\# }; n=${n%% *}; grep -q "^$n=" "$B/.config" && echo "config: wanted $n unset, got $(grep "^$n=" "$B/.config")" ;;
    esac
  done < "$here/x86_64-livepatch.config" || true
fi
time "${MK[@]}" -j2 vmlinux bzImage modules
