package textcheck

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
)

// Mechanism is what is allowed to change text after load.
type Mechanism string

const (
	MechFtrace         Mechanism = "ftrace call site"
	MechFtracePrologue Mechanism = "ftrace prologue"
	MechJumpLabel      Mechanism = "jump label"
	MechFeatureFixup   Mechanism = "feature fixup"
	MechLwsync         Mechanism = "lwsync fixup"
	MechKprobe         Mechanism = "kprobe"
	MechKlpStale       Mechanism = "livepatch relocation (object not loaded)"
	MechStubCall       Mechanism = "call through another .stubs slot"
	// x86_64
	MechTextPoke    Mechanism = "text-poke batch in flight"
	MechAlternative Mechanism = "alternative"
	MechRetpoline   Mechanism = "retpoline site"
	MechReturn      Mechanism = "return thunk site"
	MechCallThunk   Mechanism = "call depth thunk"
	MechEndbrSeal   Mechanism = "sealed endbr"
	MechSmpLock     Mechanism = "smp lock prefix"
	MechStaticCall  Mechanism = "static call"
	// the vmlinux's own (arm64 and x86_64): runtime_const_init() wrote a
	// __ro_after_init value into the instructions that use it.
	MechRuntimeConst Mechanism = "runtime constant"
	MechPESign       Mechanism = "PE signature fields"
	MechHypReloc     Mechanism = "KVM hyp relocation"
)

// Candidate is one mechanism's claim on a few bytes: in the state the dump
// shows, the bytes at Addr may be Want.
type Candidate struct {
	Addr uint64
	Want []byte
	// Match, when set, decides instead of Want over Len bytes: a looser
	// model (any branch into .stubs, a key state that cannot be read).
	Match func(found []byte) bool
	Len   int
	Mech  Mechanism
	// Why states the model's reason: the state read and what it implies.
	Why string
	// Mirrors is the kernel function the model mirrors.
	Mirrors string
	// Loose: the candidate accepts more than one state (the state could
	// not be read, or the model does not know the target).
	Loose bool
	// MatchAt, for a region (Len over maxCandidateLen), judges one unit
	// of it at addr.
	MatchAt func(addr uint64, found []byte) bool
	// Anywhere: a region that covers every address (a mechanism whose
	// sites could not be read, judged by MatchAt alone).
	Anywhere bool
}

func (c *Candidate) size() int {
	if c.Match != nil {
		return c.Len
	}
	return len(c.Want)
}

func (c *Candidate) matches(found []byte) bool {
	if len(found) < c.size() {
		return false
	}
	if c.Match != nil {
		return c.Match(found[:c.Len])
	}
	return bytes.Equal(found[:len(c.Want)], c.Want)
}

// Diff is one run of differing bytes that share an explanation (or lack
// one).
type Diff struct {
	Addr     uint64
	Section  string
	Expected []byte
	Found    []byte
	// Explained is the mechanism whose claim the found bytes match; nil for
	// an unexplained difference.
	Explained *Candidate
	// Nearest, for an unexplained difference, is a claim on these bytes (or
	// the closest one) that did not match.
	Nearest *Candidate
}

// Fault is a range that could not be compared.
type Fault struct {
	Addr uint64
	Len  uint64
	Err  error
}

func (f Fault) String() string {
	return fmt.Sprintf("%#x..%#x: %v", f.Addr, f.Addr+f.Len, f.Err)
}

// SectionResult is one section of the object.
type SectionResult struct {
	Name string
	Addr uint64
	Size uint64
	// Compared is false for a section not compared, Skip says why (freed
	// after init, no address, not text).
	Compared bool
	Skip     string
	Faults   []Fault
}

// Result is the comparison of one object (a module or the vmlinux).
type Result struct {
	Owner    string
	Sections []SectionResult
	// Bytes compared, differing, and differing but explained.
	Compared, Differing, Explained uint64
	// ByMech counts explained differences (runs) per mechanism.
	ByMech map[Mechanism]int
	Diffs  []Diff
	// Incomplete lists why some bytes were not compared or not modelled:
	// unreadable pages, relocations the model could not apply.
	Incomplete []string
	// Problems: model inputs that were wrong or missing (the loader model
	// failed, a table was unreadable); each also weakens Incomplete.
	Problems []string
}

// Unexplained returns the differences no mechanism explains.
func (r *Result) Unexplained() []Diff {
	var out []Diff
	for _, d := range r.Diffs {
		if d.Explained == nil {
			out = append(out, d)
		}
	}
	return out
}

// Skipped returns the sections not compared.
func (r *Result) Skipped() []SectionResult {
	var out []SectionResult
	for _, s := range r.Sections {
		if !s.Compared {
			out = append(out, s)
		}
	}
	return out
}

// candidates indexes claims by the address of their first byte.
type candidates struct {
	byAddr map[uint64][]*Candidate
	maxLen int
	sorted []uint64 // the byAddr keys sorted, built on first use
	buf    []*Candidate
	// regions are large claims (a buffer the kernel fills at run time),
	// kept apart so that covering() need not look back their length.
	regions []*Candidate
}

const maxCandidateLen = 256

func newCandidates() *candidates { return &candidates{byAddr: map[uint64][]*Candidate{}} }

func (cs *candidates) add(c *Candidate) {
	if c.size() <= 0 {
		return
	}
	if c.size() > maxCandidateLen {
		cs.regions = append(cs.regions, c)
		return
	}
	cs.byAddr[c.Addr] = append(cs.byAddr[c.Addr], c)
	cs.maxLen = max(cs.maxLen, c.size())
	cs.sorted = nil
}

// covering returns the claims that cover addr: the regions, then the
// claims starting at addr, addr-1, ... back to the longest claim's length
// (that order decides which matching claim explains a difference). The
// slice is reused by the next call.
func (cs *candidates) covering(addr uint64) []*Candidate {
	out := cs.buf[:0]
	for _, c := range cs.regions {
		if c.Anywhere || addr >= c.Addr && addr-c.Addr < uint64(c.size()) {
			out = append(out, c)
		}
	}
	starts := cs.starts()
	// the last start <= addr, walking back while within maxLen
	for i := sort.Search(len(starts), func(i int) bool { return starts[i] > addr }) - 1; i >= 0; i-- {
		back := addr - starts[i]
		if back >= uint64(cs.maxLen) {
			break
		}
		for _, c := range cs.byAddr[starts[i]] {
			if uint64(c.size()) > back {
				out = append(out, c)
			}
		}
	}
	cs.buf = out
	return out
}

// starts is every claim's start address, sorted.
func (cs *candidates) starts() []uint64 {
	if cs.sorted == nil {
		cs.sorted = make([]uint64, 0, len(cs.byAddr))
		for a := range cs.byAddr {
			cs.sorted = append(cs.sorted, a)
		}
		slices.Sort(cs.sorted)
	}
	return cs.sorted
}

// nearest returns the claim closest to addr within window bytes.
func (cs *candidates) nearest(addr uint64, window uint64) *Candidate {
	sorted := cs.starts()
	i := sort.Search(len(sorted), func(i int) bool { return sorted[i] >= addr })
	var best *Candidate
	bestD := window + 1
	for _, j := range []int{i - 1, i} {
		if j < 0 || j >= len(cs.sorted) {
			continue
		}
		a := cs.sorted[j]
		d := a - addr
		if a < addr {
			d = addr - a
		}
		if d < bestD {
			best, bestD = cs.byAddr[a][0], d
		}
	}
	return best
}

// compareSection compares want and found (both at addr) in units of align
// bytes and appends the runs of differing units to r, each explained by the
// first claim that covers it and matches the found bytes. skip marks bytes
// not compared (unreadable).
func compareSection(r *Result, name string, addr uint64, want, found []byte, skip []bool, align int, cs *candidates) {
	n := min(len(want), len(found))
	type unit struct {
		off  int
		expl *Candidate
		near *Candidate
	}
	// runs of adjacent differing units with the same explanation (or,
	// unexplained, the same nearest claim) become one Diff
	var run, last unit
	inRun := false
	flush := func() {
		if !inRun {
			return
		}
		start, end := run.off, min(last.off+align, n)
		d := Diff{Addr: addr + uint64(start), Section: name,
			Expected: append([]byte(nil), want[start:end]...), Found: append([]byte(nil), found[start:end]...),
			Explained: run.expl, Nearest: run.near}
		for k := start; k < end; k++ {
			if (skip == nil || !skip[k]) && want[k] != found[k] {
				r.Differing++
				if d.Explained != nil {
					r.Explained++
				}
			}
		}
		if d.Explained != nil {
			if r.ByMech == nil {
				r.ByMech = map[Mechanism]int{}
			}
			r.ByMech[d.Explained.Mech]++
		}
		r.Diffs = append(r.Diffs, d)
		inRun = false
	}
	for off := 0; off < n; off += align {
		end := min(off+align, n)
		differs := false
		for i := off; i < end; i++ {
			if skip != nil && skip[i] {
				continue
			}
			if want[i] != found[i] {
				differs = true
			}
		}
		if !differs {
			continue
		}
		u := unit{off: off}
		for _, c := range cs.covering(addr + uint64(off)) {
			if c.size() > maxCandidateLen {
				// a region: MatchAt (else Match) judges each unit alone
				ok := false
				switch {
				case c.MatchAt != nil:
					ok = c.MatchAt(addr+uint64(off), found[off:end])
				case c.Match != nil:
					ok = c.Match(found[off:end])
				}
				if ok {
					u.expl = c
					break
				}
				continue
			}
			start := int(c.Addr - addr)
			if start < 0 || start+c.size() > n {
				continue
			}
			if c.matches(found[start:]) {
				u.expl = c
				break
			}
			if u.near == nil {
				u.near = c
			}
		}
		if u.expl == nil && u.near == nil {
			u.near = cs.nearest(addr+uint64(off), 64)
		}
		if inRun && u.off == last.off+align && u.expl == run.expl && (run.expl != nil || u.near == run.near) {
			last = u
			continue
		}
		flush()
		run, last, inRun = u, u, true
	}
	flush()
	for i := 0; i < n; i++ {
		if skip == nil || !skip[i] {
			r.Compared++
		}
	}
}
