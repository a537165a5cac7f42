package ftrace

import (
	"testing"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
)

// fl72 is the 7.2 layout (include/linux/ftrace.h).
var fl72 = DefaultFlagLayout()

func flags(count uint64, names ...string) Flags {
	f := Flags{Raw: count, Layout: fl72}
	for _, n := range names {
		f.Raw |= fl72.Bits[n]
	}
	return f
}

// TestExpectSeed000 holds the model against the fixed kernel's OOL stub
// that seed 000 prints (crash> struct ftrace_ool_stub 0xc008000009b90dd0):
// ftrace_op = ftrace_nop_ops, insn = {0x7c0802a6, 0x4bffffa5, 0x7c0803a6,
// 0x4bfff230}: bl to mod->arch.tramp at ...0d80, b back to ip+4 at
// ...0014, so rec->ip = 0xc008000009b90010.
func TestExpectSeed000(t *testing.T) {
	const (
		stub    = 0xc008000009b90dd0
		nopOps  = 0xc00000000131d140
		tramp   = 0xc008000009b90d80
		ip      = 0xc008000009b90010
		listOps = 0xc000000000734e98
	)
	in := SiteInput{
		IP: ip, Flags: flags(0), StubInsn: stub + OOLInsnOffset,
		Calls: CallTargets{FtraceAddr: 0xc000000000100000, FtraceRegsAddr: 0xc0000000000fff00, Module: true, Tramp: tramp, TrampRegs: tramp + 40},
		Ops:   OpsTargets{NopOps: nopOps, ListOps: listOps},
	}
	e, err := Expect(in)
	if err != nil {
		t.Fatal(err)
	}
	want := [4]uint32{0x7c0802a6, 0x4bffffa5, 0x7c0803a6, 0x4bfff230}
	if e.Insn != want || e.InsnKnown != [4]bool{true, true, true, true} {
		t.Errorf("insn = %#x (known %v), want %#x", e.Insn, e.InsnKnown, want)
	}
	if e.Site != 0x60000000 {
		t.Errorf("idle site = %#x, want nop", e.Site)
	}
	if e.Op != nopOps {
		t.Errorf("idle op = %#x, want ftrace_nop_ops", e.Op)
	}
	st, d := Compare(e, Found{Site: 0x60000000, SiteKnown: true, Insn: want, Op: nopOps}, true, false)
	if st != StubOK {
		t.Errorf("Compare = %v %v, want ok", st, d)
	}
	// The buggy kernel's idle stub: NULL ftrace_op, words as modelled.
	if st, _ := Compare(e, Found{Site: 0x60000000, SiteKnown: true, Insn: want}, true, false); st != StubOpNull {
		t.Errorf("NULL op: %v, want %v", st, StubOpNull)
	}
	// Seed 000's buggy dump: a ppc64_stub_entry (addis r11,r2,4 = 0x3d620004 ...) over a stub.
	over := Found{Insn: [4]uint32{0x3d620004, 0x396b8cf8, 0xf8410018, 0xe98b0020}}
	if st, _ := Compare(e, over, false, false); st != StubOverwritten {
		t.Errorf("overwritten stub: %v", st)
	}
}

func TestExpectEnabled(t *testing.T) {
	const (
		ip      = 0xc008000000160010
		stub    = 0xc008000000160800
		tramp   = 0xc008000000160700
		tregs   = 0xc008000000160728
		unique  = 0xc00000000204d820
		nopOps  = 0xc0000000005f92a0
		listOps = 0xc000000000734e98
	)
	calls := CallTargets{FtraceAddr: 0xc000000000100000, FtraceRegsAddr: 0xc0000000000fff00, Module: true, Tramp: tramp, TrampRegs: tregs}
	ops := OpsTargets{NopOps: nopOps, ListOps: listOps, Unique: unique}
	// b from ip to stub+8: offset 0x7f8; bl from stub+12 to tramp: -0x10c.
	site := branch(ip, stub+8, 0)
	blTramp := branch(stub+12, tramp, 1)
	blRegs := branch(stub+12, tregs, 1)
	tests := []struct {
		name   string
		f      Flags
		site   uint32
		bl     uint32
		op     uint64
		insn1k bool
	}{
		{"idle", flags(0, FL_CALL_OPS), ppc64.PPC_RAW_NOP, blTramp, nopOps, true},
		{"call ops", flags(1, FL_ENABLED, FL_CALL_OPS, FL_CALL_OPS_EN, FL_IPMODIFY), site, blTramp, unique, true},
		{"two ops", flags(2, FL_ENABLED, FL_IPMODIFY, FL_MODIFIED), site, blTramp, listOps, true},
		{"regs", flags(1, FL_ENABLED, FL_REGS, FL_REGS_EN), site, blRegs, listOps, true},
		{"regs wanted, not yet", flags(1, FL_ENABLED, FL_REGS), site, blTramp, listOps, true},
		{"direct", flags(1, FL_ENABLED, FL_DIRECT, FL_DIRECT_EN), site, 0, listOps, false},
		{"disabled idle", flags(0, FL_DISABLED), ppc64.PPC_RAW_NOP, blTramp, nopOps, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Expect(SiteInput{IP: ip, Flags: tc.f, StubInsn: stub + 8, Calls: calls, Ops: ops})
			if err != nil {
				t.Fatal(err)
			}
			if e.Site != tc.site {
				t.Errorf("site %#08x, want %#08x", e.Site, tc.site)
			}
			if e.InsnKnown[1] != tc.insn1k || (tc.insn1k && e.Insn[1] != tc.bl) {
				t.Errorf("insn[1] %#08x known %v, want %#08x known %v", e.Insn[1], e.InsnKnown[1], tc.bl, tc.insn1k)
			}
			if e.Op != tc.op {
				t.Errorf("op %#x (%s), want %#x", e.Op, e.OpReason, tc.op)
			}
		})
	}
}

func TestCallTargetsKernel(t *testing.T) {
	c := CallTargets{FtraceAddr: 0xc000000000010000, FtraceRegsAddr: 0xc00000000000ff00, KernelTramps: []uint64{0xc000000003000000}}
	if got, _ := c.Target(0xc000000000020000, c.FtraceAddr); got != c.FtraceAddr {
		t.Errorf("in range: %#x", got)
	}
	if got, _ := c.Target(0xc000000004000000, c.FtraceAddr); got != 0xc000000003000000 {
		t.Errorf("via ftrace_tramps: %#x", got)
	}
	if _, err := c.Target(0xc000000010000000, c.FtraceAddr); err == nil {
		t.Error("nothing reachable: want an error")
	}
}

// TestLetters: lines of the guest's enabled_functions (truth.json) and
// the flags t_show() derives them from.
func TestLetters(t *testing.T) {
	tests := []struct {
		f    Flags
		want string
	}{
		{flags(1, FL_ENABLED, FL_IPMODIFY, FL_CALL_OPS, FL_CALL_OPS_EN, FL_TOUCHED, FL_MODIFIED), " (1)   I   O M "},
		{flags(1, FL_ENABLED, FL_CALL_OPS, FL_CALL_OPS_EN, FL_TOUCHED), " (1)       O   "},
		{flags(2, FL_ENABLED, FL_IPMODIFY, FL_TOUCHED, FL_MODIFIED), " (2)   I     M "},
		{flags(3, FL_ENABLED, FL_REGS, FL_DIRECT), " (3) R   D     "},
	}
	for _, tc := range tests {
		if got := tc.f.Letters(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.f, got, tc.want)
		}
	}
	if n := flags(5, FL_ENABLED).Names(); len(n) != 1 || n[0] != "ENABLED" {
		t.Errorf("Names = %v", n)
	}
}

type enumMap map[string]int64

func (m enumMap) EnumConstant(n string) (int64, error) {
	if v, ok := m[n]; ok {
		return v, nil
	}
	return 0, errNotFound
}

type errString string

func (e errString) Error() string { return string(e) }

const errNotFound = errString("not found")

func TestDetectFlagLayout(t *testing.T) {
	// A kernel whose flags sit two bits lower and lack TOUCHED/MODIFIED
	// (as before Linux commit "ftrace: Add MODIFIED flag"): the count
	// mask follows the lowest flag.
	m := enumMap{}
	for _, d := range flagDefaults {
		if d.name != FL_TOUCHED && d.name != FL_MODIFIED {
			m[d.name] = int64(d.val >> 2)
		}
	}
	l := DetectFlagLayout(m)
	if l.Bits[FL_ENABLED] != 1<<29 || len(l.Warnings) != 0 {
		t.Errorf("ENABLED %#x, warnings %v", l.Bits[FL_ENABLED], l.Warnings)
	}
	// Flags the kernel's enum lacks are never set, and the reference
	// count reaches up to the lowest flag it has (CALL_OPS_EN >> 2 = 1<<19),
	// as in 6.1, whose count takes the bits TOUCHED and MODIFIED have in 7.2.
	if l.Bits[FL_TOUCHED] != 0 || l.Bits[FL_MODIFIED] != 0 || l.RefMask != 1<<19-1 {
		t.Errorf("TOUCHED %#x MODIFIED %#x mask %#x", l.Bits[FL_TOUCHED], l.Bits[FL_MODIFIED], l.RefMask)
	}
	if f := (Flags{Raw: 1<<29 | 1<<18 | 3, Layout: l}); f.Has(FL_TOUCHED) || f.Count() != 1<<18|3 {
		t.Errorf("6.1-style record: %v count %#x", f.Names(), f.Count())
	}
	if d := DetectFlagLayout(enumMap{}); d.RefMask != 1<<19-1 || len(d.Warnings) != 1 {
		t.Errorf("fallback: mask %#x warnings %v", d.RefMask, d.Warnings)
	}
}

// branch is the I-form word (opcode 18, LI, AA=0, LK) written out by hand
// from the Power ISA, independently of ppc64.EncodeBranch.
func branch(from, to uint64, lk uint32) uint32 {
	return 18<<26 | uint32(to-from)&0x03fffffc | lk
}
