package damage

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// TestDamagedVmlinuxDWARF: one flipped byte in the header of one
// .debug_info unit of the vmlinux (its DWARF version) costs that unit,
// named in a warning with its offset, not the dump ("no usable DWARF"
// before): kernel.Open succeeds and every module is read as from the good
// vmlinux.
func TestDamagedVmlinuxDWARF(t *testing.T) {
	path, opts := corpusJob(t, "buggy-radix")
	plain, err := container.Open(opts.Vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	good, info, order, err := ELFSection(plain, ".debug_info")
	if err != nil {
		t.Fatal(err)
	}
	// The units of .debug_info by their unit_length fields (DWARF 5,
	// 32-bit: 4 + length bytes each), read here independently.
	var units []int64
	sec := good[info.Offset : info.Offset+info.Size]
	for off := int64(0); off+4 <= int64(len(sec)); off += 4 + int64(order.Uint32(sec[off:])) {
		units = append(units, off)
	}
	u := units[len(units)/2]
	b := append([]byte(nil), good...)
	b[int64(info.Offset)+u+4] ^= 0xff // DWARF version 5 -> 0xfa
	bad := filepath.Join(t.TempDir(), "vmlinux")
	if err := os.WriteFile(bad, b, 0o444); err != nil {
		t.Fatal(err)
	}
	goodSet := modules.Analyze(mustOpen(t, path, kernel.Options{Vmlinux: opts.Vmlinux, ModuleDirs: opts.ModuleDirs, CacheDir: t.TempDir()}))
	p := mustOpen(t, path, kernel.Options{Vmlinux: bad, ModuleDirs: opts.ModuleDirs, CacheDir: t.TempDir(), PrivateVmlinux: true})
	if !containsAll(p.Warnings, "DWARF unit", fmt.Sprintf("offset %#x", u)) {
		t.Errorf("no warning names the damaged unit at %#x: %q", u, p.Warnings)
	}
	set := modules.Analyze(p)
	if set.ListErr != nil || len(set.Modules) != len(goodSet.Modules) {
		t.Fatalf("damaged DWARF: %d modules (%v), good: %d", len(set.Modules), set.ListErr, len(goodSet.Modules))
	}
	for i, m := range set.Modules {
		g := goodSet.Modules[i].Module
		if m.Module.Name != g.Name || m.Module.Addr != g.Addr || m.Module.Arch.StubCount != g.Arch.StubCount || m.Module.Arch.OOLStubs != g.Arch.OOLStubs {
			t.Errorf("module %d: %s at %#x, good %s at %#x", i, m.Module.Name, m.Module.Addr, g.Name, g.Addr)
		}
	}
}

func mustOpen(t *testing.T, path string, opts kernel.Options) *kernel.Program {
	t.Helper()
	p, err := kernel.Open([]string{path}, opts)
	if err != nil {
		t.Fatalf("kernel.Open: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
