#!/bin/bash
# usage: make-initramfs.sh MODULES_DIR OUT.cpio.gz
# needs ${PB_BUILD:?scratch build dir}/bb/usr/bin/busybox (from Debian sid busybox-static_*_ppc64el.deb, dpkg-deb -x)
set -e
MODS=$1; OUT=$2
D=$(mktemp -d)
mkdir -p $D/bin $D/proc $D/sys $D/dev $D/tmp $D/modules $D/sys
cp ${PB_BUILD:?scratch build dir}/bb/usr/bin/busybox $D/bin/busybox
mknod $D/dev/console c 5 1
mknod $D/dev/null c 1 3
cp "$(dirname "$0")/guest-init.sh" $D/init
cp "$(dirname "$0")/../lib/corpus-guest.sh" "$D/corpus-guest.sh"   # sourced by /init
chmod +x $D/init
# the exact (unstripped) .ko files that are in the corpus' modules/ dir
cp "$MODS"/*.ko $D/modules/
(cd $D && find . | cpio -o -H newc --owner=0:0 2>/dev/null | gzip -9) > "$OUT"
rm -rf $D
ls -la "$OUT"
