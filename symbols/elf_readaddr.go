package symbols

import "fmt"

// ReadAddr returns up to n bytes of the file's contents at virtual address
// addr (an allocated PROGBITS section of a linked vmlinux), for comparing
// the file with memory. It returns fewer bytes at a section's end and an
// error when no section with file contents holds addr.
func (f *ELFFile) ReadAddr(addr uint64, n int) ([]byte, error) {
	for _, s := range f.File.Sections {
		if s.Addr == 0 || s.Type == 8 /* SHT_NOBITS */ || addr < s.Addr || addr-s.Addr >= s.Size {
			continue
		}
		off := addr - s.Addr
		k := uint64(n)
		if k > s.Size-off {
			k = s.Size - off
		}
		b := make([]byte, k)
		if _, err := s.ReadAt(b, int64(off)); err != nil {
			return nil, fmt.Errorf("%s: reading %s at %#x: %w", f.Path, s.Name, addr, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%s: no section holds %#x", f.Path, addr)
}
