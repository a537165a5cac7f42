package ppc64

// trapNames names the Book3S-64 interrupt vectors by the TRAP value of
// pt_regs (arch/powerpc/include/asm/interrupt.h): short as bt prints an
// exception frame, long as why explains the crash.
var trapNames = map[uint64][2]string{
	0x100:  {"system reset", "system reset"},
	0x200:  {"machine check", "machine check"},
	0x300:  {"data storage", "data storage interrupt"},
	0x380:  {"data segment", "data segment interrupt"},
	0x400:  {"instruction storage", "instruction storage interrupt"},
	0x480:  {"instruction segment", "instruction segment interrupt"},
	0x500:  {"hardware interrupt", "hardware interrupt"},
	0x600:  {"alignment", "alignment interrupt"},
	0x700:  {"program check", "program check (illegal instruction, trap or BUG)"},
	0x900:  {"decrementer", "decrementer"},
	0xa00:  {"doorbell", "doorbell"},
	0xc00:  {"system call", "system call"},
	0xe60:  {"hypervisor instruction storage", "hypervisor instruction storage interrupt"},
	0xea0:  {"hypervisor virtualization", "hypervisor virtualization interrupt"},
	0x3000: {"system call vectored", "system call vectored"},
}

// TrapName names the interrupt vector of a pt_regs TRAP value (its low
// four bits are flags): short ("data storage") and long ("data storage
// interrupt"); ok is false for a vector the table does not hold.
func TrapName(trap uint64) (short, long string, ok bool) {
	n, ok := trapNames[trap&^0xf]
	return n[0], n[1], ok
}
