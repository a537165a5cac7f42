# Debian 12 bookworm 6.1.176-1, linux-image-6.1.0-50-powerpc64le (64K pages,
# -mprofile-kernel, struct module_layout, sentinel .stubs loader).
release=6.1.0-50-powerpc64le
version=6.1.176-1
suites="bookworm bookworm-security"
declare -A sha256=(
  [linux-image-$release]=0513cb05cef43064db6e62e5b71f6a316cf4854ea4fb873263e8e50a1254999e
  [linux-image-$release-dbg]=d03f5092d91016c534295a44ea31e880929541dfaaef3bb4db5b433967bd73af
)
. "$profiles/common-old.sh"
