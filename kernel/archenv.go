package kernel

import (
	"encoding/binary"

	"github.com/kdump-inspect/kdump-inspect/dump"
)

// archEnv is the Program as package arch's setup reads it (arch.Env):
// the vmlinux's link-time symbols, VMCOREINFO, physical memory and types.
type archEnv struct{ p *Program }

func (e archEnv) Symbol(name string) (uint64, error) { return e.p.SymbolAddr(name) }
func (e archEnv) Info() *dump.VMCOREINFO             { return e.p.Info }

// RuntimeSymbols: without a vmlinux the symbols are kallsyms', at their
// run-time addresses.
func (e archEnv) RuntimeSymbols() bool           { return e.p.Vmlinux == nil }
func (e archEnv) Notes() []dump.Note             { return e.p.Dump.Notes }
func (e archEnv) Phys() dump.Memory              { return e.p.Phys }
func (e archEnv) Order() binary.ByteOrder        { return e.p.Order }
func (e archEnv) Sizeof(t string) (int64, error) { return e.p.Types.Sizeof(t) }
func (e archEnv) Offsetof(t, path string) (int64, error) {
	return e.p.Types.Offsetof(t, path)
}
func (e archEnv) Warnf(format string, args ...any) { e.p.warnf(format, args...) }
