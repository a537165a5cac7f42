package symbols

// Source line tables (`dis -l`, `bt -l`) as the models see them.
//
// The reader itself — delve's pkg/dwarf/line over .debug_line, with a
// module's .rela.debug_line applied at its runtime section addresses — is
// package symbols/dwarfread, which registers itself here when a program
// imports it (cmd/kdump-inspect does, as database/sql's drivers do). So the
// packages that only ask for a line (analysis, the views) build without a
// DWARF line reader, and a program without one says so instead of
// answering nothing.

import (
	"errors"
	"sync/atomic"
)

// SourceLine is one resolved source position.
type SourceLine struct {
	File string
	Line int
}

// LineTable is the line information of one ELF file. Implementations are
// safe for concurrent use.
type LineTable interface {
	// Lookup returns the source position of pc, within the function
	// starting at fn (the row that covers pc, of the sequence holding fn).
	Lookup(pc, fn uint64) (SourceLine, bool)
	// Notes says what could not be read or placed (relocations not
	// applied, sections the dump does not place, programs refused).
	Notes() []string
}

// LineReader reads line tables; symbols/dwarfread registers the one the
// tool uses.
type LineReader struct {
	// Vmlinux reads the vmlinux's line tables, finding a pc's unit
	// through types' DWARF.
	Vmlinux func(f *ELFFile, types *Types) (LineTable, error)
	// Module reads a .ko's, relocated to the runtime section addresses
	// secAddr gives by section name.
	Module func(f *ELFFile, secAddr func(string) (uint64, bool)) (LineTable, error)
}

var lineReader atomic.Pointer[LineReader]

// RegisterLineReader makes r the reader LoadVmlinuxLines and
// LoadModuleLines use.
func RegisterLineReader(r LineReader) { lineReader.Store(&r) }

// ErrNoLineReader is what LoadVmlinuxLines and LoadModuleLines return in
// a program that links no line reader (no import of symbols/dwarfread).
var ErrNoLineReader = errors.New("no DWARF line-table reader in this program (symbols/dwarfread not linked in)")

// LoadVmlinuxLines reads the vmlinux's line tables through the registered
// reader; a compile unit's program is parsed when a pc first needs it.
func LoadVmlinuxLines(f *ELFFile, types *Types) (LineTable, error) {
	r := lineReader.Load()
	if r == nil {
		return nil, ErrNoLineReader
	}
	lt, err := r.Vmlinux(f, types)
	if err != nil {
		return nil, err
	}
	return lt, nil
}

// LoadModuleLines reads a .ko's line tables through the registered reader,
// relocated to the module's runtime section addresses: secAddr gives the
// address of an allocated section by name (the module's sect_attrs). A
// table with notes may come back with an error (nothing usable) or
// without (some lines unplaced).
func LoadModuleLines(f *ELFFile, secAddr func(string) (uint64, bool)) (LineTable, error) {
	r := lineReader.Load()
	if r == nil {
		return nil, ErrNoLineReader
	}
	return r.Module(f, secAddr)
}
