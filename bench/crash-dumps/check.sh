#!/usr/bin/env bash
# bench/crash-dumps/check.sh: open every crash dump with kdump-inspect (built
# from this checkout) and keep what it says in $OUT/CASE/check/:
#   repl-<dump>.txt   -s KERNEL/vmlinux.zst --modules KERNEL/modules DUMP
#                     -c 'sys; bt -a; log | tail -40; stubs klp_stub_bug'
#   audit-<dump>.txt  audit -s KERNEL/vmlinux.zst --modules KERNEL/modules DUMP
#   audit-<dump>.json the same audit with --json
#   audit-beside-<dump>.txt   audit DUMP, run in the dump dir: only what lies
#                     beside the dump (the vmlinux.zst and modules SYMLINKS)
# (KERNEL = the real directory $OUT/kernels/7.2.13-fixed|buggy; exit status on
# the last line of each file)
# for DUMP in vmcore.elf.zst and vmcore-vmcoreinfo.kdump. The tool is not
# changed: this only records its answers (and how it fails, if it does).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
OUT=${OUT:-/work/corpora/crash}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
(cd "$repo" && "$GO" build -o "$OUT/kdump-inspect" ./cmd/kdump-inspect) || exit 2
(cd "$repo" && git rev-parse HEAD) > "$OUT/kdump-inspect.commit"
K=$OUT/kdump-inspect
for d in "$OUT"/*/; do
  d=${d%/}; case=${d##*/}
  [ -f "$d/kernel.txt" ] || continue
  rm -rf "$d/check"; mkdir -p "$d/check"
  for dump in vmcore.elf.zst vmcore-vmcoreinfo.kdump; do
    [ -f "$d/$dump" ] || continue
    echo "== $case/$dump"
    kd=$OUT/kernels/7.2.13-$(cat "$d/kernel.txt")
    (cd "$d" && timeout 600 "$K" -s "$kd/vmlinux.zst" --modules "$kd/modules" "$dump" \
        -c 'sys; bt -a; log | tail -40; stubs klp_stub_bug' > "check/repl-$dump.txt" 2>&1
     echo "exit status: $?" >> "check/repl-$dump.txt")
    (cd "$d" && timeout 600 "$K" audit -s "$kd/vmlinux.zst" --modules "$kd/modules" "$dump" > "check/audit-$dump.txt" 2>&1
     echo "exit status: $?" >> "check/audit-$dump.txt")
    (cd "$d" && timeout 600 "$K" audit --json -s "$kd/vmlinux.zst" --modules "$kd/modules" "$dump" > "check/audit-$dump.json" 2> /dev/null)
    (cd "$d" && timeout 600 "$K" audit "$dump" > "check/audit-beside-$dump.txt" 2>&1
     echo "exit status: $?" >> "check/audit-beside-$dump.txt")
    for f in repl audit audit-beside; do echo "  $f: $(tail -n 1 "$d/check/$f-$dump.txt")"; done
  done
done
python3 "$here/check-summary.py" "$OUT" | tee "$OUT/check-summary.txt"
