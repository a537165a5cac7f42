package kernel

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/dwarftest"
	"github.com/kdump-inspect/kdump-inspect/symbols"
	"github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
)

// Layout of the synthetic types (C, LP64), offsets written out by hand:
//
//	struct list_head { struct list_head *next, *prev; };           // 16
//	struct module_memory { void *base; unsigned int size; };       // 16
//	struct ftrace_ool_stub { void *ftrace_op; u32 insn[4]; };      // 24
//	struct mod_arch_specific { unsigned int stubs_section, stub_count;
//		struct ftrace_ool_stub *ool_stubs; };                      // 16
//	struct klp_modinfo { void *hdr; unsigned long sechdrs; };      // 16
//	enum mod_mem_type { MOD_TEXT, MOD_DATA, MOD_RODATA };
//	struct module {
//		int state;                          //   0
//		struct list_head list;              //   8
//		char name[16];                      //  24
//		struct module_memory mem[3];        //  40
//		struct mod_arch_specific arch;      //  88
//		struct klp_modinfo *klp_info;       // 104
//		union { unsigned long anon_a; unsigned int anon_b; }; // 112
//		unsigned int a:3, b:7; int s:4;     // bits 960.., 963.., 970..
//		char *namep;                        // 128
//		_Bool live;                         // 136
//		unsigned int flex[];                // 140
//	};                                      // 144
//	struct be4 { unsigned int x:3, y:7, z:22; };  // DWARF 4, big-endian
//	struct dyn_arch_ftrace { unsigned long ool_stub; };
//	struct dyn_ftrace { unsigned long ip, flags; struct dyn_arch_ftrace arch; };
func synthTypes(t testing.TB) *symbols.Types {
	t.Helper()
	s := dwarftest.New()
	k := s.KernelBases()
	m := dwarftest.M

	s.Enum("mod_mem_type", 4, 0, "MOD_TEXT", "MOD_DATA", "MOD_RODATA")
	lh := s.ListHead()
	mm := s.ModuleMemory(k, false)
	ool := s.Struct("ftrace_ool_stub", 24, m("ftrace_op", k.VoidP, 0), m("insn", s.Array(k.Uint, 4), 8))
	arch := s.Struct("mod_arch_specific", 16,
		m("stubs_section", k.Uint, 0), m("stub_count", k.Uint, 4), m("ool_stubs", s.Ptr(ool), 8))
	klp := s.Struct("klp_modinfo", 16, m("hdr", k.VoidP, 0), m("sechdrs", k.Ulong, 8))
	anon := s.Union("", 8, m("anon_a", k.Ulong, 0), m("anon_b", k.Uint, 0))

	memArr := s.Array(mm, 3)
	nameArr := s.Array(k.Char, 16)
	flexArr := s.Array(k.Uint, -1)
	klpp := s.Ptr(klp)
	s.Open(dwarf.TagStructType, "module", 144)
	s.Member("state", k.Int, 0)
	s.Member("list", lh, 8)
	s.Member("name", nameArr, 24)
	s.Member("mem", memArr, 40)
	s.Member("arch", arch, 88)
	s.Member("klp_info", klpp, 104)
	s.Member("", anon, 112)
	s.Bits5("a", k.Uint, 960, 3)
	s.Bits5("b", k.Uint, 963, 7)
	s.Bits5("s", k.Int, 970, 4)
	s.Member("namep", k.CharP, 128)
	s.Member("live", k.Bool, 136)
	s.Member("flex", flexArr, 140)
	s.TagClose()

	// Big-endian DWARF 4: DW_AT_bit_offset counts from the unit's most
	// significant bit, which on big-endian is the first bit in memory.
	s.Open(dwarf.TagStructType, "be4", 4)
	s.Bits4("x", k.Uint, 0, 4, 0, 3)
	s.Bits4("y", k.Uint, 0, 4, 3, 7)
	s.Bits4("z", k.Uint, 0, 4, 10, 22)
	s.TagClose()

	daf := s.Struct("dyn_arch_ftrace", 8, m("ool_stub", k.Ulong, 0))
	s.Struct("dyn_ftrace", 24, m("ip", k.Ulong, 0), m("flags", k.Ulong, 8), m("arch", daf, 16))

	d := s.Data(t)
	ts, err := dwarfread.LoadTypes(d, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// fakeMem is memory made of segments; reads outside fault as a dump does.
type fakeMem struct {
	segs map[uint64][]byte
}

func (m *fakeMem) ReadAt(p []byte, addr uint64) (int, error) {
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		found := false
		for base, b := range m.segs {
			if a >= base && a < base+uint64(len(b)) {
				n += copy(p[n:], b[a-base:])
				found = true
				break
			}
		}
		if !found {
			return n, &dump.Fault{Addr: a, Reason: dump.NotInDump}
		}
	}
	return n, nil
}

const (
	modAddr  = 0xc008000000820200
	klpAddr  = 0xc000000001000000
	strAddr  = 0xc000000002000000
	stubAddr = 0xc008000000800158
)

// synthModule lays out one struct module in little-endian memory.
func synthModule(order binary.ByteOrder) *fakeMem {
	m := make([]byte, 144+16)                        // + two flex[] entries and slack
	order.PutUint32(m[0:], uint32(0xffffffff))       // state = -1
	order.PutUint64(m[8:], modAddr+8)                // list.next (self)
	copy(m[24:], "klp_tgt\x00")                      // name
	order.PutUint64(m[40+0*16:], 0xc008000000800000) // mem[0].base
	order.PutUint32(m[40+0*16+8:], 0x10000)          // mem[0].size
	order.PutUint64(m[40+2*16:], 0xc008000000840000) // mem[MOD_RODATA].base
	order.PutUint32(m[88+4:], 9)                     // arch.stub_count
	order.PutUint64(m[88+8:], stubAddr)              // arch.ool_stubs
	order.PutUint64(m[104:], klpAddr)                // klp_info
	order.PutUint64(m[112:], 0x1122334455667788)     // anon_a
	m[120], m[121] = 0b1_0101_101, 0b1111_1011       /* a=5 b=0b0111101 s=-2 */ // see TestBitfieldRead
	order.PutUint64(m[128:], strAddr)                // namep
	m[136] = 1                                       // live
	order.PutUint32(m[140:], 7)                      // flex[0]
	order.PutUint32(m[144:], 8)                      // flex[1]
	klp := make([]byte, 16)
	order.PutUint64(klp[8:], 0xdeadbeef)
	stubs := make([]byte, 48)
	order.PutUint64(stubs[24:], 0xc000000003000000) // ool_stubs[1].ftrace_op
	order.PutUint32(stubs[24+8:], 0x7c0802a6)       // ool_stubs[1].insn[0] = mflr r0
	return &fakeMem{segs: map[uint64][]byte{
		modAddr:  m,
		klpAddr:  klp,
		strAddr:  []byte("livepatch\x00"),
		stubAddr: stubs,
	}}
}

func synthCtx(t testing.TB) *Context {
	return &Context{Mem: synthModule(binary.LittleEndian), Order: binary.LittleEndian, Types: synthTypes(t), PtrSize: 8}
}

func TestObjectMember(t *testing.T) {
	t.Parallel()
	ctx := synthCtx(t)
	mod, err := NewObject(ctx, "struct module", modAddr)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path     string
		want     uint64
		wantAddr uint64
	}{
		{"arch.stub_count", 9, modAddr + 92},
		{"arch.ool_stubs", stubAddr, modAddr + 96},
		{"mem[0].base", 0xc008000000800000, modAddr + 40},
		{"mem[0].size", 0x10000, modAddr + 48},
		{"mem[MOD_RODATA].base", 0xc008000000840000, modAddr + 72},
		{"mem[2].size", 0, modAddr + 80},
		{"klp_info->sechdrs", 0xdeadbeef, klpAddr + 8},
		{"klp_info.sechdrs", 0xdeadbeef, klpAddr + 8}, // "." through a pointer, as drgn
		{"anon_a", 0x1122334455667788, modAddr + 112},
		{"anon_b", 0x55667788, modAddr + 112},
		{"arch.ool_stubs[1].insn[0]", 0x7c0802a6, stubAddr + 24 + 8},
		{"arch.ool_stubs->ftrace_op", 0, stubAddr},
		{"flex[1]", 8, modAddr + 144}, // flexible array: no bound
		{"live", 1, modAddr + 136},
		{"list.next", modAddr + 8, modAddr + 8},
	}
	for _, tt := range tests {
		m, err := mod.Member(tt.path)
		if err != nil {
			t.Errorf("Member(%q): %v", tt.path, err)
			continue
		}
		v, err := m.Uint()
		if err != nil || v != tt.want || m.Addr != tt.wantAddr {
			t.Errorf("Member(%q) = %#x at %#x, %v; want %#x at %#x", tt.path, v, m.Addr, err, tt.want, tt.wantAddr)
		}
	}
	if v, err := mod.Member("state"); err != nil {
		t.Fatal(err)
	} else if i, err := v.Int(); err != nil || i != -1 {
		t.Errorf("state = %d, %v; want -1", i, err)
	}
	if b, err := mustMember(t, mod, "live").Bool(); err != nil || !b {
		t.Errorf("live = %v, %v", b, err)
	}
	if a, err := mustMember(t, mod, "arch").Address(); err != nil || a != modAddr+88 {
		t.Errorf("&arch = %#x, %v", a, err)
	}
	if n := mustMember(t, mod, "arch").Size(); n != 16 {
		t.Errorf("sizeof arch = %d", n)
	}
}

func mustMember(t testing.TB, o Object, path string) Object {
	t.Helper()
	m, err := o.Member(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBitfieldRead: byte 120 = 0b10101101, byte 121 = 0b11111011. On
// little-endian, bits count from the least significant bit of byte 120:
// a = bits 0..2 = 0b101 = 5; b = bits 3..9 = 0b10101 | 0b11<<5 = 0b1110101
// = 117; s = bits 10..13 = 0b1110 = -2 as a signed 4-bit field.
func TestBitfieldRead(t *testing.T) {
	t.Parallel()
	ctx := synthCtx(t)
	mod, _ := NewObject(ctx, "struct module", modAddr)
	for _, tt := range []struct {
		path string
		u    uint64
		i    int64
	}{
		{"a", 5, 5},
		{"b", 117, 117},
		{"s", 0b1110, -2},
	} {
		m := mustMember(t, mod, tt.path)
		u, err1 := m.Uint()
		i, err2 := m.Int()
		if err1 != nil || err2 != nil || u != tt.u || i != tt.i {
			t.Errorf("%s = %d / %d (%v %v), want %d / %d", tt.path, u, i, err1, err2, tt.u, tt.i)
		}
	}
	if _, err := mustMember(t, mod, "a").Address(); err == nil {
		t.Error("&bitfield succeeded")
	}
}

// TestBitfieldBigEndianDWARF4 reads struct be4 { unsigned x:3, y:7, z:22 }
// from big-endian memory A5 5A 0F F0: the 32-bit unit is 0xA55A0FF0 and, as
// C on a big-endian target allocates bitfields from the most significant
// bit, x is its top 3 bits, y the next 7, z the low 22.
func TestBitfieldBigEndianDWARF4(t *testing.T) {
	t.Parallel()
	ts := synthTypes(t)
	ctx := &Context{Order: binary.BigEndian, Types: ts, PtrSize: 8,
		Mem: &fakeMem{segs: map[uint64][]byte{0x1000: {0xA5, 0x5A, 0x0F, 0xF0}}}}
	o, err := NewObject(ctx, "struct be4", 0x1000)
	if err != nil {
		t.Fatal(err)
	}
	word := uint64(0xA55A0FF0)
	for _, tt := range []struct {
		name string
		want uint64
	}{
		{"x", word >> 29},
		{"y", (word >> 22) & 0x7f},
		{"z", word & 0x3fffff},
	} {
		v, err := mustMember(t, o, tt.name).Uint()
		if err != nil || v != tt.want {
			t.Errorf("be4.%s = %#x, %v; want %#x", tt.name, v, err, tt.want)
		}
	}
}

func TestObjectStrings(t *testing.T) {
	t.Parallel()
	ctx := synthCtx(t)
	mod, _ := NewObject(ctx, "struct module", modAddr)
	for _, tt := range []struct {
		path string
		max  int
		want string
	}{
		{"name", 64, "klp_tgt"},
		{"name", 3, "klp"},
		{"namep", 64, "livepatch"},
	} {
		s, err := mustMember(t, mod, tt.path).CString(tt.max)
		if err != nil || s != tt.want {
			t.Errorf("%s CString(%d) = %q, %v; want %q", tt.path, tt.max, s, err, tt.want)
		}
	}
	// A bounded read through a pointer with no NUL in bound is an error.
	if _, err := mustMember(t, mod, "namep").CString(4); err == nil {
		t.Error("CString(4) of a 9-char string: no error")
	}
	b, err := mustMember(t, mod, "name").Bytes()
	if err != nil || len(b) != 16 || string(b[:7]) != "klp_tgt" {
		t.Errorf("name Bytes = %q, %v", b, err)
	}
}

func TestObjectErrors(t *testing.T) {
	t.Parallel()
	ctx := synthCtx(t)
	mod, _ := NewObject(ctx, "struct module", modAddr)

	_, err := mod.Member("arch.nosuch")
	var me *MemberError
	if !errors.As(err, &me) || me.Member != "nosuch" || me.Type != "struct mod_arch_specific" {
		t.Errorf("unknown member: %v", err)
	}
	_, err = mod.Member("mem[3]")
	var ie *IndexError
	if !errors.As(err, &ie) || ie.Index != 3 || ie.Len != 3 {
		t.Errorf("out of bounds: %v", err)
	}
	var te *TypeError
	if _, err = mustMember(t, mod, "state").Deref(); !errors.As(err, &te) {
		t.Errorf("Deref of int: %v", err)
	}
	if _, err = mustMember(t, mod, "arch").Uint(); !errors.As(err, &te) {
		t.Errorf("Uint of struct: %v", err)
	}
	if _, err = mustMember(t, mod, "state").Index(0); !errors.As(err, &te) {
		t.Errorf("Index of int: %v", err)
	}
	if _, err = mod.Member("mem[NOPE]"); err == nil {
		t.Error("unknown enum index: no error")
	}

	// A read fault names the object and address and wraps the *dump.Fault.
	far, _ := NewObject(ctx, "struct module", 0xc00800000ff00000)
	_, err = mustMember(t, far, "arch").Bytes()
	var re *ReadError
	if !errors.As(err, &re) || re.Addr != 0xc00800000ff00000+88 {
		t.Fatalf("read fault: %v", err)
	}
	if want := "reading struct module.arch at 0xc00800000ff00058: cannot read virtual address 0xc00800000ff00058: not in dump"; err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
	if _, ok := dump.IsFault(err); !ok {
		t.Errorf("read error does not wrap *dump.Fault: %v", err)
	}
}

func TestObjectCastDerefIndex(t *testing.T) {
	t.Parallel()
	ctx := synthCtx(t)
	mod, _ := NewObject(ctx, "struct module", modAddr)
	// arch.ool_stubs is a struct ftrace_ool_stub *: p[1] is 24 bytes on.
	p := mustMember(t, mod, "arch.ool_stubs")
	e, err := p.Index(1)
	if err != nil || e.Addr != stubAddr+24 {
		t.Fatalf("ool_stubs[1] at %#x, %v", e.Addr, err)
	}
	d, err := p.Deref()
	if err != nil || d.Addr != stubAddr || d.Size() != 24 {
		t.Errorf("*ool_stubs at %#x size %d, %v", d.Addr, d.Size(), err)
	}
	c, err := mustMember(t, mod, "anon_a").Cast("unsigned int")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.Uint(); err != nil || v != 0x55667788 {
		t.Errorf("(unsigned int)anon_a = %#x, %v", v, err)
	}
	// container_of(&mod->arch, struct module, arch) is mod.
	o, err := ContainerOf(ctx, modAddr+88, "struct module", "arch")
	if err != nil || o.Addr != modAddr {
		t.Errorf("ContainerOf = %#x, %v", o.Addr, err)
	}
	o, err = ContainerOf(ctx, modAddr+56, "struct module", "mem[1]")
	if err != nil || o.Addr != modAddr {
		t.Errorf("ContainerOf(mem[1]) = %#x, %v", o.Addr, err)
	}
	fs, err := mustMember(t, mod, "arch").Fields()
	if err != nil || len(fs) != 3 || fs[1].Name != "stub_count" || fs[1].Object.Addr != modAddr+92 {
		t.Errorf("Fields(arch) = %+v, %v", fs, err)
	}
}

func TestDetectFeaturesSynthetic(t *testing.T) {
	t.Parallel()
	f := DetectFeatures(synthTypes(t))
	want := Features{OOLStubs: true, StubCount: true, OOLFtraceOp: true, DynFtraceOOLStub: true, ModuleKLPInfo: true, ModuleMem: true}
	if f != want {
		t.Errorf("DetectFeatures = %+v, want %+v", f, want)
	}
	if (DetectFeatures(nil) != Features{}) {
		t.Error("DetectFeatures(nil) not zero")
	}
}
