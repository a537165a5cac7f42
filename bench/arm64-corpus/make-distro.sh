#!/bin/bash
# bench/arm64-corpus/make-distro.sh [DUMP...]
# Debian sid's arm64 distro kernel 7.2.13+deb14-arm64 (7.2.13-1) booted under
# qemu-system-aarch64 -M virt (TCG) with 14 of its own signed modules, the function
# tracer on tcp_vegas's functions + vfs_read + tcp_sendmsg, three kprobes, dumped over
# QMP (ELF, kdump-raw-zlib, kdump-zlib; makedumpfile -d 31 from the ELF is tried),
# truth from the guest and drgn.
#   distro-kaslr       -cpu max (LPA2: 52-bit VA; PAC), KASLR; then sysrq-c ->
#                      distro-kaslr-sysrq (the same boot after the panic)
#   distro-nokaslr     -cpu max, nokaslr (modules within BL range: no PLT entries used)
#   distro-a53         -cpu cortex-a53 (no LPA2: 48-bit VA; no PAC), KASLR
#   distro-ftrace-ops  as distro-kaslr, plus sch_fq_pie's functions under the function
#                      tracer and kdi_ftrace.ko (kdi_ftrace/, built out of tree against
#                      Debian's linux-headers): two IPMODIFY ops redirecting
#                      loadavg_proc_show and tcp_vegas_get_info (what klp does; the
#                      distro kernel has no CONFIG_LIVEPATCH), a counting ops on crc16
#                      and tcp_yeah_ssthresh, a direct call (register_ftrace_direct) on
#                      pie_drop_early and vfs_fsync_range
#   distro-ftrace-ops-nokaslr  the same, nokaslr: every module within BL range of the
#                      kernel (sites bl ftrace_caller directly, vfs_fsync_range bl kdi_tramp)
# FLAVOUR=arm64-16k: Debian's 16K-page flavour 7.2.13+deb14-arm64-16k, same load as
# distro-ftrace-ops (kdi_ftrace.ko built against the 16k headers):
#   distro16k-kaslr    -cpu max, KASLR (booted again when modules land within BL range)
#   distro16k-nokaslr  -cpu max, nokaslr
#   distro16k-va47     -cpu max,lpa2=off, KASLR: no LPA2, the VA_BITS=52 kernel runs
#                      with 47 bits (T1SZ 17, 3 levels)
#   distro16k-blocks   (only when named) nokaslr rodata=off kfence.sample_interval=100:
#                      the linear map in 32 MiB level-2 blocks
# The KASLR dumps (distro-kaslr, distro-a53, distro-ftrace-ops) are booted again when
# KASLR placed the modules within BL range of the kernel (plt-placement.py).
# Every step is skipped when its output exists (FORCE_BOOT=1 boots again).
# Env: BUILD (scratch, default /work/corpus-build/arm64), OUT (default /work/corpora/arm64).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# A mount namespace of its own (as from-source/make-livepatch.sh): the chroot's bind
# mounts (chroot.sh up) and their removal at exit (chroot.sh down) stay inside it, so
# a concurrent run on the same chroot neither loses its mounts to this one's exit nor
# takes ours.
if [ -z "${KDI_MNTNS:-}" ] && command -v unshare >/dev/null; then
  exec env KDI_MNTNS=1 unshare -m --propagation private bash "$0" "$@"
fi
export BUILD=${BUILD:-/work/corpus-build/arm64} OUT=${OUT:-/work/corpora/arm64}
R=$BUILD/sid-root
# FLAVOUR: arm64 (4K pages) or arm64-16k (16K pages: Debian's linux-image-7.2.13+deb14-arm64-16k)
FLAVOUR=${FLAVOUR:-arm64}
REL=7.2.13+deb14-$FLAVOUR; VER=7.2.13-1; KN=$REL
# package:arch (as apt names it in the amd64 chroot) -> SHA256 (= the sid index's)
declare -A SHA
case $FLAVOUR in
arm64)
  SHA=(
  [linux-binary-$REL:arm64]=9043487c40a7b1c9ef421bbe3f578bf30f1004abd19f259e769f4ff8a26bb40b
  [linux-modules-$REL:arm64]=a9425ac3d90f86d92cf2469e1e8f6a985b3335403adfa1ce002d6996374de912
  [linux-base-$REL:arm64]=60e3b0f2a150562f1cf0f15830924cdd7ed8931bdc1a8c826c39c6dd4d33e056
  [linux-image-$REL-dbg:arm64]=4e6afa52e5ae05d946cade12199139dd11296c17f175338b41e9387b0be1706e
  # for kdi_ftrace.ko: the arm64 headers, the common headers, the kbuild tools built for amd64
  [linux-headers-$REL:arm64]=13e730015bcb43fd34aa9686295c2dff52f7e5ac30ed9975d282275afdf11546
  )
  D=$BUILD/distro
  DEFAULT_DUMPS="distro-kaslr distro-nokaslr distro-a53 distro-ftrace-ops distro-ftrace-ops-nokaslr" ;;
arm64-16k)
  SHA=(
  [linux-binary-$REL:arm64]=a12a8512c48167b3b62056406399414153a494766321a91c1d5fc08cb7c9b253
  [linux-modules-$REL:arm64]=9533569537939cf0449461443c23d85d9521ae90ab381cda861640e803f6f090
  [linux-base-$REL:arm64]=fde8f6efbaee8030eb318e3d0d6dd6351bf99db01d8e3ef1256f22faf6b9f759
  [linux-image-$REL-dbg:arm64]=8e1f7a98d97a5d6921b5c4174fffa1145f8393736eef6ae51686663f82c8467e
  [linux-headers-$REL:arm64]=67bf3401a51120c409bc44a831ca0905501eb72115faebe66d0a67c11bc13981
  )
  D=$BUILD/distro-16k
  DEFAULT_DUMPS="distro16k-kaslr distro16k-nokaslr distro16k-va47" ;;
*) echo "unknown FLAVOUR $FLAVOUR (arm64, arm64-16k)" >&2; exit 1 ;;
esac
SHA+=(
  [linux-headers-7.2.13+deb14-common:all]=5067c68cf803b385f72e6ea530cfbb9226f5eb91bfb7e256b6fcb4f87fd6279c
  [linux-kbuild-7.2.13+deb14:amd64]=0cecebac12f863b32f0b0a5b48b3b762240ff614603e9d8fd550fc095de0e610
)
MODS="qemu_fw_cfg tcp_vegas tcp_yeah dummy brd md4 crc16 ttyprintk sch_pie sch_fq_pie mbcache jbd2 ext4 xfs"
DUMPS=${*:-$DEFAULT_DUMPS}

[ -x $R/usr/bin/apt-get ] || $here/chroot.sh setup
$here/chroot.sh up
trap '$here/chroot.sh down' EXIT

# 1. packages, pinned, SHA256 = the pinned value = the sid index's
#    The -dbg package (1.1-1.2 GB) is needed only until its vmlinux and the loaded modules'
#    .ko are unpacked: DROP_DBG_DEB=1 deletes it after unpacking, and a later run does not
#    fetch it again while the unpacked files exist.
DL=$BUILD/dl; mkdir -p $DL
K=$D/root/usr/lib/modules/$REL; DBG=$D/dbg/usr/lib/debug/lib/modules/$REL
for pa in "${!SHA[@]}"; do
  p=${pa%:*}; a=${pa#*:}; q=$p; [ $a = arm64 ] && q=$p:arm64
  f=$DL/${p}_${VER}_$a.deb
  if [ $p = linux-image-$REL-dbg ] && [ ! -f $f ] && [ -f $DBG/vmlinux ] && [ -f $DBG/kernel/fs/xfs/xfs.ko ]; then
    echo "$p: not fetched, its files are unpacked in $D/dbg"; continue
  fi
  [ -f $f ] || chroot $R sh -c "cd $DL && apt-get download $q=$VER"
  idx=$(chroot $R apt-cache show $q=$VER | awk '/^SHA256:/{print $2; exit}')
  got=$(sha256sum $f | cut -d' ' -f1)
  if [ "$got" != "${SHA[$pa]}" ] || [ "$got" != "$idx" ]; then
    echo "SHA256 of $f: $got; pinned ${SHA[$pa]}; index $idx" >&2; exit 1
  fi
done

# 2. unpack: the Image, config, modules; from -dbg the vmlinux and the loaded modules' debug .ko
mkdir -p $D/root $D/dbg
if [ ! -f $K/vmlinuz ]; then
  dpkg-deb -x $DL/linux-binary-${REL}_${VER}_arm64.deb $D/root
  dpkg-deb -x $DL/linux-modules-${REL}_${VER}_arm64.deb $D/root
  dpkg-deb -x $DL/linux-base-${REL}_${VER}_arm64.deb $D/root
fi
if [ ! -f $DBG/vmlinux ] || [ ! -f $DBG/kernel/fs/xfs/xfs.ko ]; then
  dpkg-deb --fsys-tarfile $DL/linux-image-${REL}-dbg_${VER}_arm64.deb | tar x -C $D/dbg \
    ./usr/lib/debug/lib/modules/$REL/vmlinux $(for m in $MODS; do echo "./usr/lib/debug/lib/modules/$REL/$(cd $K && find kernel -name $m.ko.xz | sed 's/\.xz$//')"; done)
fi
[ "${DROP_DBG_DEB:-}" = 1 ] && rm -f $DL/linux-image-${REL}-dbg_${VER}_arm64.deb

# 3. kernel dir (OUT/kernels/KN): Image as booted, config, System.map, vmlinux.zst (DWARF),
#    modules/ = the DWARF .ko of the loaded modules, modules/loaded/ = the .ko.xz as loaded
#    and their decompressed (stripped, signed) .ko
KD=$OUT/kernels/$KN; mkdir -p $KD/modules/loaded
[ -f $KD/Image ] || cp $K/vmlinuz $KD/Image
[ -f $KD/config ] || cp $K/config $KD/config
[ -f $KD/System.map ] || chroot $R sh -c "aarch64-linux-gnu-nm -n $DBG/vmlinux | grep -v -e ' [aNUw] ' -e ' \\\$[adx]' -e ' \.L' > $KD/System.map"
[ -f $KD/vmlinux.zst ] || nice -n 10 zstd -q -T2 -10 $DBG/vmlinux -o $KD/vmlinux.zst
for m in $MODS; do
  p=$(cd $K && find kernel -name $m.ko.xz)
  [ -f $KD/modules/$m.ko ] || cp $DBG/${p%.xz} $KD/modules/$m.ko
  [ -f $KD/modules/loaded/$m.ko.xz ] || cp $K/$p $KD/modules/loaded/$m.ko.xz
  [ -f $KD/modules/loaded/$m.ko ] || xz -dc $K/$p > $KD/modules/loaded/$m.ko
done

# 3b. kdi_ftrace.ko, built out of tree in the chroot against Debian's headers for this
#     kernel (linux-headers-REL:arm64 + -common, and linux-kbuild:amd64 whose fixdep/modpost
#     run on this amd64 host; the headers' Makefile sets CROSS_COMPILE=aarch64-linux-gnu-
#     and CC=aarch64-linux-gnu-gcc-16). The .ko keeps its DWARF; it is loaded unsigned
#     (MODULE_SIG without MODULE_SIG_FORCE: the kernel is tainted E).
KH=/usr/src/linux-headers-$REL
if [ ! -f $R$KH/Makefile ] || [ ! -x $R/usr/lib/linux-kbuild-7.2.13+deb14/scripts/mod/modpost ]; then
  for f in linux-headers-${REL}_${VER}_arm64 linux-headers-7.2.13+deb14-common_${VER}_all linux-kbuild-7.2.13+deb14_${VER}_amd64; do
    dpkg-deb -x $DL/$f.deb $R
  done
fi
if [ ! -f $KD/modules/kdi_ftrace.ko ] || [ ! -f $KD/modules/loaded/kdi_ftrace.ko ]; then
  KB=$BUILD/kdi_ftrace${D#$BUILD/distro}; rm -rf $KB; mkdir -p $KB
  cp $here/kdi_ftrace/kdi_ftrace.c $here/kdi_ftrace/Makefile $KB/
  chroot $R nice -n 10 make -C $KH M=$KB modules
  cp $KB/kdi_ftrace.ko $KD/modules/kdi_ftrace.ko
  cp $KB/kdi_ftrace.ko $KD/modules/loaded/kdi_ftrace.ko
fi
(cd $KD && sha256sum Image config System.map vmlinux.zst modules/*.ko modules/loaded/* > SHA256SUMS)

# 4. the guest's /kdi (one initramfs per variant): modules in dependency order (from each
#    .ko's depends=), ftrace filter, kprobes; variant ops adds kdi_ftrace.ko (loaded last),
#    sch_fq_pie's functions in the filter and `cat /proc/loadavg` after tracing is on
declare -A done_=()
make_kdi() {
  local variant=$1 KDI=$D/kdi-$1 img=$D/initramfs-$1.cpio.gz
  [ -f $img ] && return
  rm -rf $KDI; mkdir -p $KDI/modules
  : > $KDI/load.list
  done_=()
  add() {
    local m=$1 d
    [ -n "${done_[$m]:-}" ] && return
    for d in $(chroot $R modinfo -F depends $KD/modules/loaded/$m.ko | tr , ' '); do add $d; done
    done_[$m]=1
    cp $KD/modules/loaded/$m.ko.xz $KDI/modules/
    case $m in brd) echo "$m.ko.xz rd_nr=1 rd_size=4096" ;; *) echo "$m.ko.xz" ;; esac >> $KDI/load.list
  }
  for m in $MODS; do add $m; done
  printf '%s\n' '*:mod:tcp_vegas' vfs_read tcp_sendmsg > $KDI/ftrace.filter
  # kprobes: a module function's entry (brk over the first patchable NOP, before the ftrace
  # site), a module function's body, a vmlinux function's entry
  printf '%s\n' 'p:kdi/kp_yeah tcp_yeah_cong_avoid' 'p:kdi/kp_pie pie_calculate_probability+0x10' \
    'p:kdi/kp_vfs_write vfs_write' > $KDI/kprobe.events
  printf '%s\n' yeah vegas > $KDI/tcp.cc
  if [ $variant = ops ]; then
    cp $KD/modules/loaded/kdi_ftrace.ko $KDI/modules/
    echo kdi_ftrace.ko >> $KDI/load.list
    echo '*:mod:sch_fq_pie' >> $KDI/ftrace.filter
    printf '%s\n' 'cat /proc/loadavg' > $KDI/commands
  fi
  cp $here/symbols.list $here/variables.list $KDI/
  chroot $R python3 $here/offsets.py $DBG/vmlinux > $KDI/offsets
  $here/make-initramfs.sh $KDI $img
}

# 5. boots and dumps (QEMU 11.1 of the sid chroot), then truth and the OUT layout
QEMU="chroot $R qemu-system-aarch64"
# boot_dump
# shellcheck source=boot.sh
. "$here/boot.sh"
for name in $DUMPS; do
  RAW=$BUILD/dumps/$name
  case $name in
  # plt=1: the dump must have its modules out of BL range of the kernel (boot again, up
  # to 4 times, when KASLR put them within range: plt-placement.py)
  distro-kaslr) v=base; plt=1; cpu=max,pauth-impdef=on; app=""; crash=(--crash crash-sysrq $BUILD/dumps/distro-kaslr-sysrq) ;;
  distro-nokaslr) v=base; plt=0; cpu=max,pauth-impdef=on; app="nokaslr"; crash=() ;;
  distro-a53) v=base; plt=1; cpu=cortex-a53; app=""; crash=() ;;
  distro-ftrace-ops) v=ops; plt=1; cpu=max,pauth-impdef=on; app=""; crash=() ;;
  distro-ftrace-ops-nokaslr) v=ops; plt=0; cpu=max,pauth-impdef=on; app="nokaslr"; crash=() ;;
  # 16K pages (FLAVOUR=arm64-16k)
  distro16k-kaslr) v=ops; plt=1; cpu=max,pauth-impdef=on; app=""; crash=() ;;
  distro16k-nokaslr) v=ops; plt=0; cpu=max,pauth-impdef=on; app="nokaslr"; crash=() ;;
  # no FEAT_LPA2: the 52-bit kernel falls back to 47 bits (3 levels, the pud folded)
  distro16k-va47) v=ops; plt=1; cpu=max,pauth-impdef=on,lpa2=off; app=""; crash=() ;;
  # not a default: nokaslr rodata=off with KFENCE initialised early (Debian's
  # CONFIG_KFENCE_SAMPLE_INTERVAL=0 leaves kfence_early_init false, and then
  # force_pte_mapping() maps the whole linear map by pages, rodata=off or not)
  distro16k-blocks) v=ops; plt=0; cpu=max,pauth-impdef=on; app="nokaslr rodata=off kfence.sample_interval=100"; crash=() ;;
  *) echo "unknown dump $name" >&2; exit 1 ;;
  esac
  case $name:$FLAVOUR in
  distro16k-*:arm64-16k|distro-*:arm64) ;;
  *) echo "dump $name is not of FLAVOUR $FLAVOUR (distro16k-*: FLAVOUR=arm64-16k)" >&2; exit 1 ;;
  esac
  make_kdi $v
  if [ ! -f $RAW/vmcore.kdump ] || [ "${FORCE_BOOT:-}" = 1 ]; then
    boot_dump $name $RAW $KD/Image $D/initramfs-$v.cpio.gz $cpu "$app" $plt "${crash[@]}"
  fi
  $here/finalize-dump.sh $RAW $OUT/$name $KN $DBG/vmlinux $KD/modules
  if [ ${#crash[@]} -gt 0 ]; then
    cp $RAW/qemu-cmdline.txt ${crash[2]}/ 2>/dev/null || true
    $here/finalize-dump.sh ${crash[2]} $OUT/$name-sysrq $KN $DBG/vmlinux $KD/modules
  fi
done
