package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// flatMem is memory at [base, base+len(b)); reads outside fault.
type flatMem struct {
	base uint64
	b    []byte
}

var errUnmapped = errors.New("unmapped")

func (m *flatMem) ReadAt(p []byte, addr uint64) (int, error) {
	if addr < m.base || addr-m.base >= uint64(len(m.b)) {
		return 0, fmt.Errorf("%w at %#x", errUnmapped, addr)
	}
	n := copy(p, m.b[addr-m.base:])
	if n < len(p) {
		return n, fmt.Errorf("%w at %#x", errUnmapped, addr+uint64(n))
	}
	return n, nil
}

// kallsymsImage lays out the arrays of kernel/kallsyms_internal.h the way
// scripts/kallsyms.c emits them, with a trivial token table (token b is the
// single byte b, except token 0x01 = "ab" to exercise multi-byte tokens),
// and returns memory plus a lookup.
type kallsymsImage struct {
	mem   *flatMem
	syms  map[string]uint64
	order binary.ByteOrder
	offs  uint64
	names uint64
}

type ksym struct {
	typ  byte
	name string
	addr uint64
}

func buildKallsyms(order binary.ByteOrder, syms []ksym, relBase uint64) *kallsymsImage {
	const base = 0xc000000001000000
	img := &kallsymsImage{order: order, syms: map[string]uint64{}}
	mem := make([]byte, 0, 1<<16)
	put := func(name string, data []byte) uint64 {
		for len(mem)%8 != 0 {
			mem = append(mem, 0)
		}
		a := base + uint64(len(mem))
		img.syms[name] = a
		mem = append(mem, data...)
		return a
	}
	num := make([]byte, 4)
	order.PutUint32(num, uint32(len(syms)))
	put("kallsyms_num_syms", num)
	// Token table: token i = byte i, token 1 = "ab", token 0 = "" (unused).
	var table []byte
	index := make([]byte, 512)
	for i := 0; i < 256; i++ {
		order.PutUint16(index[i*2:], uint16(len(table)))
		switch i {
		case 0:
		case 1:
			table = append(table, 'a', 'b')
		default:
			table = append(table, byte(i))
		}
		table = append(table, 0)
	}
	put("kallsyms_token_table", table)
	put("kallsyms_token_index", index)
	var names []byte
	var markers []byte
	for i, s := range syms {
		if i%256 == 0 {
			m := make([]byte, 4)
			order.PutUint32(m, uint32(len(names)))
			markers = append(markers, m...)
		}
		enc := []byte{s.typ}
		full := s.name
		for len(full) > 0 {
			if strings.HasPrefix(full, "ab") {
				enc = append(enc, 1)
				full = full[2:]
				continue
			}
			enc = append(enc, full[0])
			full = full[1:]
		}
		if len(enc) > 0x7f {
			names = append(names, byte(len(enc)&0x7f|0x80), byte(len(enc)>>7))
		} else {
			names = append(names, byte(len(enc)))
		}
		names = append(names, enc...)
	}
	img.names = put("kallsyms_names", names)
	put("kallsyms_markers", markers)
	// offsets: placed last so their address is known when computing.
	for len(mem)%8 != 0 {
		mem = append(mem, 0)
	}
	offsAddr := base + uint64(len(mem))
	offs := make([]byte, 4*len(syms))
	for i, s := range syms {
		var v uint32
		if relBase != 0 {
			v = uint32(s.addr - relBase)
		} else {
			v = uint32(int32(int64(s.addr) - int64(offsAddr+uint64(i)*4)))
		}
		order.PutUint32(offs[i*4:], v)
	}
	put("kallsyms_offsets", offs)
	if relBase != 0 {
		rb := make([]byte, 8)
		order.PutUint64(rb, relBase)
		put("kallsyms_relative_base", rb)
	}
	img.offs = offsAddr
	img.mem = &flatMem{base: base, b: mem}
	return img
}

func (img *kallsymsImage) lookup(n string) (uint64, bool) { a, ok := img.syms[n]; return a, ok }

func TestReadKallsymsSynthetic(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200) // a "big" symbol: two length bytes
	syms := []ksym{
		{'T', "_stext", 0xc000000000000000},
		{'t', "abcab", 0xc000000000000100},
		{'D', "some_data", 0xc000000000800000},
		{'T', long, 0xc000000000000200},
	}
	for i := 0; i < 600; i++ { // several markers
		syms = append(syms, ksym{'t', fmt.Sprintf("fn_%d", i), 0xc000000000010000 + uint64(i)*0x40})
	}
	for _, tc := range []struct {
		name    string
		order   binary.ByteOrder
		relBase uint64
	}{
		{"self-relative LE", binary.LittleEndian, 0},
		{"self-relative BE", binary.BigEndian, 0},
		{"relative_base", binary.LittleEndian, 0xc000000000000000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := buildKallsyms(tc.order, syms, tc.relBase)
			tab, err := ReadKallsyms(img.mem, tc.order, img.lookup)
			if err != nil {
				t.Fatal(err)
			}
			if tab.Len() != len(syms) {
				t.Fatalf("%d symbols, want %d", tab.Len(), len(syms))
			}
			for _, s := range syms {
				got, ok := tab.ByName(s.name)
				if !ok || got.Addr != s.addr || got.Kind != s.typ {
					t.Errorf("%s: got %+v %v, want %c at %#x", s.name[:min(len(s.name), 20)], got, ok, s.typ, s.addr)
				}
			}
			if s, off, ok := tab.ByAddr(0xc000000000000108); !ok || s.Name != "abcab" || off != 8 {
				t.Errorf("ByAddr = %s+%#x %v", s.Name, off, ok)
			}
		})
	}
}

func TestReadKallsymsCorrupt(t *testing.T) {
	t.Parallel()
	syms := []ksym{{'T', "a", 0xc000000000000000}, {'T', "bb", 0xc000000000000010}}
	tests := []struct {
		name   string
		mutate func(img *kallsymsImage)
	}{
		{"num_syms huge", func(img *kallsymsImage) {
			img.order.PutUint32(img.mem.b[img.syms["kallsyms_num_syms"]-img.mem.base:], 0xffffffff)
		}},
		{"num_syms zero", func(img *kallsymsImage) {
			img.order.PutUint32(img.mem.b[img.syms["kallsyms_num_syms"]-img.mem.base:], 0)
		}},
		{"names run off memory", func(img *kallsymsImage) {
			img.order.PutUint32(img.mem.b[img.syms["kallsyms_num_syms"]-img.mem.base:], 3000)
		}},
		{"missing symbol", func(img *kallsymsImage) { delete(img.syms, "kallsyms_token_table") }},
		{"marker mismatch", func(img *kallsymsImage) {
			img.order.PutUint32(img.mem.b[img.syms["kallsyms_markers"]-img.mem.base:], 5)
		}},
		{"unmapped offsets", func(img *kallsymsImage) { img.syms["kallsyms_offsets"] = 0x1000 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := buildKallsyms(binary.LittleEndian, syms, 0)
			tc.mutate(img)
			if _, err := ReadKallsyms(img.mem, binary.LittleEndian, img.lookup); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestModuleKallsymsSynthetic(t *testing.T) {
	t.Parallel()
	o := binary.LittleEndian
	const base = 0xc008000000100000
	// symtab at base, strtab at base+0x100, typetab at base+0x200.
	mem := make([]byte, 0x300)
	str := "\x00mod_fn\x00mod_data\x00"
	copy(mem[0x100:], str)
	ents := []struct {
		name  uint32
		other byte
		value uint64
		size  uint64
		typ   byte
	}{
		{0, 0, 0, 0, 'U'}, // the null symbol: empty name, skipped
		{1, 3 << 5, base + 0x10000, 0x40, 't'},
		{8, 0, base + 0x20000, 8, 'd'},
	}
	for i, e := range ents {
		b := mem[i*24:]
		o.PutUint32(b, e.name)
		b[5] = e.other
		o.PutUint64(b[8:], e.value)
		o.PutUint64(b[16:], e.size)
		mem[0x200+i] = e.typ
	}
	m := &flatMem{base: base, b: mem}
	tab, err := ModuleKallsyms(m, o, base, 3, base+0x100, base+0x200, "m")
	if err != nil {
		t.Fatal(err)
	}
	want := []Symbol{
		{Name: "mod_fn", Addr: base + 0x10000, Size: 0x40, Kind: 't', Module: "m", LocalEntry: 8},
		{Name: "mod_data", Addr: base + 0x20000, Size: 8, Kind: 'd', Module: "m"},
	}
	got := tab.Symbols()
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("symbols = %+v, want %+v", got, want)
	}
	if _, err := ModuleKallsyms(m, o, base, 1<<30, base+0x100, base+0x200, "m"); err == nil {
		t.Error("huge num_symtab: no error")
	}
	if _, err := ModuleKallsyms(m, o, base, 20, base+0x100, base+0x200, "m"); err == nil {
		t.Error("symtab beyond memory: no error")
	}
	if _, err := ModuleKallsyms(m, o, base, 2, base+0x1000, base+0x200, "m"); err == nil {
		t.Error("strtab outside memory: no error")
	}
}

// FuzzReadKallsyms loads fuzz bytes as the memory holding the kallsyms
// arrays, with the array addresses taken from the first bytes.
func FuzzReadKallsyms(f *testing.F) {
	img := buildKallsyms(binary.LittleEndian, []ksym{{'T', "a", 0xc000000000000000}, {'t', "abab", 0xc000000000000010}}, 0)
	hdr := make([]byte, 40)
	for i, n := range []string{"kallsyms_num_syms", "kallsyms_names", "kallsyms_token_table", "kallsyms_token_index", "kallsyms_offsets"} {
		binary.LittleEndian.PutUint64(hdr[i*8:], img.syms[n]-img.mem.base)
	}
	f.Add(append(hdr, img.mem.b...))
	f.Add(make([]byte, 100))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 40 {
			return
		}
		const base = 0xc000000001000000
		m := &flatMem{base: base, b: data[40:]}
		names := []string{"kallsyms_num_syms", "kallsyms_names", "kallsyms_token_table", "kallsyms_token_index", "kallsyms_offsets"}
		lookup := func(n string) (uint64, bool) {
			for i, x := range names {
				if x == n {
					return base + binary.LittleEndian.Uint64(data[i*8:])%uint64(len(data)+8), true
				}
			}
			return 0, false
		}
		tab, err := ReadKallsyms(m, binary.LittleEndian, lookup)
		if err == nil {
			tab.ByAddr(base)
		}
		ModuleKallsyms(m, binary.LittleEndian, base, uint64(len(data)%64), base+8, base+16, "fuzz")
	})
}
