package symbols

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// A small ELF64 writer for synthetic test inputs (in the spirit of drgn's
// tests/elfwriter.py): sections with contents, a symbol table and a string
// table; everything else is derived.

type testSection struct {
	name       string
	typ        elf.SectionType
	flags      elf.SectionFlag
	addr       uint64
	data       []byte
	size       uint64 // for SHT_NOBITS
	link, info uint32
	entsize    uint64
}

type testSym struct {
	name  string
	info  byte
	other byte
	shndx uint16
	value uint64
	size  uint64
}

type testELF struct {
	order   binary.ByteOrder
	typ     elf.Type
	flags   uint32
	machine elf.Machine
	secs    []testSection // without the null section; index i is section i+1
	syms    []testSym     // without the null symbol
}

// bytes lays out: header, section contents, .symtab, .strtab, .shstrtab,
// section headers.
func (e *testELF) bytes() []byte {
	o := e.order
	secs := append([]testSection(nil), e.secs...)
	if e.syms != nil {
		var strtab bytes.Buffer
		strtab.WriteByte(0)
		var symtab bytes.Buffer
		symtab.Write(make([]byte, 24))
		for _, s := range e.syms {
			var b [24]byte
			o.PutUint32(b[0:], uint32(strtab.Len()))
			strtab.WriteString(s.name)
			strtab.WriteByte(0)
			b[4], b[5] = s.info, s.other
			o.PutUint16(b[6:], s.shndx)
			o.PutUint64(b[8:], s.value)
			o.PutUint64(b[16:], s.size)
			symtab.Write(b[:])
		}
		strIdx := uint32(len(secs) + 2)
		secs = append(secs,
			testSection{name: ".symtab", typ: elf.SHT_SYMTAB, data: symtab.Bytes(), link: strIdx, info: 1, entsize: 24},
			testSection{name: ".strtab", typ: elf.SHT_STRTAB, data: strtab.Bytes()})
	}
	var shstr bytes.Buffer
	shstr.WriteByte(0)
	nameOff := make([]uint32, len(secs)+1)
	for i, s := range secs {
		nameOff[i] = uint32(shstr.Len())
		shstr.WriteString(s.name)
		shstr.WriteByte(0)
	}
	nameOff[len(secs)] = uint32(shstr.Len())
	shstr.WriteString(".shstrtab\x00")
	secs = append(secs, testSection{name: ".shstrtab", typ: elf.SHT_STRTAB, data: shstr.Bytes()})

	out := make([]byte, 64)
	offs := make([]uint64, len(secs))
	for i, s := range secs {
		for len(out)%8 != 0 {
			out = append(out, 0)
		}
		offs[i] = uint64(len(out))
		out = append(out, s.data...)
	}
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	shoff := uint64(len(out))
	out = append(out, make([]byte, 64)...) // null section header
	for i, s := range secs {
		var h [64]byte
		o.PutUint32(h[0:], nameOff[i])
		o.PutUint32(h[4:], uint32(s.typ))
		o.PutUint64(h[8:], uint64(s.flags))
		o.PutUint64(h[16:], s.addr)
		o.PutUint64(h[24:], offs[i])
		size := uint64(len(s.data))
		if s.typ == elf.SHT_NOBITS {
			size = s.size
		}
		o.PutUint64(h[32:], size)
		o.PutUint32(h[40:], s.link)
		o.PutUint32(h[44:], s.info)
		o.PutUint64(h[48:], 8)
		o.PutUint64(h[56:], s.entsize)
		out = append(out, h[:]...)
	}
	h := out[:64]
	copy(h, []byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64)})
	if o == binary.LittleEndian {
		h[5] = byte(elf.ELFDATA2LSB)
	} else {
		h[5] = byte(elf.ELFDATA2MSB)
	}
	h[6] = byte(elf.EV_CURRENT)
	o.PutUint16(h[16:], uint16(e.typ))
	o.PutUint16(h[18:], uint16(e.machine))
	o.PutUint32(h[20:], uint32(elf.EV_CURRENT))
	o.PutUint64(h[40:], shoff)
	o.PutUint32(h[48:], e.flags)
	o.PutUint16(h[52:], 64)
	o.PutUint16(h[58:], 64)
	o.PutUint16(h[60:], uint16(len(secs)+1))
	o.PutUint16(h[62:], uint16(len(secs))) // .shstrtab is last
	return out
}

func stInfo(bind elf.SymBind, typ elf.SymType) byte { return byte(bind)<<4 | byte(typ)&0xf }

// gnuNote builds an ELF note.
func gnuNote(o binary.ByteOrder, name string, typ uint32, desc []byte) []byte {
	var b bytes.Buffer
	var h [12]byte
	o.PutUint32(h[0:], uint32(len(name)+1))
	o.PutUint32(h[4:], uint32(len(desc)))
	o.PutUint32(h[8:], typ)
	b.Write(h[:])
	b.WriteString(name)
	b.WriteByte(0)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	b.Write(desc)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	return b.Bytes()
}
