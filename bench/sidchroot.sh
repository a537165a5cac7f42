# shellcheck shell=bash
# bench/sidchroot.sh: what the scripts of bench/ that use a Debian sid chroot
# share, sourced by them (vs-drgn, vs-crash, startup, distro-dump,
# crash-dumps, x86-corpus, arm64-corpus): messages, making the chroot, its
# bind mounts, the default directories of a corpus recipe, and min/median
# of a column of timings.

say() { printf '%s\n' "$*" >&2; }

# ensure_sid_chroot DIR [DEBOOTSTRAP-ARGS...]: a `debootstrap
# --variant=minbase sid` chroot at DIR (made once), from $MIRROR or the
# machine's own apt sources' Debian mirror.
ensure_sid_chroot() {
  local dir=$1; shift
  if [ -x "$dir/usr/bin/apt-get" ]; then
    return
  fi
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    apt-get install -y -qq debootstrap >&2
  fi
  local mirror
  mirror=$(debian_mirror)
  say "debootstrap --variant=minbase $* sid $dir $mirror"
  debootstrap --variant=minbase "$@" sid "$dir" "$mirror" >&2
}

# debian_mirror: $MIRROR, else the machine's own apt sources' Debian
# mirror, else deb.debian.org
debian_mirror() {
  local m=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
  echo "${m:-http://deb.debian.org/debian}"
}

# ensure_drgn_chroot DIR: ensure_sid_chroot DIR with python3-drgn,
# installed again when drgn does not import there
ensure_drgn_chroot() {
  ensure_sid_chroot "$1" --include=python3-drgn
  if ! chroot "$1" python3 -c 'import drgn' 2>/dev/null; then
    # The mirror's sid Release may be past its Valid-Until by the machine's
    # clock (seen 2026-11-22): do not let that refuse the update.
    chroot "$1" apt-get -qq -o Acquire::Check-Valid-Until=false update >&2
    chroot "$1" apt-get install -y -qq python3-drgn >&2
  fi
}

# link_into DIR NAME:SRC...: each SRC as DIR/NAME (DIR made when missing):
# a hard link where possible (the same inode, so that evicting one from the
# page cache evicts both), else a copy
link_into() {
  local dir=$1 pair
  shift
  mkdir -p "$dir"
  for pair in "$@"; do
    ln -f "${pair#*:}" "$dir/${pair%%:*}" 2>/dev/null || cp "${pair#*:}" "$dir/${pair%%:*}"
  done
}

# vs_args RUNS [DUMP [VMLINUX [N]]]: the command line of the side-by-side
# timings (vs-drgn, vs-crash): dump and vmlinux (default: the corpus's
# fixed-radix dump and its vmlinux; the corpus is $KDUMP_INSPECT_CORPUS or
# ../shared/corpus beside the repository $repo), runs (default RUNS), and
# chroot_dir ($CHROOT or /var/tmp/kdi-bench/sid-chroot)
# shellcheck disable=SC2034  # the variables are the caller's
vs_args() {
  local default_runs=$1
  shift
  corpus=${KDUMP_INSPECT_CORPUS:-$repo/../shared/corpus}
  dump=${1:-$corpus/fixed-radix/vmcore-vmcoreinfo.elf.zst}
  vmlinux=${2:-$corpus/kernels/7.2.13-fixed/vmlinux.zst}
  runs=${3:-$default_runs}
  chroot_dir=${CHROOT:-/var/tmp/kdi-bench/sid-chroot}
}

# corpus_defaults NAME: the directories of a corpus recipe, unless set:
# BUILD (scratch, /work/corpus-build/NAME), OUT (the dumps,
# /work/corpora/NAME), MIRROR (http://deb.debian.org/debian); and R, its
# sid chroot ($BUILD/sid-root).
corpus_defaults() {
  BUILD=${BUILD:-/work/corpus-build/$1}
  OUT=${OUT:-/work/corpora/$1}
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  R=$BUILD/sid-root
}

# corpus_up: $BUILD, $OUT and the repository ($repo) bind-mounted at the
# same paths inside the corpus chroot $R (and /proc, /dev, /sys)
corpus_up() { bind_up "$R" "$BUILD" "$OUT" "$repo"; }

# corpus_chroot [--lazy] SETUP ACTION [CMD...]: a corpus recipe's chroot.sh
# (after corpus_defaults): "setup" runs the function SETUP, "up" is
# corpus_up, "down" unmounts what it mounted (--lazy: a busy mount is
# detached, see bind_down), "run CMD..." runs CMD in the chroot after up.
corpus_chroot() {
  local lazy=''
  if [ "$1" = --lazy ]; then lazy=--lazy; shift; fi
  local setup=$1
  shift
  case "${1:-}" in
  setup) "$setup" ;;
  up) corpus_up ;;
  down) bind_down $lazy "$R" "$repo" "$OUT" "$BUILD" ;;
  run) shift; corpus_up; chroot "$R" "$@" ;;
  *) echo "usage: $0 setup|up|down|run CMD..." >&2; exit 1 ;;
  esac
}

# bind_up ROOT DIR...: /proc, /dev, /sys and each DIR (made inside when
# missing) bind-mounted at the same paths inside the chroot ROOT, each once.
bind_up() {
  local root=$1 m
  shift
  for m in proc dev sys; do mountpoint -q "$root/$m" || mount --bind "/$m" "$root/$m"; done
  for m in "$@"; do
    mkdir -p "$root$m"; mountpoint -q "$root$m" || mount --bind "$m" "$root$m"
  done
}

# bind_down [--lazy] ROOT DIR...: unmounts each DIR (give them in the reverse
# order of bind_up), then /sys, /dev and /proc, inside the chroot ROOT (run it
# before deleting a directory that holds the chroot). A busy one stops the
# script (set -e), or with --lazy is detached (umount -l).
bind_down() {
  local lazy='' root m
  if [ "$1" = --lazy ]; then lazy=1; shift; fi
  root=$1
  shift
  for m in "$@" /sys /dev /proc; do
    if [ -n "$lazy" ]; then
      mountpoint -q "$root$m" && { umount "$root$m" || umount -l "$root$m"; }
    else
      mountpoint -q "$root$m" && umount "$root$m"
    fi
  done
  true
}

# stats FILE COLUMN: "min median" of a space-separated column.
stats() {
  cut -d' ' -f"$2" "$1" | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s %s\n", a[1], m}'
}
