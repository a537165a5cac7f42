#!/usr/bin/env bash
# bench/distro-dump/old-kernels.sh: the four dumps of Debian's older ppc64el
# distro kernels (issue 14), each with truth.json, by make.sh:
#   deb12-6.1-64k-radix   bookworm 6.1.0-50-powerpc64le, radix MMU
#   deb12-6.1-64k-hash    the same kernel and initramfs, disable_radix (hash MMU)
#   deb13-6.12-4k-radix   trixie 6.12.107+deb13-powerpc64le (4K pages)
#   deb13-6.12-64k-radix  trixie 6.12.107+deb13-powerpc64le-64k
#
# usage: bench/distro-dump/old-kernels.sh [OUT_ROOT] [NAME...]
#   OUT_ROOT default ${XDG_CACHE_HOME:-~/.cache}/kdump-inspect-bench/ppc64-distro;
#   the kernels (vmlinux, modules/, modules-dbg/, unpacked packages) go to
#   OUT_ROOT/kernels/RELEASE, shared by the dumps of that kernel; downloads to
#   $DL_DIR (default OUT_ROOT/dl). Other environment: as make.sh (FORCE_BOOT,
#   FORCE_TRUTH, SID_CHROOT, MIRROR).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/kdump-inspect-bench/ppc64-distro}
shift || true
mkdir -p "$root"
export DL_DIR=${DL_DIR:-$root/dl}
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(deb12-6.1-64k-radix deb12-6.1-64k-hash deb13-6.12-4k-radix deb13-6.12-64k-radix)
for n in "${names[@]}"; do
  case $n in
    deb12-6.1-64k-radix)  p=deb12-6.1-64k;  rel=6.1.0-50-powerpc64le;           extra= ;;
    deb12-6.1-64k-hash)   p=deb12-6.1-64k;  rel=6.1.0-50-powerpc64le;           extra=disable_radix ;;
    deb13-6.12-4k-radix)  p=deb13-6.12-4k;  rel=6.12.107+deb13-powerpc64le;     extra= ;;
    deb13-6.12-64k-radix) p=deb13-6.12-64k; rel=6.12.107+deb13-powerpc64le-64k; extra= ;;
    *) echo "unknown dump $n" >&2; exit 2 ;;
  esac
  echo "######## $n"
  KDIR=$root/kernels/$rel APPEND_EXTRA=$extra "$here/make.sh" "$p" "$root/$n"
done
