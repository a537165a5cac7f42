# Debian sid 7.2.13+deb14-powerpc64le (4K pages, out-of-line ftrace stubs,
# stub_count loader). The original bench/distro-dump setting: host QEMU 7.2,
# -smp 1, the unstripped -dbg vmlinux booted, modules as listed (paths).
release=7.2.13+deb14-powerpc64le
version=7.2.13-1
suites="sid trixie"
image_pkgs="linux-modules-$release linux-base-$release"   # linux-image-* is a 2 KB metapackage
dbg_pkg="linux-image-$release-dbg"
dbg_vmlinux="usr/lib/debug/lib/modules/$release/vmlinux"
boot_kernel=dbg        # boot the DWARF vmlinux (same build-id as the package's vmlinuz)
qemu_from=host
smp=1
mem=1G
drgn_truth=0           # QEMU 7.2 writes big-endian ELF headers for this LE guest
declare -A sha256=(
  [linux-modules-$release]=3e9e9fc0213ef90db7c0a0d9f9d69ad269017664a4026cf232832810b382b31d
  [linux-base-$release]=22aa5e0a88a8315365464275e1b6082b8d7425ccfad0a83efbd3477143496c99
  [linux-image-$release-dbg]=5da22ea8b5f1e2ea746c43da9ab646b55cc662fb09583f1a33c0489479094577
)
modules=(
  "net/ipv4/tcp_vegas"
  "net/ipv4/tcp_yeah"          # depends on tcp_vegas (calls through .stubs)
  "drivers/net/dummy"
  "drivers/block/brd rd_nr=1 rd_size=4096"
  "crypto/md4"
  "drivers/char/ttyprintk"
  "net/sched/sch_pie"
  "net/sched/sch_fq_pie"       # depends on sch_pie
)
ftrace_filter=("*:mod:tcp_vegas" "dummy_*" "brd_*" "fq_pie_*" "vfs_read")
kprobe_events=("p:kprobes/kdi_yeah tcp_yeah_cong_avoid" "p:kprobes/kdi_pie pie_calculate_probability")
tcp_cc=()
