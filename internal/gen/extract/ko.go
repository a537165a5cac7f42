package extract

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"strings"
)

// maxKo bounds the size of a .ko the stripper reads.
const maxKo = 64 << 20

// isDebugSection names the DWARF sections and their relocations.
func isDebugSection(name string) bool {
	return strings.HasPrefix(name, ".debug_") || strings.HasPrefix(name, ".zdebug_") ||
		strings.HasPrefix(name, ".rela.debug_") || strings.HasPrefix(name, ".rel.debug_")
}

// StripKo returns a copy of a little-endian ELF64 relocatable module
// without the contents of its .debug_* sections and their .rela.debug_*
// relocations. Every section header stays at its index with its name (so
// symbols, relocation sh_info/sh_link and section groups need no
// renumbering); the debug ones are left empty (size 0, no
// SHF_COMPRESSED). Everything the loader model reads — sections, symbols,
// relocations, __patchable_function_entries, .note.gnu.build-id,
// .modinfo — is copied byte for byte.
func StripKo(raw []byte) ([]byte, error) {
	if len(raw) > maxKo {
		return nil, fmt.Errorf("extract: .ko of %d bytes exceeds %d", len(raw), maxKo)
	}
	f, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Type != elf.ET_REL {
		return nil, fmt.Errorf("extract: want a little-endian ELF64 relocatable, got %v %v %v", f.Class, f.Data, f.Type)
	}
	le := binary.LittleEndian
	shoff := le.Uint64(raw[40:])
	shnum := int(le.Uint16(raw[60:]))
	if shnum != len(f.Sections) || shoff > uint64(len(raw)) || uint64(len(raw))-shoff < uint64(shnum)*64 {
		return nil, fmt.Errorf("extract: section header table at %#x (%d entries) does not fit the file", shoff, shnum)
	}
	out := append([]byte(nil), raw[:64]...)
	hdrs := make([][]byte, shnum)
	for i, s := range f.Sections {
		h := append([]byte(nil), raw[shoff+uint64(i)*64:shoff+uint64(i+1)*64]...)
		hdrs[i] = h
		if i == 0 || s.Type == elf.SHT_NOBITS || s.Type == elf.SHT_NULL {
			continue
		}
		if isDebugSection(s.Name) {
			le.PutUint64(h[8:], uint64(s.Flags&^elf.SHF_COMPRESSED))
			le.PutUint64(h[24:], 0)
			le.PutUint64(h[32:], 0)
			continue
		}
		a := max(s.Addralign, 1)
		for uint64(len(out))%a != 0 {
			out = append(out, 0)
		}
		if s.Offset > uint64(len(raw)) || uint64(len(raw))-s.Offset < s.FileSize {
			return nil, fmt.Errorf("extract: section %s at %#x size %#x beyond the file", s.Name, s.Offset, s.FileSize)
		}
		le.PutUint64(h[24:], uint64(len(out)))
		out = append(out, raw[s.Offset:s.Offset+s.FileSize]...)
	}
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	le.PutUint64(out[40:], uint64(len(out)))
	le.PutUint64(out[32:], 0) // e_phoff: a .ko has no program headers
	le.PutUint16(out[56:], 0)
	for _, h := range hdrs {
		out = append(out, h...)
	}
	return out, nil
}
