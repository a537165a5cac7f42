package symbols

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// readFixture reads testdata/btf/name, decompressing a .zst.
func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "btf", name))
	if err != nil {
		tb.Fatal(err)
	}
	if strings.HasSuffix(name, ".zst") {
		d, err := zstd.NewReader(nil)
		if err != nil {
			tb.Fatal(err)
		}
		defer d.Close()
		if b, err = d.DecodeAll(b, nil); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

func mustParse(tb testing.TB, data []byte, base *BTF) *BTF {
	tb.Helper()
	b, err := ParseBTF(data, base)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// bpftoolDump prints b's own types as `bpftool btf dump file F format raw`
// (bpftool 7.1, libbpf 1.1) does, from the raw records: what the fixtures'
// truth files, written by bpftool, are compared with.
func bpftoolDump(b *BTF) string {
	var w strings.Builder
	name := func(off uint32) string {
		s, err := b.Name(off)
		if err != nil {
			return "<bad name>"
		}
		if s == "" {
			return "(anon)"
		}
		return s
	}
	for i := range b.offs {
		id := b.startID + uint32(i)
		t, _ := b.typ(id)
		k := t.Kind()
		fmt.Fprintf(&w, "[%d] %s '%s'", id, BTFKindName(k), name(t.NameOff))
		switch k {
		case BTF_KIND_INT:
			v := t.u32(0)
			enc := map[uint32]string{0: "(none)", BTF_INT_SIGNED: "SIGNED", BTF_INT_CHAR: "CHAR", BTF_INT_BOOL: "BOOL"}[v>>24&0xf]
			fmt.Fprintf(&w, " size=%d bits_offset=%d nr_bits=%d encoding=%s", t.SizeType, v>>16&0xff, v&0xff, enc)
		case BTF_KIND_PTR, BTF_KIND_TYPEDEF, BTF_KIND_VOLATILE, BTF_KIND_CONST, BTF_KIND_RESTRICT, BTF_KIND_TYPE_TAG:
			fmt.Fprintf(&w, " type_id=%d", t.SizeType)
		case BTF_KIND_ARRAY:
			fmt.Fprintf(&w, " type_id=%d index_type_id=%d nr_elems=%d", t.u32(0), t.u32(1), t.u32(2))
		case BTF_KIND_STRUCT, BTF_KIND_UNION:
			fmt.Fprintf(&w, " size=%d vlen=%d", t.SizeType, t.Vlen())
			for j := range t.Vlen() {
				off := t.u32(3*j + 2)
				if t.KindFlag() {
					fmt.Fprintf(&w, "\n\t'%s' type_id=%d bits_offset=%d", name(t.u32(3*j)), t.u32(3*j+1), off&0xffffff)
					if off>>24 != 0 {
						fmt.Fprintf(&w, " bitfield_size=%d", off>>24)
					}
				} else {
					fmt.Fprintf(&w, "\n\t'%s' type_id=%d bits_offset=%d", name(t.u32(3*j)), t.u32(3*j+1), off)
				}
			}
		case BTF_KIND_ENUM, BTF_KIND_ENUM64:
			enc := "UNSIGNED"
			if t.KindFlag() {
				enc = "SIGNED"
			}
			fmt.Fprintf(&w, " encoding=%s size=%d vlen=%d", enc, t.SizeType, t.Vlen())
			for j := range t.Vlen() {
				if k == BTF_KIND_ENUM {
					v := t.u32(2*j + 1)
					if t.KindFlag() {
						fmt.Fprintf(&w, "\n\t'%s' val=%d", name(t.u32(2*j)), int32(v))
					} else {
						fmt.Fprintf(&w, "\n\t'%s' val=%d", name(t.u32(2*j)), v)
					}
				} else {
					v := uint64(t.u32(3*j+2))<<32 | uint64(t.u32(3*j+1))
					if t.KindFlag() {
						fmt.Fprintf(&w, "\n\t'%s' val=%dLL", name(t.u32(3*j)), int64(v))
					} else {
						fmt.Fprintf(&w, "\n\t'%s' val=%dULL", name(t.u32(3*j)), v)
					}
				}
			}
		case BTF_KIND_FWD:
			kind := "struct"
			if t.KindFlag() {
				kind = "union"
			}
			fmt.Fprintf(&w, " fwd_kind=%s", kind)
		case BTF_KIND_FUNC:
			fmt.Fprintf(&w, " type_id=%d linkage=%s", t.SizeType, [...]string{"static", "global", "extern"}[min(t.Vlen(), 2)])
		case BTF_KIND_FUNC_PROTO:
			fmt.Fprintf(&w, " ret_type_id=%d vlen=%d", t.SizeType, t.Vlen())
			for j := range t.Vlen() {
				fmt.Fprintf(&w, "\n\t'%s' type_id=%d", name(t.u32(2*j)), t.u32(2*j+1))
			}
		case BTF_KIND_VAR:
			fmt.Fprintf(&w, " type_id=%d, linkage=%s", t.SizeType, [...]string{"static", "global", "extern"}[min(t.u32(0), 2)])
		case BTF_KIND_DATASEC:
			fmt.Fprintf(&w, " size=%d vlen=%d", t.SizeType, t.Vlen())
			for j := range t.Vlen() {
				v := t.u32(3 * j)
				vn := "?"
				if vt, err := b.typ(v); err == nil {
					vn = name(vt.NameOff)
				}
				fmt.Fprintf(&w, "\n\ttype_id=%d offset=%d size=%d (VAR '%s')", v, t.u32(3*j+1), t.u32(3*j+2), vn)
			}
		case BTF_KIND_FLOAT:
			fmt.Fprintf(&w, " size=%d", t.SizeType)
		case BTF_KIND_DECL_TAG:
			fmt.Fprintf(&w, " type_id=%d component_idx=%d", t.SizeType, int32(t.u32(0)))
		}
		w.WriteByte('\n')
	}
	return w.String()
}

// compareDump compares our dump with bpftool's, line by line.
func compareDump(t *testing.T, got, want string) {
	t.Helper()
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	n := 0
	for i := range max(len(g), len(w)) {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			t.Errorf("line %d:\n ours:    %s\n bpftool: %s", i+1, a, b)
			if n++; n > 10 {
				t.Fatal("too many differences")
			}
		}
	}
}

// TestBTFMatchesBpftool: every record of each fixture, decoded by our
// parser, against bpftool's raw dump of the same file (libbpf, an
// independent reader; its output was committed by make.sh): base BTF of
// both byte orders, and split BTF whose IDs and string offsets continue
// its base's.
func TestBTFMatchesBpftool(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ btf, base, truth string }{
		{"kernelish-le.btf", "", "kernelish-le.bpftool.txt"},
		{"kernelish-be.btf", "", "kernelish-be.bpftool.txt"},
		{"modarch_dump.btf.zst", "", "modarch_dump.bpftool.txt.zst"},
		{"livepatch-sample.split.btf", "modarch_dump.btf.zst", "livepatch-sample.split.bpftool.txt"},
		{"kernelish_mod-le.split.btf", "kernelish-le.btf", "kernelish_mod-le.split.bpftool.txt"},
		{"kernelish_mod-be.split.btf", "kernelish-be.btf", "kernelish_mod-be.split.bpftool.txt"},
	} {
		t.Run(tt.btf, func(t *testing.T) {
			var base *BTF
			if tt.base != "" {
				base = mustParse(t, readFixture(t, tt.base), nil)
			}
			b := mustParse(t, readFixture(t, tt.btf), base)
			compareDump(t, bpftoolDump(b), string(readFixture(t, tt.truth)))
		})
	}
}

// TestBTFByteOrders: the big-endian fixture reads as big-endian, the
// little-endian one as little-endian, and both give the same types (the
// bit offsets of bitfields too: BTF, like DW_AT_data_bit_offset, counts
// from the storage's first bit in the target's own numbering).
func TestBTFByteOrders(t *testing.T) {
	t.Parallel()
	le := mustParse(t, readFixture(t, "kernelish-le.btf"), nil)
	be := mustParse(t, readFixture(t, "kernelish-be.btf"), nil)
	if le.Order != binary.LittleEndian || be.Order != binary.BigEndian {
		t.Fatalf("orders %v, %v", le.Order, be.Order)
	}
	if bpftoolDump(le) != bpftoolDump(be) {
		t.Error("the two byte orders decode to different records")
	}
}

// kernelishTypes loads a kernelish fixture's BTF and its object's DWARF.
func kernelishTypes(t *testing.T, e string) (bt, dt *Types, f *ELFFile) {
	t.Helper()
	bt, err := LoadBTFTypes(readFixture(t, "kernelish-"+e+".btf"))
	if err != nil {
		t.Fatal(err)
	}
	f, err = OpenELF(filepath.Join("testdata", "btf", "kernelish-"+e+".o"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	dt, err = LoadELFTypes(f, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return bt, dt, f
}

// TestBTFFixtureMatchesDWARF: every named type of kernelish.c, from the
// BTF pahole encoded and from the DWARF it was encoded from, compared
// through every pointer, for both byte orders; the differences are the
// ones btfExplain knows, and the members kernelish.c lays out by the
// ppc64 ABI sit where the C source and the ABI put them.
func TestBTFFixtureMatchesDWARF(t *testing.T) {
	t.Parallel()
	for _, e := range []string{"le", "be"} {
		t.Run(e, func(t *testing.T) {
			bt, dt, f := kernelishTypes(t, e)
			c := &btfComparer{bt: bt, dt: dt, order: f.ByteOrder, ptrHops: 100, seen: map[[2]ctype.Type]bool{}, explains: btfExplain}
			names, _ := dt.Names("", "", 0)
			compared := 0
			for _, n := range names {
				a, errA := bt.Lookup(n)
				b, errB := dt.Lookup(n)
				if errA != nil || errB != nil {
					t.Errorf("%s: BTF %v, DWARF %v", n, errA, errB)
					continue
				}
				compared++
				c.cmp(a, b, n, 0)
			}
			c.report(t, compared, "names")
			if compared < 25 || c.bitfields < 9 {
				t.Errorf("compared only %d names, %d bitfields", compared, c.bitfields)
			}
			checkKernelishLayout(t, bt, f.ByteOrder)
		})
	}
}

// checkKernelishLayout checks members against kernelish.c and the ppc64
// ELFv2 ABI (bitfields allocated from the storage unit's first bit in the
// target's numbering, 8-byte long and pointer, 16-byte long double and
// __int128 aligned to 16).
func checkKernelishLayout(t *testing.T, ts *Types, order binary.ByteOrder) {
	t.Helper()
	for _, m := range []struct {
		typ, path  string
		bit, bits  int64
		typeString string
	}{
		{"struct bits", "a", 0, 1, "unsigned int"},
		{"struct bits", "b", 1, 7, "int"},
		{"struct bits", "wide", 8, 40, "long long unsigned int"},
		{"struct bits", "cross", 48, 12, "unsigned int"},
		{"struct bits", "c", 64, 0, "signed char"},
		{"struct bits", "s", 80, 9, "short unsigned int"},
		{"struct bits", "flag", 89, 1, "bool"},
		{"struct bits", "kind", 90, 4, "enum mod_mem_type {MOD_TEXT=0; MOD_DATA=1; MOD_RODATA=2; MOD_RO_AFTER_INIT=3;..."},
		{"struct printk_info", "flags", 8 * 19, 5, "u8"},
		{"struct printk_info", "level", 8*19 + 5, 3, "u8"},
		{"struct printk_info", "caller_id", 8 * 20, 0, "u32"},
		{"struct page_like", "lru", 64, 0, "struct list_head"},
		{"struct page_like", "compound_order", 128, 0, "unsigned char"},
		{"struct page_like", "page_type", 8 * 40, 0, "unsigned int"},
		{"struct flex_tail", "items", 64, 0, "[0]u64"},
		{"struct module_like", "list", 64, 0, "struct list_head"},
		{"struct module_like", "name", 192, 0, "[56]char"},
		{"struct module_like", "mem", 8 * 80, 0, "[4]struct module_memory"},
	} {
		st, err := ts.Lookup(m.typ)
		if err != nil {
			t.Fatal(err)
		}
		f, ok := FindField(st, m.path, order)
		if !ok {
			t.Errorf("%s.%s: not found", m.typ, m.path)
			continue
		}
		if f.BitOffset != m.bit || f.BitSize != m.bits || TypeString(f.Type) != m.typeString {
			t.Errorf("%s.%s: bit %d size %d type %s; want bit %d size %d type %s", m.typ, m.path, f.BitOffset, f.BitSize, TypeString(f.Type), m.bit, m.bits, m.typeString)
		}
	}
	for _, s := range []struct {
		name string
		size int64
	}{{"struct bits", 16}, {"struct printk_info", 24}, {"struct list_head", 16}, {"struct flex_tail", 8},
		{"struct module_memory", 16}, {"atomic_t", 4}, {"cv_atomic_t", 4}, {"enum tiny_e", 1}, {"enum wide_e", 8}} {
		if n, err := ts.Sizeof(s.name); err != nil || n != s.size {
			t.Errorf("sizeof(%s) = %d, %v; want %d", s.name, n, err, s.size)
		}
	}
}

// TestBTFTypesAPI: Types over BTF answers as over DWARF — enumerators of
// either sign and 64 bits, per-CPU variables, the typed "not in BTF" of
// other variables, lookups by bare and C names, a declaration completed.
func TestBTFTypesAPI(t *testing.T) {
	t.Parallel()
	ts, err := LoadBTFTypes(readFixture(t, "kernelish-be.btf"))
	if err != nil {
		t.Fatal(err)
	}
	if ts.Source() != "BTF" || ts.PtrSize != 8 || ts.BTF() == nil {
		t.Errorf("Source %q PtrSize %d", ts.Source(), ts.PtrSize)
	}
	for name, want := range map[string]int64{
		"MOD_RODATA": 2, "NEG": -2, "POS": 7, "BIG": 0xffffffff, "WIDE": 0x123456789a, "WIDENEG": -0x100000000, "T2": 2,
	} {
		if v, err := ts.EnumConstant(name); err != nil || v != want {
			t.Errorf("EnumConstant(%s) = %d, %v; want %d", name, v, err, want)
		}
	}
	var le *LookupError
	if _, err := ts.EnumConstant("NOSUCH"); !errors.As(err, &le) || !errors.Is(err, ErrNotFound) || le.Source != "BTF" {
		t.Errorf("EnumConstant(NOSUCH) = %v", err)
	}
	if vt, err := ts.VariableType("percpu_mod"); err != nil || TypeString(vt) != "struct module_like" {
		t.Errorf("VariableType(percpu_mod) = %v, %v", vt, err)
	}
	_, err = ts.VariableType("global_mod")
	if !errors.Is(err, ErrNotInBTF) || !errors.Is(err, ErrNotFound) || !errors.As(err, &le) || le.Kind != "variable" {
		t.Errorf("VariableType(global_mod) = %v; want a *LookupError wrapping ErrNotInBTF", err)
	}
	if _, err := ts.Data(); !errors.Is(err, ErrNoDWARF) {
		t.Errorf("Data() = %v", err)
	}
	for name, want := range map[string]string{
		"module_like": "struct module_like", "struct opaque *": "*struct opaque", "u64 [2][3]": "[2][3]u64",
		"unsigned long long": "long long unsigned int", "enum tiny_e": "enum tiny_e {T0=0; T1=1; T2=2}",
	} {
		ty, err := ts.Lookup(name)
		if err != nil || ty.String() != want {
			t.Errorf("Lookup(%q) = %v, %v; want %s", name, ty, err, want)
		}
	}
	// A pointer's struct completes to exactly its definition; a FWD has
	// none and stays a declaration.
	m, _ := ts.Lookup("struct module_like")
	f, _ := FindField(m, "ops", binary.BigEndian)
	q := f.Type.(*ctype.PtrType).Type.(*ctype.QualType)
	shell := q.Type.(*ctype.StructType)
	if !shell.Incomplete || shell.ByteSize != 32 {
		t.Errorf("ops points to %+v; want a declaration-shaped struct ops of 32 bytes", shell)
	}
	if def, ok := ts.Complete(f.Type.(*ctype.PtrType).Type).(*ctype.StructType); !ok || def.Incomplete || len(def.Field) != 4 {
		t.Errorf("Complete(const struct ops) = %v", def)
	}
	f, _ = FindField(m, "opaque_u", binary.BigEndian)
	if fwd := ts.Complete(f.Type.(*ctype.PtrType).Type).(*ctype.StructType); !fwd.Incomplete || fwd.Kind != "union" {
		t.Errorf("Complete(union opaque_u) = %+v", fwd)
	}
	if _, err := ts.Sizeof("struct opaque"); err == nil {
		t.Error("Sizeof(struct opaque) of a FWD succeeded")
	}
	// Variadic prototypes end in "...".
	f, _ = FindField(ts.Complete(shell), "open", binary.BigEndian)
	ft := f.Type.(*ctype.PtrType).Type.(*ctype.FuncType)
	if len(ft.ParamType) != 3 || ft.ParamType[2].String() != "..." || ft.ReturnType.String() != "int" {
		t.Errorf("open is %v", ft)
	}
	if names, _ := ts.Names("module_", "struct", 0); len(names) != 2 || names[0] != "module_like" || names[1] != "module_memory" {
		t.Errorf("Names(module_, struct) = %v", names)
	}
	// 5 + 3 + 2 + 2 + 3 enumerators in kernelish.c's five enums.
	if n, v, e, u := ts.Stats(); n < 30 || v != 2 || e != 15 || u != 0 {
		t.Errorf("Stats = %d types, %d vars, %d enumerators, %d units", n, v, e, u)
	}
}

// TestSplitBTF: split BTF over a base (a corpus module over another
// module's types): its own types by name, the base's through it as the
// very values the base hands out, IDs and names continuing the base's.
func TestSplitBTF(t *testing.T) {
	t.Parallel()
	base, err := LoadBTFTypes(readFixture(t, "modarch_dump.btf.zst"))
	if err != nil {
		t.Fatal(err)
	}
	split, err := LoadSplitBTFTypes(base, readFixture(t, "livepatch-sample.split.btf"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := split.BTF().StartID(), base.BTF().NumTypes(); got != want {
		t.Errorf("split starts at ID %d, want %d", got, want)
	}
	// seq_file is defined by livepatch-sample (modarch_dump only
	// declares it): from the split's own records and strings.
	if d, err := base.Lookup("struct seq_file"); err != nil || !d.(*ctype.StructType).Incomplete {
		t.Errorf("struct seq_file in the base: %v, %v; want a declaration", d, err)
	}
	sf, err := split.Lookup("struct seq_file")
	if err != nil || sf.(*ctype.StructType).Incomplete {
		t.Fatal(sf, err)
	}
	if f, ok := FindField(sf, "private", nil); !ok || f.BitOffset != 832 || TypeString(f.Type) != "*void" {
		t.Errorf("seq_file.private = %+v", f)
	}
	mb, _ := base.Lookup("struct module")
	ms, err := split.Lookup("struct module")
	if err != nil || ms != mb {
		t.Errorf("struct module through the split = %p, %v; the base's is %p", ms, err, mb)
	}
	if o, err := split.Offsetof("struct klp_func", "old_name"); err != nil || o != 0 {
		t.Errorf("offsetof(klp_func, old_name) = %d, %v", o, err)
	}
	if _, err := LoadSplitBTFTypes(&Types{}, nil); err == nil {
		t.Error("split over DWARF Types accepted")
	}
}

// TestBTFCorpusModuleMatchesDWARF: the corpus module's BTF fixture against
// the DWARF of the .ko it was encoded from (../shared/corpus), every
// struct, union, enum and typedef named in it.
func TestBTFCorpusModuleMatchesDWARF(t *testing.T) {
	ko := filepath.Join(testcorpus.Require(t), "kernels", "7.2.13-fixed", "modules", "modarch_dump.ko")
	f, err := OpenELF(ko)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dt, err := LoadELFTypes(f, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	bt, err := LoadBTFTypes(readFixture(t, "modarch_dump.btf.zst"))
	if err != nil {
		t.Fatal(err)
	}
	c := &btfComparer{bt: bt, dt: dt, order: f.ByteOrder, ptrHops: 100, seen: map[[2]ctype.Type]bool{}, explains: btfExplain}
	names, _ := bt.Names("", "", 0)
	for _, n := range names {
		a, _ := bt.Lookup(n)
		b, err := dt.Lookup(n)
		if err != nil {
			t.Errorf("%s: in BTF, not in DWARF: %v", n, err)
			continue
		}
		c.cmp(a, b, n, 0)
	}
	c.report(t, len(names), "names")
}

// TestBTFDistroMatchesBpftool: the distro vmlinux's .BTF (107 000 types),
// every record against bpftool's raw dump, when both are at hand.
func TestBTFDistroMatchesBpftool(t *testing.T) {
	path := btfDistroVmlinux(t)
	bpftool, err := exec.LookPath("bpftool")
	if err != nil {
		t.Skip("bpftool not installed (Debian: apt-get install bpftool)")
	}
	f, err := OpenELF(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := f.BTFSection()
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(t.TempDir(), "vmlinux.btf")
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bpftool, "btf", "dump", "file", raw, "format", "raw").Output()
	if err != nil {
		t.Fatalf("bpftool: %v", err)
	}
	b := mustParse(t, data, nil)
	compareDump(t, bpftoolDump(b), string(out))
	n := bufio.NewScanner(bytes.NewReader(out))
	lines := 0
	for n.Scan() {
		lines++
	}
	t.Logf("%d types, %d lines of bpftool output, identical", len(b.offs), lines)
}
