#!/usr/bin/env bash
# bench/vs-drgn/run.sh: kdump-inspect against drgn 0.3.0 on the same job —
# open the dump and vmlinux, resolve struct module, walk the modules list,
# read every module's mod->arch and .stubs (and its ftrace_ool_stub array).
#
# usage: bench/vs-drgn/run.sh [DUMP [VMLINUX [RUNS]]]
#   DUMP     an ELF vmcore, may be .zst/.xz/.gz (default: the corpus's
#            fixed-radix/vmcore-vmcoreinfo.elf.zst; drgn cannot translate
#            ppc64 module addresses in kdump-compressed files, so use ELF)
#   VMLINUX  default: corpus kernels/7.2.13-fixed/vmlinux.zst
#   RUNS     timed runs per tool (default 7)
# env: CHROOT (default /var/tmp/kdi-bench/sid-chroot), MIRROR (default: the
#      apt sources' Debian mirror), HYPERFINE=1 to add a hyperfine run.
#
# drgn is Debian unstable's python3-drgn, installed into a
# `debootstrap --variant=minbase sid` chroot (bookworm's 0.0.22 cannot walk
# ppc64 page tables nor find 7.x modules). Both tools print the same
# canonical text (bench/cmd/modarch/main.go); the script diffs them and
# refuses to report a time when they differ. Needs root (debootstrap,
# chroot). Prints wall time and peak RSS, min and median, and the ratios.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../sidchroot.sh
. "$here/../sidchroot.sh"
vs_args 7 "$@"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# --- drgn in a sid chroot -------------------------------------------------
ensure_drgn_chroot "$chroot_dir"
drgn_pkg=$(chroot "$chroot_dir" dpkg-query -W -f '${Version}' python3-drgn)
drgn_ver=$(chroot "$chroot_dir" python3 -c 'import drgn; print(drgn.__version__)')
echo "drgn: python3-drgn $drgn_pkg (drgn.__version__ $drgn_ver), $(chroot "$chroot_dir" python3 --version)"

# --- kdump-inspect side ---------------------------------------------------
(cd "$repo" && go build -o "$work/modarch" ./bench/cmd/modarch)
mapfile -t plain < <("$work/modarch" -paths -s "$vmlinux" "$dump")
link_into "$chroot_dir/bench" "vmcore:${plain[0]}" "vmlinux:${plain[1]}"
cp "$here/modarch.py" "$chroot_dir/bench/modarch.py"
echo "dump:    $dump ($(du -h "${plain[0]}" | cut -f1) plain)"
echo "vmlinux: $vmlinux ($(du -h "${plain[1]}" | cut -f1) plain)"

warm_cache=$work/cache-warm
drgn_cmd=(chroot "$chroot_dir" python3 /bench/modarch.py /bench/vmcore /bench/vmlinux)
kdi_args=(-s "${plain[1]}" "${plain[0]}")

# --- same values first ----------------------------------------------------
"${drgn_cmd[@]}" > "$work/drgn.txt"
"$work/modarch" -cache "$warm_cache" "${kdi_args[@]}" > "$work/kdi.txt"   # also warms the index cache
if ! diff -u "$work/drgn.txt" "$work/kdi.txt" >&2; then
  say "MISMATCH: drgn and kdump-inspect disagree (diff above); no times reported"
  exit 1
fi
echo "outputs identical: $(wc -l < "$work/kdi.txt") modules (name, mod->arch members, sha256 of .stubs and of the OOL array)"

# --- timing ---------------------------------------------------------------
measure() { # label
  local label=$1 cmd
  for i in $(seq "$runs"); do
    case $label in
      drgn) cmd=("${drgn_cmd[@]}") ;;
      kdi-warm) cmd=("$work/modarch" -cache "$warm_cache" "${kdi_args[@]}") ;;
      kdi-cold) rm -rf "$work/cache-cold"; cmd=("$work/modarch" -cache "$work/cache-cold" "${kdi_args[@]}") ;;
    esac
    /usr/bin/time -f '%e %M' -o "$work/t" "${cmd[@]}" > "$work/out"
    cmp -s "$work/out" "$work/kdi.txt" || { say "$label run $i: output changed"; exit 1; }
    tail -1 "$work/t" >> "$work/$label.times"
  done
}
echo "load average before: $(cat /proc/loadavg)"
measure drgn
measure kdi-warm
measure kdi-cold
echo "load average after:  $(cat /proc/loadavg)"
printf '\n%-30s %10s %10s %14s %14s\n' "($runs runs each)" "wall min" "wall med" "peak RSS min" "peak RSS med"
for l in drgn kdi-warm kdi-cold; do
  read -r wmin wmed < <(stats "$work/$l.times" 1)
  read -r rmin rmed < <(stats "$work/$l.times" 2)
  printf '%-30s %9ss %9ss %11d MB %11d MB\n' "$l" "$wmin" "$wmed" $((rmin/1024)) $((rmed/1024))
  eval "w_${l//-/_}=$wmed r_${l//-/_}=$rmed"
done
awk -v d="$w_drgn" -v w="$w_kdi_warm" -v c="$w_kdi_cold" -v rd="$r_drgn" -v rw="$r_kdi_warm" -v rc="$r_kdi_cold" 'BEGIN {
  printf "\nmedian wall  drgn / kdump-inspect: %.2fx (warm index cache), %.2fx (cold, index built)\n", d/w, d/c
  printf "median RSS   drgn / kdump-inspect: %.2fx (warm), %.2fx (cold)\n", rd/rw, rd/rc }'

if [ -n "${HYPERFINE:-}" ] && command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 1 --runs "$runs" \
    -n drgn "${drgn_cmd[*]}" \
    -n kdump-inspect-warm "$work/modarch -cache $warm_cache ${kdi_args[*]}"
fi
