package x86

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/gen/coregen"
)

var le = binary.LittleEndian

// qemuNote builds a QEMUCPUState by the C layout of target/i386/arch_dump.c
// counted by hand: version, size (8 bytes), 16 GPRs (8..136), rip (136),
// rflags (144), ten 24-byte segments from 152 (cs, ds, es, fs, gs, ss, ldt,
// tr, gdt at 344, idt at 368), cr[5] at 392, kernel_gs_base at 432; 440
// bytes in all.
func qemuNote(size uint32, cr3, cr4, idtBase uint64, idtLimit uint32) []byte {
	b := make([]byte, 440)
	le.PutUint32(b[0:], 1)
	le.PutUint32(b[4:], size)
	for i := 0; i < 16; i++ {
		le.PutUint64(b[8+8*i:], uint64(0x1100+i)) // rax = 0x1100, ..., rsp (index 6) = 0x1106
	}
	le.PutUint64(b[136:], 0xffffffff822ae79f) // rip
	le.PutUint64(b[144:], 0x282)              // rflags
	le.PutUint32(b[152:], 0x10)               // cs.selector
	le.PutUint64(b[344+16:], 0xfffffe0000001000)
	le.PutUint32(b[344+4:], 0x7f) // gdt.limit
	le.PutUint32(b[368+4:], idtLimit)
	le.PutUint64(b[368+16:], idtBase)
	le.PutUint64(b[392+3*8:], cr3)
	le.PutUint64(b[392+4*8:], cr4)
	le.PutUint64(b[432:], 0xffff8880ba9f4000) // kernel_gs_base
	return b[:size]
}

func TestParseQEMUCPUState(t *testing.T) {
	s, err := ParseQEMUCPUState(qemuNote(440, 0x66f6000, 0x6f0, 0xfffffe0000000000, 0xfff), le)
	if err != nil {
		t.Fatal(err)
	}
	if s.RIP != 0xffffffff822ae79f || s.RFlags != 0x282 || s.RSP() != 0x1106 || s.GPR[0] != 0x1100 || s.GPR[15] != 0x110f {
		t.Errorf("registers: rip %#x rflags %#x rsp %#x rax %#x r15 %#x", s.RIP, s.RFlags, s.RSP(), s.GPR[0], s.GPR[15])
	}
	if s.CS.Selector != 0x10 || s.GDT.Base != 0xfffffe0000001000 || s.GDT.Limit != 0x7f || s.IDT.Base != 0xfffffe0000000000 || s.IDT.Limit != 0xfff {
		t.Errorf("segments: cs %+v gdt %+v idt %+v", s.CS, s.GDT, s.IDT)
	}
	if s.CR[3] != 0x66f6000 || s.CR[4] != 0x6f0 || s.LA57() || !s.HasKernelGSBase || s.KernelGSBase != 0xffff8880ba9f4000 {
		t.Errorf("cr3 %#x cr4 %#x la57 %v gs %v %#x", s.CR[3], s.CR[4], s.LA57(), s.HasKernelGSBase, s.KernelGSBase)
	}
	// Without kernel_gs_base (QEMU before it was added): 432 bytes.
	s, err = ParseQEMUCPUState(qemuNote(432, 0x66f6000, 0x6f0, 0xfffffe0000000000, 0xfff), le)
	if err != nil || s.HasKernelGSBase || s.CR[4] != 0x6f0 {
		t.Errorf("432-byte state: %v, gs %v, cr4 %#x", err, s.HasKernelGSBase, s.CR[4])
	}
	// CR3: PCID bits, the KPTI user bit and NOFLUSH dropped.
	s.CR[3] = 1<<63 | 0x66f6000 | cr3PTIUser | 0x5
	if s.PGD() != 0x66f6000 {
		t.Errorf("PGD of CR3 %#x = %#x, want 0x66f6000", s.CR[3], s.PGD())
	}
	for _, c := range []struct {
		desc []byte
		want string
	}{
		{qemuNote(440, 0, 0, 0, 0)[:6], "no header"},
		{func() []byte { b := qemuNote(440, 0, 0, 0, 0); le.PutUint32(b, 2); return b }(), "version 2"},
		{qemuNote(440, 0, 0, 0, 0)[:400], "its note holds 400"},
		{func() []byte { b := qemuNote(440, 0, 0, 0, 0); le.PutUint32(b[4:], 100); return b }(), "says it has 100 bytes"},
		{func() []byte { b := qemuNote(440, 0, 0, 0, 0); le.PutUint32(b[4:], 1<<31); return b }(), "says it has 2147483648 bytes"},
	} {
		if _, err := ParseQEMUCPUState(c.desc, le); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d bytes: error %v, want %q", len(c.desc), err, c.want)
		}
	}
}

// fakeKernel is a small x86_64 physical memory: page tables built by
// mapping 4K pages, an IDT, and a kernel image placed by a KASLR offset.
type fakeKernel struct {
	mem    []byte
	next   uint64 // next free table page
	l5     bool
	root   uint64
	syms   map[string]uint64 // link-time
	offset uint64
	textPA uint64
}

const (
	fkIDTPA   = 0x9000
	fkTextPA  = 0x10000 // the image's first page
	fkTables  = 0x100000
	fkMemSize = 0x200000
	linkText  = 0xffffffff81000000
	idtVA     = 0xfffffe0000000000
)

func (f *fakeKernel) alloc() uint64 {
	p := f.next
	f.next += 4096
	return p
}

func (f *fakeKernel) mapPage(va, pa uint64) {
	shifts := []uint{39, 30, 21}
	if f.l5 {
		shifts = []uint{48, 39, 30, 21}
	}
	table := f.root
	for _, s := range shifts {
		ea := table + (va>>s&511)*8
		e := le.Uint64(f.mem[ea:])
		if e&pagePresent == 0 {
			e = f.alloc() | 0x63
			le.PutUint64(f.mem[ea:], e)
		}
		table = e & physMask
	}
	le.PutUint64(f.mem[table+(va>>12&511)*8:], pa|0x63)
}

// setGate writes an interrupt gate (struct gate_struct) for handler.
func (f *fakeKernel) setGate(vector int, handler uint64) {
	g := f.mem[fkIDTPA+16*vector:]
	le.PutUint16(g[0:], uint16(handler))
	le.PutUint16(g[2:], 0x10)
	le.PutUint16(g[4:], 0x8e00) // present, DPL 0, interrupt gate
	le.PutUint16(g[6:], uint16(handler>>16))
	le.PutUint32(g[8:], uint32(handler>>32))
}

func newFakeKernel(l5 bool, offset uint64) *fakeKernel {
	f := &fakeKernel{mem: make([]byte, fkMemSize), next: fkTables, l5: l5, offset: offset, textPA: fkTextPA}
	f.root = f.alloc()
	f.syms = map[string]uint64{
		"_text": linkText, "asm_exc_divide_error": linkText + 0x1030, "asm_exc_debug": linkText + 0x1370,
		"asm_exc_int3": linkText + 0x1240, "asm_exc_invalid_op": linkText + 0x1220, "asm_exc_page_fault": linkText + 0x1280,
		"_etext": linkText + 0x2000, "linux_banner": linkText + 0x3000, "init_top_pgt": linkText + 0x4000, "_end": linkText + 0x6000,
	}
	for i := uint64(0); i < 6; i++ {
		f.mapPage(linkText+offset+i*4096, fkTextPA+i*4096)
	}
	f.mapPage(idtVA, fkIDTPA)
	for _, g := range idtGates {
		f.setGate(g.vector, f.syms[g.names[0]]+offset)
	}
	// init_top_pgt: the kernel's own root, a copy of CR3's.
	copy(f.mem[fkTextPA+0x4000:fkTextPA+0x5000], f.mem[f.root:f.root+4096])
	return f
}

func (f *fakeKernel) physBase() uint64 { return f.textPA - (linkText + f.offset - StartKernelMap) }

func (f *fakeKernel) sym(name string) (uint64, error) {
	if a, ok := f.syms[name]; ok {
		return a, nil
	}
	return 0, fmt.Errorf("symbol %s not in the vmlinux", name)
}

type sliceMem []byte

func (m sliceMem) ReadAt(b []byte, addr uint64) (int, error) {
	if addr >= uint64(len(m)) || uint64(len(b)) > uint64(len(m))-addr {
		return 0, &dump.Fault{Addr: addr, Reason: dump.Unmapped}
	}
	return copy(b, m[addr:]), nil
}

// fakeEnv is arch.Env over a fake kernel.
type fakeEnv struct {
	f        *fakeKernel
	phys     dump.Memory
	notes    []dump.Note
	warnings []string
	// info and runtime: a dump opened without its vmlinux (VMCOREINFO,
	// kallsyms' run-time addresses).
	info    *dump.VMCOREINFO
	runtime bool
}

func (e *fakeEnv) Symbol(n string) (uint64, error) {
	a, err := e.f.sym(n)
	if e.runtime {
		a += e.f.offset
	}
	return a, err
}
func (e *fakeEnv) Info() *dump.VMCOREINFO                 { return e.info }
func (e *fakeEnv) RuntimeSymbols() bool                   { return e.runtime }
func (e *fakeEnv) Notes() []dump.Note                     { return e.notes }
func (e *fakeEnv) Phys() dump.Memory                      { return e.phys }
func (e *fakeEnv) Order() binary.ByteOrder                { return le }
func (e *fakeEnv) Sizeof(string) (int64, error)           { return 0, errors.New("no types") }
func (e *fakeEnv) Offsetof(string, string) (int64, error) { return 0, errors.New("no types") }
func (e *fakeEnv) Warnf(format string, args ...any) {
	e.warnings = append(e.warnings, fmt.Sprintf(format, args...))
}
func note(desc []byte) dump.Note              { return dump.Note{Name: "QEMU", Desc: desc} }
func cr4For(l5 bool) uint64                   { return map[bool]uint64{false: 0x6f0, true: 0x6f0 | cr4LA57}[l5] }
func (f *fakeKernel) state(cr3 uint64) []byte { return qemuNote(440, cr3, cr4For(f.l5), idtVA, 0xfff) }
func (f *fakeKernel) env(notes ...[]byte) *fakeEnv {
	e := &fakeEnv{f: f, phys: sliceMem(f.mem)}
	for _, n := range notes {
		e.notes = append(e.notes, note(n))
	}
	return e
}

// TestSetupFromQEMUCPUState: the layout the fake kernel was built with
// (KASLR offset, a negative phys_base, 4 or 5 levels) comes back from the
// CPU state alone, with CR3 in either half of a KPTI pair and a PCID.
func TestSetupFromQEMUCPUState(t *testing.T) {
	for _, c := range []struct {
		l5     bool
		offset uint64
	}{{false, 0}, {false, 0x1c400000}, {true, 0x1c400000}, {true, 0x2fe00000}} {
		f := newFakeKernel(c.l5, c.offset)
		user := f.root | cr3PTIUser | 0x7 // a CPU in user mode: the user half, PCID 7
		env := f.env(f.state(f.root), f.state(user))
		ak, err := Setup(env)
		if err != nil {
			t.Fatalf("l5 %v offset %#x: %v", c.l5, c.offset, err)
		}
		k := ak.(*Kernel)
		if k.Offset != c.offset || k.PhysBase != f.physBase() || k.L5 != c.l5 {
			t.Errorf("l5 %v offset %#x: got offset %#x phys_base %#x l5 %v, want phys_base %#x", c.l5, c.offset, k.Offset, k.PhysBase, k.L5, f.physBase())
		}
		if k.PGD != fkTextPA+0x4000 {
			t.Errorf("PGD %#x, want init_top_pgt's physical %#x", k.PGD, fkTextPA+0x4000)
		}
		if pa, err := k.Translate(idtVA + 16); err != nil || pa != fkIDTPA+16 {
			t.Errorf("IDT through init_top_pgt: %#x, %v", pa, err)
		}
		if !strings.Contains(k.LayoutFrom(), "from the QEMU CPU state; no VMCOREINFO") || !strings.Contains(k.LayoutFrom(), "gate 0 asm_exc_divide_error") || !strings.Contains(k.LayoutFrom(), "; the image mapping starts at _text") {
			t.Errorf("LayoutFrom: %s", k.LayoutFrom())
		}
		if len(env.warnings) != 0 {
			t.Errorf("warnings: %q", env.warnings)
		}
	}
}

// TestCPUStateRefusals: what is wrong is named, never a wrong layout.
func TestCPUStateRefusals(t *testing.T) {
	mk := func() *fakeKernel { return newFakeKernel(false, 0x1c400000) }
	for _, c := range []struct {
		name  string
		edit  func(f *fakeKernel) *fakeEnv
		wants []string
	}{
		{"no QEMU notes", func(f *fakeKernel) *fakeEnv { return f.env() }, []string{"no VMCOREINFO and no QEMU CPU state notes"}},
		{"undecodable note", func(f *fakeKernel) *fakeEnv { return f.env(f.state(f.root)[:100]) }, []string{"no QEMU CPU state note decodes", "its note holds 100"}},
		{"gates disagree", func(f *fakeKernel) *fakeEnv {
			f.setGate(14, f.syms["asm_exc_page_fault"]+f.offset+0x200000)
			return f.env(f.state(f.root))
		}, []string{"inconsistent IDT: gate 14's handler 0xffffffff9d601280 is asm_exc_page_fault+0x1c600000"}},
		{"offset not 2M aligned", func(f *fakeKernel) *fakeEnv {
			for _, g := range idtGates {
				f.setGate(g.vector, f.syms[g.names[0]]+f.offset+0x1000)
			}
			return f.env(f.state(f.root))
		}, []string{"not a multiple of 2M"}},
		{"image past the 1G mapping", func(f *fakeKernel) *fakeEnv {
			for _, g := range idtGates {
				f.setGate(g.vector, f.syms[g.names[0]]+0x3fe00000)
			}
			return f.env(f.state(f.root))
		}, []string{"the IDT gives KASLR offset 0x3fe00000", "but the kernel image mapping starts at 0xffffffff9d400000 (offset 0x1c400000)"}},
		{"IDT and image map unreadable", func(f *fakeKernel) *fakeEnv {
			clear(f.mem[fkTables+4096 : fkTables+3*4096]) // the image's PUD and PMD under the root
			return f.env(qemuNote(440, f.root, 0x6f0, 0x1000, 0xfff))
		}, []string{"neither the IDT (IDTR base 0x1000 is not a kernel address", "nor the kernel image mapping (nothing is mapped in the kernel image area"}},
		{"image not contiguous", func(f *fakeKernel) *fakeEnv {
			f.mapPage(linkText+f.offset+0x3000, fkTextPA+0x8000) // linux_banner elsewhere
			return f.env(f.state(f.root))
		}, []string{"linux_banner at 0xffffffff9d403000 maps to physical 0x18000"}},
		{"CPUs disagree", func(f *fakeKernel) *fakeEnv {
			// A second root mapping the image 2M higher in physical memory.
			g := newFakeKernel(false, 0x1c400000)
			g.textPA = 0x180000
			g.next = 0x1c0000
			g.root = g.alloc()
			for i := uint64(0); i < 6; i++ {
				g.mapPage(linkText+g.offset+i*4096, g.textPA+i*4096)
			}
			g.mapPage(idtVA, fkIDTPA)
			copy(f.mem[0x180000:], f.mem[fkTextPA:fkTextPA+0x6000])
			copy(f.mem[0x1c0000:], g.mem[0x1c0000:0x200000])
			return f.env(f.state(f.root), f.state(0x1c0000))
		}, []string{"the QEMU CPU states disagree: CPU 0 gives KASLR offset 0x1c400000"}},
	} {
		f := mk()
		_, err := Setup(c.edit(f))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\n want %q", c.name, err, w)
			}
		}
	}
	// An IDT that gives nothing: the image mapping alone, the IDT's
	// failure said.
	for _, c := range []struct {
		name string
		edit func(f *fakeKernel) *fakeEnv
		want string
	}{
		{"gate not present", func(f *fakeKernel) *fakeEnv {
			le.PutUint16(f.mem[fkIDTPA+4:], 0)
			return f.env(f.state(f.root))
		}, "IDT gate 0 at 0xfffffe0000000000 is not present"},
		{"IDT unmapped", func(f *fakeKernel) *fakeEnv { return f.env(qemuNote(440, f.root, 0x6f0, idtVA+0x200000, 0xfff)) }, "IDT gate 0 at 0xfffffe0000200000"},
		{"user-mode IDTR", func(f *fakeKernel) *fakeEnv { return f.env(qemuNote(440, f.root, 0x6f0, 0x1000, 0xfff)) }, "not a kernel address"},
		{"no vmlinux symbol for any gate", func(f *fakeKernel) *fakeEnv {
			for _, g := range idtGates {
				for _, n := range g.names {
					delete(f.syms, n)
				}
			}
			return f.env(f.state(f.root))
		}, "none of IDT gates 0, 1, 3, 6, 14"},
	} {
		f := mk()
		k, err := Setup(c.edit(f))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		from := k.(*Kernel).LayoutFrom()
		if k.KernelOffset() != 0x1c400000 || k.(*Kernel).PhysBase != f.physBase() || !strings.Contains(from, "the image mapping's first 2M step at 0xffffffff9d400000 is _text (the IDT gave nothing: ") || !strings.Contains(from, c.want) {
			t.Errorf("%s: offset %#x, %s", c.name, k.KernelOffset(), from)
		}
	}
	// One CPU whose state gives nothing (CR3 0) and one that works: the
	// working one is used, the other named in a warning.
	f := mk()
	env := f.env(qemuNote(440, 0, 0x6f0, idtVA, 0xfff), f.state(f.root))
	if k, err := Setup(env); err != nil || k.KernelOffset() != 0x1c400000 {
		t.Fatalf("one good CPU: %v", err)
	}
	if len(env.warnings) != 1 || !strings.Contains(env.warnings[0], "CPU 0: CR3 is 0") {
		t.Errorf("warnings %q", env.warnings)
	}
}

// TestQEMUNoteELF: a synthetic QEMU ELF dump (internal/coregen) with the
// fake kernel's memory and two CPUs' notes opens through package dump and
// sets up; without the QEMU notes it is refused, saying why.
func TestQEMUNoteELF(t *testing.T) {
	f := newFakeKernel(true, 0x1c400000)
	prstatus := make([]byte, 112+27*8+8)
	build := func(withQEMU bool) string {
		e := &coregen.ELF{Machine: elf.EM_X86_64, Segments: []coregen.Segment{{Paddr: 0, Data: f.mem}}}
		for i := 0; i < 2; i++ {
			e.Notes = append(e.Notes, coregen.Note{Name: "CORE", Type: uint32(elf.NT_PRSTATUS), Desc: prstatus})
			if withQEMU {
				e.Notes = append(e.Notes, coregen.Note{Name: "QEMU", Type: 0, Desc: f.state(f.root)})
			}
		}
		p := filepath.Join(t.TempDir(), "vmcore")
		if err := os.WriteFile(p, e.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The same as a kdump-compressed file (QEMU's -z/-l/-s formats write
	// the notes into it too), the machine from the header's utsname.
	buildKdump := func(withQEMU bool) string {
		k := &coregen.Kdump{UTS: coregen.UTSName{Sysname: "Linux", Machine: "x86_64"}, Compression: coregen.Zstd,
			MaxMapnr: uint64(len(f.mem)) / 4096, Pages: map[uint64][]byte{}, ZeroPages: true}
		for pfn := uint64(0); pfn < k.MaxMapnr; pfn++ {
			k.Pages[pfn] = f.mem[pfn*4096 : (pfn+1)*4096]
		}
		for i := 0; i < 2; i++ {
			k.Notes = append(k.Notes, coregen.Note{Name: "CORE", Type: uint32(elf.NT_PRSTATUS), Desc: prstatus})
			if withQEMU {
				k.Notes = append(k.Notes, coregen.Note{Name: "QEMU", Type: 0, Desc: f.state(f.root)})
			}
		}
		b, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "vmcore.kdump")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	formats := map[dump.Format]bool{}
	for _, c := range []struct {
		withQEMU bool
		file     func(bool) string
	}{{true, build}, {false, build}, {true, buildKdump}, {false, buildKdump}} {
		withQEMU := c.withQEMU
		d, err := dump.Open([]string{c.file(withQEMU)}, dump.Options{})
		if err != nil {
			t.Fatal(err)
		}
		formats[d.Format] = true
		env := &fakeEnv{f: f, phys: d.Phys, notes: d.Notes}
		k, err := Setup(env)
		switch {
		case d.Machine != dump.Machine(elf.EM_X86_64):
			t.Errorf("%s: machine %v", d.Format, d.Machine)
		case withQEMU && err != nil:
			t.Errorf("with QEMU notes: %v", err)
		case withQEMU && (k.KernelOffset() != 0x1c400000 || k.(*Kernel).PhysBase != f.physBase() || k.MMU() != "5-level"):
			t.Errorf("with QEMU notes: offset %#x phys_base %#x %s", k.KernelOffset(), k.(*Kernel).PhysBase, k.MMU())
		case !withQEMU && (err == nil || !strings.Contains(err.Error(), "x86_64: no VMCOREINFO and no QEMU CPU state notes")):
			t.Errorf("without QEMU notes: %v", err)
		}
		states, errs := QEMUCPUStates(d.Notes, le)
		if withQEMU && (len(states) != 2 || len(errs) != 0 || states[1].CR[3] != f.root || states[0].NoteOff == 0) {
			t.Errorf("QEMU notes read back: %d states, %v", len(states), errs)
		}
		d.Close()
	}
	if !formats[dump.ELFQEMU] && !formats[dump.ELFKdump] || !formats[dump.KdumpCompressed] {
		t.Errorf("formats opened: %v", formats)
	}
}

// FuzzQEMUCPUState: any note bytes, and any state over the fake kernel's
// memory: an error or a layout, never a panic.
func FuzzQEMUCPUState(f *testing.F) {
	k := newFakeKernel(false, 0x1c400000)
	f.Add(k.state(k.root))
	f.Add(qemuNote(432, k.root, 0x6f0|cr4LA57, idtVA, 0x10))
	f.Add([]byte{1, 0, 0, 0, 0xb8, 1, 0, 0})
	f.Fuzz(func(t *testing.T, desc []byte) {
		s, err := ParseQEMUCPUState(desc, le)
		if err != nil {
			return
		}
		_, _ = layoutFromCPU(sliceMem(k.mem), le, k.sym, 0, &s)
		_, _ = Setup(k.env(desc))
	})
}

// TestCheckVMCOREINFO: a layout found without VMCOREINFO against the
// kernel's own copy read afterwards: agreement says nothing, each
// disagreement is named.
func TestCheckVMCOREINFO(t *testing.T) {
	k := &Kernel{Offset: 0x1c400000, PhysBase: 0xfffffffffa000000, L5: true}
	parse := func(s string) *dump.VMCOREINFO {
		vi, err := dump.ParseVMCOREINFO([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return vi
	}
	if d := k.CheckVMCOREINFO(parse("OSRELEASE=7.2.13\nKERNELOFFSET=1c400000\nNUMBER(phys_base)=-100663296\nNUMBER(pgtable_l5_enabled)=1\n")); len(d) != 0 {
		t.Errorf("agreeing: %q", d)
	}
	d := k.CheckVMCOREINFO(parse("OSRELEASE=7.2.13\nKERNELOFFSET=1c600000\nNUMBER(phys_base)=0\nNUMBER(pgtable_l5_enabled)=0\n"))
	if len(d) != 3 || !strings.Contains(d[0], "KERNELOFFSET=1c600000 in VMCOREINFO, 0x1c400000 found") || !strings.Contains(d[1], "phys_base)=0x0") || !strings.Contains(d[2], "5-level paging found") {
		t.Errorf("disagreeing: %q", d)
	}
}

// TestSetupRuntimeSymbols: a dump opened without its vmlinux (kallsyms'
// run-time addresses, VMCOREINFO): EarlyFrom maps the image from
// NUMBER(phys_base) alone, Setup adds no KASLR offset to the symbols, and
// the layout is held against the QEMU CPU state: agreement said in
// LayoutFrom, a VMCOREINFO with another phys_base (another kernel's copy)
// warned about.
func TestSetupRuntimeSymbols(t *testing.T) {
	const offset = 0x1c400000
	for _, c := range []struct {
		physBase int64
		agree    bool
	}{{0, true}, {0x200000, false}} {
		f := newFakeKernel(false, offset)
		pb := int64(f.physBase()) + c.physBase
		vi, err := dump.ParseVMCOREINFO([]byte(fmt.Sprintf("OSRELEASE=7.2.13\nKERNELOFFSET=%x\nNUMBER(phys_base)=%d\nSYMBOL(init_top_pgt)=%x\nNUMBER(pgtable_l5_enabled)=0\n",
			offset, pb, f.syms["init_top_pgt"]+offset)))
		if err != nil {
			t.Fatal(err)
		}
		early, err := EarlyFrom(vi)
		if err != nil {
			t.Fatal(err)
		}
		if pa, ok := early(f.syms["linux_banner"] + offset); c.agree && (!ok || pa != fkTextPA+0x3000) {
			t.Errorf("early map of linux_banner: %#x %v, want %#x", pa, ok, fkTextPA+0x3000)
		}
		env := f.env(f.state(f.root))
		env.info, env.runtime = vi, true
		ak, err := Setup(env)
		if !c.agree {
			// init_top_pgt then maps elsewhere: the walk of a wrong
			// root may fail; the warning comes first either way.
			if len(env.warnings) != 1 || !strings.Contains(env.warnings[0], "disagrees with the QEMU CPU state's (0x1c400000, ") {
				t.Errorf("phys_base off by %#x: warnings %q (setup: %v)", c.physBase, env.warnings, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		k := ak.(*Kernel)
		if k.Offset != offset || k.PGD != fkTextPA+0x4000 {
			t.Errorf("offset %#x, PGD %#x (want %#x: init_top_pgt's run-time address taken as it is)", k.Offset, k.PGD, fkTextPA+0x4000)
		}
		if !strings.Contains(k.LayoutFrom(), "from VMCOREINFO; the QEMU CPU state agrees (CPU 0: ") || len(env.warnings) != 0 {
			t.Errorf("LayoutFrom %q, warnings %q", k.LayoutFrom(), env.warnings)
		}
	}
}
