#!/usr/bin/env bash
# bench/distro-dump/make.sh: a real ppc64le crash dump of the Debian distro
# kernel 7.2.13+deb14-powerpc64le (4K pages, radix MMU), booted under QEMU
# TCG (pseries, POWER9) with a few of the distro's own modules loaded and
# some ftrace enabled, dumped with the QEMU monitor's dump-guest-memory
# (ELF and kdump-zlib). Rerunnable: every step is skipped when its output
# exists. See README.md beside this file.
#
# usage: bench/distro-dump/make.sh [OUT_DIR] [check]
#   OUT_DIR defaults to ${XDG_CACHE_HOME:-~/.cache}/kdump-inspect-bench/distro-dump
#   "check" also builds cmd/kdump-inspect and runs info/mod/ftrace/audit on
#   both dumps, writing the outputs to OUT_DIR/check/.
# Environment: FORCE_BOOT=1 boots and dumps again even when the dumps exist;
# VMLINUX=PATH uses (or creates, from the -dbg package) the vmlinux there
# instead of $bench/vmlinux-$release (shared with fetch-distro-vmlinux);
# APPEND_EXTRA adds to the kernel command line ("disable_radix" boots the
# hash MMU: make.sh ~/.cache/kdump-inspect-bench/distro-dump-hash).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bench=${XDG_CACHE_HOME:-$HOME/.cache}/kdump-inspect-bench
out=${1:-$bench/distro-dump}
mode=${2:-}
release=7.2.13+deb14-powerpc64le
version=7.2.13-1
vmlinux=${VMLINUX:-$bench/vmlinux-$release}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)

# The modules loaded in the guest, dependencies first, with their
# parameters: path under kernel/ without .ko.xz, then params.
modules=(
  "net/ipv4/tcp_vegas"
  "net/ipv4/tcp_yeah"          # depends on tcp_vegas (calls through .stubs)
  "drivers/net/dummy"
  "drivers/block/brd rd_nr=1 rd_size=4096"
  "crypto/md4"
  "drivers/char/ttyprintk"
  "net/sched/sch_pie"
  "net/sched/sch_fq_pie"       # depends on sch_pie
)
# set_ftrace_filter lines (function tracer), and kprobe_events lines.
ftrace_filter=(
  "*:mod:tcp_vegas"
  "dummy_*"
  "brd_*"
  "fq_pie_*"
  "vfs_read"
)
kprobe_events=(
  "p:kprobes/kdi_yeah tcp_yeah_cong_avoid"
  "p:kprobes/kdi_pie pie_calculate_probability"
)

step() { echo; echo "== $*"; }
run() { echo "+ $*"; "$@"; }

mkdir -p "$out"/dl
cd "$out"

step "host packages (qemu-system-ppc zstd cpio xz-utils)"
need=()
command -v qemu-system-ppc64 >/dev/null || need+=(qemu-system-ppc)
command -v zstd >/dev/null || need+=(zstd)
command -v cpio >/dev/null || need+=(cpio)
command -v xz >/dev/null || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
  run apt-get update -qq
  DEBIAN_FRONTEND=noninteractive run apt-get install -y -qq "${need[@]}"
fi
qemu-system-ppc64 --version | head -1

step "Debian packages $version (mirror $mirror)"
pick() { # pick PACKAGE: prints "Filename SHA256" from the Packages index
  awk -v want="$1" -v ver="$version" '
    /^Package: /{pkg=$2} /^Version: /{v=$2} /^Filename: /{fn=$2} /^SHA256: /{sha=$2}
    /^$/{ if (pkg==want && v==ver) print fn, sha; pkg="" }' dl/Packages | head -1
}
if [ ! -s dl/Packages ]; then
  for suite in sid trixie; do
    if curl -fsSL "$mirror/dists/$suite/main/binary-ppc64el/Packages.xz" | xz -d > dl/Packages.tmp &&
       grep -qx "Package: linux-modules-$release" dl/Packages.tmp; then
      mv dl/Packages.tmp dl/Packages; echo "index: $suite"; break
    fi
  done
fi
[ -s dl/Packages ] || { echo "no Packages index lists linux-modules-$release" >&2; exit 2; }
fetch() { # fetch PACKAGE DEST
  [ -s "$2" ] && { echo "have $2"; return; }
  read -r fn sha < <(pick "$1")
  [ -n "${fn:-}" ] || { echo "$1 $version not in the index" >&2; exit 2; }
  run curl -fL --retry 3 -o "$2.part" "$mirror/$fn"
  echo "$sha  $2.part" | sha256sum -c --quiet -
  mv "$2.part" "$2"
}
fetch "linux-modules-$release" dl/linux-modules.deb
fetch "linux-base-$release" dl/linux-base.deb

step "unpack modules (image) and the debug .ko files (dbg)"
mods=root/usr/lib/modules/$release
if [ ! -d "$mods/kernel" ]; then
  mkdir -p root
  run dpkg-deb -x dl/linux-modules.deb root
  run dpkg-deb -x dl/linux-base.deb root
fi
dbgmods=dbgroot/usr/lib/debug/lib/modules/$release
want=()
for m in "${modules[@]}"; do want+=("./usr/lib/debug/lib/modules/$release/kernel/${m%% *}.ko"); done
missing=0
for w in "${want[@]}"; do [ -s "dbgroot/${w#./}" ] || missing=1; done
[ -s "$vmlinux" ] || { missing=1; want+=("./usr/lib/debug/lib/modules/$release/vmlinux"); }
if [ $missing = 1 ]; then
  fetch "linux-image-$release-dbg" dl/dbg.deb   # ~1 GB: vmlinux + debug .ko (dl/dbg.deb may be deleted afterwards)
  mkdir -p dbgroot
  echo "+ dpkg-deb --fsys-tarfile dl/dbg.deb | tar -x ${want[*]}"
  nice -n 10 dpkg-deb --fsys-tarfile dl/dbg.deb | tar -x -C dbgroot "${want[@]}"
  if [ ! -s "$vmlinux" ]; then run mv "$dbgmods/vmlinux" "$vmlinux"; fi
fi
echo "vmlinux: $vmlinux"

step "module directories for the tool: modules/ (stripped, from the image package) and modules-dbg/ (DWARF)"
mkdir -p modules modules-dbg initramfs/modules
: > initramfs/modules/load.list.tmp
for m in "${modules[@]}"; do
  path=${m%% *}; params=; [ "$m" != "$path" ] && params=${m#* }
  name=$(basename "$path")
  [ -s "modules/$name.ko" ] || xz -dc "$mods/kernel/$path.ko.xz" > "modules/$name.ko"
  [ -s "modules-dbg/$name.ko" ] || cp "$dbgmods/kernel/$path.ko" "modules-dbg/$name.ko"
  cp "$mods/kernel/$path.ko.xz" initramfs/modules/
  echo "$name.ko.xz${params:+ $params}" >> initramfs/modules/load.list.tmp
done
mv initramfs/modules/load.list.tmp initramfs/modules/load.list
printf '%s\n' "${ftrace_filter[@]}" > initramfs/modules/ftrace.filter
printf '%s\n' "${kprobe_events[@]}" > initramfs/modules/kprobe.events
cat initramfs/modules/load.list

step "initramfs: /init is bench/distro-dump/guestinit (Go, ppc64le)"
(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=ppc64le run "$GO" build -trimpath -o "$out/initramfs/init" ./bench/distro-dump/guestinit)
mkdir -p initramfs/proc initramfs/sys initramfs/dev
(cd initramfs && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner 0:0) > initramfs.cpio.tmp
mv initramfs.cpio.tmp initramfs.cpio
ls -l initramfs.cpio

step "boot under QEMU TCG and dump"
if [ -n "${FORCE_BOOT:-}" ] || [ ! -s vmcore.elf ] || [ ! -s vmcore.kdump ]; then
  rm -f console.log mon.sock vmcore.elf vmcore.kdump vmcore.elf.zst qemu.pid
  append="console=hvc0 loglevel=7 panic=0 rdinit=/init${APPEND_EXTRA:+ $APPEND_EXTRA}"
  set -x
  qemu-system-ppc64 -M pseries -cpu power9 -m 1G -smp 1 \
    -display none -no-reboot \
    -chardev file,id=con,path="$out/console.log" -serial chardev:con \
    -monitor unix:"$out/mon.sock",server=on,wait=off \
    -kernel "$vmlinux" -initrd "$out/initramfs.cpio" -append "$append" \
    -pidfile "$out/qemu.pid" -daemonize
  set +x
  t0=$(date +%s)
  until grep -q '^KDI-READY' console.log 2>/dev/null; do
    sleep 5
    if ! kill -0 "$(cat qemu.pid)" 2>/dev/null; then echo "QEMU exited before KDI-READY; console:" >&2; tail -50 console.log >&2; exit 1; fi
    if [ $(( $(date +%s) - t0 )) -gt 1800 ]; then echo "no KDI-READY after 30 min; console:" >&2; tail -50 console.log >&2; kill "$(cat qemu.pid)"; exit 1; fi
  done
  boot=$(( $(date +%s) - t0 ))
  echo "KDI-READY after ${boot}s (wall, from QEMU start, loadavg $(cut -d' ' -f1-3 /proc/loadavg))" | tee boot-time.txt
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
  sleep 1
fi

step "ground truth from the console"
sed -n 's/^modules| //p' console.log > truth-proc-modules.txt
sed -n 's/^enabled_functions| //p' console.log > truth-enabled_functions.txt
sed -n 's/^sections| //p' console.log > truth-sections.txt
sed -n 's/^kallsyms_modules| //p' console.log > truth-kallsyms-modules.txt
sed -n 's/^kprobes_list| //p' console.log > truth-kprobes.txt
sed -n 's/^btf| //p' console.log > truth-btf.txt
sed 's/\r$//' -i truth-*.txt
wc -l truth-*.txt
grep -E 'kdi-init: (finit_module|open|mount|write|append)' console.log || true
grep -iE 'module verification|taint|signature' console.log | head -5 || true

step "compress the ELF dump (zstd -3)"
[ -s vmcore.elf.zst ] || run zstd -q -T0 -3 -f vmcore.elf -o vmcore.elf.zst
ls -l vmcore.elf vmcore.elf.zst vmcore.kdump | tee sizes.txt

if [ "$mode" = check ]; then
  step "check cmd/kdump-inspect on both dumps"
  (cd "$repo" && nice -n 10 "$GO" build -o "$out/kdi" ./cmd/kdump-inspect)
  mkdir -p check
  for d in vmcore.elf vmcore.kdump; do
    for c in info mod ftrace audit; do
      echo "+ kdi -s vmlinux --modules modules-dbg $d -c $c > check/$d.$c.txt"
      ./kdi -s "$vmlinux" --modules "$out/modules-dbg" "$out/$d" -c "$c" > "check/$d.$c.txt" 2> "check/$d.$c.err" || echo "  exit $?"
    done
    ./kdi info -s "$vmlinux" "$out/$d" > "check/$d.info-oneshot.txt" 2>&1 || echo "  info one-shot exit $?"
    ./kdi audit -s "$vmlinux" --modules "$out/modules-dbg" "$out/$d" > "check/$d.audit-oneshot.txt" 2>&1 || echo "  audit one-shot exit $?"
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
    sed -E 's/ \([0-9]+\).*//' truth-enabled_functions.txt | sort > check/truth-enabled.txt
    for d in vmcore.elf vmcore.kdump; do
      grep ENABLED "check/$d.ftrace.txt" | awk '{fn=$2; sub(/\+0x[0-9a-f]+$/,"",fn); m=($3 ~ /^0x/)?"":" [" $3 "]"; print fn m}' | sort > "check/$d.enabled.txt"
      if diff check/truth-enabled.txt "check/$d.enabled.txt" >/dev/null; then echo "$d: $(wc -l < check/truth-enabled.txt) enabled records match"
      else echo "$d: $(wc -l < "check/$d.enabled.txt") enabled records, differences (< truth, > tool):"; diff check/truth-enabled.txt "check/$d.enabled.txt" || true; fi
    done
  } | tee check/compare.txt
  ls -l check
fi
echo; echo "done: $out"
