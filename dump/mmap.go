package dump

import (
	"fmt"
	"io"
	"math"
	"os"
	"syscall"
)

// mappedFile is a read-only mapping of one file. Uncompressed page data is
// served straight from the mapping; nothing reads the whole file.
type mappedFile struct {
	name string // the path the user gave (the compressed one, if any)
	f    *os.File
	data []byte
}

func mapFile(path, name string) (*mappedFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: is a directory, not a dump file", name)
	}
	size, err := fileSize(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	m := &mappedFile{name: name, f: f}
	if size == 0 {
		return m, nil
	}
	if size < 0 || uint64(size) > math.MaxInt {
		f.Close()
		return nil, fmt.Errorf("%s: file too large to map (%d bytes)", name, size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: mmap: %w", name, err)
	}
	m.data = data
	return m, nil
}

// newMemFile wraps bytes already in memory (tests, fuzzing).
func newMemFile(name string, data []byte) *mappedFile {
	return &mappedFile{name: name, data: data}
}

func (m *mappedFile) Name() string { return m.name }
func (m *mappedFile) Size() int64  { return int64(len(m.data)) }

// ReadAt copies from the mapping; a short read returns io.EOF.
func (m *mappedFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// pread reads [off, off+len(p)) with a read from the file rather than
// through the mapping (so that it maps no page into the resident set), or
// from the bytes of a file held in memory. It returns how many bytes it
// read.
func (m *mappedFile) pread(p []byte, off int64) int {
	if m.f == nil {
		n, _ := m.ReadAt(p, off)
		return n
	}
	if off < 0 || off >= int64(len(m.data)) {
		return 0
	}
	n, _ := m.f.ReadAt(p[:min(int64(len(p)), int64(len(m.data))-off)], off)
	return n
}

// slice returns the mapped bytes [off, off+n) without copying, or as many
// of them as the file holds.
func (m *mappedFile) slice(off int64, n uint64) []byte {
	if off < 0 || off >= int64(len(m.data)) {
		return nil
	}
	end := uint64(len(m.data))
	if n < end-uint64(off) {
		end = uint64(off) + n
	}
	return m.data[off:end]
}

func (m *mappedFile) Close() error {
	var err error
	if m.data != nil && m.f != nil {
		err = syscall.Munmap(m.data)
	}
	m.data = nil
	if m.f != nil {
		if cerr := m.f.Close(); err == nil {
			err = cerr
		}
		m.f = nil
	}
	return err
}
