package container

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// CacheError says why a cache file was not used (the DWARF type index:
// it is rebuilt and this recorded as the types' CacheWarning; the symbol
// cache: the table is built from the ELF).
type CacheError struct {
	Cache string // "type index cache", "symbol cache"
	Path  string
	Msg   string
	Err   error
}

func (e *CacheError) Error() string {
	s := e.Cache + " " + e.Path + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// ReadCacheFile reads a whole cache file of at most limit bytes; an error
// other than the file's absence (fs.ErrNotExist, returned as is) is a
// *CacheError of that cache.
func ReadCacheFile(cache, path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &CacheError{Cache: cache, Path: path, Msg: "stat", Err: err}
	}
	if st.Size() > limit {
		return nil, &CacheError{Cache: cache, Path: path, Msg: fmt.Sprintf("file of %d bytes is larger than the %d-byte limit", st.Size(), limit)}
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, &CacheError{Cache: cache, Path: path, Msg: "reading", Err: err}
	}
	return b, nil
}

// MapCacheFile maps a cache file read-only (MapFile), for a
// decoder that uses its bytes in place.
func MapCacheFile(cache, path string, limit int64) (b []byte, unmap func(), err error) {
	b, unmap, err = MapFile(path, limit)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, &CacheError{Cache: cache, Path: path, Msg: "reading", Err: err}
	}
	return b, unmap, err
}

func (e *CacheError) Unwrap() error { return e.Err }
