package audit

import (
	"encoding/binary"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/dwarftest"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

const fuzzStubsBase = 0xc008000000900000

// fuzzSeedStubs is .stubs with two create_stub() call stubs for this very
// base (r2 = .stubs & ~0xff + 0x8000) and an OOL array at slot 2 whose
// second entry is overwritten by a third call stub: seed 000's shape.
func fuzzSeedStubs() []byte {
	b := make([]byte, 8*modules.StubEntrySize)
	r2 := (uint64(fuzzStubsBase) &^ 0xff) + 0x8000
	for _, slot := range []int{0, 1, 3} {
		addr := uint64(fuzzStubsBase) + uint64(slot)*modules.StubEntrySize
		words, _ := ppc64.CallStubWords(ppc64.ELFv2, addr, r2)
		off := slot * modules.StubEntrySize
		for k, w := range words {
			binary.LittleEndian.PutUint32(b[off+4*k:], w)
		}
		binary.LittleEndian.PutUint32(b[off+28:], modules.STUB_MAGIC)
		binary.LittleEndian.PutUint64(b[off+32:], 0xc000000000123450+uint64(slot))
	}
	return b
}

// FuzzAuditStubs reads fuzz bytes as a module's .stubs (through
// modules.ReadStubs over a synthetic kernel space) with fuzzed mod->arch
// counts, and runs the module audit over it: no panic, and every finding
// names the module.
func FuzzAuditStubs(f *testing.F) {
	f.Add(fuzzSeedStubs(), uint16(2*modules.StubEntrySize), uint32(3), uint32(4), uint32(2))
	f.Add(fuzzSeedStubs(), uint16(7), uint32(0xffffffff), uint32(0xffffffff), uint32(0xffffffff))
	f.Add([]byte{}, uint16(0), uint32(0), uint32(0), uint32(0))
	f.Fuzz(func(t *testing.T, raw []byte, oolOff uint16, oolCount, stubCount, oolIndex uint32) {
		if len(raw) > 1<<16 {
			return
		}
		size := uint64(len(raw)) &^ 7
		m := &modules.Module{
			Name:     "fz",
			Addr:     0xc008000000800000,
			Regions:  []modules.Region{{Name: "MOD_TEXT", Base: fuzzStubsBase, Size: size + 0x100}},
			Sections: []modules.Section{{Name: ".stubs", Addr: fuzzStubsBase}, {Name: ".text", Addr: fuzzStubsBase + size}},
			Arch: modules.Arch{
				HasStubCount: true, StubCount: uint64(stubCount),
				HasTramp: true, Tramp: fuzzStubsBase, TrampRegs: fuzzStubsBase + modules.StubEntrySize,
				HasOOL: true, OOLStubs: fuzzStubsBase + uint64(oolOff), OOLStubCount: uint64(oolCount), OOLStubIndex: uint64(oolIndex),
			},
		}
		ctx := &kernel.Context{Mem: dwarftest.Mem{Base: fuzzStubsBase, B: raw}, Order: binary.LittleEndian, PtrSize: 8}
		p := &kernel.Program{Context: ctx}
		s, err := modules.ReadStubs(p, m, modules.StubsInput{})
		set := &modules.Set{Modules: []*modules.Analysis{{Module: m, Stubs: s, StubsErr: err}}, Resolver: symbols.NewResolver()}
		r := RunModules(set, Options{})
		for _, fd := range r.Findings {
			if fd.Module != "fz" {
				t.Fatalf("finding for %q: %+v", fd.Module, fd)
			}
		}
		if s != nil {
			s.Overlay()
		}
	})
}

// TestFuzzAuditSeed: the first seed is seed 000's shape, so the fuzzer
// starts from an input that reaches OOL-OVERLAP.
func TestFuzzAuditSeed(t *testing.T) {
	raw := fuzzSeedStubs()
	m := &modules.Module{Name: "fz", Regions: []modules.Region{{Base: fuzzStubsBase, Size: 0x1000}},
		Sections: []modules.Section{{Name: ".stubs", Addr: fuzzStubsBase}, {Name: ".text", Addr: fuzzStubsBase + uint64(len(raw))}},
		Arch:     modules.Arch{HasStubCount: true, StubCount: 4, HasOOL: true, OOLStubs: fuzzStubsBase + 2*modules.StubEntrySize, OOLStubCount: 3, OOLStubIndex: 2}}
	p := &kernel.Program{Context: &kernel.Context{Mem: dwarftest.Mem{Base: fuzzStubsBase, B: raw}, Order: binary.LittleEndian, PtrSize: 8}}
	s, err := modules.ReadStubs(p, m, modules.StubsInput{})
	if err != nil {
		t.Fatal(err)
	}
	r := RunModules(&modules.Set{Modules: []*modules.Analysis{{Module: m, Stubs: s}}, Resolver: symbols.NewResolver()}, Options{})
	found := false
	for _, f := range r.Findings {
		found = found || f.Rule == "OOL-OVERLAP"
	}
	if !found {
		t.Errorf("no OOL-OVERLAP in %+v", r.Findings)
	}
}
