package container

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// MapFile maps the regular file at path read-only, for a decoder that
// uses its bytes in place: only the pages read become resident (with the
// kernel's fault-around), instead of a heap copy faulted in page by page.
// A file larger than limit is refused. unmap releases the mapping; a
// caller that keeps the bytes (strings over them) never calls it, and
// must only map files that are replaced by rename, never rewritten in
// place (a mapped page past a new, shorter end faults). An empty file, or
// one that cannot be mapped, is read into memory instead.
func MapFile(path string, limit int64) (b []byte, unmap func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() > limit {
		return nil, nil, fmt.Errorf("%s: file of %d bytes is larger than the %d-byte limit", path, st.Size(), limit)
	}
	if st.Size() > 0 && st.Mode().IsRegular() {
		if m, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED); err == nil {
			return m, func() { syscall.Munmap(m) }, nil
		}
	}
	b, err = io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s: file grew past the %d-byte limit", path, limit)
	}
	return b, func() {}, err
}

// WriteAtomic writes the file at path through write, atomically: into a
// temporary file (named prefix-*, in path's directory, made if missing)
// that is renamed over path only when write and the close succeed, and
// removed otherwise. Readers see the old file or the whole new one, and a
// mapping of the old file (MapFile) keeps the old contents.
func WriteAtomic(path, prefix string, write func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, prefix+"-*")
	if err != nil {
		return err
	}
	err = write(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
