package stack

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/go-delve/delve/pkg/dwarf/frame"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// DWARF register numbers of ppc64 in .debug_frame (the ELFv2 ABI's DWARF
// register mapping; GCC emits the link register as 65).
const (
	dwarfR0 = 0
	dwarfR1 = 1
	dwarfLR = 65
)

// maxDebugFrame bounds the .debug_frame we parse (a distro vmlinux's is a
// few MB).
const maxDebugFrame = 256 << 20

// CFI reads call-frame information. Delve's pkg/dwarf/frame parses
// .debug_frame and runs the CFA programs: it is the reader debuggers use,
// and nothing in the standard library reads CFI. Delve's parser was not
// written for hostile input, so every call into it runs under recover and
// a panic becomes "unknown" (the walk then falls back to the LR rule).
type CFI struct {
	fdes frame.FrameDescriptionEntries
}

// NewCFI parses a .debug_frame section of an executable (a vmlinux, whose
// FDEs hold absolute addresses; a module's .ko would need its relocations
// applied first).
func NewCFI(debugFrame []byte, order binary.ByteOrder) (c *CFI, err error) {
	if len(debugFrame) == 0 {
		return nil, errors.New("no .debug_frame")
	}
	if len(debugFrame) > maxDebugFrame {
		return nil, fmt.Errorf(".debug_frame of %d bytes is larger than the %d-byte limit", len(debugFrame), maxDebugFrame)
	}
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf(".debug_frame: parser panicked: %v", r)
		}
	}()
	fdes, err := frame.Parse(debugFrame, order, 0, 8, 0)
	if err != nil {
		return nil, fmt.Errorf(".debug_frame: %w", err)
	}
	// Parse keeps the file's order; FDEForPC searches by address. Append
	// sorts (and drops duplicates), as delve itself uses it.
	return &CFI{fdes: fdes.Append(nil)}, nil
}

// Rule is the CFI rule at pc, for Options.CFI: false when no FDE covers
// pc or the rule is not one a ppc64 kernel function uses (CFA = r1 +
// offset; return address in LR, r0, or at CFA + offset).
func (c *CFI) Rule(pc uint64) (rule CFIRule, ok bool) {
	if c == nil {
		return CFIRule{}, false
	}
	defer func() {
		if recover() != nil {
			rule, ok = CFIRule{}, false
		}
	}()
	fde, err := c.fdes.FDEForPC(pc)
	if err != nil {
		return CFIRule{}, false
	}
	fc, err := fde.EstablishFrame(pc)
	if err != nil || fc.CFA.Rule != frame.RuleCFA || fc.CFA.Reg != dwarfR1 || fc.CFA.Offset < 0 {
		return CFIRule{}, false
	}
	rule.CFAOffset = fc.CFA.Offset
	ra := fc.RetAddrReg
	if ra == 0 {
		ra = dwarfLR
	}
	r, has := fc.Regs[ra]
	switch {
	case !has || r.Rule == frame.RuleUndefined || r.Rule == frame.RuleSameVal:
		rule.RA = RAInLR
	case r.Rule == frame.RuleOffset:
		rule.RA, rule.RAOffset = RAInMemory, r.Offset
	case r.Rule == frame.RuleRegister && r.Reg == dwarfR0:
		rule.RA = RAInR0
	case r.Rule == frame.RuleRegister && r.Reg == dwarfLR:
		rule.RA = RAInLR
	default:
		return CFIRule{}, false
	}
	return rule, true
}

var (
	cfiMu    sync.Mutex
	cfiCache = map[*symbols.ELFFile]*CFI{}
)

// VmlinuxCFI is the call-frame information of p's vmlinux, parsed once
// per vmlinux file (Programs share an opened vmlinux); nil when it has no
// usable .debug_frame, and walks then use the LR rule alone.
func VmlinuxCFI(p *kernel.Program) *CFI {
	f := p.Vmlinux
	if f == nil || f.File == nil {
		return nil
	}
	cfiMu.Lock()
	defer cfiMu.Unlock()
	if c, ok := cfiCache[f]; ok {
		return c
	}
	var c *CFI
	if sec := f.File.Section(".debug_frame"); sec != nil && sec.Type != elf.SHT_NOBITS && sec.Size <= maxDebugFrame {
		if b, err := sec.Data(); err == nil {
			c, _ = NewCFI(b, f.ByteOrder)
		}
	}
	cfiCache[f] = c
	return c
}

// RuleFunc is c.Rule, or nil for a nil c (Options.CFI then stays unset).
func (c *CFI) RuleFunc() func(uint64) (CFIRule, bool) {
	if c == nil {
		return nil
	}
	return c.Rule
}
