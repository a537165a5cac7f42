// Package textpoke reads and judges the x86 kernel's batch of live text
// patches (text_poke_array, arch/x86/kernel/alternative.c): the
// instructions smp_text_poke_batch_add() queued and
// smp_text_poke_batch_finish() writes with an int3 breakpoint first, and
// that smp_text_poke_int3_handler() emulates while the breakpoint is in
// place (seed 004: the handler must emulate exactly what the site is
// becoming).
//
// It decides, from the dump: which step of smp_text_poke_batch_finish() the
// batch is in (queued; step 1, int3 bytes being written; step 2, the tails;
// step 3, the first bytes; done but not yet emptied), whether every site
// holds a state that step passes through, whether each entry's emulation
// (opcode, disp) is the instruction its text encodes, and whether the
// vector is sorted for the handler's binary search. It does not read
// ftrace records (package ftrace asks it whether a site is in flight), and
// it models the 7.x layout (struct smp_text_poke_array); older kernels'
// bp_desc/int3 descriptors are reported as not modelled, never as clean.
//
// Layer: models (docs/ARCHITECTURE.md).
package textpoke

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// Opcodes smp_text_poke_int3_handler() emulates.
const (
	opInt3   = 0xcc
	opRet    = 0xc3
	opCall   = 0xe8
	opJmp32  = 0xe9
	opJmp8   = 0xeb
	maxLen   = 5 // TEXT_POKE_MAX_OPCODE_SIZE
	maxBatch = 4096
)

var nop5 = []byte{0x0f, 0x1f, 0x44, 0x00, 0x00} // x86_nops[5]
var nop2 = []byte{0x66, 0x90}                   // x86_nops[2]

// Step is where smp_text_poke_batch_finish() is in a batch.
type Step int

const (
	// Empty: nr_entries is 0, nothing in flight.
	Empty Step = iota
	// Queued: entries added, finish not begun (every CPU's
	// text_poke_array_refs is 0): the sites still hold their old bytes.
	Queued
	// Step1: int3 being written over the first byte of each site.
	Step1
	// Step2: every site starts with int3; the tails being written.
	Step2
	// Step3: the first bytes being written.
	Step3
	// Done: every site holds its new instruction; refs not yet dropped
	// or nr_entries not yet reset.
	Done
	// Inconsistent: no step of smp_text_poke_batch_finish() leaves the
	// sites as the dump shows them.
	Inconsistent
)

func (s Step) String() string {
	return [...]string{"empty", "queued (finish not begun, or ended with nr_entries not yet reset)", "step 1 (writing int3)", "step 2 (writing the tails, int3 in place)", "step 3 (writing the first bytes)", "done (refs not yet dropped)", "inconsistent"}[s]
}

// Entry is one struct smp_text_poke_loc.
type Entry struct {
	Index   int
	Addr    uint64 // _stext + rel_addr
	RelAddr int32
	Disp    int32
	Len     int
	Opcode  byte
	Text    [maxLen]byte
	Old     byte
	// New is what the site becomes: text[0..len), or 0x0f then text for
	// a 6-byte Jcc.
	New []byte
	// Found is the site's bytes in the dump (nil when unreadable, with
	// FoundErr).
	Found    []byte
	FoundErr error
	// Emulation is what the int3 handler does at this site ("call
	// 0x..."), EmulationProblem why it is not what New encodes ("" when
	// it is).
	Emulation        string
	EmulationProblem string
	// State names the site's bytes: "old", "int3 + old tail", "int3 + new
	// tail", "new".
	State string
}

func (e *Entry) int3() bool      { return len(e.Found) > 0 && e.Found[0] == opInt3 }
func (e *Entry) isNew() bool     { return e.Found != nil && string(e.Found) == string(e.New) }
func (e *Entry) tailNew() bool   { return e.Found != nil && string(e.Found[1:]) == string(e.New[1:]) }
func (e *Entry) newIsInt3() bool { return len(e.New) > 0 && e.New[0] == opInt3 }

// Batch is text_poke_array as the dump holds it.
type Batch struct {
	Addr      uint64 // &text_poke_array
	NrEntries int
	Max       int // TEXT_POKE_ARRAY_MAX
	Entries   []Entry
	// Refs is each CPU's text_poke_array_refs (nil where unreadable:
	// RefErrs says why).
	Refs    []int32
	RefErrs []error
	Step    Step
	// Progress: in step 1, 2 or 3, how many entries that step has done.
	Progress int
	// Broken names the entries whose bytes break the step's pattern.
	Broken []int
	// Unsorted: the first index whose address is not above the one
	// before (the handler's bsearch would miss entries).
	Unsorted int
}

// ErrNotModelled says the kernel patches text with a descriptor this
// package does not model (before struct smp_text_poke_array).
var ErrNotModelled = errors.New("this kernel's int3 text patching (no text_poke_array: bp_desc/int3_desc generations) is not modelled")

// Fault is a batch that cannot be read or is damaged.
type Fault struct {
	What string
	Addr uint64
	Err  error
}

func (f *Fault) Error() string {
	s := fmt.Sprintf("text_poke_array: %s", f.What)
	if f.Addr != 0 {
		s += fmt.Sprintf(" at %#x", f.Addr)
	}
	if f.Err != nil {
		s += ": " + f.Err.Error()
	}
	return s
}

func (f *Fault) Unwrap() error { return f.Err }

// Read reads text_poke_array, each entry's site and every CPU's refs,
// and judges them. A kernel without text_poke_array gives ErrNotModelled;
// an unreadable or damaged array a *Fault (never a judged batch).
func Read(p *kernel.Program) (*Batch, error) {
	addr, err := p.SymbolAddr("text_poke_array")
	if err != nil {
		return nil, ErrNotModelled
	}
	arr, err := kernel.NewObject(p.Context, "struct smp_text_poke_array", addr)
	if err != nil {
		return nil, &Fault{What: "type", Err: err}
	}
	loc, err := kernel.NewObject(p.Context, "struct smp_text_poke_loc", 0)
	if err != nil {
		return nil, &Fault{What: "type", Err: err}
	}
	size := loc.Size()
	off := map[string]int64{}
	for _, m := range []string{"rel_addr", "disp", "len", "opcode", "text", "old"} {
		o, err := loc.Member(m)
		if err != nil {
			return nil, &Fault{What: "struct smp_text_poke_loc", Err: err}
		}
		off[m] = int64(o.Addr)
	}
	if size <= 0 || off["text"]+maxLen > size {
		return nil, &Fault{What: fmt.Sprintf("struct smp_text_poke_loc of %d bytes", size)}
	}
	nr, err := arr.Member("nr_entries")
	if err != nil {
		return nil, &Fault{What: "nr_entries", Err: err}
	}
	n, err := nr.Int()
	if err != nil {
		return nil, &Fault{What: "nr_entries", Addr: nr.Addr, Err: err}
	}
	vec, err := arr.Member("vec")
	if err != nil {
		return nil, &Fault{What: "vec", Err: err}
	}
	b := &Batch{Addr: addr, NrEntries: int(n), Max: int(vec.Size() / size), Unsorted: -1}
	if n < 0 || int(n) > b.Max || b.Max > maxBatch {
		return nil, &Fault{What: fmt.Sprintf("nr_entries %d outside 0..%d (TEXT_POKE_ARRAY_MAX): damaged", n, b.Max), Addr: nr.Addr}
	}
	b.readRefs(p)
	if n == 0 {
		return b, nil
	}
	raw, err := p.Read(vec.Addr, int(n*size))
	if err != nil {
		return nil, &Fault{What: fmt.Sprintf("vec[0..%d)", n), Addr: vec.Addr, Err: err}
	}
	stext, err := p.SymbolAddr("_stext")
	if err != nil {
		return nil, &Fault{What: "_stext", Err: err}
	}
	le := binary.LittleEndian
	for i := range int(n) {
		r := raw[int64(i)*size:]
		e := Entry{Index: i, RelAddr: int32(le.Uint32(r[off["rel_addr"]:])), Disp: int32(le.Uint32(r[off["disp"]:])),
			Len: int(r[off["len"]]), Opcode: r[off["opcode"]], Old: r[off["old"]]}
		copy(e.Text[:], r[off["text"]:off["text"]+maxLen])
		e.Addr = stext + uint64(int64(e.RelAddr))
		if e.Len < 1 || e.Len > maxLen+1 {
			return nil, &Fault{What: fmt.Sprintf("vec[%d].len %d outside 1..6: damaged", i, e.Len), Addr: vec.Addr + uint64(int64(i)*size)}
		}
		if e.Len == 6 {
			e.New = append([]byte{0x0f}, e.Text[:]...)
		} else {
			e.New = append([]byte(nil), e.Text[:e.Len]...)
		}
		e.Found, e.FoundErr = p.Read(e.Addr, e.Len)
		e.Emulation, e.EmulationProblem = emulation(&e)
		if i > 0 && e.Addr <= b.Entries[i-1].Addr && b.Unsorted < 0 {
			b.Unsorted = i
		}
		b.Entries = append(b.Entries, e)
	}
	b.judge()
	return b, nil
}

func (b *Batch) readRefs(p *kernel.Program) {
	a, err := p.SymbolAddr("text_poke_array_refs")
	if err != nil {
		return
	}
	for cpu := range max(p.NrCPUIDs(), 1) {
		pa, err := p.PerCPUPtr(a, cpu)
		var v uint32
		if err == nil {
			v, err = p.ReadU32(pa)
		}
		b.Refs = append(b.Refs, int32(v))
		b.RefErrs = append(b.RefErrs, err)
	}
}

// RefsKnown: every CPU's refs was read.
func (b *Batch) RefsKnown() bool {
	if len(b.Refs) == 0 {
		return false
	}
	for _, err := range b.RefErrs {
		if err != nil {
			return false
		}
	}
	return true
}

// finishing: smp_text_poke_batch_finish() has set the refs (any CPU's
// is non-zero).
func (b *Batch) finishing() bool {
	for i, r := range b.Refs {
		if b.RefErrs[i] == nil && r != 0 {
			return true
		}
	}
	return false
}

// emulation is what smp_text_poke_int3_handler() does for e, and why that
// is not the instruction e's text encodes ("" when it is), as
// __smp_text_poke_batch_add() derives opcode and disp from the text.
func emulation(e *Entry) (string, string) {
	next := e.Addr + uint64(e.Len)
	target := next + uint64(int64(e.Disp))
	rel32 := func() int32 { return int32(binary.LittleEndian.Uint32(e.New[len(e.New)-4:])) }
	var what string
	ok := false
	switch {
	case e.Opcode == opInt3:
		what, ok = "nothing (an explicit int3: left to its owner)", e.New[0] == opInt3
	case e.Opcode == opRet:
		what, ok = "ret", e.New[0] == opRet
	case e.Opcode == opCall:
		what = fmt.Sprintf("call %#x", target)
		ok = e.Len == 5 && e.New[0] == opCall && rel32() == e.Disp
	case e.Opcode == opJmp32:
		what = fmt.Sprintf("jmp %#x", target)
		ok = e.Len == 5 && (e.New[0] == opJmp32 && rel32() == e.Disp || string(e.New) == string(nop5) && e.Disp == 0)
	case e.Opcode == opJmp8:
		what = fmt.Sprintf("jmp %#x", target)
		ok = e.Len == 2 && (e.New[0] == opJmp8 && int32(int8(e.New[1])) == e.Disp || string(e.New) == string(nop2) && e.Disp == 0) ||
			e.Len == 5 && e.New[0] == opJmp8 && int32(int8(e.New[1])) == e.Disp
	case e.Opcode >= 0x70 && e.Opcode <= 0x7f:
		what = fmt.Sprintf("j%s %#x", jccNames[e.Opcode&0xf], target)
		ok = e.Len == 2 && e.New[0] == e.Opcode && int32(int8(e.New[1])) == e.Disp ||
			e.Len == 6 && e.New[0] == 0x0f && e.New[1] == e.Opcode+0x10 && rel32() == e.Disp
	default:
		return fmt.Sprintf("opcode %#x", e.Opcode), fmt.Sprintf("opcode %#x is none the int3 handler emulates: smp_text_poke_int3_handler() BUG()s when a CPU hits this int3", e.Opcode)
	}
	if ok {
		return what, ""
	}
	return what, fmt.Sprintf("the int3 handler emulates %s (opcode %#x, disp %d) but the site becomes % x", what, e.Opcode, e.Disp, e.New)
}

var jccNames = [16]string{"o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"}

// judge finds the step of smp_text_poke_batch_finish() that leaves the
// sites as found, and the entries no step explains.
func (b *Batch) judge() {
	es := b.Entries
	for i := range es {
		e := &es[i]
		switch {
		case e.Found == nil:
			e.State = "unreadable"
		case e.isNew():
			e.State = "new"
		case e.int3() && e.tailNew():
			e.State = "int3 + new tail"
		case e.int3():
			e.State = "int3 + old tail"
		default:
			e.State = "old"
		}
	}
	n := len(es)
	noInt3 := func(e *Entry) bool { return !e.int3() || e.newIsInt3() }
	hasInt3 := func(e *Entry) bool { return e.int3() }
	// Step 3's done part: the new instruction (an int3 replacement is
	// skipped, it stays int3 + new tail).
	step3Done := func(e *Entry) bool { return e.isNew() }
	step3Todo := func(e *Entry) bool { return e.int3() && e.tailNew() }
	if !b.finishing() && b.RefsKnown() {
		// Queued: no int3 of this batch may be in place.
		b.Step = Queued
		for i := range es {
			if es[i].Found != nil && !noInt3(&es[i]) {
				b.Broken = append(b.Broken, i)
			}
		}
		if len(b.Broken) > 0 {
			b.Step = Inconsistent
		}
		return
	}
	// Each step's pattern over the vector; the first (in the order done,
	// step 3, 2, 1) that every readable site fits is the batch's step.
	// When none fits, the batch is inconsistent and the entries named are
	// those breaking the pattern broken by the fewest.
	brokenBy := func(pred func(i int, e *Entry) bool) []int {
		var out []int
		for i := range es {
			if es[i].Found != nil && !pred(i, &es[i]) {
				out = append(out, i)
			}
		}
		return out
	}
	k := 0 // step 1: the leading entries with int3
	for k < n && (es[k].Found == nil || es[k].int3()) {
		k++
	}
	j := 0 // step 3: the leading entries with their new instruction
	for j < n && (es[j].Found == nil || step3Done(&es[j])) {
		j++
	}
	tails := 0
	for i := range es {
		if es[i].tailNew() {
			tails = i + 1
		}
	}
	cands := []struct {
		step     Step
		progress int
		broken   []int
	}{
		{Done, n, brokenBy(func(_ int, e *Entry) bool { return e.isNew() })},
		{Step3, j, brokenBy(func(i int, e *Entry) bool { return i < j || step3Todo(e) })},
		{Step2, tails, brokenBy(func(_ int, e *Entry) bool { return hasInt3(e) })},
		{Step1, k, brokenBy(func(i int, e *Entry) bool { return i < k || noInt3(e) })},
	}
	best := -1
	for i, c := range cands {
		if len(c.broken) == 0 {
			b.Step, b.Progress = c.step, c.progress
			return
		}
		if best < 0 || len(c.broken) < len(cands[best].broken) {
			best = i
		}
	}
	b.Step, b.Broken = Inconsistent, cands[best].broken
}

// WrongEmulations are the entries whose emulation is not what their text
// encodes, where that matters: while smp_text_poke_batch_finish() runs
// (refs set) every int3 a CPU hits is emulated from the entry. A queued
// batch's last entry may be half-written (the dump caught
// __smp_text_poke_batch_add() between copying the text and setting
// opcode and disp; no handler reads it before finish sets the refs), so
// it is left out then; so is every entry when the refs are unreadable.
func (b *Batch) WrongEmulations() []*Entry {
	if b == nil || !b.RefsKnown() {
		return nil
	}
	var out []*Entry
	for i := range b.Entries {
		e := &b.Entries[i]
		if e.EmulationProblem == "" || !b.finishing() && i == len(b.Entries)-1 {
			continue
		}
		out = append(out, e)
	}
	return out
}

// At returns the entry whose site starts at addr.
func (b *Batch) At(addr uint64) (*Entry, bool) {
	if b == nil {
		return nil, false
	}
	i := sort.Search(len(b.Entries), func(i int) bool { return b.Entries[i].Addr >= addr })
	if i < len(b.Entries) && b.Entries[i].Addr == addr {
		return &b.Entries[i], true
	}
	for i := range b.Entries { // unsorted vector: linear
		if b.Entries[i].Addr == addr {
			return &b.Entries[i], true
		}
	}
	return nil, false
}

// Explains says whether the batch explains found at e's site: the batch is
// in a step (not inconsistent), the entry not broken, and found is a state
// that step passes through for it. The string says which.
func (b *Batch) Explains(e *Entry) (string, bool) {
	if b == nil || e == nil || e.Found == nil || b.Step == Inconsistent || b.Step == Empty {
		return "", false
	}
	for _, i := range b.Broken {
		if i == e.Index {
			return "", false
		}
	}
	return fmt.Sprintf("text-poke batch in flight, %s: entry %d of %d holds %s, becoming % x", b.Step, e.Index, len(b.Entries), e.State, e.New), true
}

// Summary is one line for views.
func (b *Batch) Summary() string {
	if b.NrEntries == 0 {
		return "text_poke_array empty: no int3 patching in flight"
	}
	s := fmt.Sprintf("text_poke_array: %d entries, %s", b.NrEntries, b.Step)
	switch b.Step {
	case Step1, Step3:
		s += fmt.Sprintf(", %d of %d done", b.Progress, len(b.Entries))
	case Step2:
		s += fmt.Sprintf(", tails written through entry %d of %d", b.Progress, len(b.Entries))
	}
	var refs []string
	for i, r := range b.Refs {
		if b.RefErrs[i] != nil {
			refs = append(refs, "?")
		} else {
			refs = append(refs, fmt.Sprint(r))
		}
	}
	if len(refs) > 0 {
		s += "; refs per CPU [" + strings.Join(refs, " ") + "]"
	}
	return s
}
