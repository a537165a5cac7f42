package dump

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// MaxDamageRanges bounds the ranges (and addresses) a Damage keeps per
// list: the count goes on, the list stops.
const MaxDamageRanges = 16

// maxDamageSeen bounds the distinct corrupt blocks remembered to count
// each once; past it a block that fails twice may be counted twice.
const maxDamageSeen = 1 << 16

// Damage is what is known to be wrong with the files of a Dump: found at
// Open (a file shorter than its headers say, page descriptors whose data
// lie past the end of the file, a VMCOREINFO that does not parse) and as
// reads happen (pages whose compressed data fail their integrity check,
// or whose descriptor is insane). It is a value: Dump.Damage returns a
// snapshot, and later reads may add to the next one.
//
// Physical addresses are byte addresses; for a kdump-compressed dump the
// page frame number of an address is addr / Unit.
//
// A Damage says nothing about damage that leaves no trace in the file
// (a flipped bit in an uncompressed page, in a bitmap, or in data that a
// codec without a checksum decoded to the right length): those read as
// data.
type Damage struct {
	// Unit is the dump's block size (kdump) or page size (ELF): the size
	// of one page counted below.
	Unit uint64
	// Truncated lists the files that end before data their own headers
	// place in them.
	Truncated []TruncatedFile
	// PastEOF are the pages whose data lie, wholly or partly, past the
	// end of their file (or in bytes a cut flattened stream never
	// delivered): every page descriptor (kdump) and PT_LOAD (ELF) is
	// checked at Open.
	PastEOF PageList
	// Unwritten are the pages of a dump with DUMP_DH_COMPRESSED_INCOMPLETE
	// whose descriptors were never written (all zero).
	Unwritten PageList
	// Corrupt are the pages that failed so far: compressed data that does
	// not decode, fails its checksum (zlib's adler-32, zstd's optional
	// xxhash) or decodes to the wrong length; page descriptors with
	// impossible offsets or sizes.
	Corrupt PageList
	// Incomplete is the kdump header's DUMP_DH_COMPRESSED_INCOMPLETE flag:
	// the writer did not finish (makedumpfile ran out of space).
	Incomplete bool
	// VMCOREINFO lists problems with the VMCOREINFO note: it does not
	// parse, or it disagrees with the kernel's memory and vmlinux
	// (recorded by package kernel through AddVMCOREINFOProblem).
	VMCOREINFO []string
}

// TruncatedFile is one file that ends before its data do.
type TruncatedFile struct {
	File string
	Size int64 // the file's size (held bytes of a flattened stream)
	// Want is the end its headers need: the largest end of page data
	// (kdump) or PT_LOAD data (ELF) seen.
	Want int64
	// FirstAddr is the lowest physical address whose data the file lacks.
	FirstAddr uint64
}

// PageList counts pages and keeps the first MaxDamageRanges ranges of
// them, in the order found ([Start, End) physical addresses; a range
// found at Open may cover many pages, one found by a read is one page).
type PageList struct {
	Count  uint64
	Ranges []Range
}

// Empty reports whether the list holds no page.
func (l PageList) Empty() bool { return l.Count == 0 }

func (l *PageList) add(r Range, pages uint64) {
	l.Count += pages
	if k := len(l.Ranges) - 1; k >= 0 && l.Ranges[k].End == r.Start {
		l.Ranges[k].End = r.End
		return
	}
	if len(l.Ranges) < MaxDamageRanges {
		l.Ranges = append(l.Ranges, r)
	}
}

func (l PageList) clone() PageList {
	l.Ranges = slices.Clone(l.Ranges)
	return l
}

func (l PageList) describe(unit uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d page(s)", l.Count)
	for i, r := range l.Ranges {
		if i == 0 {
			b.WriteString(" at ")
		} else {
			b.WriteString(", ")
		}
		if i == 3 {
			b.WriteString("...")
			break
		}
		if unit > 0 && r.Start%unit == 0 && r.End%unit == 0 {
			if r.End-r.Start == unit {
				fmt.Fprintf(&b, "pfn %#x", r.Start/unit)
			} else {
				fmt.Fprintf(&b, "pfn %#x-%#x", r.Start/unit, r.End/unit-1)
			}
		} else {
			fmt.Fprintf(&b, "[%#x,%#x)", r.Start, r.End)
		}
	}
	return b.String()
}

// Empty reports whether no damage is known.
func (d Damage) Empty() bool {
	return len(d.Truncated) == 0 && d.PastEOF.Empty() && d.Unwritten.Empty() && d.Corrupt.Empty() &&
		!d.Incomplete && len(d.VMCOREINFO) == 0
}

// String is a one-line summary, "no damage found" when Empty.
func (d Damage) String() string {
	if d.Empty() {
		return "no damage found"
	}
	var parts []string
	for _, t := range d.Truncated {
		parts = append(parts, fmt.Sprintf("%s truncated: ends at %#x, its data reach %#x (missing from physical address %#x on)", t.File, t.Size, t.Want, t.FirstAddr))
	}
	if !d.PastEOF.Empty() {
		parts = append(parts, d.PastEOF.describe(d.Unit)+" past the end of the file")
	}
	if d.Incomplete {
		parts = append(parts, "dump marked incomplete by its writer")
	}
	if !d.Unwritten.Empty() {
		parts = append(parts, d.Unwritten.describe(d.Unit)+" never written")
	}
	if !d.Corrupt.Empty() {
		parts = append(parts, d.Corrupt.describe(d.Unit)+" corrupt (failed integrity or descriptor checks)")
	}
	for _, v := range d.VMCOREINFO {
		parts = append(parts, "VMCOREINFO: "+v)
	}
	return strings.Join(parts, "; ")
}

// damageLedger is the Dump's mutable, goroutine-safe record behind
// Damage.
type damageLedger struct {
	mu   sync.Mutex
	d    Damage
	seen map[uint64]bool // corrupt block addresses counted
}

func (l *damageLedger) snapshot() Damage {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.d
	d.Truncated = slices.Clone(d.Truncated)
	d.PastEOF = d.PastEOF.clone()
	d.Unwritten = d.Unwritten.clone()
	d.Corrupt = d.Corrupt.clone()
	d.VMCOREINFO = slices.Clone(d.VMCOREINFO)
	return d
}

func (l *damageLedger) setUnit(u uint64) {
	l.mu.Lock()
	l.d.Unit = u
	l.mu.Unlock()
}

func (l *damageLedger) truncated(t TruncatedFile) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, o := range l.d.Truncated {
		if o.File == t.File {
			l.d.Truncated[i].Want = max(o.Want, t.Want)
			l.d.Truncated[i].FirstAddr = min(o.FirstAddr, t.FirstAddr)
			return
		}
	}
	if len(l.d.Truncated) < MaxDamageRanges {
		l.d.Truncated = append(l.d.Truncated, t)
	}
}

func (l *damageLedger) pastEOF(r Range, pages uint64) {
	l.mu.Lock()
	l.d.PastEOF.add(r, pages)
	l.mu.Unlock()
}

func (l *damageLedger) unwritten(r Range, pages uint64) {
	l.mu.Lock()
	l.d.Unwritten.add(r, pages)
	l.mu.Unlock()
}

// corrupt records the block at addr (size unit) once.
func (l *damageLedger) corrupt(addr, unit uint64) {
	l.once(addr, unit, &l.d.Corrupt)
}

// once adds the block at addr (size unit) to list, unless it was recorded
// before (as corrupt or past the end: a block is read once and fails one
// way).
func (l *damageLedger) once(addr, unit uint64, list *PageList) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[addr] {
		return
	}
	if l.seen == nil {
		l.seen = map[uint64]bool{}
	}
	if len(l.seen) < maxDamageSeen {
		l.seen[addr] = true
	}
	list.add(Range{addr, addr + unit}, 1)
}

func (l *damageLedger) incomplete() {
	l.mu.Lock()
	l.d.Incomplete = true
	l.mu.Unlock()
}

func (l *damageLedger) vmcoreinfo(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Contains(l.d.VMCOREINFO, msg) && len(l.d.VMCOREINFO) < MaxDamageRanges {
		l.d.VMCOREINFO = append(l.d.VMCOREINFO, msg)
	}
}

// Damage returns what is known so far to be wrong with d's files (see
// Damage). It is safe to call while other goroutines read d's memory.
func (d *Dump) Damage() Damage {
	return d.damage.snapshot()
}

// AddVMCOREINFOProblem records a problem with the dump's VMCOREINFO found
// by a layer that can compare it with the kernel's memory (package
// kernel: a release or build-id the memory and the vmlinux contradict).
func (d *Dump) AddVMCOREINFOProblem(msg string) {
	d.damage.vmcoreinfo(msg)
}

// pastEOFPage records the block at addr as past the end of its file once
// (reads of parts the Open scan did not cover).
func (l *damageLedger) pastEOFPage(addr, unit uint64) {
	l.once(addr, unit, &l.d.PastEOF)
}
