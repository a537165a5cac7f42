# shellcheck shell=sh
# bench/lib/corpus-guest.sh: what the /init of the ppc64 corpus guests shares
# (bench/ppc64-build/guest-init.sh, bench/crash-dumps/guest-init.sh; both from
# corpus-tools/guest-init.sh). busybox sh; the initramfs holds it as
# /corpus-guest.sh (make-initramfs.sh, crash-dumps/make.sh) and each /init
# sources it after `busybox --install`.

# corpus_init: the filesystems (tracefs at $T) and the first lines printed
corpus_init() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev 2>/dev/null
	mount -t tracefs tracefs /sys/kernel/tracing
	T=/sys/kernel/tracing
	echo "=== CORPUS: INIT START ==="
	uname -a
	cat /proc/cmdline
	grep -o 'MMU.*' /proc/cpuinfo | head -1
}

klp_wait() {	# wait until no livepatch transition is in progress
	i=0
	while grep -q 1 /sys/kernel/livepatch/*/transition 2>/dev/null; do
		sleep 1; i=$((i+1)); [ "$i" -gt 60 ] && { echo "klp transition stuck"; break; }
	done
}
load() {	# load MODULE [PARAM...]: insmod /modules/MODULE.ko, then klp_wait
	m=$1; shift
	if [ -f "/modules/$m.ko" ]; then
		echo "=== CORPUS: insmod $m $* ==="
		insmod "/modules/$m.ko" "$@" || echo "=== CORPUS: insmod $m FAILED ==="
		klp_wait
	else
		echo "=== CORPUS: $m.ko not present ==="
	fi
}

# load_samples: the corpus's livepatch and ftrace samples and selftest
# livepatch modules, in its order, with its parameters
load_samples() {
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
}

# tracer_state: what the function tracer looks like
tracer_state() {
	echo "=== CORPUS: TRACER STATE ==="
	cat "$T/current_tracer"
	wc -l "$T/set_ftrace_filter"
	head -5 "$T/trace"
}

# modarch_dmesg: in-guest ground truth of mod->arch / .stubs / OOL stubs
# (modarch_dump.ko, modules_addr=0x$MA: printk -> dmesg), then the whole dmesg
modarch_dmesg() {
	insmod /modules/modarch_dump.ko "modules_addr=0x$MA" || echo "=== CORPUS: modarch_dump FAILED ==="
	echo "=== CORPUS: BEGIN dmesg ==="
	dmesg
	echo "=== CORPUS: END dmesg ==="
}

# console_loop: idle, reading commands from the console and running each
# (the host's driver sends them)
console_loop() {
	while true; do
		while read -r cmd; do
			echo "=== CORPUS: console command: $cmd ==="
			eval "$cmd"
		done < /dev/console
		sleep 5
	done
}
