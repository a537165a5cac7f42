# Shared by the deb12-6.1 and deb13-6.12 profiles (sourced by them).
image_pkgs="linux-image-$release"       # holds /boot/vmlinux-*, config and the modules
dbg_pkg="linux-image-$release-dbg"
dbg_vmlinux="usr/lib/debug/boot/vmlinux-$release"
boot_kernel=image      # boot the package's own (stripped) /boot/vmlinux-$release
qemu_from=sid          # QEMU 11 of the Debian sid chroot (little-endian ELF dumps)
smp=2
mem=1G
drgn_truth=1
# Modules by name; their dependencies (.modinfo depends=) are loaded first.
modules=(
  "tcp_yeah"                      # calls tcp_vegas's exports through .stubs
  "dummy"
  "brd rd_nr=1 rd_size=4096"
  "md4"
  "ttyprintk"
  "sch_fq_pie"                    # calls sch_pie's exports
  "ext4"                          # big; calls jbd2/mbcache/crc16 exports
  "crc32c_generic"                # libcrc32c (xfs) needs a crc32c shash at init
  "xfs"
)
# The function tracer on one module's functions plus two vmlinux functions;
# one ftrace-based kprobe on a module function (FTRACE_FL_REGS: the module's
# tramp_regs stub) and one on a function of the module that calls another.
ftrace_filter=("*:mod:tcp_vegas" "vfs_read" "tcp_sendmsg")
kprobe_events=("p:kprobes/kdi_yeah tcp_yeah_cong_avoid" "p:kprobes/kdi_pie pie_calculate_probability")
tcp_cc=(yeah vegas)               # loopback traffic with these congestion controls
