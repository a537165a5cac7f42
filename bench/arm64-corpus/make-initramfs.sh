#!/bin/bash
# usage: make-initramfs.sh KDI_DIR OUT.cpio.gz
# KDI_DIR becomes /kdi (load.list, ftrace.filter, kprobe.events, symbols.list, variables.list,
# offsets, tcp.cc, modules/); /init is guestinit built for arm64 (static Go).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
KDI=$(cd "$1" && pwd); OUT=$2
D=$(mktemp -d)
mkdir -p $D/proc $D/sys $D/dev $D/tmp $D/kdi
mknod $D/dev/console c 5 1
mknod $D/dev/null c 1 3
(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=arm64 ${GO:-/usr/local/go/bin/go} build -trimpath -o $D/init ./bench/arm64-corpus/guestinit)
cp -r "$KDI"/. $D/kdi/
(cd $D && find . | sort | cpio -o -H newc --owner=0:0 2>/dev/null | gzip -6) > "$OUT"
rm -rf $D
ls -la "$OUT"
