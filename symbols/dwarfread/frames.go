package dwarfread

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/go-delve/delve/pkg/dwarf/frame"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// maxDebugFrame bounds the .debug_frame parsed (a distro vmlinux's is a
// few MB).
const maxDebugFrame = 256 << 20

// frames is a .debug_frame parsed by delve's pkg/dwarf/frame: it is the
// reader debuggers use, and nothing in the standard library reads CFI.
// Delve's parser was not written for hostile input, so every call into it
// runs under recover and a panic becomes an error or "no rule".
type frames struct {
	fdes frame.FrameDescriptionEntries
}

// ParseFrames parses a .debug_frame section of an executable (a vmlinux,
// whose FDEs hold absolute addresses; a module's .ko would need its
// relocations applied first).
func ParseFrames(debugFrame []byte, order binary.ByteOrder) (t symbols.FrameTable, err error) {
	if len(debugFrame) == 0 {
		return nil, errors.New("no .debug_frame")
	}
	if len(debugFrame) > maxDebugFrame {
		return nil, fmt.Errorf(".debug_frame of %d bytes is larger than the %d-byte limit", len(debugFrame), maxDebugFrame)
	}
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf(".debug_frame: parser panicked: %v", r)
		}
	}()
	fdes, err := frame.Parse(debugFrame, order, 0, 8, 0)
	if err != nil {
		return nil, fmt.Errorf(".debug_frame: %w", err)
	}
	// Parse keeps the file's order; FDEForPC searches by address. Append
	// sorts (and drops duplicates), as delve itself uses it.
	return &frames{fdes: fdes.Append(nil)}, nil
}

// Rule runs the CFA program of the FDE covering pc up to pc.
func (f *frames) Rule(pc uint64) (rule symbols.FrameRule, ok bool) {
	defer func() {
		if recover() != nil {
			rule, ok = symbols.FrameRule{}, false
		}
	}()
	fde, err := f.fdes.FDEForPC(pc)
	if err != nil {
		return symbols.FrameRule{}, false
	}
	fc, err := fde.EstablishFrame(pc)
	if err != nil || fc.CFA.Rule != frame.RuleCFA {
		return symbols.FrameRule{}, false
	}
	rule = symbols.FrameRule{CFAReg: fc.CFA.Reg, CFAOffset: fc.CFA.Offset, RAReg: fc.RetAddrReg, Regs: make(map[uint64]symbols.RegRule, len(fc.Regs))}
	for reg, r := range fc.Regs {
		k := symbols.RegOther
		switch r.Rule {
		case frame.RuleUndefined:
			k = symbols.RegUndefined
		case frame.RuleSameVal:
			k = symbols.RegSameValue
		case frame.RuleOffset:
			k = symbols.RegOffset
		case frame.RuleRegister:
			k = symbols.RegRegister
		}
		rule.Regs[reg] = symbols.RegRule{Kind: k, Reg: r.Reg, Offset: r.Offset}
	}
	return rule, true
}
