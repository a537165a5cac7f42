#!/bin/bash
# bench/arm64-corpus/from-source/make-livepatch.sh [DUMP...]
# Debian sid's linux-source-7.2 (7.2.13-1) cross-built for arm64 (allnoconfig +
# arm64-corpus.config: 4K pages, 48-bit VA, KASLR with the 2 GiB module region,
# LIVEPATCH, DYNAMIC_FTRACE_WITH_ARGS + CALL_OPS + DIRECT_CALLS, KPROBES, DWARF 5),
# with the livepatch/ftrace/kprobe samples, the selftest livepatch modules and
# extmod/ (klp_tgt, klp_stub_bug with two klp relocation sections, modarch_dump),
# booted under qemu-system-aarch64 -M virt (TCG, -cpu max), modules loaded, six
# livepatches enabled one after another (the guest waits for each transition), the
# function tracer on livepatch_shadow_mod's functions, klp_tgt:tgt_secret, vfs_read and
# do_sys_openat2, kprobes; dumped over QMP (ELF + kdump-compressed).
#   livepatch-kaslr           the steady state, KASLR (modules out of BL range of the
#                             kernel: booted again, at most 4 times, until they are)
#   livepatch-kaslr-klpcrash  the same boot after a NULL dereference in klp_stub_bug's
#                             livepatch_tgt_show (reached through klp_ftrace_handler)
#   livepatch-nokaslr         nokaslr: modules within BL range, no PLT used
#   livepatch-transition      KASLR, as livepatch-kaslr plus a livepatch whose transition
#                             cannot finish (test_klp_callbacks_busy block_transition=1,
#                             then test_klp_callbacks_demo)
# Kernel files: $OUT/kernels/7.2.13-livepatch. Every step is skipped when its output
# exists (FORCE_BOOT=1 boots again). Env: BUILD, OUT as make-distro.sh; NOCRASH=1 skips
# the -klpcrash dump.
# FRAG=arm64-64k.config KVAR=64k: the same kernel with 64K pages and 52-bit VA (LVA;
# -cpu max has FEAT_LVA, so TCR_EL1.T1SZ = 12 and 3 levels), kernel files in
# $OUT/kernels/7.2.13-livepatch-64k, dumps k64-va52-kaslr and k64-va52-nokaslr (the
# latter booted with rodata=off too: the linear map in 512 MiB PMD blocks, so the
# walk meets block descriptors, not only pages).
# FRAG=arm64-16k.config KVAR=16k: 16K pages and 52-bit VA (LPA2, FEAT_LPA2; 4 levels
# with -cpu max), kernel files in $OUT/kernels/7.2.13-livepatch-16k, dumps
# k16-va52-kaslr and k16-va52-nokaslr (rodata=off: the linear map may use 32 MiB
# level-2 blocks).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# A mount namespace of its own: the chroot's bind mounts (chroot.sh up) and their
# removal at exit (chroot.sh down) stay inside it, so another script using the same
# chroot at the same time neither loses its mounts to this one's exit nor takes ours.
if [ -z "${KDI_MNTNS:-}" ] && command -v unshare >/dev/null; then
  exec env KDI_MNTNS=1 unshare -m --propagation private bash "$0" "$@"
fi
top=$(cd "$here/.." && pwd)   # the shared scripts of bench/arm64-corpus
export BUILD=${BUILD:-/work/corpus-build/arm64} OUT=${OUT:-/work/corpora/arm64}
R=$BUILD/sid-root
KVAR=${KVAR:-4k}
KN=7.2.13-livepatch; [ "$KVAR" = 4k ] || KN=7.2.13-livepatch-$KVAR
DUMPS=${*:-livepatch-kaslr livepatch-nokaslr livepatch-transition}
# extra kernel parameters of the nokaslr boot
NOKASLR_APPEND=${NOKASLR_APPEND:-}
if [ "$KVAR" = 64k ] || [ "$KVAR" = 16k ]; then
  DUMPS=${*:-k${KVAR%k}-va52-kaslr k${KVAR%k}-va52-nokaslr}
  NOKASLR_APPEND=${NOKASLR_APPEND:-rodata=off}
fi
SRC=$BUILD/linux-source-7.2
B=$BUILD/build-$KVAR
[ -x $R/usr/bin/apt-get ] || $top/chroot.sh setup
# unmount at the end only what this run mounted: another session may be using the chroot
premounted=0; mountpoint -q $R/proc && premounted=1
$top/chroot.sh up
[ $premounted = 1 ] || trap '$top/chroot.sh down' EXIT

# 1. source: linux-source-7.2 7.2.13-1 from sid (checked against the index's SHA256)
if [ ! -d $SRC ]; then
  f=$BUILD/linux-source-7.2_7.2.13-1_all.deb
  [ -f $f ] || chroot $R sh -c "cd $BUILD && apt-get download linux-source-7.2=7.2.13-1"
  idx=$(chroot $R apt-cache show linux-source-7.2=7.2.13-1 | awk '/^SHA256:/{print $2; exit}')
  [ "$(sha256sum $f | cut -d' ' -f1)" = "$idx" ] || { echo "SHA256 mismatch $f" >&2; exit 1; }
  rm -rf $BUILD/pkg72; dpkg-deb -x $f $BUILD/pkg72
  (cd $BUILD && nice -n 10 tar xf pkg72/usr/src/linux-source-7.2.tar.xz) && rm -rf $BUILD/pkg72
fi

# 2. build (inside the chroot, nice 10, -j2); skipped when the kernel files are out
#    (the build's objects may be deleted afterwards: make clean)
KD=$OUT/kernels/$KN
if [ ! -f $B/extmod/klp_stub_bug.ko ] && [ ! -f $KD/modules/modarch_dump.ko ]; then
  date > $B.start 2>/dev/null || true
  nice -n 10 chroot $R env FRAG=${FRAG:-} bash $here/build-kernel.sh $SRC $B $([ -f $B/.config ] || echo config) 2>&1 | tee $BUILD/build-$KVAR.log
  date > $BUILD/build-$KVAR.end
fi

# 3. kernel dir: vmlinux.zst, Image, System.map, config, modules/ (every .ko as loaded)
mkdir -p $KD/modules
[ -f $KD/Image ] || cp $B/arch/arm64/boot/Image $KD/Image
[ -f $KD/config ] || cp $B/.config $KD/config
[ -f $KD/System.map ] || cp $B/System.map $KD/System.map
[ -f $KD/vmlinux.zst ] || nice -n 10 zstd -q -T2 -10 $B/vmlinux -o $KD/vmlinux.zst
if [ ! -f $KD/modules/modarch_dump.ko ]; then
  find $B/samples $B/klp-test-modules $B/drivers/block -name '*.ko' -exec cp {} $KD/modules/ \;
  cp $B/extmod/klp_tgt.ko $B/extmod/klp_stub_bug.ko $B/extmod/modarch_dump.ko $KD/modules/
  cp $B/extmod/klp_stub_bug.ko.unconverted $KD/
  cp $B/fragment-not-applied.txt $KD/ 2>/dev/null || true
  (cd $KD && sha256sum Image config System.map vmlinux.zst modules/*.ko > SHA256SUMS)
fi

# the DWARF vmlinux for offsets.py and drgn: the build's, else the kernel dir's,
# decompressed when something needs it (need_vml)
VML=$B/vmlinux
[ -f $VML ] || VML=$BUILD/vmlinux-$KN
need_vml() { [ -f $VML ] || zstd -q -d $KD/vmlinux.zst -o $VML; }

# 4. the guest's /kdi
D=$BUILD/stage-$KVAR; KDI=$D/kdi
if [ ! -f $D/initramfs.cpio.gz ]; then
  rm -rf $D; mkdir -p $KDI/modules
  cp $KD/modules/*.ko $KDI/modules/
  rm -f $KDI/modules/modarch_dump.ko.tmp
  cat > $KDI/load.list <<'L'
livepatch-sample.ko
!wait-livepatch
livepatch-shadow-mod.ko
livepatch-shadow-fix1.ko
!wait-livepatch
livepatch-shadow-fix2.ko
!wait-livepatch
livepatch-callbacks-mod.ko
livepatch-callbacks-demo.ko
!wait-livepatch
test_klp_mod_target.ko
test_klp_mod_patch.ko
!wait-livepatch
test_klp_shadow_vars.ko
test_klp_callbacks_mod.ko
ftrace-ops.ko nr_function_calls=1000 persist=1 nr_ops_irrelevant=1
ftrace-direct.ko
trace-events-sample.ko
kprobe_example.ko
brd.ko rd_nr=1 rd_size=4096
klp_tgt.ko
!cat /proc/klp_tgt
klp_stub_bug.ko
!wait-livepatch
!cat /proc/klp_tgt
L
  printf '%s\n' '*:mod:livepatch_shadow_mod' 'tgt_secret:mod:klp_tgt' vfs_read do_sys_openat2 > $KDI/ftrace.filter
  printf '%s\n' 'p:kdi/kp_tgt_show tgt_show' 'p:kdi/kp_fix1 livepatch_fix1_dummy_alloc+0x10' 'p:kdi/kp_vfs_write vfs_write' > $KDI/kprobe.events
  printf '%s\n' 'cat /proc/klp_tgt' 'cat /proc/cmdline' > $KDI/commands
  cp $top/symbols.list $top/variables.list $KDI/
  need_vml; chroot $R python3 $top/offsets.py $VML > $KDI/offsets
  $top/make-initramfs.sh $KDI $D/initramfs.cpio.gz
fi
# the -transition variant: the same, then test_klp_callbacks_busy with block_transition=1
# (its work function loops in msleep() until the module is removed) and
# test_klp_callbacks_demo, which patches that function: its transition stays in
# progress (klp_check_stack() refuses the kworker), and the guest does not wait for it
if [ ! -f $D/initramfs-transition.cpio.gz ]; then
  rm -rf $D/kdi-transition; cp -r $KDI $D/kdi-transition
  printf '%s\n' 'test_klp_callbacks_busy.ko block_transition=1' '!sleep 1s' 'test_klp_callbacks_demo.ko' '!sleep 3s' \
    >> $D/kdi-transition/load.list
  $top/make-initramfs.sh $D/kdi-transition $D/initramfs-transition.cpio.gz
fi

# 5. boots, dumps, truth
QEMU="chroot $R qemu-system-aarch64"
# boot_dump
# shellcheck source=../boot.sh
. "$top/boot.sh"
for name in $DUMPS; do
  RAW=$BUILD/dumps/$name
  cpu=max,pauth-impdef=on; app=""; crash=(); kaslr=1; initrd=$D/initramfs.cpio.gz
  case $name in
    *-nokaslr) app="nokaslr $NOKASLR_APPEND"; kaslr=0 ;;
    *-transition) initrd=$D/initramfs-transition.cpio.gz ;;
    *) [ "${NOCRASH:-}" = 1 ] || crash=(--crash crash-klp $BUILD/dumps/$name-klpcrash) ;;
  esac
  if [ ! -f $RAW/vmcore.kdump ] || [ "${FORCE_BOOT:-}" = 1 ]; then
    boot_dump $name $RAW $KD/Image $initrd $cpu "$app" $kaslr "${crash[@]}"
    [ ${#crash[@]} -gt 0 ] && cp $RAW/qemu-cmdline.txt ${crash[2]}/ 2>/dev/null || true
  fi
  { [ -f $RAW/truth.json ] && [ "${FORCE_TRUTH:-}" != 1 ]; } || need_vml
  $top/finalize-dump.sh $RAW $OUT/$name $KN $VML $KD/modules
  if [ ${#crash[@]} -gt 0 ] && [ -d ${crash[2]} ]; then
    { [ -f ${crash[2]}/truth.json ] && [ "${FORCE_TRUTH:-}" != 1 ]; } || need_vml
    $top/finalize-dump.sh ${crash[2]} $OUT/$name-klpcrash $KN $VML $KD/modules
  fi
done
