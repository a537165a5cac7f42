#!/usr/bin/env bash
# bench/vs-crash/run.sh: kdump-inspect against crash 9.0.x (Debian unstable's
# source, built here for target PPC64) on the same job — open the dump and
# vmlinux and print the module list (crash `mod`, kdump-inspect `mod`) — and,
# when the distro vmlinux is there, the vmlinux-only start-up of both.
#
# usage: bench/vs-crash/run.sh [DUMP [VMLINUX [RUNS]]]
#   DUMP     a dump crash can read (default: the corpus's
#            fixed-radix/vmcore-vmcoreinfo.elf.zst, decompressed once into
#            kdump-inspect's file cache; .zst/.xz/.gz are decompressed)
#   VMLINUX  default: corpus kernels/7.2.13-fixed/vmlinux.zst
#   RUNS     timed runs per tool (default 5)
# env: CHROOT (default /var/tmp/kdi-bench/sid-chroot, shared with
#      bench/vs-drgn), MIRROR (default: the apt sources' Debian mirror),
#      DISTRO_VMLINUX (default ~/.cache/kdump-inspect-bench/
#      vmlinux-7.2.13+deb14-powerpc64le; skipped when absent),
#      REBUILD_CRASH=1 to rebuild crash even when it is installed.
#
# crash: `apt-get source crash` (sid) in a `debootstrap --variant=minbase
# sid` chroot, `apt-get build-dep crash`, then `make target=PPC64` (an
# x86_64 crash with a powerpc64le gdb 16.3 inside; Debian ships the gdb
# tarball in the orig sources, so nothing else is downloaded). That build
# is installed as /usr/local/bin/crash-unpatched; crash 9.0.2 stops on a
# 7.x kernel in module_init() (struct module lost num_gpl_syms), so the
# script then applies crash-9.0.2-module-gpl-syms.patch beside it,
# relinks, and installs /usr/local/bin/crash. One-time cost: about 15 min
# on 2 cores (the gdb build); the figure is kept in /build/crash-build.time.
# Needs root (debootstrap, chroot).
#
# Both tools' `mod` lists are reduced to "name base" lines (crash's
# TEXT_BASE, kdump-inspect's BASE) and diffed; no time is reported when
# they differ. A crash that cannot open the dump is timed to its failure
# and labelled so. Prints wall time and peak RSS (/usr/bin/time -f '%e %M'),
# min and median, and the ratios.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../sidchroot.sh
. "$here/../sidchroot.sh"
vs_args 5 "$@"
distro_vmlinux=${DISTRO_VMLINUX:-$HOME/.cache/kdump-inspect-bench/vmlinux-7.2.13+deb14-powerpc64le}
patch_file=$here/crash-9.0.2-module-gpl-syms.patch
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
inchroot() { chroot "$chroot_dir" "$@"; }

# --- crash in a sid chroot --------------------------------------------------
ensure_sid_chroot "$chroot_dir"

build_crash() {
  say "building crash for target PPC64 in $chroot_dir/build (one time; about 15 min on 2 cores)"
  local list=$chroot_dir/etc/apt/sources.list
  grep -qs '^deb-src .* sid main' "$list" || echo "deb-src $(debian_mirror) sid main" >> "$list"
  [ -s "$chroot_dir/etc/resolv.conf" ] || cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
  # the mirror's sid Release may carry a Valid-Until earlier than this
  # machine's clock
  inchroot apt-get -qq -o Acquire::Check-Valid-Until=false update >&2
  inchroot apt-get install -y -qq dpkg-dev >&2
  rm -rf "$chroot_dir/build"; mkdir -p "$chroot_dir/build"
  inchroot sh -c 'cd /build && apt-get source -qq crash' >&2
  inchroot apt-get build-dep -y -qq crash >&2
  local src; src=$(cd "$chroot_dir/build" && ls -d crash-*/ | head -1); src=/build/${src%/}
  # the compressed-kdump codecs, as Debian's `make lzo snappy zstd` does
  echo '-DLZO -DSNAPPY -DZSTD' > "$chroot_dir$src/CFLAGS.extra"
  echo '-llzo2 -lsnappy -lzstd' > "$chroot_dir$src/LDFLAGS.extra"
  local t0 t1
  t0=$(date +%s)
  say "make target=PPC64 -j2 (log: $chroot_dir/build/crash-build.log)"
  inchroot sh -c "cd $src && nice -n 10 make target=PPC64 -j2" > "$chroot_dir/build/crash-build.log" 2>&1 ||
    { tail -20 "$chroot_dir/build/crash-build.log" >&2; say "crash build failed"; exit 1; }
  t1=$(date +%s)
  inchroot install -m755 "$src/crash" /usr/local/bin/crash-unpatched
  inchroot sh -c "cd $src && patch -p1" < "$patch_file" >&2
  inchroot sh -c "cd $src && nice -n 10 make target=PPC64 -j2" >> "$chroot_dir/build/crash-build.log" 2>&1 ||
    { tail -20 "$chroot_dir/build/crash-build.log" >&2; say "patched crash build failed"; exit 1; }
  inchroot install -m755 "$src/crash" /usr/local/bin/crash
  echo "$((t1 - t0)) s wall for make target=PPC64 -j2 (nice 10) from clean sources, $(date -u +%F), load average then $(cut -d' ' -f1-3 /proc/loadavg); patched relink $(( $(date +%s) - t1 )) s" \
    > "$chroot_dir/build/crash-build.time"
}
if [ -n "${REBUILD_CRASH:-}" ] || [ ! -x "$chroot_dir/usr/local/bin/crash" ] || [ ! -x "$chroot_dir/usr/local/bin/crash-unpatched" ]; then
  build_crash
fi
crash_ver=$(inchroot crash --version | awk 'NF {print; exit}')
gdb_ver=$(inchroot crash --version | grep -m1 '^GNU gdb')
target=$(grep -ho 'build_target = "[^"]*"' "$chroot_dir"/build/crash-*/build_data.c 2>/dev/null | head -1 | cut -d'"' -f2)
dsc=$(cd "$chroot_dir/build" 2>/dev/null && ls crash_*.dsc 2>/dev/null | head -1)
echo "crash:   $crash_ver ($gdb_ver, target ${target:-?}), Debian source ${dsc:-?}, /usr/local/bin/crash = + $(basename "$patch_file")"
echo "         one-time build: $(cat "$chroot_dir/build/crash-build.time" 2>/dev/null || echo 'not recorded')"

# --- kdump-inspect side ---------------------------------------------------
(cd "$repo" && go build -o "$work/kdi" ./cmd/kdump-inspect && go build -o "$work/modarch" ./bench/cmd/modarch &&
  go build -o "$work/startup" ./bench/cmd/startup)
echo "kdump-inspect: $(git -C "$repo" log -1 --format='%h %cs' 2>/dev/null || echo '?'), $(go version | cut -d' ' -f3)"
mapfile -t plain < <("$work/modarch" -paths -s "$vmlinux" "$dump")
link_into "$chroot_dir/bench/vs-crash" "vmcore:${plain[0]}" "vmlinux:${plain[1]}"
printf 'mod\nexit\n' > "$chroot_dir/bench/vs-crash/mod.cmd"
printf 'exit\n' > "$chroot_dir/bench/vs-crash/exit.cmd"
echo "dump:    $dump ($(du -h "${plain[0]}" | cut -f1) plain)"
echo "vmlinux: $vmlinux ($(du -h "${plain[1]}" | cut -f1) plain)"

crash_cmd() { # binary -> cmd=(argv)
  cmd=(chroot "$chroot_dir" "$1" -s /bench/vs-crash/vmlinux /bench/vs-crash/vmcore -i /bench/vs-crash/mod.cmd)
}
# crash's TEXT_BASE column, kdump-inspect's BASE column (a " [K]" may follow
# kdump-inspect's name); lines whose first field is a 16-digit address
norm_crash() { awk 'length($1) == 16 && $1 ~ /^[0-9a-f]+$/ && length($3) == 16 {print $2, $3}' "$1" | sort; }
norm_kdi() {
  awk 'length($1) == 16 && $1 ~ /^[0-9a-f]+$/ {
         for (i = 3; i <= NF; i++) if (length($i) == 16 && $i ~ /^[0-9a-f]+$/) { print $2, $i; break } }' "$1" | sort
}

# --- same module list first -----------------------------------------------
export KDUMP_INSPECT_CACHE=$work/cache-warm   # the DWARF index cache; files are already plain
kdi_args=(-s "${plain[1]}" "${plain[0]}" -c mod)
"$work/kdi" "${kdi_args[@]}" > "$work/kdi.raw" 2> "$work/kdi.err"   # also warms the index cache
norm_kdi "$work/kdi.raw" > "$work/kdi.txt"
[ -s "$work/kdi.txt" ] || { cat "$work/kdi.err" >&2; say "kdump-inspect listed no modules"; exit 1; }

declare -A crash_ok
for bin in crash-unpatched crash; do
  crash_cmd "$bin"
  set +e
  "${cmd[@]}" < /dev/null > "$work/$bin.raw" 2> "$work/$bin.err"
  rc=$?
  set -e
  norm_crash "$work/$bin.raw" > "$work/$bin.txt"
  if [ $rc -eq 0 ] && [ -s "$work/$bin.txt" ]; then
    crash_ok[$bin]=1
    if ! diff -u "$work/$bin.txt" "$work/kdi.txt" >&2; then
      say "MISMATCH: $bin and kdump-inspect list different modules (diff above); no times reported"
      exit 1
    fi
    echo "$bin: opens the dump; module lists identical: $(wc -l < "$work/kdi.txt") modules (name, base address)"
  else
    crash_ok[$bin]=0
    echo "$bin: CANNOT OPEN THIS DUMP (exit $rc); its error:"
    grep -hv '^$' "$work/$bin.err" "$work/$bin.raw" | grep -v 'error trace\|^WARNING\|^ ' | sed 's/^/    /' | head -5
    grep -h 'FILE:' "$work/$bin.err" "$work/$bin.raw" | sed 's/^ */    /' | head -2
  fi
done

# --- timing ---------------------------------------------------------------
measure() { # label: runs the labelled command $runs times, checks its output
  local label=$1 cmd ref norm
  : > "$work/$label.times"
  for i in $(seq "$runs"); do
    case $label in
      crash|crash-unpatched) crash_cmd "$label"; ref=$work/$label.txt; norm=norm_crash ;;
      kdi-warm) cmd=(env KDUMP_INSPECT_CACHE="$work/cache-warm" "$work/kdi" "${kdi_args[@]}"); ref=$work/kdi.txt; norm=norm_kdi ;;
      kdi-cold) rm -rf "$work/cache-cold"
                cmd=(env KDUMP_INSPECT_CACHE="$work/cache-cold" "$work/kdi" "${kdi_args[@]}"); ref=$work/kdi.txt; norm=norm_kdi ;;
      d-crash-fail) cmd=(chroot "$chroot_dir" crash -s /bench/vs-crash/vmlinux-distro /bench/vs-crash/vmcore -i /bench/vs-crash/mod.cmd); ref= ;;
      d-crash-minimal) cmd=(chroot "$chroot_dir" crash --minimal -s /bench/vs-crash/vmlinux-distro /bench/vs-crash/vmcore -i /bench/vs-crash/exit.cmd); ref= ;;
      d-kdi-cold) cmd=("$work/startup" -cold -cache "$work/startup-cache" "$distro_vmlinux"); ref= ;;
      d-kdi-cached) cmd=("$work/startup" -cache "$work/startup-cache" "$distro_vmlinux"); ref= ;;
    esac
    /usr/bin/time -f '%e %M' -o "$work/t" "${cmd[@]}" < /dev/null > "$work/out" 2> "$work/err" || true
    if [ -n "$ref" ]; then
      $norm "$work/out" > "$work/out.txt"
      cmp -s "$work/out.txt" "$ref" || { say "$label run $i: output changed"; exit 1; }
    fi
    case $label in
      d-crash-fail) grep -q 'do not match' "$work/out" "$work/err" ||
                      { say "$label run $i: expected crash's 'do not match' failure"; cat "$work/out" "$work/err" >&2; exit 1; } ;;
      d-crash-minimal|d-kdi-*) grep -q 'NOTE: minimal mode\|^open+symbols' "$work/out" "$work/err" ||
                      { say "$label run $i: unexpected output"; cat "$work/out" "$work/err" >&2; exit 1; } ;;
    esac
    tail -1 "$work/t" >> "$work/$label.times"
  done
}
table() { # title label:description...
  printf '\n%-58s %9s %9s %13s %13s\n' "$1" "wall min" "wall med" "peak RSS min" "peak RSS med"
  shift
  local l wmin wmed rmin rmed
  for spec in "$@"; do
    l=${spec%%:*}
    read -r wmin wmed < <(stats "$work/$l.times" 1)
    read -r rmin rmed < <(stats "$work/$l.times" 2)
    printf '%-58s %8ss %8ss %10d MB %10d MB\n' "${spec#*:}" "$wmin" "$wmed" $((rmin/1024)) $((rmed/1024))
  done
}
med() { stats "$work/$1.times" "$2" | cut -d' ' -f2; }
ratio() { awk -v a="$(med "$1" "$3")" -v b="$(med "$2" "$3")" 'BEGIN {printf "%.1fx", a/b}'; }
label_of() { [ "${crash_ok[$1]}" = 1 ] && echo "$1 mod" || echo "$1 (TIME TO FAILURE, no module list)"; }

echo "load average before: $(cat /proc/loadavg)"
measure crash-unpatched
measure crash
measure kdi-warm
measure kdi-cold
echo "load average after:  $(cat /proc/loadavg)"
table "open + mod ($runs runs each)" \
  "crash-unpatched:$(label_of crash-unpatched)" "crash:$(label_of crash)" \
  "kdi-warm:kdump-inspect mod (warm DWARF index cache)" "kdi-cold:kdump-inspect mod (cold, index built)"
echo
for l in crash crash-unpatched; do
  if [ "${crash_ok[$l]}" = 1 ]; then
    echo "median wall  $l / kdump-inspect: $(ratio $l kdi-warm 1) (warm), $(ratio $l kdi-cold 1) (cold)"
    echo "median RSS   $l / kdump-inspect: $(ratio $l kdi-warm 2) (warm), $(ratio $l kdi-cold 2) (cold)"
  else
    echo "$l cannot open this dump: its time is time to failure, not comparable to a module listing"
  fi
done

# --- start-up on the distro vmlinux (no dump of that kernel exists) --------
if [ ! -f "$distro_vmlinux" ]; then
  echo; echo "distro vmlinux $distro_vmlinux absent: start-up comparison skipped (shared/tools/fetch-distro-vmlinux fetches it)"
  exit 0
fi
ln -f "$distro_vmlinux" "$chroot_dir/bench/vs-crash/vmlinux-distro" 2>/dev/null ||
  cp "$distro_vmlinux" "$chroot_dir/bench/vs-crash/vmlinux-distro"
echo
echo "distro vmlinux: $distro_vmlinux ($(du -h "$distro_vmlinux" | cut -f1))"
echo "crash has no vmlinux-only mode: it is given the distro vmlinux with the corpus dump (another build"
echo "of 7.2.13). 'to mismatch' = ELF symbols + gdb's DWARF index + the first struct lookups, up to"
echo "\"do not match!\"; '--minimal' = the same start-up without kernel_init, to its prompt, then exit."
echo "kdump-inspect: bench/cmd/startup (ELF symbols + DWARF name index + struct module)."
echo "load average before: $(cat /proc/loadavg)"
measure d-crash-fail
measure d-crash-minimal
measure d-kdi-cold
measure d-kdi-cached
echo "load average after:  $(cat /proc/loadavg)"
table "start-up on the distro vmlinux ($runs runs each)" \
  "d-crash-fail:crash, to the vmlinux/dump mismatch failure" \
  "d-crash-minimal:crash --minimal, to its prompt and exit" \
  "d-kdi-cold:kdump-inspect startup, cold (index built)" \
  "d-kdi-cached:kdump-inspect startup, cached index"
echo
echo "median wall  crash (to mismatch) / kdump-inspect: $(ratio d-crash-fail d-kdi-cached 1) (cached), $(ratio d-crash-fail d-kdi-cold 1) (cold)"
echo "median RSS   crash (to mismatch) / kdump-inspect: $(ratio d-crash-fail d-kdi-cached 2) (cached), $(ratio d-crash-fail d-kdi-cold 2) (cold)"
