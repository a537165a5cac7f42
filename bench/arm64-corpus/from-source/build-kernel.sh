#!/bin/bash
# Build an arm64 kernel (vmlinux + Image + in-tree modules + selftest livepatch modules
# + extmod/) from SRC into BUILD_DIR. Runs INSIDE the sid chroot (cross gcc 16);
# the host runs it under `nice -n 10`.
# usage: build-kernel.sh SRC BUILD_DIR [config]   (config: regenerate .config from
#        allnoconfig + arm64-corpus.config [+ $FRAG], listing what did not apply)
set -e
SRC=${1:?kernel source}; B=${2:?build dir}
here=$(cd "$(dirname "$0")" && pwd)
MK="make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- -C $SRC O=$B"
aarch64-linux-gnu-gcc --version | head -1
if [ "$3" = config ]; then
	rm -rf "$B"; mkdir -p "$B"
	cat $here/arm64-corpus.config ${FRAG:+$here/$FRAG} > "$B/fragment.config"
	$MK KCONFIG_ALLCONFIG="$B/fragment.config" allnoconfig
	python3 - "$B/fragment.config" "$B/.config" > "$B/fragment-not-applied.txt" <<'PY'
import re, sys
want = {}
for l in open(sys.argv[1]):
    m = re.match(r'(CONFIG_\w+)=(.*)', l.strip()) or re.match(r'# (CONFIG_\w+) is not set', l.strip())
    if m:
        want[m.group(1)] = m.group(2) if m.lastindex == 2 else 'n'
have = {}
for l in open(sys.argv[2]):
    m = re.match(r'(CONFIG_\w+)=(.*)', l.strip())
    if m:
        have[m.group(1)] = m.group(2)
for k, v in want.items():
    if have.get(k, 'n') != v:
        print('%s wanted=%s got=%s' % (k, v, have.get(k, 'n (absent)')))
PY
	echo "--- fragment lines not applied:"; cat "$B/fragment-not-applied.txt"
fi
time $MK -j2 vmlinux Image modules
# selftest livepatch modules (test_klp_*) as an external module build
rm -rf "$B/klp-test-modules"; cp -r $SRC/tools/testing/selftests/livepatch/test_modules "$B/klp-test-modules"
time $MK -j2 M="$B/klp-test-modules" modules
bash $here/build-extmod.sh "$SRC" "$B"
