#!/bin/busybox sh
# /init of the corpus initramfs (busybox-static ppc64el from Debian sid).
# bench/ppc64-build: corpus-tools/guest-init.sh plus two tracefs blocks (see below).
/bin/busybox --install -s /bin
export PATH=/bin
# corpus_init, load, load_samples, tracer_state, modarch_dmesg, console_loop
# shellcheck source=../lib/corpus-guest.sh
. /corpus-guest.sh
corpus_init
load_samples
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
tracer_state

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

MA=$(grep ' modules$' /proc/kallsyms | cut -d' ' -f1)
modarch_dmesg
echo "=== CORPUS: READY ==="
# idle: block reading commands from the console (boot-and-dump.py --panic sends one)
console_loop
