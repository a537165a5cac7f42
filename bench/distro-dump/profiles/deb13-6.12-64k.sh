# Debian 13 trixie 6.12.107-1, linux-image-6.12.107+deb13-powerpc64le-64k
# (64K pages flavour; otherwise as deb13-6.12-4k).
release=6.12.107+deb13-powerpc64le-64k
version=6.12.107-1
suites="trixie trixie-security"
declare -A sha256=(
  [linux-image-$release]=dcd4749a863f7ffab43a9c3b73bdd3a724fea770a781805ba8f1abd76383a6b6
  [linux-image-$release-dbg]=be83f4e21d2253cb8da73699270e3d4413dd153fe90fbec204aec9027e327de0
)
. "$profiles/common-old.sh"
