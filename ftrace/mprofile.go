package ftrace

import (
	"fmt"
	"github.com/kdump-inspect/kdump-inspect/arch"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// Call sites on kernels without out-of-line stubs: -mprofile-kernel (or
// -fpatchable-function-entry emitting the same shape), each traceable
// function starts with `mflr r0; bl _mcount` (recordmcount) or `mflr r0;
// nop` (patchable entries), some with `mflr r0; std r0,16(r1); bl
// _mcount`. ftrace_make_nop() makes the bl a nop; ftrace_make_call()
// makes it `bl` to the module's trampoline stub (mod->arch.tramp, or
// tramp_regs for a record whose ops want regs) or, in the vmlinux, to
// ftrace_caller / ftrace_regs_caller or one of the kernel's out-of-range
// trampolines (ftrace_tramps[]) — arch/powerpc/kernel/trace/ftrace.c
// (__ftrace_make_nop, __ftrace_make_call, __ftrace_make_call_kernel).

// SiteCheck is one record's call site held against its flags.
type SiteCheck struct {
	Record *Record
	// Want lists the words the site may hold for the record's state
	// (several for a vmlinux call that may go through a trampoline).
	Want    []uint32
	WantWhy string
	Found   uint32
	// Prev is the word before the site: mflr r0 or std r0,16(r1).
	Prev     uint32
	PrevOK   bool
	Mismatch bool
	// Unchecked says why the record's site could not be checked (an
	// unreadable word, a state not modelled: direct calls).
	Unchecked string
	// On architectures with a fixed-size call site (arch.FtraceCallSite:
	// x86's 5 bytes), the site as bytes: Size, FoundBytes, WantBytes
	// (Want and Found, 4-byte words, stay ppc64's).
	Size       int
	FoundBytes []byte
	WantBytes  [][]byte
}

const ppcStdR0 = 0xf8010010 // std r0,16(r1)

// SiteChecks checks the call sites of one owner's records (a module's
// name, "" for the vmlinux) on a kernel without OOL stubs, once per owner:
// the vmlinux has tens of thousands of sites, read only when asked.
func (s *State) SiteChecks(set *modules.Set, owner string) []SiteCheck {
	s.sitesMu.Lock()
	defer s.sitesMu.Unlock()
	if got, ok := s.sites[owner]; ok {
		return got
	}
	if s.sites == nil {
		s.sites = map[string][]SiteCheck{}
	}
	p := set.Prog
	sym := func(n string) uint64 {
		a, err := p.SymbolAddr(n)
		if err != nil {
			return 0
		}
		return a
	}
	caller, regsCaller := sym("ftrace_caller"), sym("ftrace_regs_caller")
	if regsCaller == 0 {
		regsCaller = caller
	}
	var kernelTramps []uint64
	if a := sym("ftrace_tramps"); a != 0 {
		for i := range 2 { // NUM_FTRACE_TRAMPS
			if v, err := p.ReadU64(a + uint64(8*i)); err == nil && v != 0 {
				kernelTramps = append(kernelTramps, v)
			}
		}
	}
	var out []SiteCheck
	for i := range s.Records {
		r := &s.Records[i]
		if r.Module != owner {
			continue
		}
		c := SiteCheck{Record: r}
		s.checkSite(p, set, r, &c, caller, regsCaller, kernelTramps)
		out = append(out, c)
	}
	s.sites[owner] = out
	return out
}

func (s *State) checkSite(p *kernel.Program, set *modules.Set, r *Record, c *SiteCheck, caller, regsCaller uint64, kernelTramps []uint64) {
	if cs, ok := p.Arch.(arch.FtraceCallSite); ok {
		s.checkCallSite(p, cs, r, c, caller, regsCaller)
		return
	}
	w, err := p.ReadU32(r.IP)
	if err != nil {
		c.Unchecked = fmt.Sprintf("site %#x unreadable: %v", r.IP, err)
		return
	}
	c.Found = w
	if prev, err := p.ReadU32(r.IP - 4); err == nil {
		c.Prev = prev
		c.PrevOK = prev == ppc64.PPC_RAW_MFLR_R0 || prev == ppcStdR0
	} else {
		c.PrevOK = true // the word before lies on an unreadable page: not this check's
	}
	f := r.Flags
	switch {
	case f.Has(FL_DIRECT_EN) || f.Has(FL_TRAMP_EN):
		c.Unchecked = "a direct call or an ops trampoline: its target is not modelled"
		return
	case !f.Has(FL_ENABLED) || f.Has(FL_DISABLED):
		c.Want, c.WantWhy = []uint32{ppc64.PPC_RAW_NOP}, "nop (ftrace_make_nop)"
	default:
		regs := f.Has(FL_REGS_EN)
		var targets []uint64
		var why string
		if r.Module != "" {
			a := set.Find(r.Module)
			if a == nil || !a.Module.Arch.HasTramp {
				c.Unchecked = fmt.Sprintf("module %s: no mod->arch.tramp", r.Module)
				return
			}
			t, n := a.Module.Arch.Tramp, "mod->arch.tramp"
			if regs {
				t, n = a.Module.Arch.TrampRegs, "mod->arch.tramp_regs"
			}
			targets, why = []uint64{t}, "bl "+n
		} else {
			t, n := caller, "ftrace_caller"
			if regs {
				t, n = regsCaller, "ftrace_regs_caller"
			}
			targets, why = append([]uint64{t}, kernelTramps...), "bl "+n+" (or an ftrace_tramps[] trampoline)"
		}
		for _, t := range targets {
			if b, err := ppc64.EncodeBranch(r.IP, t, true); err == nil {
				c.Want = append(c.Want, b)
			}
		}
		c.WantWhy = why
		if len(c.Want) == 0 {
			c.Unchecked = fmt.Sprintf("no %s within branch range of %#x", why, r.IP)
			return
		}
	}
	c.Mismatch = true
	for _, x := range c.Want {
		if x == w {
			c.Mismatch = false
		}
	}
	c.Mismatch = c.Mismatch || !c.PrevOK
}

// checkCallSite holds a fixed-size site (x86_64: MCOUNT_INSN_SIZE 5) against
// its record, as ftrace_replace_code() leaves it (arch/x86/kernel/ftrace.c):
// disabled, ftrace_nop_replace() (x86_nops[5]); enabled,
// ftrace_call_replace(ip, ftrace_get_addr_curr(rec)) — the ops trampoline
// with FTRACE_FL_TRAMP_EN (one of the registered ops whose hash holds the
// ip and that has a trampoline), FTRACE_REGS_ADDR with REGS_EN, else
// FTRACE_ADDR. A direct call's target is not modelled.
func (s *State) checkCallSite(p *kernel.Program, cs arch.FtraceCallSite, r *Record, c *SiteCheck, caller, regsCaller uint64) {
	n := cs.FtraceSiteSize()
	c.Size, c.PrevOK = n, true
	b, err := p.Read(r.IP, n)
	if err != nil {
		c.Unchecked = fmt.Sprintf("site %#x unreadable: %v", r.IP, err)
		return
	}
	c.FoundBytes = b
	f := r.Flags
	var targets []uint64
	switch {
	case f.Has(FL_DIRECT_EN):
		c.Unchecked = "a direct call: its target is not modelled"
		return
	case !f.Has(FL_ENABLED) || f.Has(FL_DISABLED):
		c.WantBytes, c.WantWhy = [][]byte{cs.FtraceNop(r.IP)}, "the 5-byte nop (ftrace_nop_replace)"
	case f.Has(FL_TRAMP_EN):
		for _, o := range s.Ops {
			if o.Trampoline != 0 && o.FilterKnown() && o.Matches(r.IP) {
				targets = append(targets, o.Trampoline)
			}
		}
		if len(targets) == 0 {
			c.Unchecked = "TRAMP_EN, and no registered ops with a trampoline holds this ip"
			return
		}
		c.WantWhy = "call to its ops' trampoline (ftrace_get_addr_curr)"
	case f.Has(FL_REGS_EN):
		targets, c.WantWhy = []uint64{regsCaller}, "call ftrace_regs_caller"
	default:
		targets, c.WantWhy = []uint64{caller}, "call ftrace_caller"
	}
	for _, t := range targets {
		if w, err := cs.FtraceCall(r.IP, t); err == nil {
			c.WantBytes = append(c.WantBytes, w)
		}
	}
	if len(c.WantBytes) == 0 {
		c.Unchecked = "no call encodable from the site to " + c.WantWhy
		return
	}
	c.Mismatch = true
	for _, w := range c.WantBytes {
		if string(w) == string(b) {
			c.Mismatch = false
		}
	}
}
