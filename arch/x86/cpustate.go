package x86

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/dump"
)

// A QEMU dump taken without -device vmcoreinfo has no VMCOREINFO note, so
// neither KERNELOFFSET nor phys_base: the kernel image's virtual and
// physical places are unknown, and nothing of the image can be read. The
// CPUs' own state (QEMU's "QEMU" notes) says enough to find both, as
// crash's calc_kaslr_offset() does, with more checks:
//
//   - CR3 is a page-table root whose kernel half is init_top_pgt's (every
//     PGD copies it), CR4.LA57 says 4 or 5 levels;
//   - IDTR is the virtual address of the IDT (the cpu_entry_area's
//     read-only alias of idt_table). Its gates hold the runtime addresses
//     of the entry code: gate N's handler minus the vmlinux's symbol for
//     it is the KASLR offset. Every gate of a small table of fixed vectors
//     whose handler the vmlinux names (idt.c's def_idts: #DE, #DB, #BP,
//     #UD, #PF) must give the same offset, and it must be a multiple of
//     the kernel's minimum alignment (2M);
//   - phys_base is what the tables map the kernel's runtime _text to,
//     minus its offset in the image mapping (__pa_symbol()); a few more
//     kernel symbols must translate the same way by arithmetic.
//
// Each CPU's state is tried in turn; the first that gives an answer is
// used and every other one that gives an answer must agree.

// idtGate is a vector whose handler the kernel installs at boot
// (arch/x86/kernel/idt.c, def_idts[] and early_idts[]), with the entry
// symbols it has had.
type idtGate struct {
	vector int
	names  []string
}

var idtGates = []idtGate{
	{0, []string{"asm_exc_divide_error", "divide_error"}}, // X86_TRAP_DE
	{1, []string{"asm_exc_debug", "debug"}},               // X86_TRAP_DB
	{3, []string{"asm_exc_int3", "int3"}},                 // X86_TRAP_BP
	{6, []string{"asm_exc_invalid_op", "invalid_op"}},     // X86_TRAP_UD
	{14, []string{"asm_exc_page_fault", "page_fault"}},    // X86_TRAP_PF
}

// kaslrAlign is the alignment of the KASLR slide (CONFIG_PHYSICAL_ALIGN is
// at least 2M on x86_64: arch/x86/Kconfig).
const kaslrAlign = 2 << 20

// cpuLayout is what one CPU's state says.
type cpuLayout struct {
	cpu      int
	l5       bool
	root     uint64 // CR3's kernel PGD
	offset   uint64
	physBase uint64
	how      string // the evidence, for info
}

// symbolFunc is env.Symbol.
type symbolFunc func(name string) (uint64, error)

// errIDTInconsistent marks an IDT that answers, but not consistently: the
// state or the memory is not what it seems, so no other evidence is
// taken instead.
var errIDTInconsistent = errors.New("inconsistent IDT")

// offsetFromIDT is the KASLR offset the IDT's gates give, with the gates
// used.
func offsetFromIDT(walker *Kernel, order binary.ByteOrder, sym symbolFunc, s *QEMUCPUState) (uint64, string, error) {
	phys := walker.Phys
	// 16-byte gates (struct gate_struct: offset_low u16, segment u16,
	// bits u16, offset_middle u16, offset_high u32, reserved u32).
	if s.IDT.Base>>63 == 0 {
		return 0, "", fmt.Errorf("IDTR base %#x is not a kernel address (the CPU was not running Linux's IDT)", s.IDT.Base)
	}
	var offs []string
	var offset uint64
	have := false
	for _, g := range idtGates {
		end := uint64(g.vector)*16 + 15
		if end > uint64(s.IDT.Limit) {
			continue
		}
		name, link := "", uint64(0)
		for _, n := range g.names {
			if a, err := sym(n); err == nil {
				name, link = n, a
				break
			}
		}
		if name == "" {
			continue
		}
		va := s.IDT.Base + uint64(g.vector)*16
		pa, err := walker.Translate(va)
		if err != nil {
			return 0, "", fmt.Errorf("IDT gate %d at %#x (IDTR %#x, CR3 %#x): %w", g.vector, va, s.IDT.Base, s.CR[3], err)
		}
		var b [16]byte
		if err := dump.ReadFull(phys, b[:], pa); err != nil {
			return 0, "", fmt.Errorf("IDT gate %d at %#x (physical %#x): %w", g.vector, va, pa, err)
		}
		bits := order.Uint16(b[4:])
		if bits&(1<<15) == 0 { // gate_desc.bits.p
			return 0, "", fmt.Errorf("IDT gate %d at %#x is not present (%x)", g.vector, va, b)
		}
		handler := uint64(order.Uint16(b[0:])) | uint64(order.Uint16(b[6:]))<<16 | uint64(order.Uint32(b[8:]))<<32
		off := handler - link
		switch {
		case !have:
			offset, have = off, true
		case off != offset:
			return 0, "", fmt.Errorf("%w: gate %d's handler %#x is %s+%#x, but earlier gates gave offset %#x (%s)", errIDTInconsistent, g.vector, handler, name, off, offset, strings.Join(offs, ", "))
		}
		offs = append(offs, fmt.Sprintf("gate %d %s", g.vector, name))
	}
	if !have {
		return 0, "", fmt.Errorf("none of IDT gates 0, 1, 3, 6, 14 is both within IDTR's limit %#x and named by the vmlinux (asm_exc_divide_error, ...)", s.IDT.Limit)
	}
	if offset%kaslrAlign != 0 || offset >= defaultImageSize {
		return 0, "", fmt.Errorf("%w: it gives KASLR offset %#x (%s): not a multiple of 2M within the 1G image area", errIDTInconsistent, offset, strings.Join(offs, ", "))
	}
	return offset, "IDTR " + fmt.Sprintf("%#x", s.IDT.Base) + ": " + strings.Join(offs, ", "), nil
}

// offsetFromImageMap is the KASLR offset the kernel image mapping gives:
// cleanup_highmap() (arch/x86/mm/init_64.c) clears every PMD of
// level2_kernel_pgt below _text, which is 2M aligned
// (CONFIG_PHYSICAL_ALIGN), so the first mapped 2M step of
// [__START_KERNEL_map, +1G) is the runtime _text.
func offsetFromImageMap(walker *Kernel, text uint64) (uint64, error) {
	for va := StartKernelMap; va-StartKernelMap < defaultImageSize; va += kaslrAlign {
		if _, err := walker.Translate(va); err != nil {
			var f *Fault
			if errors.As(err, &f) && f.Kind == dump.WalkNotPresent {
				continue
			}
			return 0, fmt.Errorf("the kernel image mapping at %#x: %w", va, err)
		}
		if va < text {
			return 0, fmt.Errorf("the kernel image mapping starts at %#x, below the vmlinux's _text %#x", va, text)
		}
		return va - text, nil
	}
	return 0, fmt.Errorf("nothing is mapped in the kernel image area [%#x, +1G)", StartKernelMap)
}

// layoutFromCPU derives the layout from one CPU's state: the KASLR offset
// from the IDT, held against the image mapping's (either alone when the
// other cannot be read; an error when they disagree), then phys_base.
func layoutFromCPU(phys dump.Memory, order binary.ByteOrder, sym symbolFunc, cpu int, s *QEMUCPUState) (cpuLayout, error) {
	l := cpuLayout{cpu: cpu, l5: s.LA57(), root: s.PGD()}
	if l.root == 0 {
		return l, fmt.Errorf("CR3 is %#x: no page tables", s.CR[3])
	}
	walker := &Kernel{Phys: phys, L5: l.l5, PGD: l.root}
	text, err := sym("_text")
	if err != nil {
		return l, err
	}
	idtOff, idtHow, idtErr := offsetFromIDT(walker, order, sym, s)
	if errors.Is(idtErr, errIDTInconsistent) {
		return l, fmt.Errorf("IDT (IDTR %#x): %w", s.IDT.Base, idtErr)
	}
	imgOff, imgErr := offsetFromImageMap(walker, text)
	var how string
	switch {
	case idtErr == nil && imgErr == nil && idtOff != imgOff:
		return l, fmt.Errorf("the IDT gives KASLR offset %#x (%s) but the kernel image mapping starts at %#x (offset %#x)", idtOff, idtHow, text+imgOff, imgOff)
	case idtErr == nil && imgErr == nil:
		l.offset, how = idtOff, idtHow+"; the image mapping starts at _text"
	case idtErr == nil:
		l.offset, how = idtOff, idtHow+"; the image mapping not checked: "+imgErr.Error()
	case imgErr == nil:
		l.offset, how = imgOff, fmt.Sprintf("the image mapping's first 2M step at %#x is _text (the IDT gave nothing: %v)", text+imgOff, idtErr)
	default:
		return l, fmt.Errorf("neither the IDT (%v) nor the kernel image mapping (%v) gives the KASLR offset", idtErr, imgErr)
	}
	if l.offset%kaslrAlign != 0 || l.offset >= defaultImageSize {
		return l, fmt.Errorf("KASLR offset %#x (%s): not a multiple of 2M within the 1G image area", l.offset, how)
	}
	// phys_base: where the tables put the runtime _text.
	textVA := text + l.offset
	if textVA < StartKernelMap || textVA-StartKernelMap >= defaultImageSize {
		return l, fmt.Errorf("KASLR offset %#x (%s) puts _text at %#x, outside the 1G kernel image mapping", l.offset, how, textVA)
	}
	pa, err := walker.Translate(textVA)
	if err != nil {
		return l, fmt.Errorf("_text at %#x through CR3 %#x: %w", textVA, s.CR[3], err)
	}
	l.physBase = pa - (textVA - StartKernelMap)
	if l.physBase&0xfff != 0 {
		return l, fmt.Errorf("_text at %#x maps to physical %#x: phys_base %#x is not page aligned", textVA, pa, l.physBase)
	}
	// More of the image must map by the same arithmetic.
	for _, n := range []string{"_etext", "init_top_pgt", "linux_banner", "_end"} {
		a, err := sym(n)
		if err != nil {
			continue
		}
		va := a + l.offset
		if n == "_end" {
			va-- // _end is one past the image
		}
		got, err := walker.Translate(va)
		if err != nil {
			if n == "_end" {
				continue // the brk tail may be unmapped
			}
			return l, fmt.Errorf("%s at %#x through CR3 %#x: %w", n, va, s.CR[3], err)
		}
		if want := va - StartKernelMap + l.physBase; got != want {
			return l, fmt.Errorf("%s at %#x maps to physical %#x, but phys_base %#x (from _text) puts it at %#x", n, va, got, l.physBase, want)
		}
	}
	l.how = fmt.Sprintf("CPU %d: CR3 %#x, CR4 %#x (LA57 %s), %s", cpu, s.CR[3], s.CR[4], onOff(l.l5), how)
	return l, nil
}

func onOff(b bool) string {
	if b {
		return "set"
	}
	return "clear"
}

// errNoCPUState is returned when a dump has neither VMCOREINFO nor QEMU
// CPU state notes.
var errNoCPUState = errors.New("no VMCOREINFO and no QEMU CPU state notes: the kernel image's physical base (phys_base) and KASLR offset are unknown (QEMU: -device vmcoreinfo, or dump-guest-memory notes; kdump writes VMCOREINFO)")

// layoutFromCPUs tries each CPU's state; the first answer is used, every
// other answer must agree.
func layoutFromCPUs(phys dump.Memory, order binary.ByteOrder, notes []dump.Note, sym symbolFunc, warnf func(string, ...any)) (cpuLayout, error) {
	states, errs := QEMUCPUStates(notes, order)
	for _, e := range errs {
		warnf("x86_64: %v", e)
	}
	if len(states) == 0 {
		if len(errs) > 0 {
			return cpuLayout{}, fmt.Errorf("no VMCOREINFO, and no QEMU CPU state note decodes (%v)", errors.Join(errs...))
		}
		return cpuLayout{}, errNoCPUState
	}
	if _, err := sym("_text"); err != nil {
		return cpuLayout{}, fmt.Errorf("no VMCOREINFO: the layout must come from the QEMU CPU state and the vmlinux's symbols, and %w", err)
	}
	var got *cpuLayout
	var fails []string
	for i := range states {
		l, err := layoutFromCPU(phys, order, sym, i, &states[i])
		if err != nil {
			fails = append(fails, fmt.Sprintf("CPU %d: %v", i, err))
			continue
		}
		if got == nil {
			got = &l
			continue
		}
		if l.offset != got.offset || l.physBase != got.physBase || l.l5 != got.l5 {
			return cpuLayout{}, fmt.Errorf("the QEMU CPU states disagree: CPU %d gives KASLR offset %#x, phys_base %#x, LA57 %s; CPU %d gives %#x, %#x, %s",
				got.cpu, got.offset, got.physBase, onOff(got.l5), l.cpu, l.offset, l.physBase, onOff(l.l5))
		}
	}
	if got == nil {
		return cpuLayout{}, fmt.Errorf("no VMCOREINFO, and no CPU's QEMU state gives the kernel's layout: %s", strings.Join(fails, "; "))
	}
	for _, f := range fails {
		warnf("x86_64: layout from the QEMU CPU state: %s (another CPU's was used)", f)
	}
	return *got, nil
}
