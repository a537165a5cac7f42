package symbols

import (
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/ctype"
)

// btfBuilder lays out a BTF blob by hand (include/uapi/linux/btf.h) in
// either byte order: the synthetic inputs of the edge-case tests and the
// fuzz seeds.
type btfBuilder struct {
	order interface {
		binary.ByteOrder
		binary.AppendByteOrder
	}
	types   []byte
	strs    []byte
	layout  []byte
	n       uint32 // records so far
	start   uint32 // first ID (1 for base BTF)
	strBase uint32 // string offset of strs[0] (0 for base BTF)
}

func newBTFBuilder(order binary.ByteOrder) *btfBuilder {
	return &btfBuilder{order: appendOrder(order), strs: []byte{0}, start: 1}
}

func appendOrder(o binary.ByteOrder) interface {
	binary.ByteOrder
	binary.AppendByteOrder
} {
	if IsBigEndian(o) {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// newSplitBuilder builds split BTF over base.
func newSplitBuilder(base *BTF) *btfBuilder {
	return &btfBuilder{order: appendOrder(base.Order), start: base.NumTypes(), strBase: base.startStr + uint32(len(base.strs))}
}

// str adds a string and returns its offset.
func (w *btfBuilder) str(s string) uint32 {
	if s == "" {
		return 0
	}
	off := w.strBase + uint32(len(w.strs))
	w.strs = append(append(w.strs, s...), 0)
	return off
}

// add appends a record and returns its ID.
func (w *btfBuilder) add(name string, kind uint8, kflag bool, vlen int, sizeType uint32, extra ...uint32) uint32 {
	info := uint32(kind)<<24 | uint32(vlen)
	if kflag {
		info |= 1 << 31
	}
	for _, v := range append([]uint32{w.str(name), info, sizeType}, extra...) {
		w.types = w.order.AppendUint32(w.types, v)
	}
	w.n++
	return w.start + w.n - 1
}

func (w *btfBuilder) intType(name string, size, enc, bits uint32) uint32 {
	return w.add(name, BTF_KIND_INT, false, 0, size, enc<<24|bits)
}

func (w *btfBuilder) typedef(name string, to uint32) uint32 {
	return w.add(name, BTF_KIND_TYPEDEF, false, 0, to)
}

// mem is a member's words: name, type, offset.
func (w *btfBuilder) mem(name string, typ, off uint32) []uint32 {
	return []uint32{w.str(name), typ, off}
}

func (w *btfBuilder) structType(name string, kflag bool, size uint32, members ...[]uint32) uint32 {
	var extra []uint32
	for _, m := range members {
		extra = append(extra, m...)
	}
	return w.add(name, BTF_KIND_STRUCT, kflag, len(members), size, extra...)
}

// bytes is the blob: header (32 bytes with a layout section), types,
// strings, layout.
func (w *btfBuilder) bytes() []byte {
	hdr := uint32(24)
	if w.layout != nil {
		hdr = 32
	}
	var b []byte
	b = w.order.AppendUint16(b, BTF_MAGIC)
	b = append(b, BTF_VERSION, 0)
	b = w.order.AppendUint32(b, hdr)
	b = w.order.AppendUint32(b, 0)
	b = w.order.AppendUint32(b, uint32(len(w.types)))
	b = w.order.AppendUint32(b, uint32(len(w.types)))
	b = w.order.AppendUint32(b, uint32(len(w.strs)))
	if w.layout != nil {
		b = w.order.AppendUint32(b, uint32(len(w.types)+len(w.strs)))
		b = w.order.AppendUint32(b, uint32(len(w.layout)))
	}
	b = append(b, w.types...)
	b = append(b, w.strs...)
	return append(b, w.layout...)
}

// edgeBlob is a small base blob with what the fixtures lack: TYPE_TAG,
// DECL_TAG, a struct without kind_flag whose bitfield is an irregular
// INT, a pointer to an anonymous struct, a self-referencing named
// struct, and a kind newer than this reader skipped through the layout
// section.
func edgeBlob(order binary.ByteOrder) []byte {
	w := newBTFBuilder(order)
	u32 := w.intType("unsigned int", 4, 0, 32)           // 1
	u3 := w.intType("unsigned int", 4, 0, 3)             // 2: a bitfield's INT
	long := w.intType("long int", 8, BTF_INT_SIGNED, 64) // 3
	const ptag, panon = 6, 8
	node := w.structType("node", false, 24, // 4: no kind_flag
		w.mem("next", ptag, 0), w.mem("bits", u3, 64), w.mem("u", u32, 96), w.mem("anon", panon, 128))
	tag := w.add("rcu", BTF_KIND_TYPE_TAG, false, 0, node)          // 5
	w.add("", BTF_KIND_PTR, false, 0, tag)                          // 6
	anon := w.structType("", false, 8, w.mem("x", long, 0))         // 7
	w.add("", BTF_KIND_PTR, false, 0, anon)                         // 8
	w.add("counted", BTF_KIND_DECL_TAG, false, 0, node, 0xffffffff) // 9
	w.add("", 20, false, 2, 0, 0x11111111, 0x22222222, 0x33333333)  // 10: kind 20, 4 + 2*4 bytes by the layout
	w.typedef("node_t", node)                                       // 11
	w.layout = make([]byte, 4*21)
	w.layout[4*20], w.layout[4*20+1] = 4, 4
	return w.bytes()
}

func TestBTFEdgeKinds(t *testing.T) {
	t.Parallel()
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		t.Run(order.String(), func(t *testing.T) {
			b, err := ParseBTF(edgeBlob(order), nil)
			if err != nil {
				t.Fatal(err)
			}
			if b.Order != order || b.NumTypes() != 12 {
				t.Fatalf("order %v, %d types", b.Order, b.NumTypes())
			}
			ts, err := NewBTFTypes(b)
			if err != nil {
				t.Fatal(err)
			}
			node, err := ts.Lookup("node_t")
			if err != nil {
				t.Fatal(err)
			}
			want := []Field{
				{Name: "next", BitOffset: 0}, {Name: "bits", BitOffset: 64, BitSize: 3},
				{Name: "u", BitOffset: 96}, {Name: "anon", BitOffset: 128},
			}
			fs := Fields(node, order)
			if len(fs) != len(want) {
				t.Fatalf("fields %v", fs)
			}
			for i, f := range fs {
				if f.Name != want[i].Name || f.BitOffset != want[i].BitOffset || f.BitSize != want[i].BitSize {
					t.Errorf("field %d = %+v, want %+v", i, f, want[i])
				}
			}
			// The type tag is looked through; the pointer's struct is
			// node itself once completed.
			next := fs[0].Type.(*ctype.PtrType).Type.(*ctype.StructType)
			if next.StructName != "node" || !next.Incomplete || ts.Complete(next) != Underlying(node) {
				t.Errorf("next points to %+v", next)
			}
			// A pointer to an anonymous struct has no name to complete
			// by: it points to the definition.
			if a := fs[3].Type.(*ctype.PtrType).Type.(*ctype.StructType); a.Incomplete || len(a.Field) != 1 {
				t.Errorf("anon points to %+v", a)
			}
			if _, err := b.Type(10); err != nil {
				t.Errorf("kind 20, skipped through the layout section: %v", err)
			}
			if _, err := b.Type(9); !isBTFError(err) {
				t.Errorf("DECL_TAG as a type: %v", err)
			}
		})
	}
}

func isBTFError(err error) bool {
	var be *BTFError
	return errors.As(err, &be)
}

// TestBTFRefused: malformed blobs and types are *BTFErrors that say where,
// never panics.
func TestBTFRefused(t *testing.T) {
	t.Parallel()
	le := binary.LittleEndian
	good := edgeBlob(le)
	patch := func(off int, v uint32) []byte {
		b := append([]byte(nil), good...)
		le.PutUint32(b[off:], v)
		return b
	}
	for _, tt := range []struct {
		name string
		data []byte
		off  int64 // want BTFError.Off (-2: any)
		msg  string
	}{
		{"empty", nil, 0, "shorter than a BTF header"},
		{"bad magic", append([]byte{0x12, 0x34}, good[2:]...), 0, "bad magic"},
		{"version", append(append([]byte(nil), good[:2]...), append([]byte{2}, good[3:]...)...), 2, "version 2"},
		{"hdr_len small", patch(4, 8), 4, "hdr_len 8"},
		{"hdr_len beyond", patch(4, 1<<20), 4, "hdr_len"},
		{"types beyond", patch(12, 1<<20), 8, "type section"},
		{"strings beyond", patch(20, 1<<20), 16, "string section"},
		{"record cut short", patch(12, 8), 32, "cut short"},
		{"vlen beyond", patch(32+16*3+4, BTF_KIND_STRUCT<<24|0xffffff), 32 + 48, "vlen 16777215"},
		{"unknown kind, no layout", patch(32+16*3+4, 99<<24), 32 + 48, "unknown kind 99"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBTF(tt.data, nil)
			var be *BTFError
			if !errors.As(err, &be) || !strings.Contains(err.Error(), tt.msg) || (tt.off != -2 && be.Off != tt.off) {
				t.Errorf("err = %v (off %v); want a BTFError at %d saying %q", err, be, tt.off, tt.msg)
			}
		})
	}
	base, _ := ParseBTF(good, nil)
	if _, err := ParseBTF(edgeBlob(binary.BigEndian), base); !isBTFError(err) {
		t.Errorf("big-endian split over little-endian base: %v", err)
	}
	// A blob whose string section does not end in NUL.
	w := newBTFBuilder(le)
	w.intType("int", 4, BTF_INT_SIGNED, 32)
	w.strs = append(w.strs, 'x')
	if _, err := ParseBTF(w.bytes(), nil); !isBTFError(err) {
		t.Errorf("unterminated strings: %v", err)
	}
}

// TestBTFBadTypes: types that parse but cannot be converted.
func TestBTFBadTypes(t *testing.T) {
	t.Parallel()
	le := binary.LittleEndian
	for _, tt := range []struct {
		name  string
		build func(w *btfBuilder) uint32 // returns the ID to convert
		msg   string
	}{
		{"typedef cycle", func(w *btfBuilder) uint32 {
			w.typedef("a", 2)
			return w.typedef("b", 1)
		}, "refers to itself"},
		{"const self", func(w *btfBuilder) uint32 { return w.add("", BTF_KIND_CONST, false, 0, 1) }, "refers to itself"},
		{"pointer cycle", func(w *btfBuilder) uint32 {
			w.add("", BTF_KIND_PTR, false, 0, 2)
			return w.add("", BTF_KIND_PTR, false, 0, 1)
		}, "refers to itself"},
		{"struct holds itself", func(w *btfBuilder) uint32 {
			return w.structType("s", false, 8, w.mem("s", 1, 0))
		}, "refers to itself"},
		{"anonymous struct through a pointer to itself", func(w *btfBuilder) uint32 {
			w.structType("", false, 8, w.mem("p", 2, 0))
			return w.add("", BTF_KIND_PTR, false, 0, 1)
		}, "refers to itself"},
		{"deep typedefs", func(w *btfBuilder) uint32 {
			w.intType("int", 4, BTF_INT_SIGNED, 32)
			for i := uint32(1); i < 600; i++ {
				w.typedef("t", i)
			}
			return 600
		}, "deeper than 512"},
		{"member type out of range", func(w *btfBuilder) uint32 {
			return w.structType("s", false, 8, w.mem("m", 99, 0))
		}, "outside [1, 2)"},
		{"name out of range", func(w *btfBuilder) uint32 {
			w.intType("int", 4, BTF_INT_SIGNED, 32)
			return w.structType("s", false, 8, []uint32{1 << 20, 1, 0})
		}, "name offset 0x100000"},
		{"unaligned member", func(w *btfBuilder) uint32 {
			w.intType("int", 4, BTF_INT_SIGNED, 32)
			return w.structType("s", false, 8, w.mem("m", 1, 3))
		}, "not byte-aligned"},
		{"huge array", func(w *btfBuilder) uint32 {
			w.structType("big", false, 0xffffffff)
			w.intType("int", 4, BTF_INT_SIGNED, 32)
			return w.add("", BTF_KIND_ARRAY, false, 0, 0, 1, 2, 0xffffffff)
		}, "larger than"},
		{"int of 3 bytes", func(w *btfBuilder) uint32 { return w.intType("odd", 3, 0, 24) }, "of 3 bytes"},
		{"int bits beyond size", func(w *btfBuilder) uint32 { return w.intType("odd", 4, 0, 40) }, "do not fit"},
		{"VAR as a type", func(w *btfBuilder) uint32 {
			w.intType("int", 4, BTF_INT_SIGNED, 32)
			v := w.add("v", BTF_KIND_VAR, false, 0, 1, 1)
			return w.add("", BTF_KIND_PTR, false, 0, v)
		}, "a VAR is not a type"},
		{"void parameter before the last", func(w *btfBuilder) uint32 {
			w.intType("int", 4, BTF_INT_SIGNED, 32)
			return w.add("", BTF_KIND_FUNC_PROTO, false, 2, 1, 0, 0, 0, 1)
		}, "parameter 0 of 2 is void"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newBTFBuilder(le)
			id := tt.build(w)
			b, err := ParseBTF(w.bytes(), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.Type(id)
			if !isBTFError(err) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Type(%d) = %v; want a BTFError saying %q", id, err, tt.msg)
			}
		})
	}
}

// TestSplitOfSplit: a split blob over a split blob continues both IDs and
// string offsets, and finds names down the chain.
func TestSplitOfSplit(t *testing.T) {
	t.Parallel()
	w := newBTFBuilder(binary.BigEndian)
	w.intType("int", 4, BTF_INT_SIGNED, 32)
	base := mustParse(t, w.bytes(), nil)
	w1 := newSplitBuilder(base)
	w1.typedef("one", 1)
	mid := mustParse(t, w1.bytes(), base)
	w2 := newSplitBuilder(mid)
	w2.typedef("two", 2)
	top := mustParse(t, w2.bytes(), mid)
	if top.StartID() != 3 || top.NumTypes() != 4 {
		t.Fatalf("top starts at %d, %d types", top.StartID(), top.NumTypes())
	}
	ts, err := NewBTFTypes(top)
	if err != nil {
		t.Fatal(err)
	}
	ty, err := ts.Lookup("two")
	if err != nil || ty.String() != "two" || Underlying(ty).String() != "int" || ty.Size() != 4 {
		t.Errorf("Lookup(two) = %v, %v", ty, err)
	}
	if ty, err := ts.Lookup("one"); err != nil || ty.(*ctype.TypedefType).Type.String() != "int" {
		t.Errorf("Lookup(one) = %v, %v", ty, err)
	}
	if _, err := top.Type(4); !isBTFError(err) {
		t.Errorf("Type(4) = %v; want out of range", err)
	}
}

var fuzzBase = sync.OnceValue(func() *BTF {
	b, _ := ParseBTF(edgeBlob(binary.LittleEndian), nil)
	return b
})

// FuzzBTF feeds blobs to the parser, as base BTF or as split BTF over a
// small base, then converts every type, prints and sizes it, walks its
// members and completes what its pointers point to, and asks the Types
// methods for names it holds: no panic, no hang, only *BTFErrors and
// *LookupErrors.
func FuzzBTF(f *testing.F) {
	for _, name := range []string{"kernelish-le.btf", "kernelish-be.btf", "livepatch-sample.split.btf"} {
		f.Add(readFixture(f, name), false)
	}
	f.Add(edgeBlob(binary.LittleEndian), false)
	f.Add(edgeBlob(binary.BigEndian), false)
	f.Add(edgeBlob(binary.LittleEndian), true)
	f.Fuzz(func(t *testing.T, data []byte, split bool) {
		var base *BTF
		if split {
			base = fuzzBase()
		}
		b, err := ParseBTF(data, base)
		if err != nil {
			if !isBTFError(err) {
				t.Fatalf("not a BTFError: %v", err)
			}
			return
		}
		ts, err := NewBTFTypes(b)
		if err != nil {
			if !isBTFError(err) {
				t.Fatalf("not a BTFError: %v", err)
			}
			return
		}
		for id := range min(b.NumTypes(), 4096) {
			ty, err := b.Type(id)
			if err != nil {
				if !isBTFError(err) {
					t.Fatalf("type %d: not a BTFError: %v", id, err)
				}
				continue
			}
			_ = ty.String()
			_ = ty.Size()
			for _, fl := range Fields(ty, b.Order) {
				if p, ok := fl.Type.(*ctype.PtrType); ok {
					c := ts.Complete(p.Type)
					_, _ = c.String(), c.Size()
				}
			}
		}
		names, _ := ts.Names("", "", 64)
		for _, n := range names {
			if _, err := ts.Sizeof(n); err != nil {
				var le *LookupError
				if !errors.As(err, &le) {
					t.Fatalf("Sizeof(%q): %v", n, err)
				}
			}
		}
		ts.Stats()
		_, _ = ts.EnumConstant("MOD_TEXT")
		_, _ = ts.VariableType("percpu_mod")
	})
}
