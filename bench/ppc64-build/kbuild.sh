# shellcheck shell=bash
# bench/ppc64-build/kbuild.sh (sourced by build-kernel.sh, inside the build
# chroot; bench/arm64-corpus/from-source links to it): the steps the corpus
# kernel builds share. MK is the make command of a build (ARCH=,
# CROSS_COMPILE=, -C SRC O=B), given as one string and split into words.

# config_from_fragment MK B FRAGMENT...: a new build directory B whose
# .config is allnoconfig with the fragment files (KCONFIG_ALLCONFIG), and
# B/fragment-not-applied.txt: every fragment line that did not survive into
# .config (option absent in this kernel, or its dependencies unmet)
config_from_fragment() {
	local mk=$1 b=$2
	shift 2
	rm -rf "$b"; mkdir -p "$b"
	cat "$@" > "$b/fragment.config"
	# shellcheck disable=SC2086  # $mk: the make command and its arguments
	$mk KCONFIG_ALLCONFIG="$b/fragment.config" allnoconfig
	python3 - "$b/fragment.config" "$b/.config" > "$b/fragment-not-applied.txt" <<'PY'
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
}

# build_klp_selftests MK SRC B: the selftest livepatch modules (test_klp_*)
# as an external module build in B/klp-test-modules
build_klp_selftests() {
	local mk=$1 src=$2 b=$3
	rm -rf "$b/klp-test-modules"; cp -r "$src/tools/testing/selftests/livepatch/test_modules" "$b/klp-test-modules"
	# shellcheck disable=SC2086  # $mk: the make command and its arguments
	time $mk -j2 M="$b/klp-test-modules" modules
}
