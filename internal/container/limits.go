package container

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// Defaults of the bounds; the environment variables named override them.
const (
	// DefaultDecompressMax bounds one decompressed file
	// (KDUMP_INSPECT_DECOMPRESS_MAX).
	DefaultDecompressMax = 64 << 30
	// MinFree is what decompression leaves free on the cache's file
	// system.
	MinFree = 1 << 30
	// DefaultCacheMax bounds the cache (KDUMP_INSPECT_CACHE_MAX).
	DefaultCacheMax = 20 << 30
	// freeCheckEvery is how often (bytes written) the free space is
	// looked at again while writing.
	freeCheckEvery = 256 << 20
)

// LimitError refuses a decompression that would pass a bound: before the
// first byte is written when the container declares more than the bound,
// else when the output reaches it. Nothing is left on disk.
type LimitError struct {
	File string
	Kind Kind
	// Bound is the limit that was passed, in bytes; Why says which one
	// ("KDUMP_INSPECT_DECOMPRESS_MAX", "free space on /cache/dir less
	// 1 GiB", "the size the xz index declares").
	Bound int64
	Why   string
	// Declared is the size the container declares (a lower bound unless
	// DeclaredExact), 0 when it declares none.
	Declared      int64
	DeclaredExact bool
	// Written is how much had been written when the decompression was
	// stopped (0: refused before writing).
	Written int64
}

func (e *LimitError) Error() string {
	switch {
	case e.Written == 0 && e.Declared > e.Bound && e.DeclaredExact:
		return fmt.Sprintf("%s: %s stream declares %s uncompressed, more than %s (%s): refused", e.File, e.Kind, size(e.Declared), size(e.Bound), e.Why)
	case e.Written == 0 && e.Declared > e.Bound:
		return fmt.Sprintf("%s: %s stream declares at least %s uncompressed, more than %s (%s): refused", e.File, e.Kind, size(e.Declared), size(e.Bound), e.Why)
	case e.Written == 0:
		return fmt.Sprintf("%s: no room to decompress: %s (%s)", e.File, size(e.Bound), e.Why)
	}
	return fmt.Sprintf("%s: %s stream expands past %s (%s): stopped after %s, partial output removed", e.File, e.Kind, size(e.Bound), e.Why, size(e.Written))
}

// noRoom: the bound passed was the free space of the cache's file system.
func (e *LimitError) noRoom() bool { return strings.HasPrefix(e.Why, "free space on ") }

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

// ParseSize reads a byte count: a number with an optional K, M, G or T
// suffix (powers of 1024; "KiB", "MB" and the like are read the same).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(t, "B"), "iB"), "i")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		case 't', 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return v * mult, nil
}

// envSize is the size an environment variable sets, or def.
func envSize(name string, def int64) (int64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := ParseSize(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// freeSpace is the space an unprivileged writer may still use on dir's
// file system (a variable for tests).
var freeSpace = func(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// limit is the bound of one decompression.
type limit struct {
	file     string
	kind     Kind
	dir      string
	bound    int64
	why      string
	declared int64
	exact    bool
	// nextCheck is the output size at which the free space is looked at
	// again.
	nextCheck int64
}

// newLimit bounds the decompression of f (of kind) into dir: the smallest
// of KDUMP_INSPECT_DECOMPRESS_MAX, the free space less MinFree and, when
// the container declares the exact size, that size; a container that
// declares more than the bound is refused here.
func newLimit(f *os.File, kind Kind, dir string) (*limit, error) {
	l := &limit{file: f.Name(), kind: kind, dir: dir}
	mx, err := envSize("KDUMP_INSPECT_DECOMPRESS_MAX", DefaultDecompressMax)
	if err != nil {
		return nil, err
	}
	l.bound, l.why = mx, "KDUMP_INSPECT_DECOMPRESS_MAX"
	free, err := freeSpace(dir)
	if err != nil {
		return nil, fmt.Errorf("free space of %s: %w", dir, err)
	}
	if avail := free - MinFree; avail < l.bound {
		l.bound, l.why = max(avail, 0), fmt.Sprintf("free space on %s less %s", dir, size(MinFree))
	}
	l.declared, l.exact = declaredSize(f, kind)
	if l.bound <= 0 || l.declared > l.bound {
		return nil, l.err(0)
	}
	if l.exact {
		l.bound, l.why = l.declared, "the size the "+kind.String()+" container declares"
	}
	l.nextCheck = freeCheckEvery
	return l, nil
}

func (l *limit) err(written int64) *LimitError {
	return &LimitError{File: l.file, Kind: l.kind, Bound: l.bound, Why: l.why, Declared: l.declared, DeclaredExact: l.exact, Written: written}
}

// check is called before n more bytes are written after written.
func (l *limit) check(written, n int64) error {
	if n > l.bound-written {
		return l.err(written)
	}
	if written+n >= l.nextCheck {
		l.nextCheck = written + n + freeCheckEvery
		if free, err := freeSpace(l.dir); err == nil && free-n < MinFree {
			l.bound, l.why = written, fmt.Sprintf("free space on %s fell below %s", l.dir, size(MinFree))
			return l.err(written)
		}
	}
	return nil
}

// complete checks the output size against an exact declared size.
func (l *limit) complete(written int64) error {
	if l.exact && written != l.declared {
		return fmt.Errorf("%s: the %s container declares %d bytes, the stream held %d", l.file, l.kind, l.declared, written)
	}
	return nil
}

// limitWriter writes through the limit.
type limitWriter struct {
	w           io.Writer
	lim         *limit
	name        string
	n, last     int64
	interrupted *atomic.Bool
	// err is the error Write returned: a decoder's WriteTo may report a
	// short write in its place.
	err error
}

func (p *limitWriter) Write(b []byte) (int, error) {
	if p.interrupted != nil && p.interrupted.Load() {
		p.err = errInterrupted
		return 0, p.err
	}
	if err := p.lim.check(p.n, int64(len(b))); err != nil {
		p.err = err
		return 0, err
	}
	n, err := p.w.Write(b)
	p.n += int64(n)
	if Progress != nil && p.n-p.last >= 16<<20 {
		p.last = p.n
		Progress(p.name, p.n, false)
	}
	return n, err
}

// declaredSize is what the container says the output size is: exact is
// true when the container describes the whole file (zstd frames that all
// carry Frame_Content_Size; an xz file of one stream whose index accounts
// for every byte); otherwise size is a lower bound (zstdDeclared; the
// last gzip member's ISIZE, the size modulo 2^32) or 0.
func declaredSize(f *os.File, kind Kind) (size int64, exact bool) {
	st, err := f.Stat()
	if err != nil {
		return 0, false
	}
	return declared(f, st.Size(), kind)
}

// declared is declaredSize over any reader of a file of fileSize bytes.
func declared(r io.ReaderAt, fileSize int64, kind Kind) (size int64, exact bool) {
	switch kind {
	case Zstd:
		return zstdDeclared(r, fileSize)
	case Gzip:
		return gzipISIZE(r, fileSize), false
	case XZ:
		return xzDeclared(r, fileSize)
	}
	return 0, false
}

// xzDeclared reads the index of the last stream of an xz file (the xz
// file format 1.0.4, sections 2.1.2 and 4): the sum of its records'
// uncompressed sizes. It is exact when the file is that one stream: the
// stream header, the blocks the index lists and the index fill the file.
func xzDeclared(f io.ReaderAt, fileSize int64) (int64, bool) {
	end := fileSize
	var b [12]byte
	// Stream padding: groups of four zero bytes after the footer.
	for i := 0; end >= 12 && i < 1024; i++ {
		if _, err := f.ReadAt(b[:4], end-4); err != nil {
			return 0, false
		}
		if binary.LittleEndian.Uint32(b[:4]) != 0 {
			break
		}
		end -= 4
	}
	if end < 24 {
		return 0, false
	}
	if _, err := f.ReadAt(b[:], end-12); err != nil || string(b[10:12]) != "YZ" {
		return 0, false
	}
	backward := (int64(binary.LittleEndian.Uint32(b[4:8])) + 1) * 4
	idxOff := end - 12 - backward
	if idxOff < 12 || backward > 1<<30 {
		return 0, false
	}
	idx := make([]byte, backward)
	if _, err := f.ReadAt(idx, idxOff); err != nil || idx[0] != 0 {
		return 0, false
	}
	p := xzVLIs(idx[1:])
	count, ok := p.next()
	if !ok || count > uint64(len(p))/2 {
		return 0, false
	}
	var total, blocks uint64
	for range count {
		unpadded, ok1 := p.next()
		uncompressed, ok2 := p.next()
		if !ok1 || !ok2 || unpadded > 1<<62 || uncompressed > 1<<62-total {
			return 0, false
		}
		total += uncompressed
		blocks += (unpadded + 3) &^ 3
	}
	// One stream: its 12-byte header at 0, then the blocks, then the
	// index (an earlier stream would take bytes before these blocks).
	return int64(total), uint64(idxOff) == 12+blocks
}

// xzVLIs are bytes that start with xz's variable-length integers (the xz
// file format 1.0.4, section 1.2: at most 9 bytes each).
type xzVLIs []byte

// next reads the first integer and drops its bytes.
func (p *xzVLIs) next() (uint64, bool) {
	v, n := binary.Uvarint(*p)
	if n <= 0 || n > 9 {
		return 0, false
	}
	*p = (*p)[n:]
	return v, true
}

// maxXZDict bounds the LZMA2 dictionary an xz stream may ask for: the
// decoder allocates it whole before the first byte (ulikunitz/xz takes the
// filter's size as is). xz -9 uses 64 MiB; 1.5 GiB is the largest xz
// itself writes.
const maxXZDict = 1536 << 20

// xzDictSize reads the LZMA2 dictionary size of the first block of an xz
// file (the xz file format 1.0.4, sections 3.1 and 5.3.1): 0 when the
// block header does not parse or has no LZMA2 filter.
func xzDictSize(r io.ReaderAt) uint64 {
	var b [12 + 1024]byte
	n, _ := r.ReadAt(b[:], 0)
	h := b[12:max(n, 12)]
	if len(h) < 2 || h[0] == 0 {
		return 0 // no block: an empty stream (the index indicator is 0)
	}
	size := (int(h[0]) + 1) * 4
	if size > len(h) {
		return 0
	}
	h = h[1:size]
	flags := h[0]
	p := xzVLIs(h[1:])
	for _, bit := range []byte{0x40, 0x80} { // compressed, uncompressed size
		if flags&bit != 0 {
			if _, ok := p.next(); !ok {
				return 0
			}
		}
	}
	for range int(flags&3) + 1 {
		id, ok1 := p.next()
		psize, ok2 := p.next()
		if !ok1 || !ok2 || psize > uint64(len(p)) {
			return 0
		}
		props := p[:psize]
		p = p[psize:]
		if id == 0x21 && len(props) == 1 { // LZMA2
			bits := uint64(props[0] & 0x3f)
			if bits > 40 {
				return 0
			}
			if bits == 40 {
				return 1<<32 - 1
			}
			return (2 | bits&1) << (bits/2 + 11)
		}
	}
	return 0
}
