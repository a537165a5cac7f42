#!/usr/bin/env bash
# bench/crash-dumps/finalize.sh: turn each raw case dir of $OUT (written by
# boot-crash.py) into a corpus-style dump dir:
#   vmcore.elf.zst            QEMU's ELF dump (no VMCOREINFO note), zstd
#   vmcore-vmcoreinfo.kdump   QEMU's kdump-zlib (flattened) reassembled by
#                             makedumpfile -R, VMCOREINFO + utsname added
#                             (add-vmcoreinfo-kdump.py, as the corpus does)
#   modules, vmlinux.zst      real symlinks to ../kernels/7.2.13-KERNEL/...
#   console.log, qemu-cmdline.txt, crash-command.txt, steps.txt, scenario.txt
#   vmcoreinfo-location.txt   the guest's /sys/kernel/vmcoreinfo
#   oops.txt                  the console from the crash command to the end
#   truth.txt                 what the guest printed last before the dump
#   truth-guest.json          the same, parsed (corpus-tools/parse-console.py)
#   stubs-guest-vs-drgn.txt   klp_stub_bug's .stubs bytes: guest print vs drgn
#   truth-drgn.json, drgn.log truth-drgn.py (corpus-tools/truth-drgn.py, its
#                             helpers in bench/lib/drgntruth.py) run by drgn
#                             0.3.0 on the ELF dump (independent reading of every
#                             module; drgn gets the .ko copies with decompressed DWARF)
# Idempotent: a dir that already has vmcore.elf.zst and no vmcore.elf is only
# re-linked and its truth files rewritten.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-/work/corpus-build/crash}
OUT=${OUT:-/work/corpora/crash}
R=$BUILD/sid-root

# drgn runs in the chroot, which sees $BUILD: a copy of truth-drgn.py and its helpers there
# shellcheck source=../lib/drgn-script.sh
. "$here/../lib/drgn-script.sh"
drgn_script=$(copy_drgn_script "$BUILD/tools" "$here/truth-drgn.py")
for d in "$OUT"/*/; do
  d=${d%/}; case=${d##*/}
  [ -f "$d/kernel.txt" ] || continue
  kern=$(cat "$d/kernel.txt")
  echo "== $case ($kern)"
  ln -sfn "../kernels/7.2.13-$kern/modules" "$d/modules"
  ln -sfn "../kernels/7.2.13-$kern/vmlinux.zst" "$d/vmlinux.zst"
  con=$d/console.log
  # the last vmcoreinfo block the guest printed: "PADDR SIZE"
  tr -d '\r' < "$con" | awk '/=== CORPUS: BEGIN vmcoreinfo ===/{getline; v=$0} END{print v}' > "$d/vmcoreinfo-location.txt"
  read -r PADDR SIZE < "$d/vmcoreinfo-location.txt"
  UN=$(tr -d '\r' < "$con" | awk '/=== CORPUS: BEGIN uname ===/{getline; v=$0} END{print v}')
  need_elf=0
  [ -f "$d/vmcore-vmcoreinfo.kdump" ] || need_elf=1
  [ -s "$d/truth-drgn.json" ] || need_elf=1
  if [ -f "$d/vmcore.elf" ]; then
    zstd -q -f -T2 "$d/vmcore.elf" -o "$d/vmcore.elf.zst"
    elf=$d/vmcore.elf
  elif [ $need_elf = 1 ]; then
    zstd -q -d -f "$d/vmcore.elf.zst" -o "$BUILD/vmcore.elf"
    elf=$BUILD/vmcore.elf
  fi
  if [ $need_elf = 1 ]; then
    python3 "$here/add-vmcoreinfo-note.py" "$elf" "$BUILD/vmcore-vmcoreinfo.elf" "$PADDR" "$SIZE"
    if [ -f "$d/vmcore.kdump" ]; then
      makedumpfile -R "$BUILD/vmcore-raw.kdump" < "$d/vmcore.kdump" > "$BUILD/makedumpfile-R.log" 2>&1
      python3 "$here/add-vmcoreinfo-kdump.py" "$BUILD/vmcore-raw.kdump" "$d/vmcore-vmcoreinfo.kdump" "$BUILD/vmcore-vmcoreinfo.elf" "$UN"
    fi
    # independent reading: drgn (in the sid chroot) on the ELF with the VMCOREINFO note
    s=$BUILD/stage/7.2.13-$kern
    chroot "$R" drgn -c "$BUILD/vmcore-vmcoreinfo.elf" -s "$s/vmlinux" $(for k in "$s/ko-plain"/*.ko; do echo -s "$k"; done) \
      "$drgn_script" "$d/truth-drgn.json" "$s/ko-plain" > "$d/drgn.log" 2>&1 || echo "drgn FAILED (see $d/drgn.log)"
  fi
  rm -f "$d/vmcore.elf" "$d/vmcore.kdump" "$BUILD/vmcore.elf" "$BUILD/vmcore-vmcoreinfo.elf" "$BUILD/vmcore-raw.kdump"
  chmod 444 "$d"/vmcore*
  # oops.txt: from the crash command (if any) to the end of the console
  if [ -f "$d/crash-command.txt" ]; then
    tr -d '\r' < "$con" | awk '/=== CORPUS: console command: /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' > "$d/oops.txt"
  else
    rm -f "$d/oops.txt"
  fi
  python3 "$here/parse-console.py" "$con" "$d/truth-guest.json" > /dev/null
  python3 "$here/truth-text.py" "$d" > "$d/truth.txt"
  python3 "$here/compare-stubs.py" "$d" | tee "$d/stubs-guest-vs-drgn.txt"
  # the oops text is small and is the ground truth for `why`: keep a copy in the repository
  if [ -f "$d/oops.txt" ]; then mkdir -p "$here/oops"; cp "$d/oops.txt" "$here/oops/$case.txt"; fi
done
cp "$here/README.md" "$OUT/README.md"
