package elfobj

import "strconv"

//go:generate go run ../internal/gen/elfnames

// The ELF identification (include/uapi/linux/elf.h).
const (
	ELFMAG        = "\x7fELF"
	EI_CLASS      = 4
	EI_DATA       = 5
	EI_VERSION    = 6
	EI_OSABI      = 7
	EI_ABIVERSION = 8
)

// Aliases of values String prints under another name.
const (
	SHN_LORESERVE  SectionIndex = 0xff00
	STT_GNU_IFUNC  SymType      = 10 // STT_LOOS
	STB_GNU_UNIQUE SymBind      = 10 // STB_LOOS
)

// Linux's own values (include/uapi/linux/elf.h), which debug/elf does not
// name: a livepatch module's symbols that livepatch resolves itself when
// the patch is enabled, and its .klp.rela.OBJ.SECTION relocation sections.
const (
	SHN_LIVEPATCH      SectionIndex = 0xff20
	SHF_RELA_LIVEPATCH SectionFlag  = 0x00100000
)

// Compression types of an SHF_COMPRESSED section's Chdr.
const (
	COMPRESS_ZLIB = 1
	COMPRESS_ZSTD = 2
)

// Sym64Size is the size of an Elf64_Sym.
const Sym64Size = 24

// ST_BIND is a symbol's binding, from st_info.
func ST_BIND(info uint8) SymBind { return SymBind(info >> 4) }

// ST_TYPE is a symbol's type, from st_info.
func ST_TYPE(info uint8) SymType { return SymType(info & 0xf) }

func name[T ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~int](names map[T]string, v T, typ string) string {
	if s, ok := names[v]; ok {
		return s
	}
	return typ + "(" + strconv.FormatUint(uint64(v), 10) + ")"
}

func (v Class) String() string        { return name(namesClass, v, "Class") }
func (v Data) String() string         { return name(namesData, v, "Data") }
func (v Version) String() string      { return name(namesVersion, v, "Version") }
func (v OSABI) String() string        { return name(namesOSABI, v, "OSABI") }
func (v Type) String() string         { return name(namesType, v, "Type") }
func (v SectionType) String() string  { return name(namesSectionType, v, "SectionType") }
func (v SectionIndex) String() string { return name(namesSectionIndex, v, "SectionIndex") }
func (v SymBind) String() string      { return name(namesSymBind, v, "SymBind") }
func (v SymType) String() string      { return name(namesSymType, v, "SymType") }
func (v R_X86_64) String() string     { return name(namesRX8664, v, "R_X86_64") }
func (v R_AARCH64) String() string    { return name(namesRAARCH64, v, "R_AARCH64") }
func (v R_PPC64) String() string      { return name(namesRPPC64, v, "R_PPC64") }

// String is the elf-em.h name ("EM_PPC64"), or the number.
func (v Machine) String() string {
	if s, ok := namesMachine[v]; ok {
		return s
	}
	return strconv.Itoa(int(v))
}

// String names the set flags joined by "+", unnamed bits as "+0x…", as
// debug/elf does.
func (v SectionFlag) String() string {
	s := ""
	for bit := SectionFlag(1); bit != 0; bit <<= 1 {
		if v&bit == 0 {
			continue
		}
		if n, ok := namesSectionFlag[bit]; ok {
			if s != "" {
				s += "+"
			}
			s += n
			v &^= bit
		}
	}
	if s == "" {
		return "0x" + strconv.FormatUint(uint64(v), 16)
	}
	if v != 0 {
		s += "+0x" + strconv.FormatUint(uint64(v), 16)
	}
	return s
}
