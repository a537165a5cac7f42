package symbols

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/symbols/dwarftypes"
)

// corpusVmlinux opens the corpus's fixed 7.2.13 vmlinux (DWARF 5) and
// returns its DWARF and GNU build-id. It is opened once per test binary.
var corpusVmlinux = sync.OnceValues(func() (*corpusELF, error) {
	root, ok := testcorpus.Root()
	if !ok {
		return nil, nil
	}
	path, err := container.Open(filepath.Join(root, "kernels", "7.2.13-fixed", "vmlinux.zst"))
	if err != nil {
		return nil, err
	}
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	d, err := f.DWARF()
	if err != nil {
		return nil, err
	}
	return &corpusELF{f: f, d: d, buildID: gnuBuildID(f)}, nil
})

type corpusELF struct {
	f       *elf.File
	d       *dwarf.Data
	buildID []byte
}

func requireVmlinux(t testing.TB) *corpusELF {
	t.Helper()
	testcorpus.Require(t)
	c, err := corpusVmlinux()
	if err != nil {
		t.Fatal(err)
	}
	if c == nil {
		t.Skip("corpus absent")
	}
	return c
}

// gnuBuildID reads NT_GNU_BUILD_ID from the SHT_NOTE sections (a vmlinux
// keeps it in .notes; test-only, the package's ELF reader has its own).
func gnuBuildID(f *elf.File) []byte {
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		b, err := s.Data()
		if err != nil {
			continue
		}
		o := f.ByteOrder
		for len(b) >= 12 {
			namesz, descsz, typ := uint64(o.Uint32(b[0:])), uint64(o.Uint32(b[4:])), o.Uint32(b[8:])
			name := 12 + (namesz+3)&^3
			end := name + (descsz+3)&^3
			if end > uint64(len(b)) {
				break
			}
			if typ == 3 && namesz == 4 && string(b[12:15]) == "GNU" {
				return bytes.Clone(b[name : name+descsz])
			}
			b = b[end:]
		}
	}
	return nil
}

var corpusTypes = sync.OnceValues(func() (*Types, error) {
	c, err := corpusVmlinux()
	if err != nil || c == nil {
		return nil, err
	}
	return LoadTypes(c.d, c.buildID, "")
})

func requireTypes(t testing.TB) *Types {
	t.Helper()
	requireVmlinux(t)
	ts, err := corpusTypes()
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestCorpusArchLayout checks struct mod_arch_specific against the member
// offsets and types drgn read from the same vmlinux (truth.json
// dump.modules[0].arch_type_layout).
func TestCorpusArchLayout(t *testing.T) {
	ts := requireTypes(t)
	tr := testcorpus.LoadTruth(t, testcorpus.Dir(t, "fixed-radix"))
	mods := tr.DumpModules()
	if len(mods) == 0 {
		t.Fatal("truth.json has no modules")
	}
	layout, _ := mods[0]["arch_type_layout"].([]any)
	if len(layout) == 0 {
		t.Fatal("truth.json has no arch_type_layout")
	}
	for _, l := range layout {
		m := l.(map[string]any)
		name := m["name"].(string)
		want := int64(m["offset"].(float64))
		got, err := ts.Offsetof("struct mod_arch_specific", name)
		if err != nil || got != want {
			t.Errorf("offsetof(struct mod_arch_specific, %s) = %d, %v; truth %d", name, got, err, want)
		}
		if arch, err := ts.Offsetof("struct module", "arch"); err != nil {
			t.Errorf("offsetof(struct module, arch): %v", err)
		} else if got, err = ts.Offsetof("struct module", "arch."+name); err != nil || got != arch+want {
			t.Errorf("offsetof(struct module, arch.%s) = %d, %v; want %d + %d", name, got, err, arch, want)
		}
		f, _ := FindField(mustLookup(t, ts, "struct mod_arch_specific"), name, binary.LittleEndian)
		// drgn spells typedefs "typedef _Bool bool"; compare the name part.
		wantType := m["type"].(string)
		if ctype.CanonicalBaseName(typeName(f.Type)) != wantType && "typedef "+typeName(Underlying(f.Type))+" "+typeName(f.Type) != wantType {
			t.Errorf("mod_arch_specific.%s type %s, truth %q", name, typeName(f.Type), wantType)
		}
	}
}

// typeName spells a type as C does for the cases in truth.json.
func typeName(t ctype.Type) string {
	if p, ok := t.(*ctype.PtrType); ok {
		return typeName(p.Type) + " *"
	}
	return t.String()
}

// TestCorpusSizes checks sizes and offsets against the kernel source and the
// modules' ELF files.
func TestCorpusSizes(t *testing.T) {
	ts := requireTypes(t)
	c := requireVmlinux(t)
	_ = c
	// sizeof(struct module) is the size of every module's
	// .gnu.linkonce.this_module section (the section holds exactly
	// __this_module, include/linux/module.h / scripts/mod/modpost.c).
	root := testcorpus.Require(t)
	kos, _ := filepath.Glob(filepath.Join(root, "kernels", "7.2.13-fixed", "modules", "*.ko"))
	if len(kos) == 0 {
		t.Fatal("no .ko in corpus")
	}
	kf := testcorpus.OpenELF(t, kos[0])
	sec := kf.Section(".gnu.linkonce.this_module")
	if sec == nil {
		t.Fatalf("%s has no .gnu.linkonce.this_module", kos[0])
	}
	tests := []struct {
		typ, member string // member "" checks sizeof
		want        int64
		src         string
	}{
		{"struct module", "", int64(sec.Size), filepath.Base(kos[0]) + " .gnu.linkonce.this_module size"},
		// arch/powerpc/kernel/module_64.c: u32 jump[7]; u32 magic;
		// func_desc_t funcdata; __aligned(8).
		{"struct ppc64_stub_entry", "", 40, "module_64.c"},
		{"struct ppc64_stub_entry", "jump", 0, "module_64.c"},
		{"struct ppc64_stub_entry", "magic", 28, "module_64.c"},
		{"struct ppc64_stub_entry", "funcdata", 32, "module_64.c"},
		// arch/powerpc/include/asm/ftrace.h: struct ftrace_ops *ftrace_op;
		// u32 insn[4]; __aligned(sizeof(unsigned long)).
		{"struct ftrace_ool_stub", "", 24, "asm/ftrace.h"},
		{"struct ftrace_ool_stub", "ftrace_op", 0, "asm/ftrace.h"},
		{"struct ftrace_ool_stub", "insn", 8, "asm/ftrace.h"},
		// Nine members, the last two unsigned ints at 40 and 44
		// (truth.json arch_type_layout).
		{"struct mod_arch_specific", "", 48, "truth.json arch_type_layout"},
		{"struct list_head", "", 16, "include/linux/types.h"},
		{"unsigned long", "", 8, "LP64"},
		{"u32", "", 4, "include/uapi/asm-generic/int-ll64.h"},
		// include/uapi/linux/perf_event.h: __u32 type, size; __u64 config,
		// sample_period, sample_type, read_format, then the bitfields.
		// kernel/printk/printk_ringbuffer.h: u64 seq, ts_nsec; u16 text_len;
		// u8 facility; u8 flags:5, level:3; u32 caller_id.
		{"struct printk_info", "caller_id", 20, "printk_ringbuffer.h"},
	}
	for _, tt := range tests {
		var got int64
		var err error
		if tt.member == "" {
			got, err = ts.Sizeof(tt.typ)
		} else {
			got, err = ts.Offsetof(tt.typ, tt.member)
		}
		if err != nil || got != tt.want {
			t.Errorf("%s %s = %d, %v; want %d (%s)", tt.typ, tt.member, got, err, tt.want, tt.src)
		}
	}
	// MOD_TEXT etc. (include/linux/module.h enum mod_mem_type) and
	// mod->mem[] indexed by them.
	for name, want := range map[string]int64{"MOD_TEXT": 0, "MOD_DATA": 1, "MOD_RODATA": 2, "MOD_RO_AFTER_INIT": 3, "MOD_INIT_TEXT": 4} {
		if v, err := ts.EnumConstant(name); err != nil || v != want {
			t.Errorf("%s = %d, %v; want %d", name, v, err, want)
		}
	}
	memSize, err := ts.Sizeof("struct module_memory")
	if err != nil {
		t.Fatal(err)
	}
	m0, err0 := ts.Offsetof("struct module", "mem[0]")
	m2, err2 := ts.Offsetof("struct module", "mem[MOD_RODATA]")
	if err0 != nil || err2 != nil || m2-m0 != 2*memSize {
		t.Errorf("mem[MOD_RODATA] - mem[0] = %d (%v, %v), want 2*%d", m2-m0, err0, err2, memSize)
	}
	if ty, err := ts.VariableType("modules"); err != nil || ty.String() != "struct list_head" {
		t.Errorf("VariableType(modules) = %v, %v; want struct list_head (kernel/module/main.c LIST_HEAD(modules))", ty, err)
	}
}

// TestCorpusBitfield reads real DWARF 5 bitfields whose layout the
// source fixes:
//
//   - struct printk_info (kernel/printk/printk_ringbuffer.h in the corpus's
//     kernel source): u64 seq; u64 ts_nsec; u16 text_len; u8 facility;
//     u8 flags:5; u8 level:3; u32 caller_id. flags and level share byte 19:
//     on little-endian flags is bits 152..156 and level bits 157..159, and
//     caller_id sits at 20. Every printk record carries these, so a wrong
//     level would mislabel every log line a dmesg view prints.
//
// (struct perf_event_attr, the usual example of ABI-fixed bitfields, is not
// in this vmlinux: its config has no CONFIG_PERF_EVENTS.)
func TestCorpusBitfield(t *testing.T) {
	ts := requireTypes(t)
	for _, tt := range []struct {
		typ, name       string
		bitOff, bitSize int64
	}{
		{"struct printk_info", "flags", 19 * 8, 5},
		{"struct printk_info", "level", 19*8 + 5, 3},
		{"struct printk_info", "caller_id", 20 * 8, 0},
	} {
		f, ok := FindField(mustLookup(t, ts, tt.typ), tt.name, binary.LittleEndian)
		if !ok || f.BitOffset != tt.bitOff || f.BitSize != tt.bitSize {
			t.Errorf("%s.%s: bit %d size %d (found %v), want bit %d size %d", tt.typ, tt.name, f.BitOffset, f.BitSize, ok, tt.bitOff, tt.bitSize)
		}
	}
	// The vmlinux is DWARF 5: the raw member has DataBitOffset, no
	// BitOffset (the form godwarf cannot read).
	st := Underlying(mustLookup(t, ts, "struct printk_info")).(*ctype.StructType)
	for _, f := range st.Field {
		if f.Name == "level" && (f.DataBitOffset != 157 || f.BitOffset != 0) {
			t.Errorf("raw printk_info.level: DataBitOffset %d BitOffset %d, want the DWARF 5 form 157/0", f.DataBitOffset, f.BitOffset)
		}
	}
}

func BenchmarkIndexBuildCold(b *testing.B) {
	c := requireVmlinux(b)
	for b.Loop() {
		if _, err := dwarftypes.Load(c.d, nil, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIndexLoadCached(b *testing.B) {
	c := requireVmlinux(b)
	if len(c.buildID) == 0 {
		b.Fatal("corpus vmlinux has no GNU build-id")
	}
	dir := b.TempDir()
	if _, err := LoadTypes(c.d, c.buildID, dir); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ts, err := LoadTypes(c.d, c.buildID, dir)
		if err != nil || !ts.FromCache {
			b.Fatal(err, ts.CacheWarning)
		}
	}
}

func BenchmarkLookupStructModule(b *testing.B) {
	c := requireVmlinux(b)
	b.Run("first", func(b *testing.B) {
		// A fresh Types each time: index lookup + debug/dwarf decode of
		// struct module and everything it reaches.
		src, err := dwarftypes.Load(c.d, nil, "")
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			b.StopTimer()
			d, _ := c.f.DWARF() // fresh debug/dwarf type cache
			b.StartTimer()
			ts := NewDWARFTypes(src.Over(d))
			if _, err := ts.Lookup("struct module"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		ts := requireTypes(b)
		if _, err := ts.Lookup("struct module"); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := ts.Lookup("struct module"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestCorpusIndexStats(t *testing.T) {
	ts := requireTypes(t)
	nt, nv, ne, nu := ts.Stats()
	t.Logf("index: %d type names, %d variables, %d enumerators, %d units", nt, nv, ne, nu)
	if nu < 100 || nt < 1000 || nv < 1000 {
		t.Errorf("index too small: %s", strconv.Itoa(nt)+fmt.Sprint(nv, nu))
	}
}
