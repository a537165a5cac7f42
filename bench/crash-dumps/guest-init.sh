#!/bin/busybox sh
# /init of the crash-dump initramfs (busybox-static ppc64el from Debian sid).
# Adapted from /work/shared/corpus-tools/guest-init.sh (the corpus /init): the
# same modules in the same order with the same parameters, the same function
# tracer on ':mod:livepatch_shadow_mod', the same "=== CORPUS: ... ===" truth
# blocks (so parse-console.py reads both), and the same console command loop.
# Changes:
#  - the truth blocks are a shell function, `truth TAG`, that the host calls
#    again over the console before it crashes the guest; it also prints every
#    module's sections, the livepatch sysfs tree and the tail of the trace;
#  - `moddump` re-runs modarch_dump.ko (rmmod + insmod) and prints its lines
#    for klp_stub_bug and klp_tgt (the in-guest view of .stubs and the OOL stubs);
#  - kernel parameter crashdump.early_filter=FILTER (e.g.
#    livepatch_tgt_show:mod:klp_stub_bug): set_ftrace_filter gets
#    ':mod:livepatch_shadow_mod' plus FILTER and the function tracer is switched
#    on BEFORE klp_tgt and klp_stub_bug are loaded (FILTER may name a module
#    that is not loaded yet: ftrace caches it and applies it when the module
#    comes), and the `cat /proc/klp_tgt` after klp_stub_bug is skipped.
/bin/busybox --install -s /bin
export PATH=/bin
# corpus_init, load, load_samples, tracer_state, modarch_dmesg, console_loop
# shellcheck source=../lib/corpus-guest.sh
. /corpus-guest.sh
corpus_init
EARLY=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^crashdump\.early_filter=//p')

tracer_on() {	# function tracer on the functions of one module (+ $EARLY)
	echo ':mod:livepatch_shadow_mod' > $T/set_ftrace_filter
	[ -n "$EARLY" ] && echo "$EARLY" >> $T/set_ftrace_filter
	echo function > $T/current_tracer
	echo 1 > $T/tracing_on
}
blk() {	# blk NAME CMD...: one truth block
	n=$1; shift
	echo "=== CORPUS: BEGIN $n ==="
	"$@"
	echo "=== CORPUS: END $n ==="
}
sections() {
	for d in /sys/module/*/sections; do
		m=${d#/sys/module/}; m=${m%/sections}
		for s in $d/.* $d/*; do
			[ -f "$s" ] && echo "$m ${s##*/} $(cat $s)"
		done
	done
}
klpstate() {
	for p in /sys/kernel/livepatch/*; do
		[ -d "$p" ] || continue
		echo "$p enabled=$(cat $p/enabled) transition=$(cat $p/transition)"
		for o in $p/*/; do
			[ -f "$o/patched" ] && echo "  object ${o%/} patched=$(cat $o/patched)"
			for f in $o*,*; do [ -d "$f" ] && echo "    func ${f##*/}"; done
		done
	done
}
stubsaddr() { for m in /sys/module/*/sections/.stubs; do echo "$m $(cat $m)"; done; }
modsyms() { grep '\[' /proc/kallsyms; }
vmsyms() { grep -E ' (modules|ftrace_nop_ops|ftrace_list_ops|ftrace_caller|ftrace_regs_caller|global_ops|ftrace_ops_list|ftrace_ool_stub_text|ftrace_ool_stub_text_end|ftrace_ool_stub_inittext|vmcoreinfo_note|_stext|_etext|klp_ftrace_handler|function_trace_call)$' /proc/kallsyms; }
tracerstate() {
	echo "current_tracer: $(cat $T/current_tracer) tracing_on: $(cat $T/tracing_on)"
	echo "set_ftrace_filter:"; cat $T/set_ftrace_filter
}
tracetail() { tail -n ${1:-40} $T/trace; }
truth() {	# truth TAG: every truth block (TAG only labels the group)
	echo "=== CORPUS: TRUTH ${1:-now} ==="
	blk "/proc/modules" cat /proc/modules
	blk "enabled_functions" cat $T/enabled_functions
	blk "livepatch state" klpstate
	blk "module .stubs section addresses" stubsaddr
	blk "module sections" sections
	blk "module kallsyms" modsyms
	blk "selected vmlinux kallsyms" vmsyms
	blk "tracer" tracerstate
	blk "trace tail" tracetail 40
	blk "vmcoreinfo" cat /sys/kernel/vmcoreinfo
	blk "uname" uname -a
	blk "taint" cat /proc/sys/kernel/tainted
	blk "panic_on_oops" cat /proc/sys/kernel/panic_on_oops
}
MA=$(grep ' modules$' /proc/kallsyms | cut -d' ' -f1)
moddump() {	# re-run modarch_dump.ko; print its lines for klp_stub_bug and klp_tgt
	n=$(dmesg | wc -l)
	rmmod modarch_dump 2>/dev/null
	insmod /modules/modarch_dump.ko modules_addr=0x$MA || echo "=== CORPUS: modarch_dump FAILED ==="
	blk "moddump ${1:-now}" sh -c "dmesg | tail -n +$((n+1)) | grep -E 'MODDUMP (BEGIN module=|END module=)?(klp_stub_bug|klp_tgt)'"
}

load_samples
if [ -n "$EARLY" ]; then
	echo "=== CORPUS: early tracer: ':mod:livepatch_shadow_mod' + '$EARLY' ==="
	tracer_on
	tracerstate
fi
# stretch: module-specific klp relocation applied after OOL stub setup
load klp_tgt
cat /proc/klp_tgt 2>/dev/null
load klp_stub_bug
if [ -z "$EARLY" ]; then
	cat /proc/klp_tgt 2>/dev/null
else
	echo "=== CORPUS: early tracer: not reading /proc/klp_tgt ==="
fi
cat /proc/cmdline

# function tracer on the functions of one module only
[ -n "$EARLY" ] || tracer_on
sleep 2
tracer_state

truth boot

modarch_dmesg
# no tty echo of the commands the host types (the loop prints each one itself)
stty -echo < /dev/console 2>/dev/null
echo "=== CORPUS: READY ==="
# idle: block reading commands from the console (boot-crash.py sends them)
console_loop
