package dump

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
	"unsafe"
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

// ReadAt copies from the mapping; a short read returns io.EOF, a file cut
// short under the mapping a *FileChangedError.
func (m *mappedFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	n, err := m.copyAt(p, off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// FileChangedError is a read of a mapped dump file that faulted: the file
// was truncated (or its storage failed) after it was opened, and the
// mapping's pages past the new end raise SIGBUS. The read fails instead of
// the process.
type FileChangedError struct {
	File string
	Off  int64 // the offset whose page faulted
	Err  error // the runtime's fault
}

func (e *FileChangedError) Error() string {
	return fmt.Sprintf("%s: reading at file offset %#x faulted (file truncated or unreadable since it was opened): %v", e.File, e.Off, e.Err)
}

func (e *FileChangedError) Unwrap() error { return e.Err }

// preadMin is the size from which copyAt reads with pread(2) rather than
// from the mapping.
const preadMin = 1 << 20

// copyAt copies the mapped bytes at off into dst, as many as the file
// holds, turning a memory fault during the copy into a *FileChangedError.
func (m *mappedFile) copyAt(dst []byte, off int64) (n int, err error) {
	if off < 0 || off >= int64(len(m.data)) {
		return 0, nil
	}
	src := m.data[off:]
	if m.f == nil { // bytes in memory cannot fault
		return copy(dst, src), nil
	}
	if len(dst) >= preadMin {
		// a large read (the vmlinux BTF from memory, 4.7 MB): pread
		// copies it in the kernel, where faulting the mapping in costs
		// page faults (~5 ms per MB) and keeps the pages resident
		want := min(len(dst), len(src))
		n, err := m.f.ReadAt(dst[:want], off)
		if n < want {
			return n, &FileChangedError{File: m.name, Off: off + int64(n), Err: err}
		}
		return n, nil
	}
	// No closure and no slice here: this is every read's path.
	old := debug.SetPanicOnFault(true)
	defer m.recoverFault(old, &n, &err)
	return copy(dst, src), nil
}

// recoverFault is copyAt's deferred half (recover must be called by the
// deferred function itself).
func (m *mappedFile) recoverFault(old bool, n *int, err *error) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		*n, *err = 0, faultError([]*mappedFile{m}, r)
	}
}

// faultError turns a recovered fault inside one of the files' mappings into
// a *FileChangedError and re-panics anything else.
func faultError(files []*mappedFile, r any) error {
	re, ok := r.(runtime.Error)
	af, fault := r.(interface{ Addr() uintptr })
	if ok && fault {
		for _, m := range files {
			if len(m.data) == 0 {
				continue
			}
			base := uintptr(unsafe.Pointer(unsafe.SliceData(m.data)))
			if a := af.Addr(); a >= base && a-base < uintptr(len(m.data)) {
				return &FileChangedError{File: m.name, Off: int64(a - base), Err: re}
			}
		}
	}
	panic(r)
}

// guardFault runs f with memory faults turned into panics
// (debug.SetPanicOnFault) and a fault inside one of the files' mappings
// into a *FileChangedError. Any other panic, a nil dereference in f's own
// code among them, goes on.
func guardFault(files []*mappedFile, f func()) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = faultError(files, r)
		}
	}()
	f()
	return nil
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
