# Debian 13 trixie 6.12.107-1, linux-image-6.12.107+deb13-powerpc64le (4K
# pages, -fpatchable-function-entry=2, mem[], sentinel .stubs loader).
# (trixie's index also lists 6.12.117-1, but the mirror answers 404 for it.)
release=6.12.107+deb13-powerpc64le
version=6.12.107-1
suites="trixie trixie-security"
declare -A sha256=(
  [linux-image-$release]=b31bd6d3a2e7e557702e9481a8957a7ea7dbbc533cc1d588519fcd40ecbdff8b
  [linux-image-$release-dbg]=06cb2015fcb93ff459dc25de08c24a3de05260f45056efa307ca9e4ee8a60e9e
)
. "$profiles/common-old.sh"
