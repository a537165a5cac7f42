package analysis

import (
	"fmt"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// lineCache holds the source line tables (package symbols): the vmlinux's,
// and each module's keyed by its Debuginfo (a .ko loaded again by `mod -s`
// is a new key; `mod -S` drops them all).
type lineCache struct {
	mu      sync.Mutex
	vmDone  bool
	vmlinux symbols.LineTable
	vmErr   error
	mods    map[*modules.Debuginfo]symbols.LineTable
	modErrs map[*modules.Debuginfo]error
}

// SourceLine returns the source position of pc from the line table of the
// module holding it (its .ko, relocated to the module's section
// addresses), else of the vmlinux; fn is the start of the function holding
// pc (0 if unknown). notes are what loading a module's table noted
// ("MODULE: note"), returned by the call that loaded it only. err says why
// no table could be read; a pc the table does not cover returns ok false
// and no error.
func (a *Analysis) SourceLine(pc, fn uint64) (sl symbols.SourceLine, ok bool, notes []string, err error) {
	var lt symbols.LineTable
	if m := a.Modules().ByAddr(pc); m != nil {
		if m.Debuginfo == nil {
			return sl, false, nil, fmt.Errorf("%s: no .ko loaded (mod -s %s FILE)", m.Module.Name, m.Module.Name)
		}
		lt, notes, err = a.moduleLines(m)
	} else {
		lt, err = a.vmlinuxLines()
	}
	if err != nil {
		return sl, false, notes, err
	}
	sl, ok = lt.Lookup(pc, fn)
	return sl, ok, notes, nil
}

func (a *Analysis) vmlinuxLines() (symbols.LineTable, error) {
	c := &a.lines
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.vmDone {
		c.vmlinux, c.vmErr = symbols.LoadVmlinuxLines(a.Prog.Vmlinux, a.Prog.Types)
		c.vmDone = true
	}
	return c.vmlinux, c.vmErr
}

func (a *Analysis) moduleLines(m *modules.Analysis) (symbols.LineTable, []string, error) {
	c := &a.lines
	c.mu.Lock()
	defer c.mu.Unlock()
	di := m.Debuginfo
	if lt, ok := c.mods[di]; ok {
		return lt, nil, c.modErrs[di]
	}
	lt, err := symbols.LoadModuleLines(di.ELF, m.Module.SectionAddr)
	var notes []string
	if lt != nil {
		for _, n := range lt.Notes() {
			notes = append(notes, m.Module.Name+": "+n)
		}
	}
	if c.mods == nil {
		c.mods, c.modErrs = map[*modules.Debuginfo]symbols.LineTable{}, map[*modules.Debuginfo]error{}
	}
	c.mods[di], c.modErrs[di] = lt, err
	return lt, notes, err
}

// dropModuleLines forgets every module's line table.
func (a *Analysis) dropModuleLines() {
	a.lines.mu.Lock()
	defer a.lines.mu.Unlock()
	a.lines.mods, a.lines.modErrs = nil, nil
}
