# shellcheck shell=bash
# the caller's variables (here, want_variants, ftrace_filter, the kprobes)
# shellcheck disable=SC2154
# bench/x86-corpus/common.sh (sourced by make-distro.sh and make-livepatch.sh,
# which set here= and repo=): the defaults and the steps both recipes take
# the same way. The steps use the caller's $here, and, for the initramfs,
# its ftrace_filter array and the kprobe variables kprobe_ftrace_alone,
# kprobe_ftrace_shared, kprobe_int3_func, int3_off.

# shellcheck source=../sidchroot.sh
. "$here/../sidchroot.sh"
corpus_defaults x86
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

step() { echo; echo "== $*"; }
run() { echo "+ $*"; "$@"; }

# variant_wanted NAME: whether NAME is one of the variants asked for (want_variants)
variant_wanted() { case " ${want_variants[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

# needs_boot D: whether dump directory D has no dump yet, or FORCE_BOOT is set
needs_boot() { [ -n "${FORCE_BOOT:-}" ] || [ ! -s "$1/vmcore.elf.zst" ]; }

# finish_initramfs IRD CPIO: the initramfs tree IRD gets /kdi/ftrace.filter,
# /kdi/kprobe.events (an ftrace-based kprobe alone on its function, one on a
# function ftrace also traces, an int3 one mid-function), /kdi/pre-commands
# (kprobes-optimization 0: the int3 kprobe stays int3), /kdi/symbols.list and
# /dev/console, and is archived (newc, sorted, root-owned) into CPIO; then its
# size and the lists are shown
finish_initramfs() {
  local ird=$1 cpio=$2
  printf '%s\n' "${ftrace_filter[@]}" > "$ird/kdi/ftrace.filter"
  cat > "$ird/kdi/kprobe.events" <<KP
p:kprobes/kdi_ftrace_alone $kprobe_ftrace_alone
p:kprobes/kdi_ftrace_shared $kprobe_ftrace_shared
p:kprobes/kdi_int3 $kprobe_int3_func+$int3_off
KP
  echo "write /proc/sys/debug/kprobes-optimization 0" > "$ird/kdi/pre-commands"   # the int3 kprobe stays int3
  grep -v '^#' "$here/symbols.list" > "$ird/kdi/symbols.list"
  mknod "$ird/dev/console" c 5 1
  (cd "$ird" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner 0:0) > "$cpio"
  ls -l "$cpio"; cat "$ird/kdi/load.list" "$ird/kdi/ftrace.filter" "$ird/kdi/kprobe.events"
}

# compress_dumps D: the ELF dumps of dump directory D (and of its in-flight
# directories) zstd-compressed in place, readable by all
compress_dumps() {
  local d=$1 f
  for f in "$d"/vmcore.elf "$d"/inflight-*/vmcore.elf; do
    [ -s "$f" ] && run zstd -q -T2 -3 --rm -f "$f" -o "$f.zst"
  done
  chmod a+r "$d"/vmcore.* "$d"/inflight-*/vmcore.* 2>/dev/null || true
}

# lay_out_dump D NAME KERNEL IRD LOGWORDS: dump directory D (variant NAME)
# after its boot: QEMU's sockets removed; links vmlinux and modules to
# OUT/kernels/KERNEL (and, in each in-flight directory, console.log and
# qemu-cmdline.txt to the boot's); the guest's load list and ftrace/kprobe
# lists from the initramfs tree IRD; the guest's own log lines (kdi-init:
# LOGWORDS, an alternation, and KDI-ERROR); truth.sh on D and each in-flight
# directory
lay_out_dump() {
  local d=$1 name=$2 kname=$3 ird=$4 words=$5 x rel
  rm -f "$d/cmd.sock" "$d/qmp.sock" "$d/mon.sock"
  for x in "$d" "$d"/inflight-*; do
    [ -d "$x" ] || continue
    rel=../kernels/$kname; [ "$x" != "$d" ] && rel=../../kernels/$kname
    ln -sfn "$rel/vmlinux" "$x/vmlinux"
    ln -sfn "$rel/modules" "$x/modules"
    if [ "$x" != "$d" ]; then
      ln -sfn ../console.log "$x/console.log"
      ln -sfn ../qemu-cmdline.txt "$x/qemu-cmdline.txt"
    fi
  done
  cp "$ird/kdi/load.list" "$d/guest-load.list"
  cat "$ird/kdi/ftrace.filter" "$ird/kdi/kprobe.events" > "$d/guest-ftrace.txt"
  grep -E "kdi-init: ($words)|KDI-ERROR" "$d/console.log" || true
  step "truth: $name (drgn in the sid chroot + the guest's console)"
  "$here/truth.sh" "$d" "$OUT/kernels/$kname"
  for x in "$d"/inflight-*; do
    [ -d "$x" ] && "$here/truth.sh" "$x" "$OUT/kernels/$kname" --stale-guest --monitor "$x/monitor.json"
  done
  ls -l "$d"
}
