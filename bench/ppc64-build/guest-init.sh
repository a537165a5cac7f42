#!/bin/busybox sh
# /init of the corpus initramfs (busybox-static ppc64el from Debian sid).
# bench/ppc64-build: corpus-tools/guest-init.sh plus two tracefs blocks (see below).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing
T=/sys/kernel/tracing
echo "=== CORPUS: INIT START ==="
uname -a
cat /proc/cmdline
grep -o 'MMU.*' /proc/cpuinfo | head -1

klp_wait() {	# wait until no livepatch transition is in progress
	i=0
	while grep -q 1 /sys/kernel/livepatch/*/transition 2>/dev/null; do
		sleep 1; i=$((i+1)); [ $i -gt 60 ] && { echo "klp transition stuck"; break; }
	done
}
load() {
	m=$1; shift
	if [ -f /modules/$m.ko ]; then
		echo "=== CORPUS: insmod $m $* ==="
		insmod /modules/$m.ko "$@" || echo "=== CORPUS: insmod $m FAILED ==="
		klp_wait
	else
		echo "=== CORPUS: $m.ko not present ==="
	fi
}

# livepatch samples
load livepatch-sample
cat /proc/cmdline
load livepatch-shadow-mod
load livepatch-shadow-fix1
load livepatch-shadow-fix2
load livepatch-callbacks-mod
load livepatch-callbacks-demo
# selftest livepatch modules
load test_klp_mod_target
load test_klp_mod_patch
load test_klp_livepatch
load test_klp_shadow_vars
load test_klp_callbacks_mod
# ftrace samples (ftrace-ops persist=1: keeps its ftrace_ops registered on its own tracee_relevant/tracee_irrelevant)
load ftrace-ops nr_function_calls=1000 persist=1 nr_ops_irrelevant=1
load trace-events-sample
# stretch: module-specific klp relocation applied after OOL stub setup
load klp_tgt
cat /proc/klp_tgt 2>/dev/null
load klp_stub_bug
cat /proc/klp_tgt 2>/dev/null
cat /proc/cmdline
# bench/ppc64-build: mprofile-kernel kernels only: 3-instruction (std r0,16(r1)) call sites
load mcount_std

# function tracer on the functions of one module only
echo ':mod:livepatch_shadow_mod' > $T/set_ftrace_filter
[ -d /sys/module/mcount_std ] && echo 'mcount_std_traced:mod:mcount_std' >> $T/set_ftrace_filter
echo function > $T/current_tracer
echo 1 > $T/tracing_on
sleep 2
echo "=== CORPUS: TRACER STATE ==="
cat $T/current_tracer
wc -l $T/set_ftrace_filter
head -5 $T/trace

echo "=== CORPUS: BEGIN /proc/modules ==="
cat /proc/modules
echo "=== CORPUS: END /proc/modules ==="
echo "=== CORPUS: BEGIN enabled_functions ==="
cat $T/enabled_functions
echo "=== CORPUS: END enabled_functions ==="
# bench/ppc64-build: every module ftrace record address (available_filter_functions_addrs,
# 6.5+) and the records ftrace has touched (touched_functions), when the kernel has them
echo "=== CORPUS: BEGIN module available_filter_functions_addrs ==="
grep '\[' $T/available_filter_functions_addrs 2>/dev/null
echo "=== CORPUS: END module available_filter_functions_addrs ==="
echo "=== CORPUS: BEGIN touched_functions ==="
cat $T/touched_functions 2>/dev/null
echo "=== CORPUS: END touched_functions ==="
echo "=== CORPUS: BEGIN livepatch state ==="
for p in /sys/kernel/livepatch/*; do echo "$p enabled=$(cat $p/enabled) transition=$(cat $p/transition)"; done
echo "=== CORPUS: END livepatch state ==="
echo "=== CORPUS: BEGIN module .stubs section addresses ==="
for m in /sys/module/*/sections/.stubs; do echo "$m $(cat $m)"; done
echo "=== CORPUS: END module .stubs section addresses ==="
echo "=== CORPUS: BEGIN module sections ==="
for f in /sys/module/*/sections/* /sys/module/*/sections/.[a-z]*; do [ -f "$f" ] && echo "$f $(cat $f)"; done | sort -u
echo "=== CORPUS: END module sections ==="
echo "=== CORPUS: BEGIN module kallsyms ==="
grep '\[' /proc/kallsyms
echo "=== CORPUS: END module kallsyms ==="
echo "=== CORPUS: BEGIN selected vmlinux kallsyms ==="
grep -E ' (modules|ftrace_nop_ops|ftrace_list_ops|ftrace_caller|ftrace_regs_caller|global_ops|ftrace_ops_list|ftrace_ool_stub_text|ftrace_ool_stub_text_end|ftrace_ool_stub_inittext|vmcoreinfo_note|_stext|_etext)$' /proc/kallsyms
echo "=== CORPUS: END selected vmlinux kallsyms ==="
echo "=== CORPUS: BEGIN vmcoreinfo ==="
cat /sys/kernel/vmcoreinfo
echo "=== CORPUS: END vmcoreinfo ==="
echo "=== CORPUS: BEGIN uname ==="
uname -a
echo "=== CORPUS: END uname ==="

# in-guest ground truth of mod->arch / .stubs / OOL stubs (printk -> dmesg)
MA=$(grep ' modules$' /proc/kallsyms | cut -d' ' -f1)
insmod /modules/modarch_dump.ko modules_addr=0x$MA || echo "=== CORPUS: modarch_dump FAILED ==="
echo "=== CORPUS: BEGIN dmesg ==="
dmesg
echo "=== CORPUS: END dmesg ==="
echo "=== CORPUS: READY ==="
# idle: block reading commands from the console (boot-and-dump.py --panic sends one)
while true; do
	while read -r cmd; do
		echo "=== CORPUS: console command: $cmd ==="
		eval "$cmd"
	done < /dev/console
	sleep 5
done
