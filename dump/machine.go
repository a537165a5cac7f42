package dump

import "strconv"

// Machine is an ELF e_machine value: what a dump says it was taken on
// (the ELF header, the kdump header's utsname, or its notes). The dump
// readers decode ELF headers themselves and need no ELF library for it.
type Machine uint16

// The machines the readers name (include/uapi/linux/elf-em.h).
const (
	MachineNone    Machine = 0
	MachinePPC     Machine = 20
	MachinePPC64   Machine = 21
	MachineS390    Machine = 22
	MachineX86_64  Machine = 62
	MachineAArch64 Machine = 183
)

var machineNames = map[Machine]string{
	0: "EM_NONE", 3: "EM_386", 8: "EM_MIPS", 20: "EM_PPC", 21: "EM_PPC64", 22: "EM_S390",
	40: "EM_ARM", 43: "EM_SPARCV9", 50: "EM_IA_64", 62: "EM_X86_64", 183: "EM_AARCH64",
	243: "EM_RISCV", 258: "EM_LOONGARCH",
}

// String is the elf-em.h name ("EM_PPC64"), or the number.
func (m Machine) String() string {
	if s, ok := machineNames[m]; ok {
		return s
	}
	return strconv.Itoa(int(m))
}

// ELF constants of the core files the readers decode (include/uapi/linux/elf.h).
const (
	elfMag      = "\x7fELF"
	eiClass     = 4
	eiData      = 5
	elfClass64  = 2
	elfData2LSB = 1
	elfData2MSB = 2
	etCore      = 4
	ptLoad      = 1
	ptNote      = 4
	ntPRStatus  = 1
)

var (
	elfClassNames = map[uint64]string{0: "ELFCLASSNONE", 1: "ELFCLASS32", 2: "ELFCLASS64"}
	elfTypeNames  = map[uint64]string{0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}
)

// elfName names an ELF header value for a FormatError ("ET_REL"), or
// gives its number.
func elfName(names map[uint64]string, v uint64) string {
	if s, ok := names[v]; ok {
		return s
	}
	return strconv.FormatUint(v, 10)
}
