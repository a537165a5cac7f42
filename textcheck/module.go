package textcheck

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/elfobj"

	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/textpoke"
)

// Env is what the mechanisms read from the dump once for every object:
// the ftrace state, registered kprobes, the ppc64 feature words, static
// key states.
type Env struct {
	Prog   *kernel.Program
	Set    *modules.Set
	Ftrace *ftrace.State
	// FtraceErr says why no ftrace state is at hand: ftrace sites are then
	// not explained (Result.Incomplete says so).
	FtraceErr error

	once       sync.Once
	kprobes    []Kprobe
	kprobesErr error
	features   Features
	jl         jumpLayout
	jlErr      error

	x86Once  sync.Once
	x86      *x86State
	pokeOnce sync.Once
	poke     *textpoke.Batch
	pokeErr  error

	keysMu sync.Mutex
	keys   map[uint64]KeyState

	a64caps       a64Caps
	slabNamesOnce sync.Once
	slabNames     map[string][]uint64
	slabNamesErr  error
}

// NewEnv prepares the shared inputs.
func NewEnv(set *modules.Set, st *ftrace.State, stErr error) *Env {
	return &Env{Prog: set.Prog, Set: set, Ftrace: st, FtraceErr: stErr}
}

func (e *Env) load() {
	e.once.Do(func() {
		e.kprobes, e.kprobesErr = ReadKprobes(e.Prog)
		e.features = ReadFeatures(e.Prog)
		e.jl, e.jlErr = detectJumpLayout(e.Prog)
	})
}

func (e *Env) keyState(addr uint64) KeyState {
	e.keysMu.Lock()
	defer e.keysMu.Unlock()
	if ks, ok := e.keys[addr]; ok {
		return ks
	}
	v, err := e.Prog.ReadU32(addr + uint64(e.jl.enabled))
	ks := KeyState{Enabled: int32(v), Err: err}
	if e.keys == nil {
		e.keys = map[uint64]KeyState{}
	}
	e.keys[addr] = ks
	return ks
}

func (e *Env) name(addr uint64) string {
	if e.Set != nil && e.Set.Resolver != nil {
		if loc := e.Set.Resolver.Lookup(addr); loc.Symbol != nil {
			return loc.String()
		}
	}
	return fmt.Sprintf("%#x", addr)
}

// ftraceWhy says why no ftrace state is at hand.
func (e *Env) ftraceWhy() string {
	if e.FtraceErr != nil {
		return e.FtraceErr.Error()
	}
	return "no ftrace state"
}

// ftraceNotRead notes, when there are any, the n call sites a module's
// .ko lists that accept any ftrace state for want of the records (each
// architecture's fallback counts them).
func (e *Env) ftraceNotRead(r *Result, n int) {
	if n > 0 {
		r.Incomplete = append(r.Incomplete, fmt.Sprintf("ftrace records not read (%s): the %d call sites the .ko lists accept any ftrace state", e.ftraceWhy(), n))
	}
}

// siteWantCandidates claims a record's site for each state the record
// lets it hold (package ftrace's SiteCheck.WantBytes), as mirrors writes
// it.
func siteWantCandidates(cs *candidates, c *ftrace.SiteCheck, mirrors string) {
	why := fmt.Sprintf("record %s flags %s: %s", c.Record.Func, c.Record.Flags.Letters(), c.WantWhy)
	for _, w := range c.WantBytes {
		cs.add(&Candidate{Addr: c.Record.IP, Want: w, Mech: MechFtrace, Why: why, Mirrors: mirrors})
	}
}

// layoutSource is what the models ask of the types: through the program's
// Context.Types when it answers (a recorder stands there when an example
// is extracted), else the vmlinux's types.
type layoutSource interface {
	Sizeof(typeName string) (int64, error)
	Offsetof(typeName, path string) (int64, error)
	EnumConstant(name string) (int64, error)
}

func typesOf(p *kernel.Program) layoutSource {
	if ls, ok := p.Context.Types.(layoutSource); ok {
		return ls
	}
	return p.Types
}

// maxTextBytes bounds one object's compared text.
const maxTextBytes = 512 << 20

// readChunk is the unit readText reads in parallel.
const readChunk = 1 << 20

// readText reads [addr, addr+n) from the dump, large ranges in parallel
// chunks (decompressing a kdump file's pages is the cost); pages that
// cannot be read are marked in skip and named as faults.
func readText(p *kernel.Program, addr uint64, n int) ([]byte, []bool, []Fault) {
	if n <= readChunk {
		return readRange(p, addr, n)
	}
	buf := make([]byte, n)
	var skip []bool
	var faults []Fault
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	for off := 0; off < n; off += readChunk {
		wg.Add(1)
		sem <- struct{}{}
		go func(off int) {
			defer wg.Done()
			defer func() { <-sem }()
			k := min(readChunk, n-off)
			b, sk, fs := readRange(p, addr+uint64(off), k)
			copy(buf[off:], b)
			if sk != nil || len(fs) > 0 {
				mu.Lock()
				if skip == nil {
					skip = make([]bool, n)
				}
				copy(skip[off:], sk)
				faults = append(faults, fs...)
				mu.Unlock()
			}
		}(off)
	}
	wg.Wait()
	sort.Slice(faults, func(i, j int) bool { return faults[i].Addr < faults[j].Addr })
	return buf, skip, faults
}

func readRange(p *kernel.Program, addr uint64, n int) ([]byte, []bool, []Fault) {
	if b, err := p.Read(addr, n); err == nil {
		return b, nil, nil
	}
	buf := make([]byte, n)
	skip := make([]bool, n)
	var faults []Fault
	ps := p.PageSize
	if ps == 0 {
		ps = 4096
	}
	for off := 0; off < n; {
		pageEnd := int((addr+uint64(off))/ps*ps + ps - addr)
		end := min(n, pageEnd)
		b, err := p.Read(addr+uint64(off), end-off)
		if err != nil {
			for i := off; i < end; i++ {
				skip[i] = true
			}
			if k := len(faults) - 1; k >= 0 && faults[k].Addr+faults[k].Len == addr+uint64(off) && faults[k].Err.Error() == err.Error() {
				faults[k].Len += uint64(end - off)
			} else {
				faults = append(faults, Fault{Addr: addr + uint64(off), Len: uint64(end - off), Err: err})
			}
		} else {
			copy(buf[off:], b)
		}
		off = end
	}
	return buf, skip, faults
}

// Module compares module a's text with its .ko.
func (e *Env) Module(a *modules.Analysis) *Result {
	e.load()
	m := a.Module
	r := &Result{Owner: m.Name}
	if m.State == "MODULE_STATE_UNFORMED" {
		r.Incomplete = append(r.Incomplete, "module not formed yet: its text is not final")
		return r
	}
	img, err := BuildModuleImage(e.Set, a)
	if err != nil {
		r.Incomplete = append(r.Incomplete, "expected text not built: "+err.Error())
		return r
	}
	r.Problems = append(r.Problems, img.Problems...)
	if a.ModelErr != nil && img.Machine != elfobj.EM_AARCH64 { // the ppc64 loader model; arm64's PLTs are rebuilt here
		r.Problems = append(r.Problems, "loader model: "+a.ModelErr.Error())
	}
	cs := newCandidates()
	inText := func(addr uint64) bool {
		s := img.SectionAt(addr)
		return s != nil && s.Compare
	}
	align := 4
	switch {
	case img.Machine == elfobj.EM_X86_64:
		x86Candidates(e, a, img, inText, cs, r)
		align = 1
	case img.Machine == elfobj.EM_AARCH64:
		arm64Candidates(e, a, img, inText, cs, r)
	case e.Ftrace != nil:
		ftraceCandidates(e, m.Name, img, cs)
	default:
		e.ftraceNotRead(r, ftraceFallbackCandidates(img, cs))
	}
	ppc := img.Machine == elfobj.EM_PPC64
	if t := img.Section("__jump_table"); t != nil && ppc {
		l := e.jl
		if e.jlErr != nil {
			// The entries' layout from the .ko's own relocations; the
			// keys' states cannot be read: either state is accepted.
			var ok bool
			if l, ok = jumpLayoutFromKo(a, t); !ok {
				l = jumpLayout{}
			}
			r.Incomplete = append(r.Incomplete, "jump labels: key states not modelled ("+e.jlErr.Error()+"): either state of each site accepted")
		}
		if l.size > 0 {
			jumpCandidates(e, img.Order, parseJumpTable(l, img.Order, t.Addr, t.Want), inText, cs)
		} else {
			r.Incomplete = append(r.Incomplete, "jump labels not modelled: the __jump_table layout is unknown")
		}
	}
	if ppc {
		applyFixups(img, e.features, cs, r)
		if e.kprobesErr != nil {
			r.Incomplete = append(r.Incomplete, "kprobes not all read: "+e.kprobesErr.Error())
		}
		kprobeCandidates(e, inText, cs)
		stubCallCandidates(e, a, img, cs)
	}

	// Bytes a relocation the model could not apply would have written are
	// not compared (a call without a placed stub has its own candidate).
	unapplied := map[*ImageSection][][2]uint64{}
	for _, u := range img.Unapplied {
		if u.NoStub {
			continue
		}
		for _, s := range img.Sections {
			if s.Name == u.Section {
				unapplied[s] = append(unapplied[s], [2]uint64{u.Off, u.Off + 8})
			}
		}
		r.Incomplete = append(r.Incomplete, "relocation not applied: "+u.Error())
	}
	total := 0
	for _, s := range img.Sections {
		if !s.Exec {
			continue
		}
		sr := SectionResult{Name: s.Name, Addr: s.Addr, Size: uint64(len(s.Want)), Compared: s.Compare, Skip: s.Skip}
		if !s.Compare || len(s.Want) == 0 {
			if len(s.Want) == 0 {
				sr.Compared, sr.Skip = false, "empty"
			}
			r.Sections = append(r.Sections, sr)
			continue
		}
		total += len(s.Want)
		if total > maxTextBytes {
			sr.Compared, sr.Skip = false, fmt.Sprintf("past the %d-byte bound on compared text", maxTextBytes)
			r.Incomplete = append(r.Incomplete, s.Name+": "+sr.Skip)
			r.Sections = append(r.Sections, sr)
			continue
		}
		found, skip, faults := readText(e.Prog, s.Addr, len(s.Want))
		sr.Faults = faults
		for _, f := range faults {
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("%s: %s", s.Name, f))
		}
		for _, rg := range unapplied[s] {
			if skip == nil {
				skip = make([]bool, len(s.Want))
			}
			for i := rg[0]; i < rg[1] && i < uint64(len(skip)); i++ {
				skip[i] = true
			}
		}
		compareSection(r, s.Name, s.Addr, s.Want, found, skip, align, cs)
		r.Sections = append(r.Sections, sr)
	}
	sort.SliceStable(r.Diffs, func(i, j int) bool { return r.Diffs[i].Addr < r.Diffs[j].Addr })
	return r
}

// Summary is one line of counts: bytes compared, differences explained per
// mechanism, unexplained.
func (r *Result) Summary() string {
	var mech []string
	for m, n := range r.ByMech {
		mech = append(mech, fmt.Sprintf("%d %s", n, m))
	}
	sort.Strings(mech)
	un := len(r.Unexplained())
	s := fmt.Sprintf("%d bytes compared, %d differ", r.Compared, r.Differing)
	if len(mech) > 0 {
		s += " (explained: " + strings.Join(mech, ", ") + ")"
	}
	return s + fmt.Sprintf(", %d unexplained", un)
}
