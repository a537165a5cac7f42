package dump

import "github.com/kdump-inspect/kdump-inspect/elfobj"

// Machine is an ELF e_machine value: what a dump says it was taken on
// (the ELF header, the kdump header's utsname, or its notes), printed by
// its elf-em.h name ("EM_PPC64").
type Machine = elfobj.Machine

// The machines the readers name (include/uapi/linux/elf-em.h).
const (
	MachineNone    = elfobj.EM_NONE
	MachinePPC     = elfobj.EM_PPC
	MachinePPC64   = elfobj.EM_PPC64
	MachineS390    = elfobj.EM_S390
	MachineX86_64  = elfobj.EM_X86_64
	MachineAArch64 = elfobj.EM_AARCH64
)

// ELF constants of the core files the readers decode that elfobj (a
// reader of object files' sections) does not name: program header types
// and the note type (include/uapi/linux/elf.h).
const (
	ptLoad     = 1
	ptNote     = 4
	ntPRStatus = 1
)
