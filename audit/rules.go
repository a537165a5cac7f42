// Package audit holds a dump's modules, vmlinux text and system state
// (ftrace records, livepatch, the text-poke batch) against the models of
// the correct loader, ftrace and livepatch of that kernel — ppc64 .stubs
// and out-of-line ftrace stubs, arm64 PLTs and ftrace trampolines, x86_64
// ftrace trampolines, ITS thunks and int3 patching — and reports findings:
// which slot is wrong, what was expected, what was found, and which kernel
// fix addresses it.
//
// It judges; it does not read dumps (packages modules and ftrace do) nor
// print (packages repl and cmd do).
//
// Layer: judges (docs/ARCHITECTURE.md).
package audit

import "fmt"

// Severity orders findings.
type Severity int

const (
	Info Severity = iota
	Warning
	Error
	Critical
)

func (s Severity) String() string {
	return [...]string{"info", "warning", "error", "critical"}[s]
}

// ParseSeverity reads a severity name.
func ParseSeverity(s string) (Severity, error) {
	for v := Info; v <= Critical; v++ {
		if v.String() == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (info, warning, error, critical)", s)
}

func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Fix is the upstream change that addresses a rule's failure.
type Fix struct {
	Subject string
	Commit  string // sha when known here; "" otherwise
	Release string // first release, when known
}

func (f Fix) String() string {
	if f.Subject == "" {
		return ""
	}
	s := fmt.Sprintf("%q", f.Subject)
	if f.Commit != "" {
		s = fmt.Sprintf("Linux commit %s (%s)", f.Commit, s)
	}
	if f.Release != "" {
		s += " (in " + f.Release + ")"
	}
	return s
}

// Scope says what the runs of a rule's check are about (a bit set).
type Scope int

const (
	// PerModule: once for every module (Check.Mod set).
	PerModule Scope = 1 << iota
	// Vmlinux: once, about the vmlinux's own code and OOL stubs.
	Vmlinux
	// System: once, about the whole dump (livepatch state, stacks).
	System
)

// Rule is one check of the catalogue (go/analysis's Analyzer shape): what
// must hold, the kernel behaviour it mirrors, the upstream fix, and the
// check itself. Run executes every rule on every subject of its scope and
// records, for each, whether it ran, did not apply, or could not check.
type Rule struct {
	ID        string
	Severity  Severity
	Statement string // one line: what must hold
	Mirrors   string // the kernel behaviour it mirrors
	Fix       Fix
	Scope     Scope
	// After: the check reads the other rules' findings (it runs last).
	After bool
	Check func(c *Check)
}

// The two fixes of seed 000 (LKML, September 2025), reverted in the
// corpus's buggy kernel (../shared/kernel-src/7.2.13/revert-ppc64-ool-stub-fixes.patch).
var (
	fixOOLReserve = Fix{Subject: "powerpc64/modules: correctly iterate over stubs in setup_ftrace_ool_stubs"}
	fixNopOps     = Fix{Subject: "powerpc/ftrace: ensure ftrace record ops are always set for NOPs"}
)

// Rules is the catalogue, in report order. (Set in init: the checks
// reach the catalogue through Check.)
var Rules []Rule

func init() { Rules = catalogue() }

func catalogue() []Rule {
	return []Rule{
		{ID: "STUB-TEMPLATE", Severity: Error, Scope: PerModule, Check: checkStubTemplate,
			Statement: "a slot with the stub magic holds create_stub()'s template for this very slot (addis/addi from r2 decode back to the slot)",
			Mirrors:   "create_stub(), ppc64_stub_insns[], my_r2() in arch/powerpc/kernel/module_64.c"},
		{ID: "STUB-TARGET", Severity: Warning, Scope: PerModule, Check: checkStubTarget,
			Statement: "a call stub's funcdata is the start of a function in the vmlinux or a live module",
			Mirrors:   "stub_for_addr() / func_desc() in module_64.c"},
		{ID: "STUB-DUP", Severity: Warning, Scope: PerModule, Check: checkStubDup,
			Statement: "no two call stubs below stub_count have the same target",
			Mirrors:   "stub_for_addr() reuses an existing stub for the same target"},
		{ID: "STUB-PAST-SENTINEL", Severity: Error, Scope: PerModule, Check: checkPastSentinel,
			Statement: "on loaders that scan for a zero funcdata, every slot after the first free one (outside the OOL array) is free",
			Mirrors:   "stub_for_addr()'s for (i = 0; stub_func_addr(stubs[i].funcdata); i++) and get_stubs_size()'s 0-terminator in module_64.c before the stub_count counter: a stub past the first zero funcdata was not made by the loader"},
		{ID: "FTRACE-TRAMP", Severity: Error, Scope: PerModule, Check: checkFtraceTramp,
			Statement: "mod->arch.tramp and tramp_regs are .stubs slots holding create_ftrace_stub()'s stubs to ftrace_caller and ftrace_regs_caller",
			Mirrors:   "module_finalize_ftrace() in arch/powerpc/kernel/module_64.c: tramp = stub_for_addr(ftrace_caller), tramp_regs = stub_for_addr(ftrace_regs_caller)"},
		{ID: "PLT-ENTRY", Severity: Error, Scope: PerModule, Check: checkPLTEntry,
			Statement: "plt_num_entries is within plt_max_entries; each PLT slot below it is free (erratum 843419 skip) or get_plt_entry() for its own address to a function of the vmlinux or a live module; no slot from plt_num_entries on is written",
			Mirrors:   "module_emit_plt_entry(), get_plt_entry(), count_plts() in arch/arm64/kernel/module-plts.c"},
		{ID: "FTRACE-PLT", Severity: Error, Scope: PerModule, Check: checkFtracePLT,
			Statement: "mod->arch.ftrace_trampolines[FTRACE_PLT_IDX] is get_plt_entry(FTRACE_ADDR) for its own address",
			Mirrors:   "module_init_ftrace_plt() in arch/arm64/kernel/module.c; get_ftrace_plt() and ftrace_find_callable_addr() in arch/arm64/kernel/ftrace.c branch out-of-range sites through it"},
		{ID: "STUB-COUNT", Severity: Error, Scope: PerModule, Check: checkStubCount,
			Statement: "stub_count * sizeof(ppc64_stub_entry) fits in the .stubs section",
			Mirrors:   "get_stubs_size() sizes .stubs; stub_for_addr() appends at stub_count with no bound check (seed 003)"},
		{ID: "OOL-RESERVE", Severity: Error, Scope: PerModule, Check: checkOOLReserve,
			Statement: "ool_stubs starts right after the call and trampoline stubs, and stub_count covers the OOL array",
			Mirrors:   "setup_ftrace_ool_stubs(): ool_stubs = stubs + stub_count; stub_count += num_stubs",
			Fix:       fixOOLReserve},
		{ID: "OOL-OVERLAP", Severity: Critical, Scope: PerModule, Check: checkOOLOverlap,
			Statement: "no call stub lies inside the OOL array's reserved range",
			Mirrors:   "a stub appended at an unreserved stub_count overwrites ftrace_ool_stub entries (seed 000's crash)",
			Fix:       fixOOLReserve},
		{ID: "OOL-SENTINEL", Severity: Error, Scope: PerModule, Check: checkOOLSentinel,
			Statement: "on kernels whose stub_for_addr() scans for a zero funcdata, no OOL position that reads as funcdata is zero in a livepatch module whose relocations against a module are applied after load",
			Mirrors:   "for (i = 0; stub_func_addr(stubs[i].funcdata); i++) in older module_64.c; klp_init_object_loaded() applies .klp.rela.MODULE.* after module_finalize() set up the OOL array",
			Fix:       fixOOLReserve},
		{ID: "OOL-FTRACE-OP-NULL", Severity: Error, Scope: PerModule | Vmlinux, Check: checkOOLOpNull,
			Statement: "every ftrace_ool_stub.ftrace_op is non-NULL (ftrace_nop_ops while idle)",
			Mirrors:   "ftrace_init_nop() -> ftrace_rec_set_nop_ops() in arch/powerpc/kernel/trace/ftrace.c",
			Fix:       fixNopOps},
		{ID: "OOL-INSN", Severity: Error, Scope: PerModule | Vmlinux, Check: checkOOLInsn,
			Statement: "each OOL stub is mflr r0; bl <tramp>; mtlr r0; b <rec->ip+4>",
			Mirrors:   "ftrace_init_ool_stub() in arch/powerpc/kernel/trace/ftrace.c"},
		{ID: "FTRACE-SITE", Severity: Error, Scope: PerModule | Vmlinux, Check: checkFtraceSite,
			Statement: "the site at rec->ip is a nop while the record is disabled and a branch to its OOL stub while enabled",
			Mirrors:   "ftrace_make_nop()/ftrace_make_call() with PPC_FTRACE_OUT_OF_LINE"},
		{ID: "FTRACE-OP", Severity: Error, Scope: PerModule | Vmlinux, Check: checkFtraceOp,
			Statement: "an OOL stub's ftrace_op is ftrace_nop_ops when idle, the owning ops with CALL_OPS_EN, else ftrace_list_ops",
			Mirrors:   "ftrace_rec_set_nop_ops()/ftrace_rec_update_ops() in arch/powerpc/kernel/trace/ftrace.c",
			Fix:       fixNopOps},
		{ID: "KLP-FUNC", Severity: Error, Scope: System, Check: checkKlpFunc,
			Statement: "each patched function's first record sits at its local entry (ppc64; on x86_64 and arm64 wherever ftrace_call_adjust() put it), is ENABLED|IPMODIFY, in the klp ops' filter, and its site branches to its OOL stub (ppc64) or is the call the FTRACE-SITE model wants with the klp ops (alone on the record) or ftrace_list_ops as its CALL_OPS literal (arm64); an armed kprobe's breakpoint on the site or on arm64's mov x9, x30 before it is the kernel's, not a finding",
			Mirrors:   "klp_patch_func() / ftrace_location() (seed 001); ftrace_rec_update_ops() and arch_arm_kprobe() on arm64"},
		{ID: "KLP-STALE-STUB", Severity: Error, Scope: PerModule, Check: checkKlpStaleStub,
			Statement: "every livepatch call stub's funcdata lies in the vmlinux or a live module",
			Mirrors:   "klp relocations are not cleared on ppc64; a reloaded target leaves the old stub pointing into freed memory (seed 003)"},
		{ID: "LOADER-MODEL", Severity: Error, Scope: PerModule, Check: checkLoaderModel,
			Statement: "every stub the correct loader writes is in .stubs, word for word (the .ko at hand)",
			Mirrors:   "apply_relocate_add(), module_finalize_ftrace(), klp_init_object_loaded() in order"},
		{ID: "KLP-TRANSITION", Severity: Warning, Scope: System, Check: checkKlpTransition,
			Statement: "no livepatch transition is left in progress: every task's patch_state is klp_target_state, and no task has a function the transition changes on its stack",
			Mirrors:   "klp_try_switch_task() / klp_check_stack() in kernel/livepatch/transition.c"},
		{ID: "ITS-THUNK", Severity: Error, Scope: PerModule, Check: checkITSThunk,
			Statement: "a module's ITS thunk pages hold only int3 fill and \"jmp *%reg; int3\" thunks from offset 32, each ending in the upper half of its cache line, and every rewritten indirect branch into them lands on a thunk",
			Mirrors:   "its_allocate_thunk(), its_init_thunk(), emit_its_trampoline() and apply_retpolines() in arch/x86/kernel/alternative.c"},
		{ID: "FTRACE-OPS-TRAMP", Severity: Error, Scope: System, Check: checkOpsTramp,
			Statement: "every ftrace_ops trampoline the kernel allocated is ftrace_caller's (ftrace_regs_caller's) code with its relative references kept, the ops pointer load and the call to the ops' function patched in, and ret; int3 and the ops pointer after it",
			Mirrors:   "create_trampoline() and arch_ftrace_update_trampoline() in arch/x86/kernel/ftrace.c"},
		{ID: "TEXT-POKE", Severity: Critical, Scope: System, Check: checkTextPoke,
			Statement: "a text-poke batch in flight is in a state smp_text_poke_batch_finish() passes through, sorted, and each entry's int3 emulation is the instruction its site becomes",
			Mirrors:   "smp_text_poke_batch_add(), smp_text_poke_batch_finish(), smp_text_poke_int3_handler() in arch/x86/kernel/alternative.c (seed 004)"},
		{ID: "TEXT-UNEXPLAINED", Severity: Critical, Scope: PerModule | Vmlinux, After: true, Check: checkTextUnexplained,
			Statement: "every byte of executable memory equals its ELF file (a module's .ko with its relocations applied as loaded, the vmlinux's image), or differs only as a kernel mechanism changes it in the state the dump shows",
			Mirrors:   "apply_relocate_add(); ftrace_make_call()/ftrace_make_nop()/ftrace_init_nop(); arch_jump_label_transform(); patch_feature_section(), do_lwsync_fixups() and the security fixups of lib/feature-fixups.c; arch_arm_kprobe(); klp relocations never cleared on ppc64"},
		{ID: "EXEC-IN-FLAGGED-STUB", Severity: Critical, Scope: System, After: true, Check: checkExecInFlagged,
			Statement: "no CPU and no task's stack is at a PC inside a .stubs slot, an OOL entry or a run of text that another rule flags",
			Mirrors:   "the back chain as show_stack() walks it (arch/powerpc/kernel/process.c): the broken stub was executing, or is a return address, when the dump was taken"},
	}
}

// RuleByID returns a rule of the catalogue.
func RuleByID(id string) (Rule, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}
