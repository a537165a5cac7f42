# shellcheck shell=bash
# bench/arm64-corpus/boot.sh (sourced by make-distro.sh and
# from-source/make-livepatch.sh): one dump's boot, as both recipes do it.

arm64_corpus=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# boot_dump NAME RAW IMAGE INITRD CPU APPEND PLT [--crash CMD DIR2]:
# boot-and-dump.py of IMAGE and INITRD (-cpu CPU, APPEND on the kernel command
# line, QEMU $QEMU) into RAW, logged to $BUILD/boot-NAME.log; stops the script
# when it made no dump. With PLT=1 the dump must have its modules out of BL
# range of the kernel: boot again (4 boots at most) until plt-placement.py
# says so.
boot_dump() {
  local name=$1 raw=$2 image=$3 initrd=$4 cpu=$5 app=$6 plt=$7 try
  shift 7
  for try in 1 2 3 4; do
    # ${3:-}: the crash dump's directory (--crash CMD DIR2), nothing without one
    # shellcheck disable=SC2086
    rm -rf "$raw" ${3:-}
    python3 "$arm64_corpus/boot-and-dump.py" --kernel "$image" --initrd "$initrd" --outdir "$raw" \
      --cpu "$cpu" --append "$app" --qemu "$QEMU" "$@" 2>&1 | tee "$BUILD/boot-$name.log"
    [ -f "$raw/vmcore.kdump" ] || { echo "boot of $name made no dump" >&2; exit 1; }
    [ "$plt" = 0 ] && break
    python3 "$arm64_corpus/plt-placement.py" "$raw/console.log" | tee -a "$BUILD/boot-$name.log" && break
    echo "$name: boot $try put modules within BL range of the kernel; booting again" | tee -a "$BUILD/boot-$name.log"
    [ "$try" = 4 ] && { echo "$name: 4 boots, modules always within range" >&2; exit 1; }
  done
}
