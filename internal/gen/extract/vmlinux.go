package extract

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
)

// VmlinuxInput is what the minimal vmlinux keeps of the real one.
type VmlinuxInput struct {
	// Orig is the real vmlinux; Raw reads its bytes (for e_flags).
	Orig *elf.File
	Raw  io.ReaderAt
	// Banner is linux_banner's address and bytes, written as a small
	// PROGBITS section at that address (kernel.Program compares them with
	// memory).
	BannerAddr uint64
	Banner     []byte
	// Abbrev and Info are the re-emitted DWARF.
	Abbrev, Info []byte
}

// MinimalVmlinux writes an ELF64 little-endian vmlinux with every section
// header of the original at the same index (names, addresses, sizes and
// flags kept, so symbols keep their sections), the contents of .symtab,
// .strtab and the note sections (build-id), allocated sections otherwise
// turned into SHT_NOBITS, non-allocated ones (the old DWARF, .comment)
// emptied to SHT_NULL, and three sections appended: the banner's bytes,
// .debug_abbrev and .debug_info.
func MinimalVmlinux(in VmlinuxInput) ([]byte, error) {
	f := in.Orig
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB {
		return nil, fmt.Errorf("extract: vmlinux is %v %v, want a little-endian ELF64", f.Class, f.Data)
	}
	var eflags [4]byte
	if _, err := in.Raw.ReadAt(eflags[:], 48); err != nil {
		return nil, fmt.Errorf("extract: reading e_flags: %w", err)
	}
	type sec struct {
		name           string
		typ            elf.SectionType
		flags          elf.SectionFlag
		addr, size     uint64
		link, info     uint32
		align, entsize uint64
		data           []byte
		off            uint64
	}
	var shstr bytes.Buffer
	shstr.WriteByte(0)
	nameOff := map[string]uint32{"": 0}
	name := func(n string) uint32 {
		if o, ok := nameOff[n]; ok {
			return o
		}
		o := uint32(shstr.Len())
		shstr.WriteString(n)
		shstr.WriteByte(0)
		nameOff[n] = o
		return o
	}
	secs := make([]sec, len(f.Sections))
	shstrndx := -1
	for i, s := range f.Sections {
		if i == 0 {
			continue
		}
		x := sec{name: s.Name, typ: s.Type, flags: s.Flags, addr: s.Addr, size: s.Size, link: s.Link, info: s.Info, align: s.Addralign, entsize: s.Entsize}
		switch {
		case s.Type == elf.SHT_STRTAB && s.Name == ".shstrtab":
			shstrndx = i
		case s.Type == elf.SHT_SYMTAB || s.Type == elf.SHT_STRTAB || s.Type == elf.SHT_NOTE:
			if s.Flags&elf.SHF_COMPRESSED != 0 {
				return nil, fmt.Errorf("extract: %s is compressed", s.Name)
			}
			d, err := s.Data()
			if err != nil {
				return nil, fmt.Errorf("extract: reading %s: %w", s.Name, err)
			}
			x.data = d
		case s.Flags&elf.SHF_ALLOC != 0:
			x.typ = elf.SHT_NOBITS
			x.flags &^= elf.SHF_COMPRESSED
		default:
			x = sec{}
		}
		secs[i] = x
	}
	if shstrndx < 0 {
		return nil, fmt.Errorf("extract: vmlinux has no .shstrtab")
	}
	banner := sec{name: ".rodata.linux_banner", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC, addr: in.BannerAddr, size: uint64(len(in.Banner)), align: 1, data: in.Banner}
	secs = append(secs, banner,
		sec{name: ".debug_abbrev", typ: elf.SHT_PROGBITS, size: uint64(len(in.Abbrev)), align: 1, data: in.Abbrev},
		sec{name: ".debug_info", typ: elf.SHT_PROGBITS, size: uint64(len(in.Info)), align: 1, data: in.Info})
	for i := range secs {
		if i > 0 {
			name(secs[i].name)
		}
	}
	secs[shstrndx] = sec{name: ".shstrtab", typ: elf.SHT_STRTAB, align: 1}
	name(".shstrtab")
	secs[shstrndx].data = shstr.Bytes()
	secs[shstrndx].size = uint64(shstr.Len())

	le := binary.LittleEndian
	out := make([]byte, 64)
	for i := range secs {
		s := &secs[i]
		if s.data == nil {
			if s.typ != elf.SHT_NOBITS {
				s.size = 0
			}
			continue
		}
		a := max(s.align, 1)
		for uint64(len(out))%a != 0 {
			out = append(out, 0)
		}
		s.off = uint64(len(out))
		out = append(out, s.data...)
	}
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	shoff := uint64(len(out))
	for _, s := range secs {
		var h [64]byte
		if s.name != "" {
			le.PutUint32(h[0:], nameOff[s.name])
		}
		le.PutUint32(h[4:], uint32(s.typ))
		le.PutUint64(h[8:], uint64(s.flags))
		le.PutUint64(h[16:], s.addr)
		le.PutUint64(h[24:], s.off)
		le.PutUint64(h[32:], s.size)
		le.PutUint32(h[40:], s.link)
		le.PutUint32(h[44:], s.info)
		le.PutUint64(h[48:], s.align)
		le.PutUint64(h[56:], s.entsize)
		out = append(out, h[:]...)
	}
	copy(out, elf.ELFMAG)
	out[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	out[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	out[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	out[elf.EI_OSABI] = byte(f.OSABI)
	le.PutUint16(out[16:], uint16(f.Type))
	le.PutUint16(out[18:], uint16(f.Machine))
	le.PutUint32(out[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(out[24:], f.Entry)
	le.PutUint64(out[40:], shoff)
	copy(out[48:52], eflags[:])
	le.PutUint16(out[52:], 64)
	le.PutUint16(out[58:], 64)
	le.PutUint16(out[60:], uint16(len(secs)))
	le.PutUint16(out[62:], uint16(shstrndx))
	return out, nil
}
