#!/bin/bash
# Build a ppc64le kernel (vmlinux + in-tree modules + selftest livepatch modules + extmod/)
# from SRC into BUILD_DIR. Runs INSIDE a Debian chroot (trixie: gcc 14 cross for 6.12;
# sid: gcc 16 cross for 7.2); the host runs it under `nice -n 10`.
# usage: build-kernel.sh SRC BUILD_DIR [config]   (config: also regenerate .config from the
#        fragment ppc64le-corpus.config + the version-specific one, FRAG=..., if given)
set -e
SRC=${1:?kernel source}; B=${2:?build dir}
M=${PB_TOOLS_MNT:-/pb-tools}
# KCC: the C compiler (default powerpc64le-linux-gnu-gcc), e.g. powerpc64le-linux-gnu-gcc-12
KCC=${KCC:-powerpc64le-linux-gnu-gcc}
MK="make ARCH=powerpc CROSS_COMPILE=powerpc64le-linux-gnu- CC=$KCC -C $SRC O=$B"
$KCC --version | head -1
if [ "$3" = config ]; then
	rm -rf "$B"; mkdir -p "$B"
	cat $M/ppc64le-corpus.config ${FRAG:+$M/$FRAG} > "$B/fragment.config"
	$MK KCONFIG_ALLCONFIG="$B/fragment.config" allnoconfig
	# every fragment line that did not survive into .config (option absent in this kernel,
	# or its dependencies unmet)
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
	cat "$B/fragment-not-applied.txt"
fi
time $MK -j2 vmlinux modules
# selftest livepatch modules (test_klp_*) as an external module build
rm -rf "$B/klp-test-modules"; cp -r $SRC/tools/testing/selftests/livepatch/test_modules "$B/klp-test-modules"
time $MK -j2 M="$B/klp-test-modules" modules
KCC=$KCC bash $M/build-extmod.sh "$SRC" "$B"
