#!/usr/bin/env bash
# bench/startup/run.sh: start-up of kdump-inspect against drgn 0.3.0 on the
# same job and the same ELF vmcore (issue 20) — open the dump, resolve
# struct module, walk the modules list, read every module's mod->arch,
# .stubs and OOL stub array (bench/cmd/modarch, bench/vs-drgn/modarch.py:
# the same canonical text, diffed before anything is timed) — for
#
#   drgn          drgn 0.3.0 with the vmlinux (DWARF; drgn needs it)
#   kdi-dwarf     kdump-inspect with the vmlinux, typed by its DWARF name
#                 index (-types dwarf: the old path)
#   kdi-btf       kdump-inspect with the vmlinux, typed by its .BTF (the
#                 default; DWARF opened only if something asks)
#   kdi-dumponly  kdump-inspect with no vmlinux and no modules: kallsyms
#                 and the BTF in the dump's memory
#   kdi-mod       `kdump-inspect mod DUMP` with no vmlinux and no modules
#                 (issue 20's "mod ... <= 0.1 s warm"): not the same job
#                 (the mod view and its audit column), its output checked
#                 against its own first run, not drgn's
#
# each cold and warm. cold: the dump and the vmlinux evicted from the page
# cache (`dd iflag=nocache count=0`, those two files only: the machine is
# shared) and, for kdump-inspect, an empty cache directory (no DWARF
# index). warm: right after, the same command again (pages and index as
# the cold run left them). Rounds alternate the tools; each round is
# drgn, kdi-dwarf, kdi-btf, kdi-dumponly, each cold then warm. Reports
# medians of wall time, CPU (user+sys) and peak RSS, and ratios to drgn.
#
# Both tools read the same file: the dump as bench/cmd/tole rewrites it
# (a plain little-endian ELF vmcore with the VMCOREINFO note; QEMU's
# pseries dump has none and drgn 0.3.0 then takes it for a process core),
# made once into ${XDG_CACHE_HOME:-~/.cache}/kdump-inspect-bench/startup/.
#
# usage: bench/startup/run.sh [DUMP [VMLINUX [ROUNDS]]]
#   DUMP     default: bench/distro-dump's vmcore.elf (Debian 7.2.13 ppc64el)
#            in ${XDG_CACHE_HOME:-~/.cache}/kdump-inspect-bench/distro-dump
#   VMLINUX  default: the vmlinux-* beside that directory
#   ROUNDS   default 5
# env: CHROOT (default /var/tmp/kdi-bench/sid-chroot; made by
#      bench/sidchroot.sh with python3-drgn when missing), MIRROR.
# Needs root (chroot, debootstrap). Writes the table to stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/kdump-inspect-bench
orig=${1:-$cache/distro-dump/vmcore.elf}
vmlinux=${2:-$(ls "$cache"/vmlinux-* 2>/dev/null | head -1)}
rounds=${3:-5}
chroot_dir=${CHROOT:-/var/tmp/kdi-bench/sid-chroot}
work=$(mktemp -d); trap 'rm -rf "$work"; rm -f "$chroot_dir/bench/startup-vmcore" "$chroot_dir/bench/startup-vmlinux"' EXIT

# shellcheck source=../sidchroot.sh
. "$here/../sidchroot.sh"

[ -s "$orig" ] || { say "no dump $orig (bench/distro-dump/make.sh)"; exit 2; }
[ -s "$vmlinux" ] || { say "no vmlinux (bench/distro-dump/make.sh fetches it)"; exit 2; }

ensure_drgn_chroot "$chroot_dir"
drgn_ver=$(chroot "$chroot_dir" python3 -c 'import drgn; print(drgn.__version__)')

(cd "$repo" && go build -o "$work/modarch" ./bench/cmd/modarch && go build -o "$work/tole" ./bench/cmd/tole &&
  go build -o "$work/kdi" ./cmd/kdump-inspect)
mkdir -p "$cache/startup"
dump=$cache/startup/$(basename "$(dirname "$orig")")-$(basename "$orig" | sed 's/\.\(zst\|xz\|gz\)$//')
if [ ! -s "$dump" ] || [ "$orig" -nt "$dump" ]; then
  say "tole $orig $dump"
  "$work/tole" "$orig" "$dump.tmp" >&2 && mv "$dump.tmp" "$dump"
fi
# Hard links where possible: the same inodes, so eviction reaches both.
link_into "$chroot_dir/bench" "startup-vmcore:$dump" "startup-vmlinux:$vmlinux"
cp "$repo/bench/vs-drgn/modarch.py" "$chroot_dir/bench/modarch.py"

evict() {
  local f
  for f in "$dump" "$vmlinux" "$chroot_dir/bench/startup-vmcore" "$chroot_dir/bench/startup-vmlinux"; do
    dd if="$f" iflag=nocache count=0 status=none
  done
}

cmd_for() { # config cachedir
  case $1 in
    drgn) echo chroot "$chroot_dir" python3 /bench/modarch.py /bench/startup-vmcore /bench/startup-vmlinux ;;
    kdi-dwarf) echo "$work/modarch" -cache "$2" -types dwarf -s "$vmlinux" "$dump" ;;
    kdi-btf) echo "$work/modarch" -cache "$2" -s "$vmlinux" "$dump" ;;
    kdi-dumponly) echo "$work/modarch" -cache "$2" -dumponly "$dump" ;;
    kdi-mod) echo env KDUMP_INSPECT_CACHE="$2" "$work/kdi" mod "$dump" ;;
  esac
}
configs=(drgn kdi-dwarf kdi-btf kdi-dumponly kdi-mod)

# --- same output first ------------------------------------------------------
# shellcheck disable=SC2046
$(cmd_for drgn) > "$work/ref.txt"
for c in "${configs[@]:1}"; do
  # shellcheck disable=SC2046
  $(cmd_for "$c" "$work/cache-check") > "$work/$c.txt"
  [ "$c" = kdi-mod ] && continue # its own output: the reference for its runs
  if ! diff -u "$work/ref.txt" "$work/$c.txt" >&2; then
    say "MISMATCH: drgn and $c disagree (diff above); no times reported"
    exit 1
  fi
done

echo "dump:    $dump ($(du -h "$dump" | cut -f1); $orig rewritten by bench/cmd/tole)"
echo "vmlinux: $vmlinux ($(du -h "$vmlinux" | cut -f1))"
echo "drgn $drgn_ver ($(chroot "$chroot_dir" dpkg-query -W -f '${Version}' python3-drgn)), $(chroot "$chroot_dir" python3 --version)"
echo "outputs identical: $(wc -l < "$work/ref.txt") modules (name, mod->arch members, sha256 of .stubs and of the OOL array)"
echo "machine: $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- timing -------------------------------------------------------------------
run1() { # config state cachedir
  local c=$1 state=$2
  # shellcheck disable=SC2046
  /usr/bin/time -f '%e %U %S %M' -o "$work/t" $(cmd_for "$c" "$3") > "$work/out"
  local ref=$work/ref.txt
  [ "$c" = kdi-mod ] && ref=$work/kdi-mod.txt
  cmp -s "$work/out" "$ref" || { say "$c $state: output changed"; exit 1; }
  awk '{printf "%s %.2f %s\n", $1, $2+$3, $4}' "$work/t" >> "$work/$c-$state.times"
}
for r in $(seq "$rounds"); do
  for c in "${configs[@]}"; do
    rm -rf "$work/cache-$c"
    evict
    run1 "$c" cold "$work/cache-$c"
    run1 "$c" warm "$work/cache-$c"
  done
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

med() { stats "$1" "$2" | cut -d' ' -f2; }
printf '\nmedians of %d alternating rounds (wall s, CPU user+sys s, peak RSS MB); ratio = kdump-inspect / drgn\n\n' "$rounds"
printf '| | cold wall | cold CPU | cold RSS | warm wall | warm CPU | warm RSS | cold wall ratio | warm wall ratio | cold RSS ratio | warm RSS ratio |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
for c in "${configs[@]}"; do
  for s in cold warm; do
    eval "w_$s=$(med "$work/$c-$s.times" 1) u_$s=$(med "$work/$c-$s.times" 2) m_$s=$(med "$work/$c-$s.times" 3)"
  done
  if [ "$c" = drgn ]; then
    dwc=$w_cold dww=$w_warm dmc=$m_cold dmw=$m_warm
  fi
  # shellcheck disable=SC2154
  awk -v c="$c" -v wc="$w_cold" -v uc="$u_cold" -v mc="$m_cold" -v ww="$w_warm" -v uw="$u_warm" -v mw="$m_warm" \
      -v dwc="$dwc" -v dww="$dww" -v dmc="$dmc" -v dmw="$dmw" 'BEGIN {
    printf "| %s | %.2f | %.2f | %d | %.2f | %.2f | %d | %.2f× | %.2f× | %.2f× | %.2f× |\n",
      c, wc, uc, mc/1024, ww, uw, mw/1024, wc/dwc, ww/dww, mc/dmc, mw/dmw }'
done
