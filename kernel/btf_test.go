package kernel

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// regionMem is kernel memory made of separate regions; a read outside
// them faults as a dump does for memory it does not hold.
type regionMem map[uint64][]byte

func (m regionMem) ReadAt(p []byte, addr uint64) (int, error) {
	for base, b := range m {
		if addr >= base && addr-base < uint64(len(b)) {
			n := copy(p, b[addr-base:])
			if n < len(p) {
				return n, &dump.Fault{Addr: addr + uint64(n), Reason: dump.NotInDump}
			}
			return n, nil
		}
	}
	return 0, &dump.Fault{Addr: addr, Reason: dump.NotInDump}
}

// btfLayout are the offsets the synthetic memory is laid out with, taken
// from DWARF (not from the BTF under test).
type btfLayout struct {
	modList, modModule, modBTF, modSize int64
	data, dataSize, name, btfSize       int64
}

func layoutFromDWARF(t *testing.T, ts *symbols.Types) btfLayout {
	t.Helper()
	off := func(typ, m string) int64 {
		o, err := ts.Offsetof(typ, m)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	size := func(typ string) int64 {
		n, err := ts.Sizeof(typ)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return btfLayout{
		modList: off("struct btf_module", "list"), modModule: off("struct btf_module", "module"),
		modBTF: off("struct btf_module", "btf"), modSize: size("struct btf_module"),
		data: off("struct btf", "data"), dataSize: off("struct btf", "data_size"),
		name: off("struct btf", "name"), btfSize: size("struct btf"),
	}
}

// fakeModule is one entry of the synthetic btf_modules list.
type fakeModule struct {
	name   string
	module uint64 // struct module address
	data   []byte // nil: btf->data points to memory the dump lacks
	size   uint64 // btf->data_size when data is nil
}

const (
	fakeStartBTF = 0xc000000001000000
	fakeHead     = 0xc000000002000000
	fakeEntries  = 0xc000000003000000
	fakeBTFs     = 0xc000000004000000
	fakeData     = 0xc000000005000000
)

// btfMemory lays out the vmlinux BTF at __start_BTF and a btf_modules
// list of mods, in order, as kernel/bpf/btf.c keeps them.
func btfMemory(order binary.ByteOrder, l btfLayout, vmlinux []byte, mods []fakeModule) (regionMem, map[string]uint64) {
	mem := regionMem{fakeStartBTF: vmlinux}
	head := make([]byte, 16)
	mem[fakeHead] = head
	put := func(b []byte, off int64, v uint64) { order.PutUint64(b[off:], v) }
	node := func(i int) uint64 { return fakeEntries + uint64(i)*0x1000 + uint64(l.modList) }
	next := func(i int) uint64 {
		if i+1 == len(mods) {
			return fakeHead
		}
		return node(i + 1)
	}
	prev := func(i int) uint64 {
		if i == 0 {
			return fakeHead
		}
		return node(i - 1)
	}
	put(head, 0, fakeHead)
	put(head, 8, fakeHead)
	if len(mods) > 0 {
		put(head, 0, node(0))
		put(head, 8, node(len(mods)-1))
	}
	for i, m := range mods {
		e := make([]byte, l.modSize)
		put(e, l.modList, next(i))
		put(e, l.modList+8, prev(i))
		put(e, l.modModule, m.module)
		put(e, l.modBTF, fakeBTFs+uint64(i)*0x1000)
		mem[fakeEntries+uint64(i)*0x1000] = e
		b := make([]byte, l.btfSize)
		data := fakeData + uint64(i)*0x100000
		size := m.size
		if m.data != nil {
			mem[data] = m.data
			size = uint64(len(m.data))
		}
		put(b, l.data, data)
		order.PutUint32(b[l.dataSize:], uint32(size))
		copy(b[l.name:], m.name)
		mem[fakeBTFs+uint64(i)*0x1000] = b
	}
	syms := map[string]uint64{
		"__start_BTF": fakeStartBTF, "__stop_BTF": fakeStartBTF + uint64(len(vmlinux)), "btf_modules": fakeHead,
	}
	return mem, syms
}

func symFunc(syms map[string]uint64) func(string) (uint64, error) {
	return func(name string) (uint64, error) {
		if a, ok := syms[name]; ok {
			return a, nil
		}
		return 0, fmt.Errorf("no symbol %s", name)
	}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "symbols", "testdata", "btf", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReadMemoryBTF: the vmlinux BTF and a btf_modules list laid out in
// synthetic memory with the offsets the DWARF of symbols/testdata/btf's
// kernelish.c gives (struct btf_module and struct btf as 7.2.13 has them),
// in both byte orders, read back with the layout taken from the BTF:
// a module whose BTF is there, one whose btf->data the dump lacks.
func TestReadMemoryBTF(t *testing.T) {
	t.Parallel()
	for _, e := range []string{"le", "be"} {
		t.Run(e, func(t *testing.T) {
			f, err := symbols.OpenELF(filepath.Join("..", "symbols", "testdata", "btf", "kernelish-"+e+".o"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			dt, err := symbols.LoadELFTypes(f, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			vmlinux := fixture(t, "kernelish-"+e+".btf")
			mods := []fakeModule{
				{name: "kernelish_mod", module: 0xc008000000010000, data: fixture(t, "kernelish_mod-"+e+".split.btf")},
				{name: "lost", module: 0xc008000000020000, size: 4096},
			}
			mem, syms := btfMemory(f.ByteOrder, layoutFromDWARF(t, dt), vmlinux, mods)
			m, err := ReadMemoryBTF(mem, f.ByteOrder, symFunc(syms))
			if err != nil {
				t.Fatal(err)
			}
			if m.Start != fakeStartBTF || m.Size != uint64(len(vmlinux)) || m.Vmlinux.Source() != "BTF" || m.ModulesErr != nil {
				t.Fatalf("start %#x size %d modules err %v", m.Start, m.Size, m.ModulesErr)
			}
			if len(m.Modules) != 2 {
				t.Fatalf("%d modules", len(m.Modules))
			}
			km := m.Module("kernelish_mod")
			if km == nil || km.Err != nil || km.Module != 0xc008000000010000 || km.Entry != fakeEntries || km.Data != fakeData {
				t.Fatalf("kernelish_mod: %+v", km)
			}
			// kernelish_mod.c: struct mod_private {struct list_head node;
			// u32 count; u32 flags:3; u32 mode:5; ...}.
			st, err := km.Types.Lookup("struct mod_private")
			if err != nil {
				t.Fatal(err)
			}
			fl, ok := symbols.FindField(st, "mode", f.ByteOrder)
			if !ok || fl.BitOffset != 16*8+32+3 || fl.BitSize != 5 {
				t.Errorf("mod_private.mode = %+v", fl)
			}
			if lh, _ := km.Types.Lookup("struct list_head"); lh == nil {
				t.Error("struct list_head not found through the module")
			}
			lost := m.Modules[1]
			var fault *dump.Fault
			var me *MemoryBTFError
			if lost.Name != "lost" || !errors.As(lost.Err, &me) || !errors.As(lost.Err, &fault) || me.Addr != fakeData+0x100000 {
				t.Errorf("lost: %+v", lost)
			}
		})
	}
}

// TestReadMemoryBTFRefused: no BTF symbols, no module list, a bad range,
// a list that loops, a vmlinux BTF the dump lacks.
func TestReadMemoryBTFRefused(t *testing.T) {
	t.Parallel()
	vmlinux := fixture(t, "kernelish-le.btf")
	le := binary.LittleEndian
	mem, syms := btfMemory(le, btfLayout{modSize: 40, modModule: 16, modBTF: 24, btfSize: 8}, vmlinux, nil)
	if _, err := ReadMemoryBTF(mem, le, symFunc(map[string]uint64{})); !errors.Is(err, ErrNoMemoryBTF) {
		t.Errorf("no symbols: %v", err)
	}
	noMods := map[string]uint64{"__start_BTF": syms["__start_BTF"], "__stop_BTF": syms["__stop_BTF"]}
	if m, err := ReadMemoryBTF(mem, le, symFunc(noMods)); err != nil || !errors.Is(m.ModulesErr, ErrNoBTFModules) || m.Vmlinux == nil {
		t.Errorf("no btf_modules: %v, %v", m, err)
	}
	bad := map[string]uint64{"__start_BTF": fakeStartBTF, "__stop_BTF": fakeStartBTF - 8}
	var me *MemoryBTFError
	if _, err := ReadMemoryBTF(mem, le, symFunc(bad)); !errors.As(err, &me) || me.Addr != fakeStartBTF {
		t.Errorf("stop before start: %v", err)
	}
	lost := map[string]uint64{"__start_BTF": 0xc000000009000000, "__stop_BTF": 0xc000000009001000}
	var fault *dump.Fault
	if _, err := ReadMemoryBTF(mem, le, symFunc(lost)); !errors.As(err, &fault) {
		t.Errorf("vmlinux BTF not in the dump: %v", err)
	}
	// An empty list is fine; a list whose head points at itself through
	// a node that points back to that node loops.
	if m, err := ReadMemoryBTF(mem, le, symFunc(syms)); err != nil || len(m.Modules) != 0 || m.ModulesErr != nil {
		t.Errorf("empty list: %v, %v", m, err)
	}
	loop := make([]byte, 16)
	le.PutUint64(loop, fakeHead+0x100)
	loopNode := make([]byte, 16)
	le.PutUint64(loopNode, fakeHead+0x100)
	mem[fakeHead] = loop
	mem[fakeHead+0x100] = loopNode
	var le2 *ListError
	if m, err := ReadMemoryBTF(mem, le, symFunc(syms)); err != nil || !errors.As(m.ModulesErr, &le2) || le2.Kind != ListCycle {
		t.Errorf("looping list: %v, %v", m, err)
	}
}

// distroDumpDir is bench/distro-dump's output (testcorpus.DistroDump); t
// skips without one.
func distroDumpDir(t *testing.T) string {
	d := testcorpus.DistroDump()
	for _, f := range []string{"vmcore.elf", "truth-btf.txt", "truth-proc-modules.txt"} {
		if st, err := os.Stat(filepath.Join(d, f)); err != nil || st.Size() == 0 {
			t.Skipf("no distro dump with BTF truth in %s (bench/distro-dump/make.sh makes one; %s missing)", d, f)
		}
	}
	return d
}

// TestMemoryBTFDistroDump: the BTF in a real dump of Debian's 7.2.13
// kernel (bench/distro-dump), against what the guest itself printed
// before the dump: the size and SHA-256 of /sys/kernel/btf/vmlinux and of
// each /sys/kernel/btf/MODULE (truth-btf.txt), the modules of
// /proc/modules; the vmlinux BTF must also be the vmlinux file's .BTF.
func TestMemoryBTFDistroDump(t *testing.T) {
	dir := distroDumpDir(t)
	truth := readBTFTruth(t, filepath.Join(dir, "truth-btf.txt"))
	vmlinux := os.Getenv("KDUMP_INSPECT_DISTRO_VMLINUX")
	if vmlinux == "" {
		m, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "vmlinux-*"))
		if len(m) == 0 {
			t.Skip("no distro vmlinux beside the dump")
		}
		vmlinux = m[0]
	}
	p, err := Open([]string{filepath.Join(dir, "vmcore.elf")}, Options{Vmlinux: vmlinux, ModuleDirs: []string{filepath.Join(dir, "modules")}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m, err := p.MemoryBTF()
	if err != nil {
		t.Fatal(err)
	}
	checkBTFTruth(t, m, p, truth)
}

// btfTruth is truth-btf.txt: "symbol ADDR T NAME" and "file NAME SIZE SHA256".
type btfTruth struct {
	syms  map[string]uint64
	files map[string][2]string // size, sha256
}

func readBTFTruth(t *testing.T, path string) btfTruth {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr := btfTruth{syms: map[string]uint64{}, files: map[string][2]string{}}
	for _, line := range splitLines(string(b)) {
		var kind, a, c, d string
		n, _ := fmt.Sscan(line, &kind, &a, &c, &d)
		switch {
		case kind == "symbol" && n == 4:
			var addr uint64
			fmt.Sscanf(a, "%x", &addr)
			tr.syms[d] = addr
		case kind == "file" && n == 4:
			tr.files[a] = [2]string{c, d}
		}
	}
	if len(tr.files) == 0 {
		t.Fatalf("%s: no files", path)
	}
	return tr
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

func checkBTFTruth(t *testing.T, m *MemoryBTF, p *Program, tr btfTruth) {
	t.Helper()
	if a := tr.syms["__start_BTF"]; a != 0 && a != m.Start {
		t.Errorf("__start_BTF %#x, the guest's kallsyms says %#x", m.Start, a)
	}
	vb, err := readBounded(p.Context.Mem, m.Start, m.Size)
	if err != nil {
		t.Fatal(err)
	}
	want := tr.files["vmlinux"]
	if got := [2]string{fmt.Sprint(len(vb)), sha256Hex(vb)}; got != want {
		t.Errorf("vmlinux BTF: %v, the guest's /sys/kernel/btf/vmlinux %v", got, want)
	}
	if fb, err := p.Vmlinux.BTFSection(); err != nil || sha256Hex(fb) != sha256Hex(vb) {
		t.Errorf("vmlinux BTF in memory differs from the file's .BTF (%v)", err)
	}
	if m.ModulesErr != nil {
		t.Errorf("btf_modules: %v", m.ModulesErr)
	}
	var names []string
	for _, mod := range m.Modules {
		if mod.Err != nil {
			t.Errorf("%s: %v", mod.Name, mod.Err)
			continue
		}
		b, err := readBounded(p.Context.Mem, mod.Data, mod.Size)
		if err != nil {
			t.Fatal(err)
		}
		want, ok := tr.files[mod.Name]
		if got := [2]string{fmt.Sprint(len(b)), sha256Hex(b)}; !ok || got != want {
			t.Errorf("module %s BTF: %v, the guest's /sys/kernel/btf/%s %v", mod.Name, got, mod.Name, want)
		}
		names = append(names, mod.Name)
	}
	var want2 []string
	for n := range tr.files {
		if n != "vmlinux" {
			want2 = append(want2, n)
		}
	}
	sort.Strings(names)
	sort.Strings(want2)
	if fmt.Sprint(names) != fmt.Sprint(want2) {
		t.Errorf("modules with BTF: %v; the guest's /sys/kernel/btf has %v", names, want2)
	}
	t.Logf("vmlinux BTF %d bytes at %#x; %d modules: %v, sizes and SHA-256 as the guest printed", m.Size, m.Start, len(names), names)
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
