#!/bin/bash
# finalize-dump.sh RAW OUTDIR KERNEL VMLINUX DBG_MODULES_DIR
# For one raw dump directory (boot-and-dump.py's output): makedumpfile -d 31 from the
# ELF (Debian's arm64 makedumpfile 1.7.8 under qemu-aarch64, on a copy whose program
# headers are where makedumpfile looks: elf-for-makedumpfile.py), drgn's truth of the
# ELF (and what drgn does with the kdump files), truth.json; then OUTDIR laid out like
# /work/shared/corpus: vmcore.elf.zst, vmcore.kdump (kdump-raw-zlib), vmcore-flat.kdump
# (kdump-zlib: flattened), vmcore-d31.kdump (when makedumpfile succeeds), truth.json,
# truth-summary.txt, console.log, qemu-cmdline.txt, cpu-registers.txt, symlinks
# modules, vmlinux.zst, Image -> ../kernels/KERNEL/...
# FORCE_TRUTH=1 recomputes the truth. The raw ELF is deleted at the end (FINAL_KEEP_ELF=1 keeps it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RAW=$1; O=$2; KN=$3; VML=$4; DBGM=$5
BUILD=${BUILD:-/work/corpus-build/arm64}; OUT=${OUT:-/work/corpora/arm64}
R=$BUILD/sid-root
mkdir -p $O
# the raw ELF, from OUTDIR's vmcore.elf.zst when finalize already deleted it (only when needed)
need_elf() {
  if [ ! -f $RAW/vmcore.elf ] && [ -f $O/vmcore.elf.zst ]; then zstd -q -d $O/vmcore.elf.zst -o $RAW/vmcore.elf; fi
  chmod 644 $RAW/vmcore* 2>/dev/null || true
}

# makedumpfile -d 31 (zlib)
if [ ! -f $RAW/makedumpfile.json ] || [ "${FORCE_TRUTH:-}" = 1 ]; then
  need_elf
  python3 $here/elf-for-makedumpfile.py $RAW/vmcore.elf $RAW/vmcore-mdf.elf
  rm -f $RAW/vmcore-d31.kdump   # makedumpfile refuses to overwrite (FORCE_TRUTH=1)
  set +e
  t0=$(date +%s.%N)
  chroot $R qemu-aarch64 /usr/bin/makedumpfile -c -d 31 $RAW/vmcore-mdf.elf $RAW/vmcore-d31.kdump > $RAW/makedumpfile.log 2>&1
  rc=$?
  t1=$(date +%s.%N)
  set -e
  rm -f $RAW/vmcore-mdf.elf
  python3 - $RAW $rc $t0 $t1 <<'PY'
import json, os, sys
raw, rc, t0, t1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
log = open(os.path.join(raw, 'makedumpfile.log'), errors='replace').read()
d = {'made_by': 'makedumpfile 1.7.8 (Debian 1:1.7.8-1, arm64 build, run with qemu-aarch64 in the sid chroot)',
     'command': 'makedumpfile -c -d 31 vmcore-mdf.elf vmcore-d31.kdump  (vmcore-mdf.elf = vmcore.elf with its program headers moved to offset 64: elf-for-makedumpfile.py)',
     'rc': rc, 'seconds': round(t1 - t0, 1), 'log': log.strip().splitlines()[-40:]}
f = os.path.join(raw, 'vmcore-d31.kdump')
d['output'] = os.path.basename(f) if rc == 0 and os.path.exists(f) else None
if d['output']:
    d['size'] = os.path.getsize(f)
json.dump(d, open(os.path.join(raw, 'makedumpfile.json'), 'w'), indent=1)
print('makedumpfile rc=%d %s' % (rc, d['log'][-2:] if rc else d.get('size')))
PY
fi

# drgn + guest truth
if [ ! -f $RAW/truth.json ] || [ "${FORCE_TRUTH:-}" = 1 ]; then
  need_elf
  kd=()
  for f in vmcore.kdump vmcore-flat.kdump vmcore-d31.kdump; do [ -f $RAW/$f ] && kd+=(--kdump $RAW/$f); done
  chroot $R python3 $here/truth-drgn.py --dump $RAW/vmcore.elf --vmlinux $VML --modules $DBGM "${kd[@]}" -o $RAW/truth-drgn.json
  python3 $here/make-truth.py --console $RAW/console.log --drgn $RAW/truth-drgn.json --raw $RAW \
    --makedumpfile $RAW/makedumpfile.json -o $RAW/truth.json
  python3 $here/summarize.py $RAW/truth.json > $RAW/truth-summary.txt
fi

# OUTDIR
[ -f $O/vmcore.elf.zst ] && [ "${FORCE_TRUTH:-}" != 1 ] || { need_elf; nice -n 10 zstd -q -f -T2 -3 $RAW/vmcore.elf -o $O/vmcore.elf.zst; }
for f in vmcore.kdump vmcore-flat.kdump vmcore-d31.kdump truth.json truth-summary.txt console.log qemu-cmdline.txt \
         cpu-registers.txt query-cpus.json qmp.log boot-time.txt crash.txt makedumpfile.json; do
  [ -f $RAW/$f ] && cp $RAW/$f $O/$f
done
chmod 644 $O/* 2>/dev/null || true
for l in modules vmlinux.zst Image; do
  [ -e $OUT/kernels/$KN/$l ] && ln -sfn ../kernels/$KN/$l $O/$l
done
[ "${FINAL_KEEP_ELF:-}" = 1 ] || rm -f $RAW/vmcore.elf
ls -la $O
