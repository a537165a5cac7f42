package symbols

// Call-frame information (.debug_frame) as the unwinders ask for it.
//
// The reader — delve's pkg/dwarf/frame, run under recover — is in
// symbols/dwarfread, which registers it here when a program imports it;
// the unwinder (package stack) reads the rules for its architecture's
// registers and needs no DWARF reader.

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
)

// RegRuleKind is how a register's caller value is found (DWARF 5 §6.4.1).
type RegRuleKind int

const (
	RegUnspecified RegRuleKind = iota // no rule: the register column is absent
	RegUndefined                      // DW_CFA_undefined
	RegSameValue                      // DW_CFA_same_value
	RegOffset                         // saved at CFA + Offset
	RegRegister                       // held in register Reg
	RegOther                          // any other rule (expressions, val_offset, ...)
)

// RegRule is one register's rule at a pc.
type RegRule struct {
	Kind   RegRuleKind
	Reg    uint64
	Offset int64
}

// FrameRule is the call-frame rule at a pc: CFA = CFAReg + CFAOffset, the
// return-address column the CIE names (0 when it names none), and the
// rules of the registers the FDE and CIE give one.
type FrameRule struct {
	CFAReg    uint64
	CFAOffset int64
	RAReg     uint64
	Regs      map[uint64]RegRule
}

// FrameTable answers the frame rule at a pc: false when no FDE covers it
// or its CFA is not a register plus an offset. Implementations are safe
// for concurrent use.
type FrameTable interface {
	Rule(pc uint64) (FrameRule, bool)
}

// FrameReader parses a .debug_frame section of an executable (FDEs with
// absolute addresses).
type FrameReader func(debugFrame []byte, order binary.ByteOrder) (FrameTable, error)

var frameReader atomic.Pointer[FrameReader]

// RegisterFrameReader makes r the reader ParseFrames uses.
func RegisterFrameReader(r FrameReader) { frameReader.Store(&r) }

// ErrNoFrameReader is what ParseFrames returns in a program that links no
// call-frame reader (no import of symbols/dwarfread).
var ErrNoFrameReader = errors.New("no DWARF call-frame reader in this program (symbols/dwarfread not linked in)")

// ParseFrames parses a .debug_frame section through the registered reader.
func ParseFrames(debugFrame []byte, order binary.ByteOrder) (FrameTable, error) {
	r := frameReader.Load()
	if r == nil {
		return nil, ErrNoFrameReader
	}
	t, err := (*r)(debugFrame, order)
	if err != nil {
		return nil, err
	}
	return t, nil
}
