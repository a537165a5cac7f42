package ftrace

import (
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/textpoke"

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
	// InFlight, on x86, relates the site to the text-poke batch in the
	// dump (textpoke): how the batch explains a site that is not yet
	// what its record wants (Mismatch then false), or why it does not
	// (an int3 no entry covers, an entry writing other bytes).
	InFlight string
	// CallMismatch: the call site itself (Size bytes at the record's ip)
	// is none of WantBytes, after the text-poke batch had its say;
	// Mismatch adds the prefix and the CALL_OPS literal to it.
	CallMismatch bool
	SiteWords
	// LiteralWhy names the ops LiteralWant is (on kernels with
	// ftrace_nop_ops); LiteralUnknown says why the literal was not
	// checked.
	LiteralWhy     string
	LiteralUnknown string
}

// SiteWords are the words an architecture keeps beside a call site, read
// and held against what they should be: where it needs a word before the
// site (arch.FtracePrefixed: arm64's mov x9, x30), its address, what it
// holds and what it should; and the DYNAMIC_FTRACE_WITH_CALL_OPS literal
// before the function (arch.FtraceCallOps), LiteralChecked when it was
// read and its expected ops known.
type SiteWords struct {
	PrefixAddr     uint64
	PrefixFound    []byte
	PrefixWant     []byte
	LiteralAddr    uint64
	Literal        uint64
	LiteralWant    uint64
	LiteralChecked bool
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
	caller, regsCaller := ftraceAddrs(p)
	kernelTramps, _ := ftraceTramps(p)
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
		s.checkCallSite(p, set, cs, r, c, caller, regsCaller)
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
func (s *State) checkCallSite(p *kernel.Program, set *modules.Set, cs arch.FtraceCallSite, r *Record, c *SiteCheck, caller, regsCaller uint64) {
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
	case f.Has(FL_DIRECT_EN) && f.Has(FL_ENABLED) && !f.Has(FL_DISABLED):
		// ftrace_get_addr_curr(): the direct_functions entry of the ip;
		// bit 0 set (ftrace_is_jmp()) makes the site a jmp, not a call.
		d, why := s.directTarget(p, r.IP)
		if why != "" {
			c.Unchecked = why
			return
		}
		if d&1 != 0 {
			if j, ok := cs.(interface {
				FtraceJmp(ip, target uint64) ([]byte, error)
			}); ok {
				if w, err := j.FtraceJmp(r.IP, d&^1); err == nil {
					c.WantBytes, c.WantWhy = [][]byte{w}, fmt.Sprintf("jmp to its direct trampoline %#x (ftrace_find_rec_direct(), bit 0: ftrace_is_jmp())", d&^1)
					break
				}
			}
			c.Unchecked = "a direct jmp: not encodable on this architecture"
			return
		}
		targets, c.WantWhy = []uint64{d}, fmt.Sprintf("call to its direct trampoline %#x (ftrace_find_rec_direct())", d)
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
	var farWhy string
	for _, t := range targets {
		if fc, ok := p.Arch.(arch.FtraceFarCall); ok {
			var why string
			t, why = farTarget(set, fc, r, t, caller)
			if why != "" {
				farWhy = why
				continue
			}
		}
		if w, err := cs.FtraceCall(r.IP, t); err == nil {
			c.WantBytes = append(c.WantBytes, w)
		}
	}
	if len(c.WantBytes) == 0 {
		c.Unchecked = "no call encodable from the site to " + c.WantWhy
		if farWhy != "" {
			c.Unchecked += ": " + farWhy
		}
		return
	}
	c.Mismatch = true
	for _, w := range c.WantBytes {
		if string(w) == string(b) {
			c.Mismatch = false
		}
	}
	if c.Mismatch && arch.Has(p.Arch, arch.TextPokeBatch) {
		s.inFlight(p, c)
	}
	c.CallMismatch = c.Mismatch
	s.checkSiteExtras(p, r, c)
	c.Mismatch = c.Mismatch || !c.PrevOK || c.LiteralChecked && c.Literal != c.LiteralWant
}

// inFlight holds a site that is not what its record wants against the
// text-poke batch: ftrace_replace_code() updates the record's flags, then
// queues the new call or nop with smp_text_poke_batch_add(), so a site in
// a batch that smp_text_poke_batch_finish() has not finished may still
// hold its old bytes or an int3 (textpoke.Batch.Explains).
func (s *State) inFlight(p *kernel.Program, c *SiteCheck) {
	if !s.pokeRead {
		s.poke, s.pokeErr = textpoke.Read(p)
		s.pokeRead = true
	}
	b, r := s.poke, c.Record
	if s.pokeErr != nil {
		if c.FoundBytes[0] == 0xcc {
			c.InFlight = "int3 at the site, and the text-poke batch could not be read: " + s.pokeErr.Error()
		}
		return
	}
	e, ok := b.At(r.IP)
	if !ok {
		if c.FoundBytes[0] == 0xcc {
			c.InFlight = "int3 at the site and no text_poke_array entry for it (" + b.Summary() + "): smp_text_poke_int3_handler() will not emulate it, so a CPU that reaches it dies in do_int3()"
		}
		return
	}
	why, ok := b.Explains(e)
	if !ok {
		c.InFlight = fmt.Sprintf("text_poke_array entry %d covers the site, but %s: no step of smp_text_poke_batch_finish() leaves it so", e.Index, b.Summary())
		return
	}
	for _, w := range c.WantBytes {
		if string(w) == string(e.New) {
			c.Mismatch, c.InFlight = false, why
			return
		}
	}
	c.InFlight = why + ", which is not what the record wants"
}

// farTarget is ftrace_find_callable_addr() (arch/arm64/kernel/ftrace.c):
// a custom trampoline out of branch range becomes FTRACE_ADDR (caller);
// FTRACE_ADDR out of range becomes the module's ftrace PLT
// (get_ftrace_plt(): mod->arch.ftrace_trampolines, or
// init_ftrace_trampolines for init text, entry FTRACE_PLT_IDX).
func farTarget(set *modules.Set, fc arch.FtraceFarCall, r *Record, t, caller uint64) (uint64, string) {
	if t != caller && !fc.FtraceReachable(r.IP, t) {
		t = caller
	}
	if fc.FtraceReachable(r.IP, t) {
		return t, ""
	}
	var a *modules.Analysis
	if set != nil {
		a = set.ByAddr(r.IP)
	}
	if a == nil {
		return 0, fmt.Sprintf("%#x is out of branch range of %#x and no module holds the site", t, r.IP)
	}
	init := false
	for _, reg := range a.Module.Regions {
		if reg.Size > 0 && r.IP >= reg.Base && r.IP-reg.Base < reg.Size {
			init = reg.Name == "MOD_INIT_TEXT"
		}
	}
	member, off := fc.FtraceModulePLT(init)
	base, ok := a.Module.Arch.Member(member)
	if !ok || base == 0 {
		return 0, fmt.Sprintf("%#x is out of branch range and %s has no mod->arch.%s", t, a.Module.Name, member)
	}
	return base + off, ""
}

// checkSiteExtras holds what surrounds a fixed-size site against the
// record: the word before it (arch.FtracePrefixed: ftrace_init_nop()'s
// mov x9, x30 on arm64) and the CALL_OPS literal (arch.FtraceCallOps:
// ftrace_rec_set_ops(): ftrace_nop_ops while disabled; enabled, the
// record's one ops (ftrace_find_unique_ops()) with CALL_OPS_EN, else
// ftrace_list_ops — arm64_rec_get_ops()).
func (s *State) checkSiteExtras(p *kernel.Program, r *Record, c *SiteCheck) {
	if pf, ok := p.Arch.(arch.FtracePrefixed); ok {
		addr, want := pf.FtracePrefix(r.IP)
		c.PrefixAddr, c.PrefixWant = addr, want
		if b, err := p.Read(addr, len(want)); err == nil {
			c.PrefixFound = b
			c.PrevOK = string(b) == string(want)
		}
	}
	co, ok := p.Arch.(arch.FtraceCallOps)
	if !ok || s.NopOps == 0 {
		return // no CALL_OPS (ftrace_nop_ops exists only with it)
	}
	c.LiteralAddr = co.FtraceOpsLiteral(r.IP)
	v, err := p.ReadU64(c.LiteralAddr)
	if err != nil {
		c.LiteralUnknown = fmt.Sprintf("literal at %#x unreadable: %v", c.LiteralAddr, err)
		return
	}
	c.Literal = v
	f := r.Flags
	switch {
	case !f.Has(FL_ENABLED) || f.Has(FL_DISABLED):
		c.LiteralWant, c.LiteralWhy = s.NopOps, "ftrace_nop_ops"
	case f.Has(FL_CALL_OPS_EN):
		var found *Ops
		for _, o := range s.OpsList {
			if o.Addr == s.ListEnd {
				continue
			}
			if !o.FilterKnown() {
				c.LiteralUnknown = fmt.Sprintf("ops %#x's hash unreadable: its unique ops unknown", o.Addr)
				return
			}
			if o.Matches(r.IP) {
				if found != nil {
					found = nil
					break
				}
				found = o
			}
		}
		if found == nil {
			// ftrace_find_unique_ops() found none or several: WARN_ON_ONCE
			// and ftrace_list_ops.
			c.LiteralWant, c.LiteralWhy = s.ListOpsAddr, "ftrace_list_ops (no unique ops holds the ip)"
		} else {
			c.LiteralWant, c.LiteralWhy = found.Addr, "its ops "+opsLabel(found)
		}
	default:
		c.LiteralWant, c.LiteralWhy = s.ListOpsAddr, "ftrace_list_ops"
	}
	if c.LiteralWant == 0 {
		c.LiteralUnknown = "ftrace_list_ops unknown"
		return
	}
	c.LiteralChecked = true
}

func opsLabel(o *Ops) string {
	if o.Name != "" {
		return o.Name
	}
	return fmt.Sprintf("%#x", o.Addr)
}

// directTarget is ftrace_find_rec_direct(ip): the direct_functions
// hash's entry for ip; why says why it is unknown.
func (s *State) directTarget(p *kernel.Program, ip uint64) (uint64, string) {
	s.directOnce.Do(func() {
		a, err := p.SymbolAddr("direct_functions")
		if err != nil {
			s.directErr = "no direct_functions symbol"
			return
		}
		h, err := p.ReadU64(a)
		if err != nil {
			s.directErr = fmt.Sprintf("direct_functions at %#x unreadable: %v", a, err)
			return
		}
		hash, err := ReadHash(p.Context, h, s.OpsLayout)
		if err != nil {
			s.directErr = fmt.Sprintf("direct_functions hash: %v", err)
			return
		}
		if hash.Direct == nil && hash.Count > 0 {
			s.directErr = "ftrace_func_entry has no direct member"
			return
		}
		s.direct = hash.Direct
	})
	if s.directErr != "" {
		return 0, "a direct call, and " + s.directErr
	}
	d, ok := s.direct[ip]
	if !ok || d == 0 {
		return 0, "DIRECT_EN, and direct_functions holds no entry for the ip (ftrace_get_addr_curr() would WARN)"
	}
	return d, ""
}
