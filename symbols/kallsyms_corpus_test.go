package symbols_test

// Corpus tests that read a real dump. They live in the external test
// package because they open the dump with package dump, which package
// symbols itself must not import.

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/dwarftest"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

type corpusDump struct {
	vmlinux *symbols.ELFFile
	vmtab   *symbols.Table
	mem     dump.Memory
	order   binary.ByteOrder
	truth   testcorpus.Truth
}

// openCorpusDump opens dir/vmcore-vmcoreinfo.kdump with the kernel virtual
// address space (swapper_pg_dir from the vmlinux symbol table).
func openCorpusDump(t *testing.T, dirName string) *corpusDump {
	t.Helper()
	dir := testcorpus.Dir(t, dirName)
	kdir := "7.2.13-fixed"
	if strings.HasPrefix(dirName, "buggy") {
		kdir = "7.2.13-buggy"
	}
	vm, err := symbols.OpenELF(filepath.Join(testcorpus.Require(t), "kernels", kdir, "vmlinux.zst"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	d, err := dump.Open([]string{filepath.Join(dir, "vmcore-vmcoreinfo.kdump")}, dump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	vmtab := vm.Table()
	pgd, ok := vmtab.ByName("swapper_pg_dir")
	if !ok {
		t.Fatal("no swapper_pg_dir in vmlinux")
	}
	mmu := ppc64.Radix
	if strings.Contains(dirName, "hash") {
		mmu = ppc64.Hash
	}
	geom, err := ppc64.KnownGeometry(mmu, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	tr := &ppc64.Translator{Phys: d.Phys, PGD: pgd.Addr - ppc64.PageOffset, Geom: geom}
	if d.VMCOREINFO != nil {
		if v, ok := d.VMCOREINFO.Raw["NUMBER(VMALLOC_START)"]; ok {
			if n, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64); err == nil {
				tr.VmallocStart = n
			}
		}
	}
	order := d.MemoryOrder
	if order == nil {
		order = binary.LittleEndian
	}
	return &corpusDump{vmlinux: vm, vmtab: vmtab, mem: dump.NewKernelSpace(d.Phys, tr, d.Virt), order: order, truth: testcorpus.LoadTruth(t, dir)}
}

func (c *corpusDump) lookup(name string) (uint64, bool) {
	s, ok := c.vmtab.ByName(name)
	return s.Addr, ok
}

// TestCorpusReadKallsyms reads the kernel's kallsyms out of the dump and
// compares it with System.map (every text symbol, same address) and with
// what the guest printed (truth.json "selected vmlinux kallsyms").
func TestCorpusReadKallsyms(t *testing.T) {
	for _, dirName := range testcorpus.Dirs {
		t.Run(dirName, func(t *testing.T) {
			c := openCorpusDump(t, dirName)
			tab, err := symbols.ReadKallsyms(c.mem, c.order, c.lookup)
			if err != nil {
				t.Fatal(err)
			}
			// System.map is nm's view of vmlinux; kallsyms (built with
			// CONFIG_KALLSYMS_ALL) must hold every text symbol of it at the
			// same address with the same letter. Other kinds are compared
			// too, and counted.
			kdir := "7.2.13-fixed"
			if strings.HasPrefix(dirName, "buggy") {
				kdir = "7.2.13-buggy"
			}
			sm, err := os.ReadFile(filepath.Join(testcorpus.Require(t), "kernels", kdir, "System.map"))
			if err != nil {
				t.Fatal(err)
			}
			var text, other, missingText, missingOther int
			for _, line := range strings.Split(strings.TrimSpace(string(sm)), "\n") {
				fs := strings.Fields(line)
				a, err := strconv.ParseUint(fs[0], 16, 64)
				if err != nil || len(fs) != 3 {
					t.Fatalf("System.map line %q", line)
				}
				isText := fs[1] == "T" || fs[1] == "t"
				if isText {
					text++
				} else {
					other++
				}
				found := false
				for _, k := range tab.AllByName(fs[2]) {
					found = found || k.Addr == a && string(k.Kind) == fs[1]
				}
				switch {
				case found:
				case isText:
					if missingText++; missingText <= 10 {
						t.Errorf("System.map %q: kallsyms has %+v", line, tab.AllByName(fs[2]))
					}
				default:
					if missingOther++; missingOther <= 10 {
						t.Errorf("System.map %q: kallsyms has %+v", line, tab.AllByName(fs[2]))
					}
				}
			}
			t.Logf("%d kallsyms; System.map: %d text symbols (%d missing), %d others (%d missing)", tab.Len(), text, missingText, other, missingOther)
			g, _ := c.truth["guest"].(map[string]any)
			b, _ := g["blocks"].(map[string]any)
			lines, _ := b["selected vmlinux kallsyms"].([]any)
			if len(lines) == 0 {
				t.Fatal("no selected vmlinux kallsyms in truth.json")
			}
			for _, l := range lines {
				fs := strings.Fields(l.(string))
				a, _ := strconv.ParseUint(fs[0], 16, 64)
				s, ok := tab.ByName(fs[2])
				if !ok || s.Addr != a || s.Kind != fs[1][0] {
					t.Errorf("%s: kallsyms has %+v %v", l, s, ok)
				}
			}
		})
	}
}

// structOffsets finds member offsets of a struct in the vmlinux DWARF.
func structOffsets(t *testing.T, d *dwarf.Data, name string, members ...string) []int64 {
	t.Helper()
	r := d.Reader()
	for e := range dwarftest.Entries(t, r) {
		if e.Tag != dwarf.TagStructType {
			if e.Tag != dwarf.TagCompileUnit && e.Children {
				r.SkipChildren()
			}
			continue
		}
		if n, _ := e.Val(dwarf.AttrName).(string); n != name || !e.Children {
			r.SkipChildren()
			continue
		}
		typ, err := d.Type(e.Offset)
		if err != nil {
			t.Fatal(err)
		}
		st := symbols.FromDWARF(typ).(*ctype.StructType)
		var out []int64
		for _, m := range members {
			found := false
			for _, f := range st.Field {
				if f.Name == m {
					out = append(out, f.ByteOffset)
					found = true
				}
			}
			if !found {
				t.Fatalf("struct %s has no member %s", name, m)
			}
		}
		return out
	}
	t.Fatalf("struct %s not in DWARF", name)
	return nil
}

// TestCorpusModuleKallsyms reads each module's core kallsyms (struct
// module.core_kallsyms, offsets from the vmlinux DWARF) and compares them
// with the guest's /proc/kallsyms lines in truth.json ("module kallsyms";
// /proc/kallsyms changes the letter's case by export status, so the kind
// is compared without case). It then resolves every .stubs word with the
// real, sized module symbols.
func TestCorpusModuleKallsyms(t *testing.T) {
	c := openCorpusDump(t, "fixed-radix")
	d, err := c.vmlinux.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	modOff := structOffsets(t, d, "module", "core_kallsyms", "kallsyms")
	mk := structOffsets(t, d, "mod_kallsyms", "symtab", "num_symtab", "strtab", "typetab")
	read64 := func(a uint64) uint64 {
		var b [8]byte
		if err := dump.ReadFull(c.mem, b[:], a); err != nil {
			t.Fatal(err)
		}
		return c.order.Uint64(b[:])
	}
	read32 := func(a uint64) uint64 {
		var b [4]byte
		if err := dump.ReadFull(c.mem, b[:], a); err != nil {
			t.Fatal(err)
		}
		return uint64(c.order.Uint32(b[:]))
	}
	want := map[string][]string{}
	g, _ := c.truth["guest"].(map[string]any)
	b, _ := g["blocks"].(map[string]any)
	lines, _ := b["module kallsyms"].([]any)
	for _, l := range lines {
		s := l.(string)
		left, mod, _ := strings.Cut(s, "\t")
		want[strings.Trim(mod, "[]")] = append(want[strings.Trim(mod, "[]")], left)
	}
	r := symbols.NewResolver()
	r.SetVmlinux(c.vmtab)
	mods := c.truth.DumpModules()
	for _, m := range mods {
		name := m["name"].(string)
		base, _ := strconv.ParseUint(strings.TrimPrefix(m["struct_module"].(string), "0x"), 16, 64)
		ck := base + uint64(modOff[0])
		if p := read64(base + uint64(modOff[1])); p != ck {
			t.Errorf("%s: mod->kallsyms %#x, want &mod->core_kallsyms %#x after init", name, p, ck)
		}
		tab, err := symbols.ModuleKallsyms(c.mem, c.order, read64(ck+uint64(mk[0])), read32(ck+uint64(mk[1])), read64(ck+uint64(mk[2])), read64(ck+uint64(mk[3])), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(want[name]) == 0 {
			// modarch_dump printed the truth while loading: it is not
			// in its own /proc/kallsyms listing.
			t.Logf("%s: no module kallsyms lines in truth.json; %d symbols read, not compared", name, tab.Len())
		}
		for _, l := range want[name] {
			fs := strings.Fields(l)
			a, _ := strconv.ParseUint(fs[0], 16, 64)
			found := false
			for _, s := range tab.AllByName(fs[2]) {
				if s.Addr == a && strings.EqualFold(string(s.Kind), fs[1]) && s.Module == name {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: %q: table has %+v", name, l, tab.AllByName(fs[2]))
			}
		}
		if len(want[name]) > 0 && tab.Len() != len(want[name]) {
			t.Errorf("%s: %d symbols, /proc/kallsyms showed %d", name, tab.Len(), len(want[name]))
		}
		layout := symbols.ModuleLayout{Name: name, Sections: map[string]uint64{}, Syms: tab}
		for k, v := range m["sections"].(map[string]any) {
			layout.Sections[k], _ = strconv.ParseUint(strings.TrimPrefix(v.(string), "0x"), 16, 64)
		}
		for _, mm := range m["mem"].([]any) {
			mem := mm.(map[string]any)
			if sz := uint64(mem["size"].(float64)); sz > 0 {
				a, _ := strconv.ParseUint(strings.TrimPrefix(mem["base"].(string), "0x"), 16, 64)
				layout.Regions = append(layout.Regions, symbols.Region{Start: a, Size: sz, Kind: fmt.Sprint(mem["type"])})
			}
		}
		r.AddModule(layout)
	}
	// With sized symbols and no .stubs size: every word of .stubs up to the
	// truth's size names .stubs.
	for _, m := range mods {
		name := m["name"].(string)
		stubs, _ := strconv.ParseUint(strings.TrimPrefix(m["stubs_section_addr"].(string), "0x"), 16, 64)
		size := uint64(m["stubs_size_from_ko"].(map[string]any)["size"].(float64))
		for off := uint64(0); off < size; off += 4 {
			if got, w := r.Lookup(stubs+off).String(), fmt.Sprintf("%s:.stubs+%#x", name, off); got != w {
				t.Errorf("Lookup(%#x) = %q, want %q", stubs+off, got, w)
				break
			}
		}
	}
}
