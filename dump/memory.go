package dump

import (
	"errors"
	"fmt"
)

// Memory is one address space of a dump: physical memory, or the kernel's
// virtual address space. It is the one-method interface every layer above
// reads through (delve's pkg/proc/mem.go shape). Addresses are plain uint64
// so that packages that only need to read (symbols, ppc64) can accept a
// Memory without importing dump.
//
// ReadAt reads len(p) bytes at addr. It returns the number of bytes read
// before the first byte it could not read; when n < len(p) the error is a
// *Fault (or wraps one) naming the first unreadable address. It never fills
// missing bytes with zeros.
type Memory interface {
	ReadAt(p []byte, addr uint64) (n int, err error)
}

// FaultReason says why a read failed.
type FaultReason int

const (
	// NotInDump: no segment of the dump covers the address.
	NotInDump FaultReason = iota + 1
	// Excluded: makedumpfile filtered the page out (its bitmap bit is clear).
	Excluded
	// Truncated: the dump says it holds the page but the file ends before it.
	Truncated
	// Unmapped: the page tables have no valid entry for a virtual address.
	Unmapped
	// Corrupt: the dump holds the page but it cannot be decoded (bad
	// compressed data, page descriptor out of range, page-table entry that
	// points outside memory).
	Corrupt
)

func (r FaultReason) String() string {
	switch r {
	case NotInDump:
		return "not in dump"
	case Excluded:
		return "excluded by makedumpfile"
	case Truncated:
		return "beyond end of truncated file"
	case Unmapped:
		return "not mapped by the page tables"
	case Corrupt:
		return "corrupt"
	}
	return fmt.Sprintf("FaultReason(%d)", int(r))
}

// Fault is the typed error of a read that the dump cannot satisfy
// (drgn's DRGN_ERROR_FAULT). Addr is the first address that could not be
// read; Phys says whether it is a physical address.
type Fault struct {
	Addr   uint64
	Phys   bool
	Reason FaultReason
	Detail string // optional: which level of the page table, file offset, ...
	// File and FileOff name the file and the offset of the page data
	// the fault is about (Corrupt and Truncated faults of kdump pages;
	// for a flattened stream the offset in its kdump-compressed logical
	// file); "" and 0 otherwise.
	File    string
	FileOff int64
	// Err is the underlying error when there is one (a
	// *FileChangedError); its text is in Detail.
	Err error
}

func (f *Fault) Unwrap() error { return f.Err }

func (f *Fault) Error() string {
	kind := "virtual"
	if f.Phys {
		kind = "physical"
	}
	s := fmt.Sprintf("cannot read %s address %#x: %s", kind, f.Addr, f.Reason)
	if f.Detail != "" {
		s += " (" + f.Detail + ")"
	}
	return s
}

// IsFault reports whether err is or wraps a *Fault, and returns it.
func IsFault(err error) (*Fault, bool) {
	var f *Fault
	if errors.As(err, &f) {
		return f, true
	}
	return nil, false
}

// FormatError reports malformed dump data at a byte offset of a file
// (debug/elf's FormatError, with the file named).
type FormatError struct {
	File string
	Off  int64
	Msg  string
	Val  any
}

func (e *FormatError) Error() string {
	s := e.Msg
	if e.Val != nil {
		s += fmt.Sprintf(" '%v'", e.Val)
	}
	if e.File != "" {
		return fmt.Sprintf("%s: %s at offset %#x", e.File, s, e.Off)
	}
	return fmt.Sprintf("%s at offset %#x", s, e.Off)
}

// ReadFull reads exactly len(p) bytes from m at addr.
func ReadFull(m Memory, p []byte, addr uint64) error {
	n, err := m.ReadAt(p, addr)
	if n == len(p) {
		return nil
	}
	if err == nil {
		err = &Fault{Addr: addr + uint64(n), Reason: NotInDump}
	}
	return err
}
