#!/usr/bin/env bash
# bench/x86-corpus/make-livepatch.sh: Debian sid's linux-source-7.2
# (7.2.13-1) built for x86_64 (x86_64_defconfig + x86_64-livepatch.config,
# gcc 16 in the sid chroot), booted under QEMU 11.1 TCG (the sid chroot's
# qemu-system-x86; q35, 2 CPUs, 1 GiB) with the livepatch and ftrace samples
# loaded, the function tracer on one module, an ftrace and an int3 kprobe;
# a steady dump (ELF + kdump-zlib), then dumps that catch a text-poke batch
# in flight while the guest toggles the function tracer on every function.
#
# usage: bench/x86-corpus/make-livepatch.sh [VARIANT...]
#   VARIANT: livepatch-kaslr (default), livepatch-its (see below)
# env: BUILD (default /work/corpus-build/x86), OUT (default /work/corpora/x86),
#      MIRROR, FORCE_BOOT=1, TRIES (in-flight tries, default 400), KEEP (default 4)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# BUILD, OUT, MIRROR, GO; step, run, finish_initramfs, compress_dumps, lay_out_dump
# shellcheck source=common.sh
. "$here/common.sh"
TRIES=${TRIES:-400}
KEEP=${KEEP:-4}
version=7.2.13-1
kname=7.2.13-livepatch
kdir=$OUT/kernels/$kname
B=$BUILD/build-lp
SRC=$BUILD/src/linux-source-7.2

# name | -cpu | extra kernel command line | vmcoreinfo device | in-flight tries
variants_all=(
  "livepatch-kaslr|max|no_timer_check|1|$TRIES"
  "livepatch-its|max,vendor=GenuineIntel|setcpuid=ibrs_enhanced no_timer_check|1|0"
)
want_variants=("$@")
[ ${#want_variants[@]} -gt 0 ] || want_variants=(livepatch-kaslr)

# modules (path under the build dir, parameters), in load order; "!..." lines
# are guest commands (livepatches must not be enabled during another's transition)
modules=(
  "net/ipv4/tcp_vegas.ko"
  "net/ipv4/tcp_yeah.ko"
  "samples/livepatch/livepatch-shadow-mod.ko"
  "samples/livepatch/livepatch-callbacks-mod.ko"
  "samples/livepatch/livepatch-sample.ko"
  "!wait-livepatch"
  "samples/livepatch/livepatch-shadow-fix1.ko"
  "!wait-livepatch"
  "samples/livepatch/livepatch-shadow-fix2.ko"
  "!wait-livepatch"
  "samples/livepatch/livepatch-callbacks-demo.ko"
  "!wait-livepatch"
  "samples/ftrace/ftrace-direct.ko"
  "samples/ftrace/ftrace-direct-too.ko"
  "samples/ftrace/ftrace-ops.ko persist=1 nr_function_calls=1000 nr_ops_relevant=2 nr_ops_irrelevant=1 save_regs=1"
  "samples/trace_events/trace-events-sample.ko"
)
# function tracer on one module (partly livepatched) and two vmlinux functions
# (one of them livepatched by livepatch-sample)
ftrace_filter=(":mod:livepatch_shadow_mod" "cmdline_proc_show" "vfs_read")
kprobe_ftrace_alone="tcp_vegas_state"
kprobe_ftrace_shared="dummy_check"        # in livepatch_shadow_mod: traced and livepatched too
kprobe_int3_func="tcp_yeah_cong_avoid"


step "sid chroot (gcc 16, QEMU 11.1, drgn 0.3.0)"
"$here/chroot.sh" setup

step "linux-source-7.2 $version (sid, SHA256 from the Packages index)"
mkdir -p "$BUILD/dl"
[ -s "$BUILD/dl/Packages-sid-amd64" ] || curl -fsSL "$MIRROR/dists/sid/main/binary-amd64/Packages.xz" | xz -d > "$BUILD/dl/Packages-sid-amd64"
read -r fn sha < <(awk -v want=linux-source-7.2 -v ver="$version" '
  /^Package: /{pkg=$2} /^Version: /{v=$2} /^Filename: /{fn=$2} /^SHA256: /{sha=$2}
  /^$/{ if (pkg==want && v==ver) print fn, sha; pkg="" }' "$BUILD/dl/Packages-sid-amd64")
deb=$BUILD/dl/$(basename "$fn")
if [ ! -s "$deb" ]; then
  curl -fsSL --retry 3 -o "$deb.part" "$MIRROR/$fn"
  echo "$sha  $deb.part" | sha256sum -c --quiet -
  mv "$deb.part" "$deb"
fi
if [ ! -s "$SRC/Makefile" ]; then
  mkdir -p "$BUILD/src"
  dpkg-deb -x "$deb" "$BUILD/src/pkg"
  (cd "$BUILD/src" && nice -n 10 tar xf pkg/usr/src/linux-source-7.2.tar.xz)
fi
grep -m3 -E '^(VERSION|PATCHLEVEL|SUBLEVEL) =' "$SRC/Makefile"

step "build (in the chroot, make -j2 under nice)"
if [ ! -s "$B/arch/x86/boot/bzImage" ] || [ ! -s "$B/samples/livepatch/livepatch-sample.ko" ]; then
  "$here/chroot.sh" run bash "$here/build-kernel.sh" "$SRC" "$B"
fi

step "kernel files: $kdir"
mkdir -p "$kdir/modules"
for f in vmlinux System.map .config arch/x86/boot/bzImage; do
  dst=$kdir/$(basename "$f"); [ "$f" = .config ] && dst=$kdir/config
  cmp -s "$B/$f" "$dst" || cp "$B/$f" "$dst"
done
for m in "${modules[@]}"; do
  case "$m" in "!"*) continue ;; esac
  p=${m%% *}; cmp -s "$B/$p" "$kdir/modules/$(basename "$p")" || cp "$B/$p" "$kdir/modules/"
done
(cd "$kdir" && sha256sum vmlinux bzImage System.map config modules/*.ko > SHA256SUMS)
readelf -n "$kdir/vmlinux" | grep -m1 'Build ID' || true

step "initramfs"
int3_off=$(python3 "$here/insn-offset.py" "$kdir/modules/tcp_yeah.ko" "$kprobe_int3_func" 9)
echo "int3 kprobe: $kprobe_int3_func+$int3_off"
ird=$BUILD/livepatch/initramfs
rm -rf "$ird"; mkdir -p "$ird/kdi/modules" "$ird/dev" "$ird/proc" "$ird/sys"
(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 "$GO" build -trimpath -o "$ird/init" ./bench/x86-corpus/guestinit)
: > "$ird/kdi/load.list"
for m in "${modules[@]}"; do
  case "$m" in "!"*) echo "$m" >> "$ird/kdi/load.list"; continue ;; esac
  p=${m%% *}; params=; [ "$m" != "$p" ] && params=${m#* }
  cp "$kdir/modules/$(basename "$p")" "$ird/kdi/modules/"
  echo "$(basename "$p")${params:+ $params}" >> "$ird/kdi/load.list"
done
finish_initramfs "$ird" "$BUILD/livepatch/initramfs.cpio"

# offsetof(struct smp_text_poke_array, nr_entries), from the vmlinux's DWARF (drgn)
nr_off=$("$here/chroot.sh" run python3 "$here/struct-offset.py" "$kdir/vmlinux" smp_text_poke_array nr_entries 2>/dev/null)
echo "offsetof(struct smp_text_poke_array, nr_entries) = $nr_off"

for v in "${variants_all[@]}"; do
  IFS='|' read -r name cpu extra vmci tries <<< "$v"
  variant_wanted "$name" || continue
  d=$OUT/$name
  step "boot $name (QEMU 11.1 in the chroot, -cpu $cpu, append '$extra', vmcoreinfo device $vmci, $tries in-flight tries)"
  if needs_boot "$d"; then
    mkdir -p "$d"; rm -rf "$d"/vmcore.* "$d"/console.log "$d"/inflight-*
    args=(--kernel "$kdir/bzImage" --initrd "$BUILD/livepatch/initramfs.cpio" --outdir "$d" --cpu "$cpu"
          --inflight "$tries" --keep "$KEEP" --nr-entries-offset "$nr_off")
    [ -n "$extra" ] && args+=(--append "$extra")
    [ "$vmci" = 1 ] && args+=(--vmcoreinfo)
    "$here/chroot.sh" run python3 "$here/boot-and-dump.py" "${args[@]}"
    compress_dumps "$d"
  fi
  lay_out_dump "$d" "$name" "$kname" "$ird" 'finit_module|open|mount|write|append|livepatch'
done
echo; echo "done"
