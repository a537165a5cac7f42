#!/usr/bin/env bash
# bench/startup.sh: vmlinux-side start-up (open ELF + symbols, DWARF name
# index built cold or loaded from the cache, `struct module` resolved),
# wall time and peak RSS over several runs, min and median.
# usage: bench/startup.sh VMLINUX [RUNS] [STARTUP_BINARY]
# (docs/PERFORMANCE.md; STARTUP_BINARY defaults to a fresh build of
# bench/cmd/startup)
set -euo pipefail
vmlinux=$1; runs=${2:-5}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
bin=${3:-}
if [ -z "$bin" ]; then
  (cd "$(dirname "$0")/.." && go build -o "$work/startup" ./bench/cmd/startup)
  bin=$work/startup
fi
stats() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "min %s median %s\n", a[1], m}'; }
for mode in cold cached; do
  : > "$work/$mode"
  for i in $(seq "$runs"); do
    flag=; [ $mode = cold ] && flag=-cold
    /usr/bin/time -f '%e %M' -o "$work/t" "$bin" $flag -cache "$work/cache" "$vmlinux" > "$work/out"
    tail -1 "$work/t" >> "$work/$mode"
  done
  echo "$mode ($runs runs, loadavg $(cut -d' ' -f1-3 /proc/loadavg)): wall s $(cut -d' ' -f1 "$work/$mode" | stats); peak RSS KB $(cut -d' ' -f2 "$work/$mode" | stats)"
done
head -1 "$work/out"
