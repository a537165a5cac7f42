#!/usr/bin/env bash
# bench/distro-dump/make.sh: a real ppc64le crash dump of a Debian distro
# kernel booted under QEMU TCG (pseries, POWER9) with a few of the distro's
# own modules loaded and some ftrace enabled, dumped with the QEMU monitor's
# dump-guest-memory (ELF and kdump-zlib), with the ground truth printed by
# the guest itself and (profiles with drgn_truth=1) read back out of the
# dump by drgn. Rerunnable: every step is skipped when its output exists.
# See README.md beside this file.
#
# usage: bench/distro-dump/make.sh [PROFILE] [OUT_DIR] [check]
#   PROFILE  a file of bench/distro-dump/profiles/ without .sh (the kernel:
#            release, version, suites, packages, modules, ftrace setting);
#            default deb14-7.2-4k (Debian's 7.2.13, the original setting).
#            The first argument is a profile when such a file exists, else
#            OUT_DIR (the old usage `make.sh [OUT_DIR] [check]`).
#   OUT_DIR  default ${XDG_CACHE_HOME:-~/.cache}/kdump-inspect-bench/distro-dump
#            (for deb14-7.2-4k) or .../distro-dump-PROFILE
#   "check"  also builds cmd/kdump-inspect and runs info/mod/ftrace/audit on
#            both dumps, writing the outputs to OUT_DIR/check/.
# Environment:
#   FORCE_BOOT=1   boot and dump again even when the dumps exist
#   APPEND_EXTRA   added to the kernel command line ("disable_radix": hash MMU)
#   DL_DIR         where the .deb files and Packages indices go (default
#                  OUT_DIR/dl; share it between outputs of the same kernel)
#   KDIR           where the unpacked kernel, vmlinux, modules/ and
#                  modules-dbg/ go (default OUT_DIR; when elsewhere, OUT_DIR
#                  gets symlinks to them: share it between MMU variants)
#   VMLINUX        the DWARF vmlinux (default: deb14-7.2-4k
#                  $bench/vmlinux-RELEASE as before, other profiles KDIR/vmlinux)
#   SID_CHROOT     the Debian sid chroot with QEMU 11 and drgn 0.3.0 (default
#                  /var/tmp/kdi-bench/sid-chroot, shared with bench/vs-drgn)
#   MIRROR         Debian mirror (default: the machine's apt sources)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
profiles=$here/profiles
bench=${XDG_CACHE_HOME:-$HOME/.cache}/kdump-inspect-bench

profile=deb14-7.2-4k
if [ $# -gt 0 ] && [ -f "$profiles/$1.sh" ]; then profile=$1; shift; fi
# shellcheck source=profiles/deb14-7.2-4k.sh
. "$profiles/$profile.sh"
if [ "$profile" = deb14-7.2-4k ]; then out=${1:-$bench/distro-dump}; else out=${1:-$bench/distro-dump-$profile}; fi
mode=${2:-}
mkdir -p "$out"
out=$(cd "$out" && pwd)
kdir=${KDIR:-$out}
mkdir -p "$kdir"
kdir=$(cd "$kdir" && pwd)
dl=${DL_DIR:-$out/dl}
mkdir -p "$dl"
dl=$(cd "$dl" && pwd)
if [ "$profile" = deb14-7.2-4k ]; then vmlinux=${VMLINUX:-$bench/vmlinux-$release}; else vmlinux=${VMLINUX:-$kdir/vmlinux}; fi
chroot_dir=${SID_CHROOT:-/var/tmp/kdi-bench/sid-chroot}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
mirror=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
[ -n "$mirror" ] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
security=${mirror%/debian}/debian-security

# vmlinux symbols the guest prints (every /proc/kallsyms line of that name).
kallsyms_want=(
  _stext _etext _end ftrace_caller ftrace_regs_caller ftrace_call ftrace_regs_call _mcount
  ftrace_stub ftrace_stub_graph ftrace_nop_ops ftrace_list_ops ftrace_ops_list global_ops
  kprobe_ftrace_ops kprobe_ipmodify_ops ftrace_pages_start ftrace_pages ftrace_tramp_text
  ftrace_tramp_init ftrace_graph_call modules kallsyms_addresses kallsyms_offsets
  kallsyms_relative_base kallsyms_num_syms kallsyms_names kallsyms_markers
  kallsyms_token_table kallsyms_token_index kallsyms_seqs_of_names init_uts_ns
  __start_BTF __stop_BTF vmcoreinfo_data vmcoreinfo_note swapper_pg_dir paca_ptrs
  __per_cpu_offset module_trampoline_target
)

step() { echo; echo "== $*"; }
run() { echo "+ $*"; "$@"; }

echo "profile $profile: $release ($version), out $out, kernel dir $kdir, downloads $dl"
cd "$out"

# --- the sid chroot (QEMU 11, drgn) and its bind mounts --------------------
chroot_mounts=()
cleanup() {
  local i
  for (( i=${#chroot_mounts[@]}-1; i>=0; i-- )); do
    umount "${chroot_mounts[$i]}" 2>/dev/null || umount -l "${chroot_mounts[$i]}" || true
  done
}
trap cleanup EXIT
chroot_bind() { # DIR...: bind-mount DIR at the same path inside the chroot
  local d
  for d in "$@"; do
    d=$(realpath "$d")
    mountpoint -q "$chroot_dir$d" && continue
    mkdir -p "$chroot_dir$d"
    mount --bind "$d" "$chroot_dir$d"
    chroot_mounts+=("$chroot_dir$d")
  done
}
need_chroot=0
[ "$qemu_from" = sid ] && need_chroot=1
[ "${drgn_truth:-0}" = 1 ] && need_chroot=1

step "host packages"
need=()
[ "$qemu_from" = host ] && ! command -v qemu-system-ppc64 >/dev/null && need+=(qemu-system-ppc)
command -v zstd >/dev/null || need+=(zstd)
command -v cpio >/dev/null || need+=(cpio)
command -v xz >/dev/null || need+=(xz-utils)
command -v python3 >/dev/null || need+=(python3)
[ $need_chroot = 1 ] && ! command -v debootstrap >/dev/null && need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  run apt-get update -qq
  DEBIAN_FRONTEND=noninteractive run apt-get install -y -qq "${need[@]}"
fi
if [ $need_chroot = 1 ]; then
  # shellcheck source=../sidchroot.sh
  . "$here/../sidchroot.sh"
  MIRROR=$mirror ensure_sid_chroot "$chroot_dir" --include=python3-drgn,qemu-system-ppc
  if ! chroot "$chroot_dir" sh -c 'command -v qemu-system-ppc64 && python3 -c "import drgn"' >/dev/null 2>&1; then
    chroot "$chroot_dir" apt-get -qq -o Acquire::Check-Valid-Until=false update
    chroot "$chroot_dir" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-drgn qemu-system-ppc
  fi
  echo "sid chroot $chroot_dir: $(chroot "$chroot_dir" qemu-system-ppc64 --version | head -1); python3-drgn $(chroot "$chroot_dir" dpkg-query -W -f '${Version}' python3-drgn)"
fi
if [ "$qemu_from" = host ]; then qemu-system-ppc64 --version | head -1; fi

step "Debian packages $version (suites $suites, mirror $mirror)"
for suite in $suites; do
  idx=$dl/Packages-$suite-ppc64el
  [ -s "$idx" ] && continue
  base=$mirror; [[ $suite == *-security ]] && base=$security
  if curl -fsSL "$base/dists/$suite/main/binary-ppc64el/Packages.xz" | xz -d > "$idx.tmp"; then
    mv "$idx.tmp" "$idx"; echo "index: $suite ($(grep -c '^Package:' "$idx") packages)"
  else
    rm -f "$idx.tmp"; echo "index: $suite not available"
  fi
done
pick() { # pick PACKAGE: prints "BASEURL Filename SHA256" from the first index listing PACKAGE $version
  local suite base idx
  for suite in $suites; do
    idx=$dl/Packages-$suite-ppc64el
    [ -s "$idx" ] || continue
    base=$mirror; [[ $suite == *-security ]] && base=$security
    awk -v want="$1" -v ver="$version" -v base="$base" '
      /^Package: /{pkg=$2} /^Version: /{v=$2} /^Filename: /{fn=$2} /^SHA256: /{sha=$2}
      /^$/{ if (pkg==want && v==ver) { print base, fn, sha; found=1; exit } pkg="" }
      END { exit !found }' "$idx" && return
  done
  return 1
}
fetch() { # fetch PACKAGE: prints the path of the checked .deb in $dl
  local base fn sha pinned=${sha256[$1]:-}
  if ! read -r base fn sha < <(pick "$1"); then
    echo "$1 $version is in none of the indices ($suites)" >&2; exit 2
  fi
  if [ -n "$pinned" ] && [ "$pinned" != "$sha" ]; then
    echo "$1: index SHA256 $sha differs from the pinned $pinned" >&2; exit 2
  fi
  local dest=$dl/$(basename "$fn")
  if [ ! -s "$dest" ]; then
    echo "+ curl $base/$fn" >&2
    curl -fsSL --retry 3 -o "$dest.part" "$base/$fn" >&2
    echo "$sha  $dest.part" | sha256sum -c --quiet - >&2
    mv "$dest.part" "$dest"
  fi
  echo "$dest"
}
debs=()
for p in $image_pkgs; do debs+=("$(fetch "$p")"); done
ls -l "${debs[@]}"

step "unpack the kernel package(s) into $kdir/root"
if [ ! -s "$kdir/root/.unpacked" ]; then
  mkdir -p "$kdir/root"
  for d in "${debs[@]}"; do run dpkg-deb -x "$d" "$kdir/root"; done
  echo "${debs[*]}" > "$kdir/root/.unpacked"
fi
mods=$kdir/root/usr/lib/modules/$release
[ -d "$mods/kernel" ] || mods=$kdir/root/lib/modules/$release
[ -d "$mods/kernel" ] || { echo "no modules directory for $release in $kdir/root" >&2; exit 2; }
config=$(ls "$kdir"/root/boot/config-"$release" 2>/dev/null || ls "$kdir"/root/usr/lib/linux/*/config 2>/dev/null | head -1 || true)
echo "modules: $mods"; echo "config: ${config:-none}"

step "modules and their dependencies (.modinfo depends=)"
declare -A modpath=()   # module name -> file path below $mods/kernel/
while IFS= read -r f; do
  rel=${f#"$mods/kernel/"}; b=${f##*/}; n=${b%%.ko*}; modpath[${n//-/_}]=$rel
done < <(find "$mods/kernel" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
catko() { case $1 in *.xz) xz -dc "$1";; *.zst) zstd -qdc "$1";; *.gz) gzip -dc "$1";; *) cat "$1";; esac; }
modinfo_field() { catko "$1" | tr '\0' '\n' | sed -n "s/^$2=//p" | head -1; }
declare -A seen=() params=()
order=()
addmod() { # NAME: dependencies first
  local n=$1 d deps
  [ -n "${seen[$n]:-}" ] && return
  seen[$n]=1
  [ -n "${modpath[$n]:-}" ] || { echo "module $n not in $mods/kernel" >&2; exit 2; }
  deps=$(modinfo_field "$mods/kernel/${modpath[$n]}" depends)
  for d in ${deps//,/ }; do addmod "${d//-/_}"; done
  order+=("$n")
}
for m in "${modules[@]}"; do
  spec=${m%% *}; n=$(basename "$spec"); n=${n//-/_}
  [ "$m" != "$spec" ] && params[$n]=${m#* }
  addmod "$n"
done
echo "load order: ${order[*]}"

step "DWARF vmlinux and debug .ko files (from $dbg_pkg)"
dbgrel=usr/lib/debug/lib/modules/$release
want=()
for n in "${order[@]}"; do
  rel=${modpath[$n]%.xz}; rel=${rel%.zst}; rel=${rel%.gz}
  [ -s "$kdir/dbgroot/$dbgrel/kernel/$rel" ] || want+=("./$dbgrel/kernel/$rel")
done
[ -s "$vmlinux" ] || want+=("./$dbg_vmlinux")
if [ ${#want[@]} -gt 0 ]; then
  dbgdeb=$(fetch "$dbg_pkg")   # 0.7-1 GB: vmlinux + debug .ko (may be deleted afterwards)
  mkdir -p "$kdir/dbgroot"
  echo "+ dpkg-deb --fsys-tarfile $dbgdeb | tar -x ${want[*]}"
  nice -n 10 dpkg-deb --fsys-tarfile "$dbgdeb" | tar -x -C "$kdir/dbgroot" "${want[@]}"
  if [ ! -s "$vmlinux" ]; then run mv "$kdir/dbgroot/$dbg_vmlinux" "$vmlinux"; fi
fi
echo "vmlinux (DWARF): $vmlinux"
if [ "$boot_kernel" = image ]; then boot=$kdir/root/boot/vmlinux-$release; else boot=$vmlinux; fi
echo "booted kernel: $boot"

step "module directories for the tool: modules/ (stripped, as loaded) and modules-dbg/ (DWARF)"
mkdir -p "$kdir/modules" "$kdir/modules-dbg"
rm -rf initramfs; mkdir -p initramfs/modules
for n in "${order[@]}"; do
  rel=${modpath[$n]}; file=$(basename "$rel"); ko=${file%%.ko*}.ko
  drel=${rel%.xz}; drel=${drel%.zst}; drel=${drel%.gz}
  [ -s "$kdir/modules/$ko" ] || catko "$mods/kernel/$rel" > "$kdir/modules/$ko"
  [ -s "$kdir/modules-dbg/$ko" ] || cp "$kdir/dbgroot/$dbgrel/kernel/$drel" "$kdir/modules-dbg/$ko"
  cp "$mods/kernel/$rel" initramfs/modules/
  echo "$file${params[$n]:+ ${params[$n]}}" >> initramfs/modules/load.list
done
if [ "$kdir" != "$out" ]; then
  for l in modules modules-dbg vmlinux; do
    [ -e "$kdir/$l" ] && ln -sfn "$(realpath --relative-to="$out" "$kdir/$l")" "$out/$l"
  done
fi
[ -n "$config" ] && cp "$config" "$out/config"
printf '%s\n' "${ftrace_filter[@]}" > initramfs/modules/ftrace.filter
printf '%s\n' "${kprobe_events[@]}" > initramfs/modules/kprobe.events
printf '%s\n' "${kallsyms_want[@]}" > initramfs/modules/kallsyms.want
[ ${#tcp_cc[@]} -gt 0 ] && printf '%s\n' "${tcp_cc[@]}" > initramfs/modules/tcp.cc
cat initramfs/modules/load.list

step "initramfs: /init is bench/distro-dump/guestinit (Go, ppc64le)"
(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=ppc64le run "$GO" build -trimpath -o "$out/initramfs/init" ./bench/distro-dump/guestinit)
mkdir -p initramfs/proc initramfs/sys initramfs/dev
(cd initramfs && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner 0:0) > initramfs.cpio.tmp
mv initramfs.cpio.tmp initramfs.cpio
ls -l initramfs.cpio

step "boot under QEMU TCG ($qemu_from QEMU) and dump"
if [ -n "${FORCE_BOOT:-}" ] || [ ! -s vmcore.elf ] || [ ! -s vmcore.kdump ]; then
  rm -f console.log mon.sock vmcore.elf vmcore.kdump vmcore.elf.zst qemu.pid truth.json
  append="console=hvc0 loglevel=7 panic=0 rdinit=/init${APPEND_EXTRA:+ $APPEND_EXTRA}"
  if [ "$qemu_from" = sid ]; then
    chroot_bind /proc /dev "$out" "$kdir" "$(dirname "$boot")"
    qemu=(chroot "$chroot_dir" qemu-system-ppc64
          -M pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off
          -nodefaults -vga none)
  else
    qemu=(qemu-system-ppc64 -M pseries)
  fi
  qemu+=(-cpu power9 -m "$mem" -smp "$smp" -display none -no-reboot
         -chardev file,id=con,path="$out/console.log" -serial chardev:con
         -monitor unix:"$out/mon.sock",server=on,wait=off
         -kernel "$boot" -initrd "$out/initramfs.cpio" -append "$append"
         -pidfile "$out/qemu.pid" -daemonize)
  echo "${qemu[*]}" | tee qemu-cmdline.txt
  nice -n 10 "${qemu[@]}"
  t0=$(date +%s)
  until grep -q '^KDI-READY' console.log 2>/dev/null; do
    sleep 5
    if ! kill -0 "$(cat qemu.pid)" 2>/dev/null; then echo "QEMU exited before KDI-READY; console:" >&2; tail -50 console.log >&2; exit 1; fi
    if [ $(( $(date +%s) - t0 )) -gt 1800 ]; then echo "no KDI-READY after 30 min; console:" >&2; tail -50 console.log >&2; kill "$(cat qemu.pid)"; exit 1; fi
  done
  boottime=$(( $(date +%s) - t0 ))
  echo "KDI-READY after ${boottime}s (wall, from QEMU start, loadavg $(cut -d' ' -f1-3 /proc/loadavg))" | tee boot-time.txt
  # the HMP monitor: send one command, wait for the next prompt
  mon() {
    echo "+ (qemu) $1"
    python3 - "$out/mon.sock" "$1" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
def until_prompt():
    buf = b""
    while not buf.endswith(b"(qemu) "):
        d = s.recv(65536)
        if not d: break
        buf += d
    return buf
until_prompt()
s.sendall(sys.argv[2].encode() + b"\n")
out = until_prompt().decode(errors="replace")
# echo lines are noisy (terminal escapes); print what follows the command
print("\n".join(l for l in out.splitlines()[1:] if not l.startswith("(qemu)")))
EOF
  }
  mon "stop"
  t1=$(date +%s); mon "dump-guest-memory $out/vmcore.elf"; echo "ELF dump: $(( $(date +%s) - t1 ))s"
  t1=$(date +%s); mon "dump-guest-memory -z $out/vmcore.kdump"; echo "kdump-zlib dump: $(( $(date +%s) - t1 ))s"
  mon "quit" || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do [ -f qemu.pid ] && kill -0 "$(cat qemu.pid)" 2>/dev/null || break; sleep 1; done
  rm -f mon.sock
  chmod 644 vmcore.elf vmcore.kdump   # QEMU 11 creates them 0400
fi

step "ground truth from the console"
sed -n 's/^modules| //p' console.log > truth-proc-modules.txt
sed -n 's/^enabled_functions| //p' console.log > truth-enabled_functions.txt
sed -n 's/^sections| //p' console.log > truth-sections.txt
sed -n 's/^kallsyms_modules| //p' console.log > truth-kallsyms-modules.txt
sed -n 's/^kprobes_list| //p' console.log > truth-kprobes.txt
sed -n 's/^btf| //p' console.log > truth-btf.txt
for t in kallsyms_vmlinux stubs sites trace vmcoreinfo filter_addrs vmalloc_modules; do
  sed -n "s/^$t| //p" console.log > "truth-${t//_/-}.txt"
done
sed 's/\r$//' -i truth-*.txt
wc -l truth-*.txt
grep -E 'kdi-init: (finit_module|open|mount|write|append|tcp|lo )' console.log || true
grep -iE 'module verification|taint|signature' console.log | head -5 || true
if [ -n "$config" ]; then
  grep -E 'CONFIG_PPC_(4|64)K_PAGES|FTRACE|MPROFILE|LIVEPATCH|PATCHABLE_FUNCTION_ENTRY|CONFIG_CC_VERSION_TEXT' "$config" > truth-config.txt || true
fi

step "compress the ELF dump (zstd -3)"
[ -s vmcore.elf.zst ] || run nice -n 10 zstd -q -T0 -3 -f vmcore.elf -o vmcore.elf.zst
ls -l vmcore.elf vmcore.elf.zst vmcore.kdump | tee sizes.txt

if [ "${drgn_truth:-0}" = 1 ] && { [ ! -s truth.json ] || [ -n "${FORCE_TRUTH:-}" ]; }; then
  step "truth.json: the guest's truth + drgn's reading of the dump (sid chroot)"
  chroot_bind "$out" "$kdir" "$(dirname "$(realpath "$vmlinux")")"
  # shellcheck source=../lib/drgn-script.sh
  . "$here/../lib/drgn-script.sh"
  copy_drgn_script "$chroot_dir/tmp/kdi-tools" "$here/truth-drgn.py" > /dev/null
  echo "+ chroot $chroot_dir python3 truth-drgn.py --dump vmcore.elf --vmlinux $(realpath "$vmlinux") --modules $kdir/modules-dbg --ko $kdir/modules --console console.log -o truth.json"
  nice -n 10 chroot "$chroot_dir" python3 /tmp/kdi-tools/distro-dump/truth-drgn.py --dump "$out/vmcore.elf" \
    --vmlinux "$(realpath "$vmlinux")" --modules "$kdir/modules-dbg" --ko "$kdir/modules" \
    --console "$out/console.log" ${config:+--config "$out/config"} -o "$out/truth.json" 2>&1 | tee truth-drgn.log
fi

if [ "$mode" = check ]; then
  step "check cmd/kdump-inspect on both dumps"
  (cd "$repo" && nice -n 10 "$GO" build -o "$out/kdi" ./cmd/kdump-inspect)
  mkdir -p check
  for d in vmcore.elf vmcore.kdump; do
    for c in info mod ftrace audit; do
      echo "+ kdi -s vmlinux --modules modules-dbg $d -c $c > check/$d.$c.txt"
      ./kdi -s "$vmlinux" --modules "$kdir/modules-dbg" "$out/$d" -c "$c" > "check/$d.$c.txt" 2> "check/$d.$c.err" || echo "  exit $?"
    done
    ./kdi info -s "$vmlinux" "$out/$d" > "check/$d.info-oneshot.txt" 2>&1 || echo "  info one-shot exit $?"
    ./kdi audit -s "$vmlinux" --modules "$kdir/modules-dbg" "$out/$d" > "check/$d.audit-oneshot.txt" 2>&1 || echo "  audit one-shot exit $?"
  done
  # compare with the ground truth: module names and bases, enabled ftrace records
  {
    echo "# modules: /proc/modules (name base) vs mod (NAME BASE)"
    awk '{print $1, $6}' truth-proc-modules.txt | sort > check/truth-mods.txt
    for d in vmcore.elf vmcore.kdump; do
      awk 'NR>1 && $2!="" {print $2, "0x" $3}' "check/$d.mod.txt" | sort > "check/$d.mods.txt"
      if diff check/truth-mods.txt "check/$d.mods.txt" >/dev/null; then echo "$d: $(wc -l < check/truth-mods.txt) modules, names and bases match"
      else echo "$d: DIFFERENT"; diff check/truth-mods.txt "check/$d.mods.txt" || true; fi
    done
    echo "# ftrace: enabled_functions (name [module]) vs ftrace rows with ENABLED (FUNCTION MODULE)"
    grep -v '^[[:space:]]' truth-enabled_functions.txt | sed -E 's/ \([0-9]+\).*//' | sort > check/truth-enabled.txt
    for d in vmcore.elf vmcore.kdump; do
      grep ENABLED "check/$d.ftrace.txt" | awk '{fn=$2; sub(/\+0x[0-9a-f]+$/,"",fn); m=($3 ~ /^0x/)?"":" [" $3 "]"; print fn m}' | sort > "check/$d.enabled.txt"
      if diff check/truth-enabled.txt "check/$d.enabled.txt" >/dev/null; then echo "$d: $(wc -l < check/truth-enabled.txt) enabled records match"
      else echo "$d: $(wc -l < "check/$d.enabled.txt") enabled records, differences (< truth, > tool):"; diff check/truth-enabled.txt "check/$d.enabled.txt" || true; fi
    done
  } | tee check/compare.txt
  ls -l check
fi
echo; echo "done: $out"
