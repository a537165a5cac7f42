package x86

import (
	"encoding/binary"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/dump"
)

// QEMU's dump-guest-memory writes, beside each CPU's NT_PRSTATUS, a note
// named "QEMU" (type 0) holding a QEMUCPUState (target/i386/arch_dump.c,
// qemu_get_cpustate()), in ELF and kdump-compressed dumps alike:
//
//	typedef struct QEMUCPUSegment {
//	    uint32_t selector, limit, flags, pad;
//	    uint64_t base;
//	} QEMUCPUSegment;
//
//	typedef struct QEMUCPUState {
//	    uint32_t version;          /* QEMUCPUSTATE_VERSION, 1 */
//	    uint32_t size;             /* sizeof(QEMUCPUState) */
//	    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
//	    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
//	    uint64_t rip, rflags;
//	    QEMUCPUSegment cs, ds, es, fs, gs, ss;
//	    QEMUCPUSegment ldt, tr, gdt, idt;
//	    uint64_t cr[5];
//	    uint64_t kernel_gs_base;   /* optional: present when size says so */
//	} QEMUCPUState;
//
// Fields past cr[] were added without changing the version; readers tell
// them by size. It is what the CPU held, not what the kernel saved: the
// only record of CR3, CR4 and IDTR in a dump without VMCOREINFO.
const (
	qemuNoteName     = "QEMU"
	qemuStateVersion = 1
	qemuSegSize      = 24
	// qemuStateMin is the size of a version 1 state up to cr[4].
	qemuStateMin = 8 + 18*8 + 10*qemuSegSize + 5*8
	// qemuStateGSBase is the size with kernel_gs_base.
	qemuStateGSBase = qemuStateMin + 8
	// qemuStateMax bounds the size field: a state this tool does not know
	// may grow, but not past a page.
	qemuStateMax = 4096
)

// QEMUSegment is a QEMUCPUSegment: a segment register, or the GDTR/IDTR
// (base and limit only).
type QEMUSegment struct {
	Selector, Limit, Flags uint32
	Base                   uint64
}

// QEMUCPUState is one CPU's "QEMU" note.
type QEMUCPUState struct {
	Version, Size uint32
	// GPR is rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8 ... r15, in the
	// note's order.
	GPR                    [16]uint64
	RIP, RFlags            uint64
	CS, DS, ES, FS, GS, SS QEMUSegment
	LDT, TR, GDT, IDT      QEMUSegment
	CR                     [5]uint64
	// KernelGSBase is the KERNEL_GS_BASE MSR when HasKernelGSBase.
	KernelGSBase    uint64
	HasKernelGSBase bool
	// NoteOff is the file offset of the note.
	NoteOff int64
}

// RSP is the stack pointer (GPR[6]).
func (s *QEMUCPUState) RSP() uint64 { return s.GPR[6] }

// CR4 bits (arch/x86/include/uapi/asm/processor-flags.h).
const (
	cr4LA57 = 1 << 12 // X86_CR4_LA57: 5-level paging
	// cr3PTIUser is PTI_USER_PGTABLE_BIT (PAGE_SHIFT): with KPTI, a user
	// CR3 points at the second page of the 8K PGD pair.
	cr3PTIUser = 1 << 12
)

// LA57 reports CR4.LA57.
func (s *QEMUCPUState) LA57() bool { return s.CR[4]&cr4LA57 != 0 }

// PGD is the kernel page-table root CR3 names: the address bits (the
// PCID in bits 0-11, NOFLUSH in 63 and the LAM bits 61-62 dropped) with
// the KPTI user bit cleared, which gives the kernel half of the pair.
func (s *QEMUCPUState) PGD() uint64 { return s.CR[3] & physMask &^ cr3PTIUser }

// ParseQEMUCPUState decodes a "QEMU" note's descriptor.
func ParseQEMUCPUState(desc []byte, order binary.ByteOrder) (QEMUCPUState, error) {
	var s QEMUCPUState
	if len(desc) < 8 {
		return s, fmt.Errorf("QEMU CPU state of %d bytes has no header", len(desc))
	}
	s.Version, s.Size = order.Uint32(desc), order.Uint32(desc[4:])
	if s.Version != qemuStateVersion {
		return s, fmt.Errorf("QEMU CPU state version %d (this tool reads version %d)", s.Version, qemuStateVersion)
	}
	if s.Size < qemuStateMin || s.Size > qemuStateMax {
		return s, fmt.Errorf("QEMU CPU state says it has %d bytes (version 1 has at least %d)", s.Size, qemuStateMin)
	}
	if uint64(s.Size) > uint64(len(desc)) {
		return s, fmt.Errorf("QEMU CPU state says it has %d bytes but its note holds %d", s.Size, len(desc))
	}
	off := 8
	u64 := func() uint64 { v := order.Uint64(desc[off:]); off += 8; return v }
	seg := func() QEMUSegment {
		g := QEMUSegment{Selector: order.Uint32(desc[off:]), Limit: order.Uint32(desc[off+4:]), Flags: order.Uint32(desc[off+8:]), Base: order.Uint64(desc[off+16:])}
		off += qemuSegSize
		return g
	}
	for i := range s.GPR {
		s.GPR[i] = u64()
	}
	s.RIP, s.RFlags = u64(), u64()
	for _, p := range []*QEMUSegment{&s.CS, &s.DS, &s.ES, &s.FS, &s.GS, &s.SS, &s.LDT, &s.TR, &s.GDT, &s.IDT} {
		*p = seg()
	}
	for i := range s.CR {
		s.CR[i] = u64()
	}
	if s.Size >= qemuStateGSBase {
		s.KernelGSBase, s.HasKernelGSBase = u64(), true
	}
	return s, nil
}

// QEMUCPUStates decodes every "QEMU" note of a dump, in file order (the
// CPUs' order); a note that does not decode is named in errs and left out.
func QEMUCPUStates(notes []dump.Note, order binary.ByteOrder) (states []QEMUCPUState, errs []error) {
	for _, n := range notes {
		if n.Name != qemuNoteName {
			continue
		}
		s, err := ParseQEMUCPUState(n.Desc, order)
		if err != nil {
			errs = append(errs, fmt.Errorf("QEMU note at file offset %#x: %w", n.Off, err))
			continue
		}
		s.NoteOff = n.Off
		states = append(states, s)
	}
	return states, errs
}
