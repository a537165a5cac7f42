# bench/sidchroot.sh: what bench/vs-drgn/run.sh and bench/vs-crash/run.sh
# share, sourced by both: messages, the Debian sid chroot the other tools
# run in, and min/median of a column of timings.

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
  local mirror=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
  mirror=${mirror:-http://deb.debian.org/debian}
  say "debootstrap --variant=minbase $* sid $dir $mirror"
  debootstrap --variant=minbase "$@" sid "$dir" "$mirror" >&2
}

# stats FILE COLUMN: "min median" of a space-separated column.
stats() {
  cut -d' ' -f"$2" "$1" | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s %s\n", a[1], m}'
}
