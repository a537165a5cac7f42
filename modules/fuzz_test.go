package modules

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/dwarftest"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/symbols"
	"github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
)

// fuzzBase is where the fuzz bytes lie in the synthetic kernel space.
const fuzzBase = 0xc008000000000000

// Offsets of the synthetic struct module (LP64), written out by hand;
// member names are the kernel's (include/linux/module.h,
// kernel/module/sysfs.c, arch/powerpc/include/asm/module.h):
//
//	struct list_head { next@0, prev@8 }                                  16
//	struct module_memory { void *base@0; unsigned int size@8; bool is_rox@12 } 16
//	struct attribute { const char *name@0 }                              8
//	struct bin_attribute { struct attribute attr@0; void *private@8 }    16
//	struct module_sect_attr { struct bin_attribute battr@0; unsigned long address@16 } 24
//	struct module_sect_attrs { unsigned int nsections@0; struct module_sect_attr attrs[]@8 }
//	struct mod_arch_specific { unsigned int stubs_section@0, stub_count@4, toc_section@8;
//		unsigned long tramp@16, tramp_regs@24; struct ftrace_ool_stub *ool_stubs@32;
//		unsigned int ool_stub_count@40, ool_stub_index@44 }                48
//	struct elf64_hdr { ...; unsigned short e_shnum@60 }                  64
//	struct klp_modinfo { struct elf64_hdr hdr@0; unsigned long sechdrs@64, secstrings@72 } 80
//	struct module { int state@0; struct list_head list@8; char name[56]@24;
//		struct module_memory mem[7]@80; struct module_sect_attrs *sect_attrs@192;
//		struct mod_arch_specific arch@200; bool klp@248;
//		struct klp_modinfo *klp_info@256; unsigned long taints@264 }      272
const (
	offList      = 8
	offName      = 24
	offMem       = 80
	offSectAttrs = 192
	offArch      = 200
	offKlp       = 248
	offKlpInfo   = 256
)

func fuzzTypes(t testing.TB) *symbols.Types {
	t.Helper()
	s := dwarftest.New()
	k := s.KernelBases()
	m := dwarftest.M

	lh := s.ListHead()
	mm := s.ModuleMemory(k, true)
	attr := s.Struct("attribute", 8, m("name", k.CharP, 0))
	battr := s.Struct("bin_attribute", 16, m("attr", attr, 0), m("private", k.VoidP, 8))
	msa := s.Struct("module_sect_attr", 24, m("battr", battr, 0), m("address", k.Ulong, 16))
	msas := s.Struct("module_sect_attrs", 8, m("nsections", k.Uint, 0), m("attrs", s.Array(msa, -1), 8))
	arch := s.Struct("mod_arch_specific", 48,
		m("stubs_section", k.Uint, 0), m("stub_count", k.Uint, 4), m("toc_section", k.Uint, 8),
		m("tramp", k.Ulong, 16), m("tramp_regs", k.Ulong, 24), m("ool_stubs", k.VoidP, 32),
		m("ool_stub_count", k.Uint, 40), m("ool_stub_index", k.Uint, 44))
	ehdr := s.Struct("elf64_hdr", 64, m("e_shnum", k.Ushort, 60))
	klp := s.Struct("klp_modinfo", 80, m("hdr", ehdr, 0), m("sechdrs", k.Ulong, 64), m("secstrings", k.Ulong, 72))

	s.Struct("module", 272,
		m("state", k.Int, 0),
		m("list", lh, offList),
		m("name", s.Array(k.Char, 56), offName),
		m("mem", s.Array(mm, 7), offMem),
		m("sect_attrs", s.Ptr(msas), offSectAttrs),
		m("arch", arch, offArch),
		m("klp", k.Bool, offKlp),
		m("klp_info", s.Ptr(klp), offKlpInfo),
		m("taints", k.Ulong, 264))

	d := s.Data(t)
	ts, err := dwarfread.LoadTypes(d, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// fuzzSeed lays out one module in 4 KiB at fuzzBase: the modules list
// head at 0, struct module at 0x100, sect_attrs at 0x400 (".stubs" and
// ".text"), section names at 0x500, .stubs at 0x800 with an OOL array of
// 3 entries at slot 2, klp_info at 0x600.
func fuzzSeed(o binary.ByteOrder, klp bool) []byte {
	b := make([]byte, 0x1000)
	B := uint64(fuzzBase)
	put := func(off int, v uint64) { o.PutUint64(b[off:], v) }
	put32 := func(off int, v uint32) { o.PutUint32(b[off:], v) }
	mod := 0x100
	put(0, B+uint64(mod)+offList)
	put(8, B+uint64(mod)+offList)
	put(mod+offList, B)
	put(mod+offList+8, B)
	copy(b[mod+offName:], "fz_mod")
	put(mod+offMem, B+0x800)
	put32(mod+offMem+8, 0x800)
	put(mod+offSectAttrs, B+0x400)
	a := mod + offArch
	put32(a+4, 2)           // stub_count
	put(a+16, B+0x800)      // tramp
	put(a+32, B+0x800+2*40) // ool_stubs
	put32(a+40, 3)          // ool_stub_count
	put32(a+44, 1)          // ool_stub_index
	put32(0x400, 2)         // nsections
	put(0x408, B+0x500)     // attrs[0].battr.attr.name
	put(0x408+16, B+0x800)  // attrs[0].address
	put(0x420, B+0x508)     // attrs[1].battr.attr.name
	put(0x420+16, B+0x900)  // attrs[1].address
	copy(b[0x500:], ".stubs\x00.text\x00")
	if klp {
		b[mod+offKlp] = 1
		put(mod+offKlpInfo, B+0x600)
		o.PutUint16(b[0x600+60:], 2) // e_shnum
		put(0x600+64, B+0xa00)       // sechdrs
		put(0x600+72, B+0x500)       // secstrings
		// Section 1: a SHT_SYMTAB of 2 symbols at 0xb00.
		sh := 0xa00 + 64
		put32(sh+4, 2)
		put(sh+16, B+0xb00)
		put(sh+32, 48)
	}
	return b
}

// FuzzModulesOverRandomMemory lists the modules and reads each module's
// .stubs, build-id and livepatch relocations over fuzz bytes: nothing may
// panic, every walk ends, and what is returned stays within the bounds
// the readers promise.
func FuzzModulesOverRandomMemory(f *testing.F) {
	f.Add(fuzzSeed(binary.LittleEndian, false), uint8(0))
	f.Add(fuzzSeed(binary.BigEndian, true), uint8(1))
	f.Add(make([]byte, 64), uint8(0))
	ts := fuzzTypes(f)
	syms := symbols.NewTable([]symbols.Symbol{{Name: "modules", Addr: fuzzBase, Size: 16, Kind: 'D'}})
	f.Fuzz(func(t *testing.T, mem []byte, which uint8) {
		if len(mem) > 1<<16 {
			return
		}
		ctx := &kernel.Context{Mem: dwarftest.Mem{Base: fuzzBase, B: mem}, Order: binary.LittleEndian, Types: ts, PtrSize: 8, MaxList: 16}
		if which&1 != 0 {
			ctx.Order = binary.BigEndian
		}
		p := &kernel.Program{Context: ctx, Types: ts, Syms: syms}
		mods, _ := List(p)
		if len(mods) > 16 {
			t.Fatalf("List returned %d modules, cap 16", len(mods))
		}
		for _, m := range mods {
			if len(m.Sections) > maxSections {
				t.Fatalf("%d sections", len(m.Sections))
			}
			m.BuildID(p)
			if which&2 != 0 {
				KlpRelasFromMemory(p, m)
			}
			s, err := ReadStubs(p, m, StubsInput{Name: func(uint64) string { return "" }})
			if err != nil {
				continue
			}
			if uint64(len(s.Raw)) != s.Size || s.Size > maxStubsSize || uint64(len(s.Slots))*StubEntrySize > s.Size {
				t.Fatalf("stubs: raw %d size %d slots %d", len(s.Raw), s.Size, len(s.Slots))
			}
			if uint64(len(s.OOL))*OOLStubSize > s.Size || s.OOLEnd > s.Size {
				t.Fatalf("OOL: %d entries, end %d, size %d", len(s.OOL), s.OOLEnd, s.Size)
			}
			s.Overlay()
			for _, sl := range s.Slots {
				s.SlotAt(sl.Addr)
			}
		}
	})
}

// TestFuzzSeedReads: the seed is a well-formed module, so the fuzzer
// starts from inputs that reach .stubs and the OOL array.
func TestFuzzSeedReads(t *testing.T) {
	ts := fuzzTypes(t)
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		ctx := &kernel.Context{Mem: dwarftest.Mem{Base: fuzzBase, B: fuzzSeed(o, true)}, Order: o, Types: ts, PtrSize: 8}
		p := &kernel.Program{Context: ctx, Types: ts, Syms: symbols.NewTable([]symbols.Symbol{{Name: "modules", Addr: fuzzBase, Size: 16, Kind: 'D'}})}
		mods, err := List(p)
		if err != nil || len(mods) != 1 || mods[0].Name != "fz_mod" || len(mods[0].Sections) != 2 || !mods[0].Livepatch || len(mods[0].KlpSechdrs) != 2 {
			t.Fatalf("%v: %d modules %+v, %v", o, len(mods), mods, err)
		}
		s, err := ReadStubs(p, mods[0], StubsInput{})
		if err != nil || len(s.OOL) != 3 || s.OOLOff != 80 {
			t.Fatalf("%v: stubs %+v, %v", o, s, err)
		}
	}
}

// TestListCapped: a modules list that does not come back to its head
// within MaxModules entries (20000 nodes, each pointing at the next) stops
// at MaxModules with a ListTooLong error and the modules read so far.
func TestListCapped(t *testing.T) {
	const n, size = 20000, 272
	o := binary.LittleEndian
	mem := make([]byte, 16+n*size)
	B := uint64(fuzzBase)
	node := func(i int) uint64 { return B + 16 + uint64(i)*size + offList }
	o.PutUint64(mem, node(0))
	for i := 0; i < n; i++ {
		next := node(i + 1)
		if i == n-1 {
			next = B
		}
		o.PutUint64(mem[16+i*size+offList:], next)
	}
	ts := fuzzTypes(t)
	p := &kernel.Program{Context: &kernel.Context{Mem: dwarftest.Mem{Base: B, B: mem}, Order: o, Types: ts, PtrSize: 8}, Types: ts,
		Syms: symbols.NewTable([]symbols.Symbol{{Name: "modules", Addr: B, Size: 16, Kind: 'D'}})}
	mods, err := List(p)
	var le *kernel.ListError
	if !errors.As(err, &le) || le.Kind != kernel.ListTooLong || len(mods) != MaxModules {
		t.Errorf("List: %d modules, %v; want %d and ListTooLong", len(mods), err, MaxModules)
	}
}
