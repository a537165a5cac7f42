package ftrace

import (
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// OOLStubSize is sizeof(struct ftrace_ool_stub) with CALL_OPS: the
// ftrace_op pointer then insn[4] (arch/powerpc/include/asm/ftrace.h);
// ftrace_op sits 8 bytes before insn[0], which rec->arch.ool_stub points at.
const (
	OOLStubSize   = 24
	OOLInsnOffset = 8
)

// symbolOrZero is a kernel symbol's address, 0 when there is none.
func symbolOrZero(p *kernel.Program, name string) uint64 {
	a, err := p.SymbolAddr(name)
	if err != nil {
		return 0
	}
	return a
}

// ftraceAddrs are FTRACE_ADDR (ftrace_caller) and FTRACE_REGS_ADDR
// (ftrace_regs_caller, or ftrace_caller again without
// DYNAMIC_FTRACE_WITH_REGS); 0 for a symbol the kernel lacks.
func ftraceAddrs(p *kernel.Program) (caller, regsCaller uint64) {
	caller, regsCaller = symbolOrZero(p, "ftrace_caller"), symbolOrZero(p, "ftrace_regs_caller")
	if regsCaller == 0 {
		regsCaller = caller
	}
	return caller, regsCaller
}

// ftraceTramps reads ftrace_tramps[NUM_FTRACE_TRAMPS], the kernel's
// trampolines for ftrace calls out of branch range: the entries that
// read and are set; ok is false when the kernel has no such array.
func ftraceTramps(p *kernel.Program) (tramps []uint64, ok bool) {
	a := symbolOrZero(p, "ftrace_tramps")
	if a == 0 {
		return nil, false
	}
	for i := range 2 { // NUM_FTRACE_TRAMPS
		if v, err := p.ReadU64(a + uint64(8*i)); err == nil && v != 0 {
			tramps = append(tramps, v)
		}
	}
	return tramps, true
}

// CallTargets is what ftrace_get_call_inst() (arch/powerpc/kernel/trace/
// ftrace.c) needs to choose the target of the `bl` at a stub's insn[1].
type CallTargets struct {
	// FtraceAddr and FtraceRegsAddr are FTRACE_ADDR (ftrace_caller) and
	// FTRACE_REGS_ADDR (ftrace_regs_caller, or ftrace_caller without
	// DYNAMIC_FTRACE_WITH_REGS).
	FtraceAddr, FtraceRegsAddr uint64
	// Module: the record is in a module, whose mod->arch.tramp and
	// tramp_regs are the stubs ftrace_lookup_module_stub() returns.
	Module           bool
	Tramp, TrampRegs uint64
	// KernelTramps are the non-zero ftrace_tramps[] of the vmlinux
	// (ftrace_tramp_text, and ftrace_tramp_init until it is freed), tried
	// in order by find_ftrace_tramp().
	KernelTramps []uint64
}

// Target mirrors ftrace_get_call_inst() for a call to addr from the `bl`
// at from: addr itself when in branch range, else the vmlinux's reachable
// ftrace trampoline (find_ftrace_tramp) or the module's stub
// (ftrace_lookup_module_stub: tramp for ftrace_caller, tramp_regs
// otherwise).
func (c CallTargets) Target(from, addr uint64) (uint64, error) {
	if ppc64.IsOffsetInBranchRange(int64(addr - from)) {
		return addr, nil
	}
	if !c.Module {
		for _, t := range c.KernelTramps {
			if t != 0 && ppc64.IsOffsetInBranchRange(int64(t-from)) {
				return t, nil
			}
		}
		return 0, fmt.Errorf("no ftrace trampoline reachable from %#x", from)
	}
	t := c.TrampRegs
	if addr == c.FtraceAddr {
		t = c.Tramp
	}
	if t == 0 {
		return 0, fmt.Errorf("module trampoline for %#x is NULL", addr)
	}
	return t, nil
}

// OpsTargets are the ftrace_op values the model chooses from.
type OpsTargets struct {
	NopOps  uint64 // &ftrace_nop_ops
	ListOps uint64 // &ftrace_list_ops
	// Unique is ftrace_find_unique_ops(rec): the one registered ops whose
	// hashes match rec->ip, 0 when none or several.
	Unique uint64
}

// SiteInput is one record as the model needs it.
type SiteInput struct {
	IP       uint64
	Flags    Flags
	StubInsn uint64 // rec->arch.ool_stub = &ool_stub->insn[0]
	Calls    CallTargets
	Ops      OpsTargets
}

// Expected is what a fixed kernel holds for one record: the word at
// rec->ip, the stub's insn[4] (InsnKnown false where the model cannot
// say), and its ftrace_op.
type Expected struct {
	Site      uint32
	Insn      [4]uint32
	InsnKnown [4]bool
	Op        uint64
	// CallAddr is the ftrace entry the record calls (FTRACE_ADDR or
	// FTRACE_REGS_ADDR) and CallTarget the `bl` target reaching it.
	CallAddr, CallTarget uint64
	// OpReason says which rule chose Op; InsnReason why an insn is unknown.
	OpReason, InsnReason string
}

// Expect is the model of ftrace_init_nop()/ftrace_init_ool_stub() and of
// ftrace_replace_code()/ftrace_rec_update_ops() for one record with an
// out-of-line stub (arch/powerpc/kernel/trace/ftrace.c, 7.2):
//
//   - the site at rec->ip is `nop` while the record is not ENABLED and
//     `b &stub->insn[0]` while it is (PPC_RAW_BRANCH, no link);
//   - insn[] is `mflr r0; bl <tramp>; mtlr r0; b rec->ip+4`, where the bl
//     goes to ftrace_get_call_inst(rec, addr) with addr = ftrace_caller
//     while idle and ftrace_get_addr_curr(rec) while enabled:
//     FTRACE_REGS_ADDR only with FTRACE_FL_REGS_EN; a direct call or an ops
//     trampoline (DIRECT_EN, TRAMP_EN) is not modelled;
//   - ftrace_op is &ftrace_nop_ops while idle (ftrace_rec_set_nop_ops, also
//     from ftrace_init_nop since the fix of seed 000), and while enabled
//     powerpc_rec_get_ops(): the unique ops with CALL_OPS_EN, else
//     &ftrace_list_ops.
func Expect(in SiteInput) (Expected, error) {
	var e Expected
	enabled := in.Flags.Has(FL_ENABLED)
	e.Site = ppc64.PPC_RAW_NOP
	if enabled {
		b, err := ppc64.EncodeBranch(in.IP, in.StubInsn, false)
		if err != nil {
			return e, fmt.Errorf("site %#x: %w", in.IP, err)
		}
		e.Site = b
	}
	e.Insn[0], e.InsnKnown[0] = ppc64.PPC_RAW_MFLR_R0, true
	e.Insn[2], e.InsnKnown[2] = ppc64.PPC_RAW_MTLR_R0, true
	ret, err := ppc64.EncodeBranch(in.StubInsn+3*ppc64.MCOUNT_INSN_SIZE, in.IP+ppc64.MCOUNT_INSN_SIZE, false)
	if err != nil {
		return e, fmt.Errorf("stub %#x insn[3]: %w", in.StubInsn, err)
	}
	e.Insn[3], e.InsnKnown[3] = ret, true

	e.CallAddr = in.Calls.FtraceAddr
	switch {
	case enabled && in.Flags.Has(FL_DIRECT_EN):
		e.InsnReason = "direct call (DIRECT_EN): target not modelled"
	case enabled && in.Flags.Has(FL_TRAMP_EN):
		e.InsnReason = "ops trampoline (TRAMP_EN): target not modelled"
	default:
		if enabled && in.Flags.Has(FL_REGS_EN) {
			e.CallAddr = in.Calls.FtraceRegsAddr
		}
		from := in.StubInsn + ppc64.MCOUNT_INSN_SIZE
		t, err := in.Calls.Target(from, e.CallAddr)
		if err != nil {
			e.InsnReason = err.Error()
			break
		}
		bl, err := ppc64.EncodeBranch(from, t, true)
		if err != nil {
			e.InsnReason = err.Error()
			break
		}
		e.CallTarget, e.Insn[1], e.InsnKnown[1] = t, bl, true
	}

	switch {
	case !enabled:
		e.Op, e.OpReason = in.Ops.NopOps, "idle: ftrace_nop_ops"
	case in.Flags.Has(FL_CALL_OPS_EN) && in.Ops.Unique != 0:
		e.Op, e.OpReason = in.Ops.Unique, "CALL_OPS_EN: the record's only ops"
	case in.Flags.Has(FL_CALL_OPS_EN):
		e.Op, e.OpReason = in.Ops.ListOps, "CALL_OPS_EN but no unique ops: ftrace_list_ops"
	default:
		e.Op, e.OpReason = in.Ops.ListOps, "enabled without CALL_OPS_EN: ftrace_list_ops"
	}
	return e, nil
}

// ExpectOrphan is the model for a stub no live record uses (its record
// was freed with the init text it traced, ftrace_free_mem): as
// ftrace_init_ool_stub() wrote it, with insn[3]'s target unknown, and
// ftrace_nop_ops.
func ExpectOrphan(stubInsn uint64, calls CallTargets, ops OpsTargets) Expected {
	e := Expected{Op: ops.NopOps, OpReason: "no record (freed init function): ftrace_nop_ops", CallAddr: calls.FtraceAddr}
	e.Insn[0], e.InsnKnown[0] = ppc64.PPC_RAW_MFLR_R0, true
	e.Insn[2], e.InsnKnown[2] = ppc64.PPC_RAW_MTLR_R0, true
	from := stubInsn + ppc64.MCOUNT_INSN_SIZE
	if t, err := calls.Target(from, calls.FtraceAddr); err == nil {
		if bl, err := ppc64.EncodeBranch(from, t, true); err == nil {
			e.CallTarget, e.Insn[1], e.InsnKnown[1] = t, bl, true
		}
	}
	e.InsnReason = "no record: insn[3] (b rec->ip+4) target unknown"
	return e
}

// StubStatus classifies one stub comparison.
type StubStatus int

const (
	// StubOK: site, insn[] and ftrace_op are as modelled.
	StubOK StubStatus = iota
	// StubOpNull: ftrace_op is NULL; everything else as modelled.
	StubOpNull
	// StubMismatch: a word or ftrace_op differs from the model.
	StubMismatch
	// StubOverwritten: the stub's bytes hold something else (insn[0] is
	// not `mflr r0`, or a ppc64_stub_entry with the "stub" magic overlaps
	// it).
	StubOverwritten
	// StubUnreadable: the dump does not hold the stub or the site.
	StubUnreadable
)

func (s StubStatus) String() string {
	switch s {
	case StubOK:
		return "ok"
	case StubOpNull:
		return "ftrace_op NULL"
	case StubMismatch:
		return "mismatch"
	case StubOverwritten:
		return "overwritten"
	case StubUnreadable:
		return "unreadable"
	}
	return fmt.Sprintf("StubStatus(%d)", int(s))
}

// Found is what the dump holds for one record's site and stub.
type Found struct {
	Site      uint32
	SiteKnown bool // false for an orphan stub (no record) or unreadable site
	Insn      [4]uint32
	Op        uint64
}

// Field is one word of a record's site and OOL stub that Compare holds
// against the model.
type Field int

const (
	FieldSite Field = iota + 1 // the word at rec->ip
	FieldInsn0
	FieldInsn1
	FieldInsn2
	FieldInsn3
	FieldOp // ftrace_op
)

func (f Field) String() string {
	switch {
	case f == FieldSite:
		return "site"
	case f == FieldOp:
		return "ftrace_op"
	case f >= FieldInsn0 && f <= FieldInsn3:
		return fmt.Sprintf("insn[%d]", f-FieldInsn0)
	}
	return fmt.Sprintf("Field(%d)", int(f))
}

// Insn returns the insn[] index of an instruction field.
func (f Field) Insn() (int, bool) {
	if f >= FieldInsn0 && f <= FieldInsn3 {
		return int(f - FieldInsn0), true
	}
	return 0, false
}

// Compare holds found against expected and lists the fields that differ.
// overlay is true when a ppc64_stub_entry with the stub magic overlaps the
// stub.
func Compare(e Expected, f Found, checkSite bool, overlay bool) (StubStatus, []Field) {
	var diffs []Field
	if checkSite && f.SiteKnown && f.Site != e.Site {
		diffs = append(diffs, FieldSite)
	}
	for i := range 4 {
		if e.InsnKnown[i] && f.Insn[i] != e.Insn[i] {
			diffs = append(diffs, FieldInsn0+Field(i))
		}
	}
	if !e.InsnKnown[3] {
		if _, link, ok := ppc64.BranchTarget(f.Insn[3], 0); !ok || link || f.Insn[3]>>26 != 18 {
			diffs = append(diffs, FieldInsn3)
		}
	}
	if f.Op != e.Op {
		diffs = append(diffs, FieldOp)
	}
	switch {
	case overlay || f.Insn[0] != ppc64.PPC_RAW_MFLR_R0:
		return StubOverwritten, diffs
	case len(diffs) == 0:
		return StubOK, nil
	case len(diffs) == 1 && diffs[0] == FieldOp && f.Op == 0:
		return StubOpNull, diffs
	}
	return StubMismatch, diffs
}
