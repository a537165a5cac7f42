#!/bin/bash
# Truth for one dump directory: drgn (in the sid chroot) reads the ELF dump,
# make-truth.py merges that with the guest's console truth into truth.json.
# usage: truth.sh DUMP_DIR KERNEL_DIR [--stale-guest] [--monitor FILE]
#   DUMP_DIR holds vmcore.elf(.zst), console.log, cpu-registers.txt
#   KERNEL_DIR holds vmlinux and modules/*.ko (debug)
# A dump without a VMCOREINFO note (no -device vmcoreinfo) gets a scratch copy
# with the guest's own note added (add-vmcoreinfo-note.py), for drgn only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-/work/corpus-build/x86}
d=$(cd "$1" && pwd); kdir=$(cd "$2" && pwd); shift 2
extra=("$@")
scratch=$BUILD/scratch/$(basename "$d")-$$
mkdir -p "$scratch"
trap 'rm -rf "$scratch"' EXIT
elf=$d/vmcore.elf
if [ ! -s "$elf" ]; then
  elf=$scratch/vmcore.elf
  zstd -q -d -f "$d/vmcore.elf.zst" -o "$elf"
fi
notes=$(readelf -n "$elf" 2>/dev/null || true)   # (not piped into grep -q: SIGPIPE + pipefail)
if ! grep -q VMCOREINFO <<< "$notes"; then
  # the console's truth (or, for in-flight dirs, the parent's console)
  con=$d/console.log; [ -s "$con" ] || con=$(dirname "$d")/console.log
  read -r paddr size < <(sed -n 's/^vmcoreinfo_location| //p' "$con" | head -1)
  python3 "$here/add-vmcoreinfo-note.py" "$elf" "$scratch/vmcore-vmcoreinfo.elf" "$paddr" "$size"
  [ "$elf" = "$scratch/vmcore.elf" ] && rm -f "$elf"
  elf=$scratch/vmcore-vmcoreinfo.elf
fi
"$here/chroot.sh" up
regs=(); [ -s "$d/cpu-registers.txt" ] && regs=(--regs "$d/cpu-registers.txt")
chroot "$BUILD/sid-root" nice -n 10 python3 "$here/truth-drgn.py" "$elf" "$kdir/vmlinux" "$kdir/modules" "$d/truth-drgn.json" "${regs[@]}"
python3 "$here/make-truth.py" "$d" "${extra[@]}"
