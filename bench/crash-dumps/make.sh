#!/usr/bin/env bash
# bench/crash-dumps/make.sh: real dumps of real crashes of the corpus's own
# ppc64le 7.2.13 kernels (the buggy kernel dying of the OOL-stub/klp-stub
# overlap, a livepatch crash on the fixed kernel, an ordinary sysrq-c panic),
# booted under QEMU TCG and dumped from the QEMU monitor. See README.md.
#
# usage: bench/crash-dumps/make.sh [STEP...]
#   steps (default: all, in this order): setup stage boot finalize check
#   boot runs every scenario-*.txt (or only those named in $CASES, e.g.
#   CASES="buggy-ool-op-over-stub fixed-sysrq-c"); a scenario is skipped when
#   its dump dirs exist, unless FORCE_BOOT=1.
# Environment: BUILD (scratch, default /work/corpus-build/crash: the Debian sid
# chroot with QEMU 11 and drgn, busybox, staged vmlinux + initramfs, QEMU run
# dirs), OUT (dumps, default /work/corpora/crash), CORPUS (default
# /work/shared/corpus: the kernels used as they are).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-/work/corpus-build/crash}
OUT=${OUT:-/work/corpora/crash}
CORPUS=${CORPUS:-/work/shared/corpus}
R=$BUILD/sid-root
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
. "$repo/bench/sidchroot.sh"

steps=("$@"); [ ${#steps[@]} -gt 0 ] || steps=(setup stage boot finalize check)
step() { echo; echo "== $*"; }

mounts_up() { bind_up "$R" "$BUILD" "$OUT"; }
mounts_down() { bind_down "$R" "$OUT" "$BUILD"; }   # run before deleting $BUILD

do_setup() {
  step "Debian sid chroot with QEMU 11 (qemu-system-ppc) and drgn: $R"
  mkdir -p "$BUILD" "$OUT"
  ensure_sid_chroot "$R" --include=ca-certificates
  echo 'Acquire::Check-Valid-Until "false";' > "$R/etc/apt/apt.conf.d/99no-valid-until"
  mounts_up
  # binutils-powerpc64le-linux-gnu: objcopy --decompress-debug-sections for drgn (see do_stage)
  if ! chroot "$R" sh -c 'command -v qemu-system-ppc64 && command -v drgn && command -v powerpc64le-linux-gnu-objcopy' >/dev/null; then
    chroot "$R" dpkg --add-architecture ppc64el
    chroot "$R" apt-get update -q
    chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      qemu-system-ppc python3 python3-drgn binutils-powerpc64le-linux-gnu
  fi
  chroot "$R" qemu-system-ppc64 --version | head -1
  chroot "$R" dpkg-query -W python3-drgn
  step "busybox-static ppc64el (the corpus initramfs's shell)"
  if [ ! -x "$BUILD/bb/usr/bin/busybox" ]; then
    mkdir -p "$BUILD/dl"
    chroot "$R" sh -c "cd $BUILD/dl && apt-get download busybox-static:ppc64el"
    dpkg-deb -x "$BUILD"/dl/busybox-static_*_ppc64el.deb "$BUILD/bb"
  fi
  ls -l "$BUILD/bb/usr/bin/busybox"
  command -v makedumpfile >/dev/null || apt-get install -y -q makedumpfile
  command -v zstd >/dev/null || apt-get install -y -q zstd
}

do_stage() {
  mounts_up
  step "kernels: copies of $CORPUS/kernels/7.2.13-{fixed,buggy} in $OUT/kernels (vmlinux.zst, System.map, config, modules/)"
  for v in fixed buggy; do
    k=$OUT/kernels/7.2.13-$v
    mkdir -p "$k/modules"
    for f in vmlinux.zst System.map config; do cmp -s "$CORPUS/kernels/7.2.13-$v/$f" "$k/$f" || cp "$CORPUS/kernels/7.2.13-$v/$f" "$k/$f"; done
    for f in "$CORPUS/kernels/7.2.13-$v/modules"/*.ko; do cmp -s "$f" "$k/modules/${f##*/}" || cp "$f" "$k/modules/"; done
    chmod -R a-w "$k"/modules/*.ko "$k"/vmlinux.zst
    s=$BUILD/stage/7.2.13-$v
    mkdir -p "$s"
    [ -s "$s/vmlinux" ] || zstd -dq "$k/vmlinux.zst" -o "$s/vmlinux"
    # initramfs: as corpus-tools/make-initramfs.sh, with bench/crash-dumps/guest-init.sh as /init
    D=$(mktemp -d)
    mkdir -p "$D"/{bin,proc,sys,dev,tmp,modules}
    cp "$BUILD/bb/usr/bin/busybox" "$D/bin/busybox"
    mknod "$D/dev/console" c 5 1
    mknod "$D/dev/null" c 1 3
    cp "$here/guest-init.sh" "$D/init"; chmod +x "$D/init"
    cp "$repo/bench/lib/corpus-guest.sh" "$D/corpus-guest.sh"   # sourced by /init
    cp "$k"/modules/*.ko "$D/modules/"
    (cd "$D" && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 2>/dev/null | gzip -9n) > "$s/initramfs.cpio.gz"
    rm -rf "$D"
    # drgn 0.3.0 cannot load the corpus .ko files, whose .debug_* sections are
    # SHF_COMPRESSED ("libelf error: section does not contain compressed data"):
    # it reads decompressed copies (same bytes otherwise) made here
    mkdir -p "$s/ko-plain"
    for f in "$k"/modules/*.ko; do
      [ -s "$s/ko-plain/${f##*/}" ] || chroot "$R" powerpc64le-linux-gnu-objcopy --decompress-debug-sections "$f" "$s/ko-plain/${f##*/}"
    done
    ls -l "$s"
  done
}

# scenario-NAME.txt: its first line "# kernel: fixed|buggy" picks the kernel,
# "# append: ..." adds to the kernel command line.
do_boot() {
  mounts_up
  for sc in "$here"/scenario-*.txt; do
    name=$(basename "$sc" .txt); name=${name#scenario-}
    if [ -n "${CASES:-}" ] && ! grep -qw -- "$name" <<<"$CASES"; then continue; fi
    kern=$(sed -n 's/^# kernel: //p' "$sc")
    extra=$(sed -n 's/^# append: //p' "$sc")
    cases=$(awk '$1=="dump"||$1=="crash"{print $2}' "$sc")
    have=1; for c in $cases; do [ -s "$OUT/$c/vmcore.elf" ] || [ -s "$OUT/$c/vmcore.elf.zst" ] || have=0; done
    if [ $have = 1 ] && [ -z "${FORCE_BOOT:-}" ]; then echo "have $cases"; continue; fi
    step "boot $name ($kern kernel${extra:+, $extra}) -> $cases"
    s=$BUILD/stage/7.2.13-$kern
    mkdir -p "$BUILD/run"
    nice -n 10 python3 "$here/boot-crash.py" --kernel "$s/vmlinux" --initrd "$s/initramfs.cpio.gz" \
      --rundir "$BUILD/run/$name" --outroot "$OUT" --scenario "$sc" --append-extra "$extra" \
      --qemu "nice -n 10 chroot $R qemu-system-ppc64" 2>&1 | tee "$BUILD/run/$name.log"
    for c in $cases; do echo "$kern" > "$OUT/$c/kernel.txt"; cp "$sc" "$OUT/$c/scenario.txt"; done
  done
}

do_finalize() { mounts_up; bash "$here/finalize.sh"; }
do_check() { bash "$here/check.sh"; }

mkdir -p "$BUILD" "$OUT"
# the chroot bind-mounts $BUILD and $OUT into itself: never leave them mounted
# (an `rm -rf $BUILD` would then walk into $OUT through the chroot)
trap mounts_down EXIT
for s in "${steps[@]}"; do "do_$s"; done
