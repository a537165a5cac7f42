package ftrace

import (
	"fmt"
	"github.com/kdump-inspect/kdump-inspect/textpoke"
	"slices"
	"sort"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// State is the ftrace and livepatch state of one dump with the OOL model
// held against it.
type State struct {
	FlagLayout   *FlagLayout
	RecordLayout RecordLayout
	OpsLayout    OpsLayout

	Records []Record // in page-chain order
	Pages   []Page

	// OpsList is ftrace_ops_list up to &ftrace_list_end; Ops every ops
	// known (the list, global_ops, ftrace_nop_ops, ftrace_list_ops,
	// ftrace_list_end, and the livepatch fops), by address.
	OpsList []*Ops
	Ops     map[uint64]*Ops
	// Addresses of the named static ops (0 when the kernel has none).
	ListEnd, GlobalOps, NopOps, ListOpsAddr uint64

	Livepatch *Livepatch

	Calls CallTargets // the vmlinux's (Module false)
	// ool: every OOL array, each held against the model the first time
	// someone asks for it (OOLArrays, AllOOL): the vmlinux's hold a stub
	// per traceable function, and `mod` needs only the modules'.
	ool []*OOLArray
	// byStub: the records with an OOL stub, sorted by rec->arch.ool_stub.
	byStub []*Record
	prog   *kernel.Program // for the arrays compared on demand
	// sites: each owner's records' call sites held against their flags,
	// on kernels without OOL stubs (mprofile.go, SiteChecks).
	sitesMu sync.Mutex
	sites   map[string][]SiteCheck
	// poke: the x86 text-poke batch (textpoke.Read), read with the first
	// fixed-size site check (under sitesMu).
	// direct_functions (ftrace_find_rec_direct()), read once.
	directOnce sync.Once
	direct     map[uint64]uint64
	directErr  string
	poke       *textpoke.Batch
	pokeErr    error
	pokeRead   bool
	KlpFunc    []KlpFuncCheck
	KlpStub    []KlpStubsCheck

	Warnings []string

	byIPOnce sync.Once
	byIP     []*Record // Records sorted by ip, for RecordAt
}

// RecordAt returns the record whose call site is ip, nil when none.
func (s *State) RecordAt(ip uint64) *Record {
	s.byIPOnce.Do(func() {
		s.byIP = make([]*Record, len(s.Records))
		for i := range s.Records {
			s.byIP[i] = &s.Records[i]
		}
		sort.Slice(s.byIP, func(i, j int) bool { return s.byIP[i].IP < s.byIP[j].IP })
	})
	i := sort.Search(len(s.byIP), func(i int) bool { return s.byIP[i].IP >= ip })
	if i < len(s.byIP) && s.byIP[i].IP == ip {
		return s.byIP[i]
	}
	return nil
}

func (s *State) warnf(format string, args ...any) {
	s.Warnings = append(s.Warnings, fmt.Sprintf(format, args...))
}

// OOLArrays returns the OOL arrays of owner (a module's name, "" for the
// vmlinux), each held against the model (Stubs, Unused, Warnings) by the
// time it is returned. Safe for concurrent use.
func (s *State) OOLArrays(owner string) []*OOLArray {
	var out []*OOLArray
	for _, arr := range s.ool {
		if arr.Owner == owner {
			out = append(out, s.compared(arr))
		}
	}
	return out
}

// AllOOL returns every OOL array, the vmlinux's first, each held against
// the model.
func (s *State) AllOOL() []*OOLArray {
	for _, arr := range s.ool {
		s.compared(arr)
	}
	return s.ool
}

func (s *State) compared(arr *OOLArray) *OOLArray {
	arr.compared.Do(func() { s.compareArray(arr) })
	return arr
}

// OOLArray is one array of struct ftrace_ool_stub: a module's
// mod->arch.ool_stubs, or the vmlinux's ftrace_ool_stub_text,
// ftrace_ool_stub_text_end, ftrace_ool_stub_inittext.
type OOLArray struct {
	Owner string // module name, "" for the vmlinux
	Name  string // "ool_stubs", "ftrace_ool_stub_text", ...
	Base  uint64
	Count int // ool_stub_count / ftrace_ool_stub_*_count
	// Index is mod->arch.ool_stub_index (the next free stub); -1 for the
	// vmlinux, whose counters are function-local statics.
	Index int
	Calls CallTargets
	// StubsBase is the module's .stubs address (0 for the vmlinux), for
	// the ppc64_stub_entry slots that may overlay the array.
	StubsBase uint64
	Stubs     []StubCheck
	// Unused counts stubs not compared: past ool_stub_index (modules),
	// or without a record (vmlinux, whose unused reserve is never set up).
	Unused   int
	Warnings []string

	compared sync.Once
}

// StubCheck is one stub held against the model.
type StubCheck struct {
	Index    int
	Addr     uint64 // &stub (its ftrace_op)
	Record   *Record
	Expected Expected
	Found    Found
	Status   StubStatus
	Diffs    []Field
	// OverlaySlot is the .stubs slot whose "stub" magic lies over this
	// stub, -1 if none.
	OverlaySlot int
	// NeverEnabled: the record was never enabled since it was created
	// (FTRACE_FL_TOUCHED clear), or there is no record: the only stubs a
	// kernel without ftrace_rec_set_nop_ops() in ftrace_init_nop() leaves
	// with a NULL ftrace_op.
	NeverEnabled bool
	Reason       string
}

// Load reads the ftrace records and ops, the livepatch state, and holds
// every OOL stub against the model. Parts that fail are warnings; the
// error is returned only when no records can be read at all.
func Load(set *modules.Set) (*State, error) {
	p := set.Prog
	s := &State{Ops: map[uint64]*Ops{}, prog: p}
	s.FlagLayout = DetectFlagLayout(p.Types)
	s.Warnings = append(s.Warnings, s.FlagLayout.Warnings...)
	var err error
	if s.RecordLayout, err = DetectRecordLayout(p.Types, p.PageSize); err != nil {
		return nil, err
	}
	start, err := p.SymbolAddr("ftrace_pages_start")
	if err != nil {
		return nil, err
	}
	first, err := p.ReadU64(start)
	if err != nil {
		return nil, fmt.Errorf("reading ftrace_pages_start at %#x: %w", start, err)
	}
	recs, pages, warns, err := WalkRecords(p.Context, first, s.RecordLayout, s.FlagLayout)
	s.Records, s.Pages = recs, pages
	s.Warnings = append(s.Warnings, warns...)
	if err != nil {
		if len(recs) == 0 {
			return nil, err
		}
		s.warnf("%v", err)
	}
	s.attribute(set.Resolver)

	if s.OpsLayout, err = DetectOpsLayout(p.Types); err != nil {
		s.warnf("%v", err)
	} else {
		s.readOps(p)
	}
	modName := func(a uint64) string {
		for _, m := range set.Modules {
			if m.Module.Addr == a {
				return m.Module.Name
			}
		}
		return ""
	}
	if lp, err := ReadLivepatch(p, s.OpsLayout, modName); err != nil {
		s.warnf("livepatch: %v", err)
	} else if lp != nil {
		s.Livepatch = lp
		s.nameKlpOps()
	}
	s.nameOps(set.Resolver)
	s.model(set)
	s.klpChecks(set)
	return s, nil
}

// attribute sets each record's module and function.
func (s *State) attribute(r *symbols.Resolver) {
	if r == nil {
		return
	}
	for i := range s.Records {
		rec := &s.Records[i]
		mod, sym, off, ok := r.KallsymsSymbol(rec.IP) // named as the kernel names it
		rec.Module = mod
		if ok {
			rec.Func, rec.FuncAddr, rec.Off, rec.LocalEntry = sym.Name, sym.Addr, off, sym.LocalEntry
		}
	}
}

func (s *State) readOps(p *kernel.Program) {
	l := s.OpsLayout
	addr := func(n string) uint64 { return symbolOrZero(p, n) }
	s.ListEnd, s.GlobalOps, s.NopOps, s.ListOpsAddr = addr("ftrace_list_end"), addr("global_ops"), addr("ftrace_nop_ops"), addr("ftrace_list_ops")
	if la := addr("ftrace_ops_list"); la != 0 && s.ListEnd != 0 {
		first, err := p.ReadU64(la)
		if err != nil {
			s.warnf("ftrace_ops_list at %#x: %v", la, err)
		} else {
			list, err := WalkOpsList(p.Context, first, s.ListEnd, l)
			if err != nil {
				s.warnf("%v", err)
			}
			s.OpsList = list
			for _, o := range list {
				s.Ops[o.Addr] = o
			}
		}
	} else {
		s.warnf("no ftrace_ops_list or ftrace_list_end symbol")
	}
	for _, n := range []struct {
		a    uint64
		name string
	}{{s.GlobalOps, "global_ops"}, {s.NopOps, "ftrace_nop_ops"}, {s.ListOpsAddr, "ftrace_list_ops"}, {s.ListEnd, "ftrace_list_end"}} {
		if n.a == 0 {
			continue
		}
		o := s.Ops[n.a]
		if o == nil {
			var err error
			if o, err = ReadOps(p.Context, n.a, l); err != nil {
				s.warnf("%s: %v", n.name, err)
				continue
			}
			s.Ops[n.a] = o
		}
		o.Name = n.name
	}
	for _, o := range s.Ops {
		for _, w := range o.Warnings {
			s.warnf("ftrace_ops %#x: %s", o.Addr, w)
		}
	}
}

// nameKlpOps names livepatch fops by owner and adds them to Ops.
func (s *State) nameKlpOps() {
	byFunc := map[uint64]string{}
	owners := map[uint64][]string{}
	for _, pt := range s.Livepatch.Patches {
		for _, o := range pt.Objects {
			for _, f := range o.Funcs {
				byFunc[f.Addr] = f.OldName
			}
		}
	}
	for _, pt := range s.Livepatch.Patches {
		for _, o := range pt.Objects {
			for _, f := range o.Funcs {
				owners[f.Addr] = append(owners[f.Addr], pt.ModName)
			}
		}
	}
	for _, k := range s.Livepatch.Ops {
		if k.Fops == nil {
			continue
		}
		name, mods := "", []string{}
		for _, f := range k.Stack {
			if name == "" {
				name = byFunc[f]
			}
			mods = append(mods, owners[f]...)
		}
		k.Fops.Name = fmt.Sprintf("klp_ops of %s %v", name, mods)
		if o := s.Ops[k.Fops.Addr]; o != nil {
			o.Name = k.Fops.Name
			k.Fops = o
		} else {
			s.Ops[k.Fops.Addr] = k.Fops
		}
	}
}

// nameOps names each ops's func, and ops that are symbols by symbol.
func (s *State) nameOps(r *symbols.Resolver) {
	if r == nil {
		return
	}
	for _, o := range s.Ops {
		if o.Func != 0 {
			o.FuncName = r.Lookup(o.Func).String()
		}
		if o.Name == "" {
			if loc := r.Lookup(o.Addr); loc.Symbol != nil && loc.Off == 0 {
				o.Name = loc.String()
			}
		}
	}
}

// SortedOps returns every known ops by address.
func (s *State) SortedOps() []*Ops {
	out := make([]*Ops, 0, len(s.Ops))
	for _, o := range s.Ops {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// Enabled returns the records with FTRACE_FL_ENABLED, as
// /sys/kernel/tracing/enabled_functions lists them (FTRACE_ITER_ENABLED).
func (s *State) Enabled() []*Record {
	var out []*Record
	for i := range s.Records {
		if s.Records[i].Flags.Has(FL_ENABLED) {
			out = append(out, &s.Records[i])
		}
	}
	return out
}

// maxOOLStubs bounds one OOL array (counts come from the dump).
const maxOOLStubs = 1 << 20

// model builds the OOL arrays and compares each stub.
func (s *State) model(set *modules.Set) {
	p := set.Prog
	if !s.RecordLayout.HasOOL {
		return // call sites are checked per owner on demand (SiteChecks)
	}
	caller, regsCaller := ftraceAddrs(p)
	s.Calls = CallTargets{FtraceAddr: caller, FtraceRegsAddr: regsCaller}
	if t, ok := ftraceTramps(p); ok {
		s.Calls.KernelTramps = t
	} else if a := symbolOrZero(p, "ftrace_tramp_text"); a != 0 {
		s.Calls.KernelTramps = []uint64{a}
	}
	for _, n := range []string{"ftrace_ool_stub_text", "ftrace_ool_stub_text_end", "ftrace_ool_stub_inittext"} {
		base, ca := symbolOrZero(p, n), symbolOrZero(p, n+"_count")
		if base == 0 || ca == 0 {
			continue
		}
		c, err := p.ReadU32(ca)
		if err != nil {
			s.warnf("%s_count at %#x: %v", n, ca, err)
			continue
		}
		s.ool = append(s.ool, &OOLArray{Name: n, Base: base, Count: int(c), Index: -1, Calls: s.Calls})
	}
	for _, a := range set.Modules {
		m := a.Module
		if !m.Arch.HasOOL || m.Arch.OOLStubs == 0 {
			continue
		}
		arr := &OOLArray{Owner: m.Name, Name: "ool_stubs", Base: m.Arch.OOLStubs, Count: int(min(m.Arch.OOLStubCount, maxOOLStubs)), Index: int(min(m.Arch.OOLStubIndex, maxOOLStubs))}
		arr.Calls = CallTargets{FtraceAddr: s.Calls.FtraceAddr, FtraceRegsAddr: s.Calls.FtraceRegsAddr, Module: true, Tramp: m.Arch.Tramp, TrampRegs: m.Arch.TrampRegs}
		arr.StubsBase, _ = m.SectionAddr(".stubs")
		s.ool = append(s.ool, arr)
	}
	s.indexStubs()
}

// indexStubs sorts the records by OOL stub and warns of a record whose
// stub is shared or lies in no array (by address arithmetic: nothing is
// read, the arrays are compared later, on demand).
func (s *State) indexStubs() {
	n := 0
	for i := range s.Records {
		if s.Records[i].OOLStub != 0 {
			n++
		}
	}
	s.byStub = make([]*Record, 0, n)
	for i := range s.Records {
		if s.Records[i].OOLStub != 0 {
			s.byStub = append(s.byStub, &s.Records[i])
		}
	}
	byStub := func(a, b *Record) int { return cmpU64(a.OOLStub, b.OOLStub) }
	if !slices.IsSortedFunc(s.byStub, byStub) { // in order on the corpus: stubs are handed out as records are made
		slices.SortStableFunc(s.byStub, byStub)
	}
	for i := 1; i < len(s.byStub); i++ {
		if o, r := s.byStub[i-1], s.byStub[i]; o.OOLStub == r.OOLStub {
			s.warnf("records at %#x and %#x share the OOL stub %#x", o.IP, r.IP, r.OOLStub)
		}
	}
	for i := range s.Records {
		r := &s.Records[i]
		if r.OOLStub == 0 || !s.inSomeArray(r.OOLStub) {
			s.warnf("record %#x (%s): rec->arch.ool_stub %#x is in no OOL array", r.IP, r.Func, r.OOLStub)
		}
	}
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// inSomeArray: stub is the instructions of one stub of an array
// (&ool[i].insn[0], i below the array's count).
func (s *State) inSomeArray(stub uint64) bool {
	for _, arr := range s.ool {
		n := min(arr.Count, maxOOLStubs)
		if stub < arr.Base+OOLInsnOffset {
			continue
		}
		off := stub - arr.Base - OOLInsnOffset
		if off%OOLStubSize == 0 && off/OOLStubSize < uint64(n) {
			return true
		}
	}
	return false
}

// recordsIn returns the records (sorted by stub) whose stub lies in
// [lo, hi).
func (s *State) recordsIn(lo, hi uint64) []*Record {
	i, _ := slices.BinarySearchFunc(s.byStub, lo, func(r *Record, a uint64) int { return cmpU64(r.OOLStub, a) })
	j, _ := slices.BinarySearchFunc(s.byStub, hi, func(r *Record, a uint64) int { return cmpU64(r.OOLStub, a) })
	return s.byStub[i:j]
}

func (s *State) compareArray(arr *OOLArray) {
	p := s.prog
	if arr.Count > maxOOLStubs {
		arr.Warnings = append(arr.Warnings, fmt.Sprintf("count %d capped at %d", arr.Count, maxOOLStubs))
		arr.Count = maxOOLStubs
	}
	if arr.Count == 0 {
		return
	}
	if arr.Index < 0 {
		// The vmlinux's arrays: only stubs a record refers to are
		// compared. ftrace_ool_stub_inittext (and its count) lie in init
		// memory that ftrace_free_init_mem() and free_initmem() released
		// with the init records: skip an array no record refers to.
		end := arr.Base + uint64(arr.Count)*OOLStubSize
		if len(s.recordsIn(arr.Base, end)) == 0 {
			arr.Unused = arr.Count
			arr.Warnings = append(arr.Warnings, "not compared: no record refers to it (freed init memory or unused reserve)")
			return
		}
	}
	raw, err := p.Read(arr.Base, arr.Count*OOLStubSize)
	if err != nil {
		arr.Warnings = append(arr.Warnings, fmt.Sprintf("reading %d stubs at %#x: %v", arr.Count, arr.Base, err))
		return
	}
	ops := OpsTargets{NopOps: s.NopOps, ListOps: s.ListOpsAddr}
	// One allocation: the vmlinux's arrays hold a stub per traceable
	// function (tens of thousands), and growing by append copied them
	// over and over (a third of `mod`'s CPU on the distro dump).
	arr.Stubs = slices.Grow(arr.Stubs, arr.Count)
	recs := s.recordsIn(arr.Base, arr.Base+uint64(arr.Count)*OOLStubSize)
	for i := range arr.Count {
		addr := arr.Base + uint64(i*OOLStubSize)
		insnAddr := addr + OOLInsnOffset
		b := raw[i*OOLStubSize:]
		f := Found{Op: p.Order.Uint64(b)}
		for j := range 4 {
			f.Insn[j] = p.Order.Uint32(b[OOLInsnOffset+4*j:])
		}
		// recs is sorted by stub: skip those before this stub (a
		// misplaced one is in the Load warnings), take the first at it.
		for len(recs) > 0 && recs[0].OOLStub < insnAddr {
			recs = recs[1:]
		}
		var rec *Record
		if len(recs) > 0 && recs[0].OOLStub == insnAddr {
			rec = recs[0]
		}
		if rec == nil && (arr.Index < 0 || i >= arr.Index) {
			arr.Unused++
			continue
		}
		c := StubCheck{Index: i, Addr: addr, Record: rec, Found: f, OverlaySlot: -1}
		if rec == nil {
			c.Expected = ExpectOrphan(insnAddr, arr.Calls, ops)
			c.NeverEnabled = true
		} else {
			in := SiteInput{IP: rec.IP, Flags: rec.Flags, StubInsn: insnAddr, Calls: arr.Calls, Ops: ops}
			if rec.Flags.Has(FL_CALL_OPS_EN) {
				in.Ops.Unique = UniqueOps(s.OpsList, rec.IP)
			}
			e, err := Expect(in)
			if err != nil {
				c.Reason = err.Error()
			}
			c.Expected = e
			c.NeverEnabled = !rec.Flags.Has(FL_TOUCHED)
			if w, err := p.ReadU32(rec.IP); err == nil {
				c.Found.Site, c.Found.SiteKnown = w, true
			} else {
				c.Reason = fmt.Sprintf("site %#x unreadable: %v", rec.IP, err)
			}
		}
		overlay := false
		if arr.StubsBase != 0 && addr >= arr.StubsBase {
			first := (addr - arr.StubsBase) / modules.StubEntrySize
			last := (addr + OOLStubSize - 1 - arr.StubsBase) / modules.StubEntrySize
			for sl := first; sl <= last; sl++ {
				ma := arr.StubsBase + sl*modules.StubEntrySize + 28 // ppc64_stub_entry.magic
				if m, err := p.ReadU32(ma); err == nil && m == modules.STUB_MAGIC {
					overlay, c.OverlaySlot = true, int(sl)
					break
				}
			}
		}
		c.Status, c.Diffs = Compare(c.Expected, c.Found, rec != nil, overlay)
		if c.Reason == "" {
			switch c.Status {
			case StubOverwritten:
				if overlay {
					c.Reason = fmt.Sprintf("a ppc64_stub_entry (slot %d) lies over the stub", c.OverlaySlot)
				} else {
					c.Reason = fmt.Sprintf("insn[0] is %#08x, not mflr r0", f.Insn[0])
				}
			case StubOpNull:
				c.Reason = "ftrace_op NULL, expected " + c.Expected.OpReason
			case StubMismatch:
				c.Reason = fmt.Sprintf("differs in %v", c.Diffs)
			}
		}
		arr.Stubs = append(arr.Stubs, c)
	}
}

// KlpFuncCheck is seed 001's check of one patched function: where its
// ftrace record is and how it is wired to the livepatch ops.
type KlpFuncCheck struct {
	Patch  string // the livepatch module
	Object string // "" for the vmlinux
	Func   KlpFunc
	// Record is the first record in [old_func, old_func+old_size), as
	// ftrace_location() finds it; nil when none.
	Record *Record
	// WantIP is where the record must be: with OOL stubs (patchable
	// entries), old_func + the symbol's st_other local-entry offset; on
	// kernels without them, the call after `mflr r0` (or gcc 5's `mflr
	// r0; std r0,16(r1)`) that starts the function at its local entry —
	// ftrace_location(old_func) finds that first record.
	WantIP     uint64
	LocalEntry uint64
	SymKnown   bool
	Ops        *KlpOps
	InFilter   bool   // WantIP in the klp ops' filter hash
	Site       uint32 // the word at the record's ip
	SiteToStub bool   // Site is `b rec->arch.ool_stub` (or the call the FTRACE-SITE model wants)
	StubOp     uint64 // the stub's ftrace_op
	// On architectures with a fixed-size call site (arch.FtraceCallSite:
	// x86_64, arm64), SiteBytes is what the site holds. Where the
	// architecture writes a word before the site (arch.FtracePrefixed:
	// arm64's mov x9, x30) and the dump holds something else there,
	// PrefixAddr, PrefixFound and PrefixWant say so: not a problem here,
	// since an armed kprobe replaces that word by its breakpoint, which
	// only the judge (audit, with the kprobe table) can tell apart.
	// SiteMismatch: SiteBytes are none of SiteWant (SiteWantWhy names
	// them). Not a problem here either: a kprobe armed on the site
	// replaced it by its breakpoint, which the judge tells apart.
	SiteBytes    []byte
	SiteMismatch bool
	SiteWant     [][]byte
	SiteWantWhy  string
	// The word before the site and the CALL_OPS literal (its expected
	// ops: the klp ops when they alone hold the ip, else
	// ftrace_list_ops).
	SiteWords
	// Problems lists what does not hold, in words ("record not at the
	// local entry", "not ENABLED", ...); empty when all holds.
	Problems []string
	// Unchecked lists what could not be checked because the dump does
	// not hold it readable (the filter hash, the site, the stub): never a
	// problem, a gap in the check.
	Unchecked []string
}

func (s *State) klpChecks(set *modules.Set) {
	if s.Livepatch == nil {
		return
	}
	// Records sorted by ip for the range search.
	sorted := make([]*Record, len(s.Records))
	for i := range s.Records {
		sorted[i] = &s.Records[i]
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].IP < sorted[j].IP })
	for _, pt := range s.Livepatch.Patches {
		for _, o := range pt.Objects {
			for _, f := range o.Funcs {
				if !f.Patched {
					continue
				}
				c := KlpFuncCheck{Patch: pt.ModName, Object: o.Name, Func: f}
				if set.Resolver != nil {
					if loc := set.Resolver.Lookup(f.OldFunc); loc.Symbol != nil && loc.Off == 0 {
						c.LocalEntry, c.SymKnown = loc.Symbol.LocalEntry, true
					}
				}
				c.WantIP = f.OldFunc + c.LocalEntry
				k := sort.Search(len(sorted), func(i int) bool { return sorted[i].IP >= f.OldFunc })
				if k < len(sorted) && sorted[k].IP < f.OldFunc+max(f.OldSize, 1) {
					c.Record = sorted[k]
				}
				for i := range s.Livepatch.Ops {
					ko := &s.Livepatch.Ops[i]
					for _, fa := range ko.Stack {
						if fa == f.Addr {
							c.Ops = ko
						}
					}
				}
				c.check(s, set)
				s.KlpFunc = append(s.KlpFunc, c)
			}
		}
	}
	s.klpStubChecks(set)
}

func (c *KlpFuncCheck) check(s *State, set *modules.Set) {
	p := set.Prog
	bad := func(format string, args ...any) { c.Problems = append(c.Problems, fmt.Sprintf(format, args...)) }
	unchecked := func(format string, args ...any) { c.Unchecked = append(c.Unchecked, fmt.Sprintf(format, args...)) }
	if !c.SymKnown {
		unchecked("no symbol at old_func %#x: local entry unknown", c.Func.OldFunc)
	}
	r := c.Record
	_, callSite := p.Arch.(arch.FtraceCallSite)
	if callSite && r != nil {
		// x86_64, arm64: ftrace_location(old_func) takes the first record
		// in the function wherever ftrace_call_adjust() put it (after an
		// ENDBR or BTI, past CALL_OPS's pre-function NOPs); the FTRACE-SITE
		// model holds the words around it.
		c.WantIP = r.IP
	} else if !s.RecordLayout.HasOOL && r != nil {
		// -mprofile-kernel (or patchable entries without OOL stubs): the
		// site is the call after the prologue's mflr r0 (ftrace_call_adjust()
		// for patchable entries; recordmcount's bl _mcount).
		le := c.Func.OldFunc + c.LocalEntry
		switch {
		case r.IP == le+4 && wordIs(p, le, ppc64.PPC_RAW_MFLR_R0):
			c.WantIP = r.IP
		case r.IP == le+8 && wordIs(p, le, ppc64.PPC_RAW_MFLR_R0) && wordIs(p, le+4, ppcStdR0):
			c.WantIP = r.IP
		default:
			c.WantIP = le + 4
		}
	}
	if c.Ops == nil || c.Ops.Fops == nil {
		bad("no klp_ops has this func on its func_stack")
	} else if !c.Ops.Fops.FilterKnown() {
		unchecked("the klp ops' filter hash is unreadable (%v)", firstErr(c.Ops.Fops.HashErr, c.Ops.Fops.Filter))
	} else if !c.Ops.Fops.Filter.Contains(c.WantIP) {
		bad("%#x not in the klp ops filter hash", c.WantIP)
	} else {
		c.InFilter = true
	}
	if r == nil {
		bad("no ftrace record in [%#x, %#x)", c.Func.OldFunc, c.Func.OldFunc+c.Func.OldSize)
		return
	}
	if r.IP != c.WantIP {
		if s.RecordLayout.HasOOL {
			bad("record at %#x, not at the local entry %#x", r.IP, c.WantIP)
		} else {
			bad("record at %#x, not at the call after the local entry's mflr r0 (%#x)", r.IP, c.WantIP)
		}
	}
	if !r.Flags.Has(FL_ENABLED) {
		bad("record not ENABLED")
	}
	if !r.Flags.Has(FL_IPMODIFY) {
		bad("record not IPMODIFY")
	}
	if r.Flags.Has(FL_DISABLED) {
		bad("record DISABLED")
	}
	if !s.RecordLayout.HasOOL {
		// The site: bl to the module's tramp (or the kernel's
		// ftrace_caller), as the FTRACE-SITE model holds it.
		for _, sc := range s.SiteChecks(set, r.Module) {
			if sc.Record != r {
				continue
			}
			c.Site = sc.Found
			switch {
			case sc.Unchecked != "":
				unchecked("site %#x: %s", r.IP, sc.Unchecked)
			case len(sc.FoundBytes) > 0:
				c.callSiteCheck(sc, bad, unchecked)
			case sc.Mismatch:
				bad("site %#x holds %#08x, not %s", r.IP, sc.Found, sc.WantWhy)
			default:
				c.SiteToStub = true
			}
		}
		return
	}
	w, err := p.ReadU32(r.IP)
	if err != nil {
		unchecked("site %#x unreadable: %v", r.IP, err)
		return
	}
	c.Site = w
	if t, link, ok := ppc64.BranchTarget(w, r.IP); ok && !link && w>>26 == 18 && t == r.OOLStub {
		c.SiteToStub = true
	} else {
		bad("site %#x holds %#08x, not b %#x", r.IP, w, r.OOLStub)
	}
	op, err := p.ReadU64(r.OOLStub - OOLInsnOffset)
	if err != nil {
		unchecked("stub ftrace_op at %#x unreadable: %v", r.OOLStub-OOLInsnOffset, err)
		return
	}
	c.StubOp = op
	if (c.Ops == nil || c.Ops.Fops == nil || op != c.Ops.Fops.Addr) && op != s.ListOpsAddr {
		bad("stub ftrace_op %#x is neither the klp ops nor ftrace_list_ops", op)
	}
}

// callSiteCheck takes the FTRACE-SITE model's verdict on a fixed-size
// call site (x86_64, arm64) apart: the CALL_OPS literal (which must name
// the klp ops when they alone hold the ip: ftrace_find_unique_ops()) is
// a problem when wrong; the call itself and the word before it, which a
// kprobe may hold, are left to the judge (SiteMismatch, PrefixAddr).
func (c *KlpFuncCheck) callSiteCheck(sc SiteCheck, bad, unchecked func(string, ...any)) {
	r := c.Record
	c.SiteBytes, c.SiteWant, c.SiteWantWhy = sc.FoundBytes, sc.WantBytes, sc.WantWhy
	ok := true
	if sc.CallMismatch {
		c.SiteMismatch, ok = true, false
	}
	c.LiteralAddr = sc.LiteralAddr
	switch {
	case sc.LiteralChecked:
		c.Literal, c.LiteralWant, c.LiteralChecked = sc.Literal, sc.LiteralWant, true
		if sc.Literal != sc.LiteralWant {
			bad("CALL_OPS literal at %#x holds %#x, not %s (%#x)", sc.LiteralAddr, sc.Literal, sc.LiteralWhy, sc.LiteralWant)
			ok = false
		}
	case sc.LiteralUnknown != "":
		unchecked("CALL_OPS literal of %#x: %s", r.IP, sc.LiteralUnknown)
	}
	if !sc.PrevOK && len(sc.PrefixWant) > 0 {
		c.PrefixAddr, c.PrefixFound, c.PrefixWant = sc.PrefixAddr, sc.PrefixFound, sc.PrefixWant
	}
	c.SiteToStub = ok
}

func wordIs(p *kernel.Program, addr uint64, w uint32) bool {
	v, err := p.ReadU32(addr)
	return err == nil && v == w
}

// KlpStubsCheck is seed 003's check of one livepatch module's call stubs:
// stub_count * sizeof(ppc64_stub_entry) within .stubs, and each call
// stub's funcdata in the vmlinux or a live module.
type KlpStubsCheck struct {
	Module     string
	StubCount  uint64
	Size       uint64
	SizeSource modules.SizeSource
	Fits       bool
	Stubs      []KlpStub
	Err        error
}

// KlpStub is one call stub of a livepatch module.
type KlpStub struct {
	Slot     int
	Addr     uint64
	Funcdata uint64
	Owner    string // "vmlinux", a module name, or "" when in neither
	Live     bool
}

func (s *State) klpStubChecks(set *modules.Set) {
	var stext, end uint64
	if a, err := set.Prog.SymbolAddr("_stext"); err == nil {
		stext = a
	}
	if a, err := set.Prog.SymbolAddr("_end"); err == nil {
		end = a
	}
	for _, a := range set.Modules {
		m := a.Module
		if !m.Livepatch {
			continue
		}
		c := KlpStubsCheck{Module: m.Name, StubCount: m.Arch.StubCount, Err: a.StubsErr}
		if a.Stubs != nil {
			c.Size, c.SizeSource = a.Stubs.Size, a.Stubs.SizeSource
			c.Fits = c.StubCount*modules.StubEntrySize <= c.Size
			for _, sl := range a.Stubs.Slots {
				if uint64(sl.Index) >= c.StubCount || sl.Magic != modules.STUB_MAGIC {
					continue
				}
				if sl.Kind != modules.SlotCall && sl.Kind != modules.SlotKlp {
					continue
				}
				k := KlpStub{Slot: sl.Index, Addr: sl.Addr, Funcdata: sl.Funcdata}
				if stext != 0 && sl.Funcdata >= stext && sl.Funcdata < end {
					k.Owner, k.Live = "vmlinux", true
				} else if o := set.ByAddr(sl.Funcdata); o != nil {
					k.Owner, k.Live = o.Module.Name, true
				}
				c.Stubs = append(c.Stubs, k)
			}
		}
		s.KlpStub = append(s.KlpStub, c)
	}
}

// firstErr is err, else the hash's own error.
func firstErr(err error, h *Hash) error {
	if err != nil || h == nil {
		return err
	}
	return h.Err
}
