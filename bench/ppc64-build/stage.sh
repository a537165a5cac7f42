#!/bin/bash
# Collect one build's artifacts into a staging dir and make its initramfs (run on the host).
# usage: stage.sh BUILD_DIR STAGE_DIR
set -e
B=${1:?}; S=${2:?}
rm -rf "$S"; mkdir -p "$S/modules"
cp "$B/vmlinux" "$B/System.map" "$S/"
cp "$B/.config" "$S/config"
find "$B/samples" "$B/klp-test-modules" -name '*.ko' -exec cp {} "$S/modules/" \;
cp "$B/extmod/klp_tgt.ko" "$B/extmod/klp_stub_bug.ko" "$B/extmod/modarch_dump.ko" "$S/modules/"
[ -f "$B/extmod/mcount_std.ko" ] && cp "$B/extmod/mcount_std.ko" "$S/modules/"    # mprofile-kernel builds only
cp "$B/extmod/klp_stub_bug.ko.unconverted" "$S/"
"$(dirname "$0")/make-initramfs.sh" "$S/modules" "$S/initramfs.cpio.gz"
ls -la "$S" "$S/modules"
