#!/usr/bin/env bash
# bench/x86-corpus/make-distro.sh: real x86_64 dumps of Debian's own amd64
# distro kernel (sid linux-image-7.2.13+deb14-amd64, 7.2.13-1, with its -dbg
# package), booted under QEMU TCG (q35, 2 CPUs, 1 GiB) with eleven of the
# distro's signed modules loaded, the function tracer on one module and two
# vmlinux functions, an ftrace-based and an int3 kprobe, and the guest's own
# ground truth on the console; dumped from the QEMU monitor (ELF and
# kdump-zlib). See README.md beside this file.
#
# usage: bench/x86-corpus/make-distro.sh [VARIANT...]
#   VARIANT: distro-kaslr-la57 (default boots) distro-nokaslr ... (see below)
# env: BUILD (scratch, default /work/corpus-build/x86), OUT (default
#      /work/corpora/x86), MIRROR, FORCE_BOOT=1 (boot again even when the dump exists)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# BUILD, OUT, MIRROR, GO; step, run, finish_initramfs, compress_dumps, lay_out_dump
# shellcheck source=common.sh
. "$here/common.sh"
version=7.2.13-1
release=7.2.13+deb14-amd64
kdir=$OUT/kernels/$release            # vmlinux, vmlinuz, System.map, config, modules/
dl=$BUILD/dl
work=$BUILD/distro

# name | -cpu | extra kernel command line | vmcoreinfo device (1/0)
# (no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check
# can fail and panic the boot, "IO-APIC + timer doesn't work!"; seen once on
# distro-nokaslr; distro-kaslr-la57 and distro-its were booted without it.)
# | in-flight tries (0: none; else boot-and-dump.py --inflight, see make-livepatch.sh)
variants_all=(
  "distro-kaslr-la57|max||1|0"
  "distro-nokaslr|qemu64|nokaslr no_timer_check|0|0"
  "distro-its|max,vendor=GenuineIntel|setcpuid=ibrs_enhanced|1|0"
  "distro-inflight|max|no_timer_check|1|${TRIES:-200}"
)
want_variants=("$@")
[ ${#want_variants[@]} -gt 0 ] || want_variants=(distro-kaslr-la57 distro-nokaslr)

# Modules loaded in the guest, dependencies first: path under kernel/
# (without .ko.xz), then parameters. tcp_yeah calls tcp_vegas's exports,
# sch_fq_pie calls sch_pie's, geneve calls udp_tunnel's and ip6_udp_tunnel's.
modules=(
  "drivers/firmware/qemu_fw_cfg"     # writes VMCOREINFO to QEMU's vmcoreinfo device
  "net/ipv4/tcp_vegas"
  "net/ipv4/tcp_yeah"
  "net/sched/sch_pie"
  "net/sched/sch_fq_pie"
  "net/ipv4/udp_tunnel"
  "net/ipv6/ip6_udp_tunnel"
  "drivers/net/geneve"
  "drivers/net/dummy"
  "drivers/block/brd rd_nr=1 rd_size=4096"
  "drivers/char/ttyprintk"
)
# function tracer: every function of geneve plus two vmlinux functions
ftrace_filter=(":mod:geneve" "vfs_read" "do_sys_openat2")
# kprobes: ftrace-based on a module function alone (its own trampoline),
# ftrace-based on a function the function tracer also traces (list func),
# and an int3 kprobe at a non-ftrace offset (computed below).
kprobe_ftrace_alone="pie_calculate_probability"
kprobe_ftrace_shared="geneve_get_drvinfo"
kprobe_int3_func="tcp_yeah_cong_avoid"


mkdir -p "$dl" "$work" "$kdir"

step "host packages"
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
for t in zstd cpio xz curl objdump; do
  command -v $t >/dev/null || need+=($( [ $t = objdump ] && echo binutils || ([ $t = xz ] && echo xz-utils) || echo $t))
done
if [ ${#need[@]} -gt 0 ]; then
  run apt-get update -qq
  DEBIAN_FRONTEND=noninteractive run apt-get install -y -qq "${need[@]}"
fi
qemu-system-x86_64 --version | head -1

step "Debian sid amd64 packages $version, checked against the Packages index SHA256"
[ -s "$dl/Packages-sid-amd64" ] || curl -fsSL "$MIRROR/dists/sid/main/binary-amd64/Packages.xz" | xz -d > "$dl/Packages-sid-amd64"
fetch() { # fetch PACKAGE: prints the local .deb path
  local fn sha f
  read -r fn sha < <(awk -v want="$1" -v ver="$version" '
    /^Package: /{pkg=$2} /^Version: /{v=$2} /^Filename: /{fn=$2} /^SHA256: /{sha=$2}
    /^$/{ if (pkg==want && v==ver) print fn, sha; pkg="" }' "$dl/Packages-sid-amd64")
  [ -n "${fn:-}" ] || { echo "$1 $version not in the sid index" >&2; exit 2; }
  f=$dl/$(basename "$fn")
  if [ ! -s "$f" ]; then
    curl -fsSL --retry 3 -o "$f.part" "$MIRROR/$fn" >&2
    echo "$sha  $f.part" | sha256sum -c --quiet - >&2
    mv "$f.part" "$f"
  fi
  echo "$f"
}
deb_binary=$(fetch linux-binary-$release)        # vmlinuz (signed bzImage)
deb_modules=$(fetch linux-modules-$release)      # kernel/**/*.ko.xz
deb_base=$(fetch linux-base-$release)            # config, System.map
deb_dbg=$(fetch linux-image-$release-dbg)        # vmlinux with DWARF, debug .ko (1.2 GB)
ls -l "$deb_binary" "$deb_modules" "$deb_base" "$deb_dbg"

step "unpack"
root=$work/root
mods=$root/usr/lib/modules/$release
if [ ! -s "$mods/vmlinuz" ]; then
  mkdir -p "$root"
  for d in "$deb_binary" "$deb_modules" "$deb_base"; do run dpkg-deb -x "$d" "$root"; done
fi
dbgmods=$work/dbgroot/usr/lib/debug/lib/modules/$release
want=("./usr/lib/debug/lib/modules/$release/vmlinux")
for m in "${modules[@]}"; do want+=("./usr/lib/debug/lib/modules/$release/kernel/${m%% *}.ko"); done
missing=0
for w in "${want[@]}"; do [ -s "$work/dbgroot/${w#./}" ] || missing=1; done
if [ $missing = 1 ]; then
  mkdir -p "$work/dbgroot"
  echo "+ dpkg-deb --fsys-tarfile $deb_dbg | tar -x ${want[*]}"
  nice -n 10 dpkg-deb --fsys-tarfile "$deb_dbg" | tar -x -C "$work/dbgroot" "${want[@]}"
fi

step "kernel files: $kdir"
[ -s "$kdir/vmlinux" ] || run cp "$dbgmods/vmlinux" "$kdir/vmlinux"
cp -u "$mods/vmlinuz" "$mods/config" "$kdir/"
# the package's System.map is a one-line stub ("The real System.map is in the
# -dbg package"): make the real one from the vmlinux as scripts/mksysmap does
[ -s "$kdir/System.map" ] || nm -n "$kdir/vmlinux" | grep -Ev ' [aNUw] |__crc_| \$[adt]| \.L' > "$kdir/System.map"
mkdir -p "$kdir/modules/loaded"
for m in "${modules[@]}"; do
  path=${m%% *}; name=$(basename "$path")
  [ -s "$kdir/modules/$name.ko" ] || cp "$dbgmods/kernel/$path.ko" "$kdir/modules/$name.ko"
  cp -u "$mods/kernel/$path.ko.xz" "$kdir/modules/loaded/"
  [ -s "$kdir/modules/loaded/$name.ko" ] || xz -dc "$mods/kernel/$path.ko.xz" > "$kdir/modules/loaded/$name.ko"
done
( cd "$kdir" && sha256sum vmlinux vmlinuz System.map config modules/*.ko modules/loaded/* > SHA256SUMS )
readelf -n "$kdir/vmlinux" | grep -m1 'Build ID' || true

step "kprobe offsets from the debug .ko (objdump)"
# the int3 kprobe goes on the second instruction after the __fentry__ site
# (function+4 after endbr64, 5 bytes): never an ftrace location.
ko=$kdir/modules/tcp_yeah.ko
int3_off=$(python3 "$here/insn-offset.py" "$ko" "$kprobe_int3_func" 9)
echo "int3 kprobe: $kprobe_int3_func+$int3_off"
objdump -d "$ko" | awk -v f="<$kprobe_int3_func>:" '$2==f{on=1} on&&/^$/{on=0} on&&n<8{print; n++}'

step "initramfs: /init = bench/x86-corpus/guestinit (Go, amd64)"
ird=$work/initramfs
rm -rf "$ird"; mkdir -p "$ird/kdi/modules" "$ird/dev" "$ird/proc" "$ird/sys"
(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 "$GO" build -trimpath -o "$ird/init" ./bench/x86-corpus/guestinit)
: > "$ird/kdi/load.list"
for m in "${modules[@]}"; do
  path=${m%% *}; params=; [ "$m" != "$path" ] && params=${m#* }
  cp "$mods/kernel/$path.ko.xz" "$ird/kdi/modules/"
  echo "$(basename "$path").ko.xz${params:+ $params}" >> "$ird/kdi/load.list"
done
finish_initramfs "$ird" "$work/initramfs.cpio"

for v in "${variants_all[@]}"; do
  IFS='|' read -r name cpu extra vmci tries <<< "$v"
  variant_wanted "$name" || continue
  d=$OUT/$name
  step "boot $name (-cpu $cpu, append '$extra', vmcoreinfo device $vmci)"
  if needs_boot "$d"; then
    mkdir -p "$d"; rm -f "$d"/vmcore.* "$d"/console.log
    args=(--kernel "$kdir/vmlinuz" --initrd "$work/initramfs.cpio" --outdir "$d" --cpu "$cpu")
    [ -n "$extra" ] && args+=(--append "$extra")
    [ "$vmci" = 1 ] && args+=(--vmcoreinfo)
    if [ "$tries" != 0 ]; then
      # offsetof(struct smp_text_poke_array, nr_entries) from the vmlinux's DWARF (drgn, sid chroot)
      "$here/chroot.sh" setup >/dev/null
      nr_off=$("$here/chroot.sh" run python3 "$here/struct-offset.py" "$kdir/vmlinux" smp_text_poke_array nr_entries 2>/dev/null)
      echo "offsetof(struct smp_text_poke_array, nr_entries) = $nr_off"
      args+=(--inflight "$tries" --keep "${KEEP:-4}" --nr-entries-offset "$nr_off")
      rm -rf "$d"/inflight-*
    fi
    run python3 "$here/boot-and-dump.py" "${args[@]}"
    compress_dumps "$d"
  fi
  lay_out_dump "$d" "$name" "$release" "$ird" 'finit_module|open|mount|write|append'
done
echo; echo "done"
