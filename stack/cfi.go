package stack

import (
	"encoding/binary"
	"sync"

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

// maxDebugFrame bounds the .debug_frame read (a distro vmlinux's is a
// few MB).
const maxDebugFrame = 256 << 20

// CFI is call-frame information read for the ppc64 walk: the DWARF rules
// of .debug_frame (symbols.ParseFrames, through the reader a program links:
// symbols/dwarfread, delve's pkg/dwarf/frame under recover) read for
// ppc64's registers.
type CFI struct {
	t symbols.FrameTable
}

// NewCFI parses a .debug_frame section of an executable (a vmlinux, whose
// FDEs hold absolute addresses; a module's .ko would need its relocations
// applied first).
func NewCFI(debugFrame []byte, order binary.ByteOrder) (*CFI, error) {
	t, err := symbols.ParseFrames(debugFrame, order)
	if err != nil {
		return nil, err
	}
	return &CFI{t: t}, nil
}

// Rule is the CFI rule at pc, for Options.CFI: false when no FDE covers
// pc or the rule is not one a ppc64 kernel function uses (CFA = r1 +
// offset; return address in LR, r0, or at CFA + offset).
func (c *CFI) Rule(pc uint64) (CFIRule, bool) {
	if c == nil {
		return CFIRule{}, false
	}
	fr, ok := c.t.Rule(pc)
	if !ok || fr.CFAReg != dwarfR1 || fr.CFAOffset < 0 {
		return CFIRule{}, false
	}
	rule := CFIRule{CFAOffset: fr.CFAOffset}
	ra := fr.RAReg
	if ra == 0 {
		ra = dwarfLR
	}
	r := fr.Regs[ra]
	switch {
	case r.Kind == symbols.RegUnspecified || r.Kind == symbols.RegUndefined || r.Kind == symbols.RegSameValue:
		rule.RA = RAInLR
	case r.Kind == symbols.RegOffset:
		rule.RA, rule.RAOffset = RAInMemory, r.Offset
	case r.Kind == symbols.RegRegister && r.Reg == dwarfR0:
		rule.RA = RAInR0
	case r.Kind == symbols.RegRegister && r.Reg == dwarfLR:
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
	if b, err := f.SectionData(".debug_frame", maxDebugFrame); err == nil {
		c, _ = NewCFI(b, f.ByteOrder)
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
