// Package container opens files that may be stored compressed as a whole
// (zstd, xz, gzip): the corpus keeps its ELF dumps and vmlinux files that
// way, as SUSE ships vmlinux-*.gz for crash. The compression is told by
// the file's first bytes, not its name. A compressed file is decompressed
// once into a cache file keyed by the compressed file's path, size and
// modification time, and the caller reads the cache file, which can then
// be mmapped or read at random. It does not decompress into memory.
//
// Decompression is bounded (limits.go): by what the container declares
// (zstd's frame content size, the xz index, gzip's ISIZE as a lower
// bound), by KDUMP_INSPECT_DECOMPRESS_MAX (default 64 GiB) and by the free
// space of the cache's file system (1 GiB kept free), checked before the
// first byte and while writing: a file that would pass a bound is refused
// with a *LimitError and nothing is left on disk. The output is written to
// an unnamed file (O_TMPFILE) that is linked into the cache only when
// complete, so that no exit path, not even SIGKILL, leaves a partial file;
// where O_TMPFILE is not available a named ".partial-*" file is removed on
// every return and on SIGINT/SIGTERM, and stale ones are removed at the
// next start. The cache is bounded (cache.go): files least recently used
// are evicted past KDUMP_INSPECT_CACHE_MAX (default 20 GiB), never one this
// process opened; and when the free space refuses a new file, they yield
// to it first, oldest first and only as many as it needs (makeRoom), before
// the refusal stands.
//
// The cache's own small files (the DWARF index, symbol tables, a dump's
// BTF) are written with WriteAtomic and read back with MapFile
// (mapfile.go): replaced by rename, never rewritten in place, so a decoder
// may keep using a mapping of the old file.
//
// It does not handle per-section compression inside ELF files
// (SHF_COMPRESSED; that is package elfobj's job) nor per-page compression in
// kdump-compressed dumps (that is package dump's).
//
// Layer: files (docs/ARCHITECTURE.md).
package container

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Suffixes lists the file-name suffixes of the whole-file compressions
// Open understands (stripped from the cache file's name; the compression
// itself is told by content, see Sniff).
var Suffixes = []string{".zst", ".xz", ".gz"}

// Compressed reports whether path names a whole-file-compressed file by its
// suffix. Open does not use it: see Sniff.
func Compressed(path string) bool {
	for _, s := range Suffixes {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	return false
}

// Kind is a whole-file compression format.
type Kind int

const (
	None Kind = iota // not compressed (or not a format this package knows)
	Zstd
	XZ
	Gzip
)

func (k Kind) String() string {
	switch k {
	case Zstd:
		return "zstd"
	case XZ:
		return "xz"
	case Gzip:
		return "gzip"
	}
	return "uncompressed"
}

// KindOf tells the compression of a file by its first bytes (6 suffice).
// Magic numbers: RFC 8878 (zstd frames 0xFD2FB528 and skippable frames
// 0x184D2A50..5F, little-endian), the xz file format 1.0.4 section 2.1.1.1,
// RFC 1952 (gzip ID1 ID2).
func KindOf(b []byte) Kind {
	switch {
	case len(b) >= 4 && string(b[:4]) == "\x28\xb5\x2f\xfd":
		return Zstd
	case len(b) >= 4 && b[0]&0xf0 == 0x50 && string(b[1:4]) == "\x2a\x4d\x18":
		return Zstd
	case len(b) >= 6 && string(b[:6]) == "\xfd7zXZ\x00":
		return XZ
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return Gzip
	}
	return None
}

// Sniff tells the compression of the file at path by its first bytes.
func Sniff(path string) (Kind, error) {
	f, err := os.Open(path)
	if err != nil {
		return None, err
	}
	defer f.Close()
	var b [6]byte
	n, _ := io.ReadFull(f, b[:])
	return KindOf(b[:n]), nil
}

// Progress, when set, is called while decompressing with the number of
// bytes written so far; the command line sets it on a TTY.
var Progress func(name string, written int64, done bool)

// CacheDir is where decompressed files go: $KDUMP_INSPECT_CACHE, else the
// user's cache directory, else the temporary directory.
func CacheDir() string {
	if d := os.Getenv("KDUMP_INSPECT_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "kdump-inspect")
	}
	return filepath.Join(os.TempDir(), "kdump-inspect-cache")
}

// filesDir is the directory of the decompressed files.
func filesDir() string { return filepath.Join(CacheDir(), "files") }

var (
	mu sync.Mutex
	// inUse are the cache files Open returned in this process: eviction
	// never removes them.
	inUse = map[string]bool{}
	// swept: stale partial files were looked for in this directory.
	swept = map[string]bool{}
)

// Open returns the path of a plain file with path's contents: path itself
// when it is not compressed, else the cache file (decompressing it first
// when the cache does not hold it yet). Concurrent callers in one process
// share one decompression. A link file (see FollowLinkFile) is followed
// first, so a user may name the corpus's vmlinux.zst directly.
func Open(path string) (string, error) {
	path = FollowLinkFile(path)
	kind, err := Sniff(path)
	if err != nil || kind == None {
		// Not compressed, or not readable: the caller's own open says why.
		return path, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	abs, _ := filepath.Abs(path)
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d", abs, st.Size(), st.ModTime().UnixNano())))
	base := filepath.Base(abs)
	for _, s := range Suffixes {
		if b, ok := strings.CutSuffix(base, s); ok && b != "" {
			base = b
			break
		}
	}
	dir := filesDir()
	out := filepath.Join(dir, hex.EncodeToString(h[:8])+"-"+base)

	made, err := openLocked(path, kind, dir, out)
	var le *LimitError
	if errors.As(err, &le) && le.noRoom() && makeRoom(dir, le) {
		// Once (outside the lock, which List takes): the room made was
		// all the cache could give.
		made, err = openLocked(path, kind, dir, out)
	}
	if err != nil {
		return "", err
	}
	if made {
		// Outside the lock: List takes it per entry.
		Evict(CacheMax())
	}
	return out, nil
}

// openLocked makes out from path unless the cache holds it, with mu
// held; made says whether it was made.
func openLocked(path string, kind Kind, dir, out string) (made bool, err error) {
	mu.Lock()
	defer mu.Unlock()
	if _, err := os.Stat(out); err == nil {
		inUse[out] = true
		touch(out)
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	if !swept[dir] {
		swept[dir] = true
		removeStalePartials(dir, time.Hour)
	}
	if err := decompress(path, kind, out); err != nil {
		var le *LimitError
		if errors.As(err, &le) {
			return false, err // it names the file and the format
		}
		return false, fmt.Errorf("decompressing %s (%s): %w", path, kind, err)
	}
	inUse[out] = true
	return true, nil
}

// makeRoom removes the cache's least recently used files (Evict: never
// one in use here, nor another process's partial file) until the
// decompression le refused for want of free space would fit: the size the
// container declares, else twice what was written when it stopped (at
// least freeCheckEvery, 256 MiB). The cache is only a cache: a file it holds must
// not keep a new one from being opened. It reports whether it removed
// anything. It is called without mu held (List takes it).
func makeRoom(dir string, le *LimitError) bool {
	need := le.Declared
	if need == 0 {
		need = max(2*le.Written, freeCheckEvery)
	}
	free, err := freeSpace(dir)
	if err != nil {
		return false
	}
	deficit := need - (free - MinFree)
	if deficit <= 0 {
		return false
	}
	ents, err := List()
	if err != nil {
		return false
	}
	var total int64
	for _, e := range ents {
		total += e.Size
	}
	removed, _, _ := Evict(max(total-deficit, 0))
	return removed > 0
}

// decompress writes the decompressed contents of in to out, bounded (see
// the package documentation); on any error nothing is left at out or
// beside it.
func decompress(in string, kind Kind, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	dir := filepath.Dir(out)
	lim, err := newLimit(f, kind, dir)
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader
	switch kind {
	case Zstd:
		// The decoder checks each frame's content size and checksum
		// when the frame has them.
		d, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(0))
		if err != nil {
			return err
		}
		defer d.Close()
		r = d
	case XZ:
		if ds := xzDictSize(f); ds > maxXZDict {
			return fmt.Errorf("the xz stream asks for an LZMA2 dictionary of %d bytes (at most %d): refused, it would be allocated whole", ds, maxXZDict)
		}
		d, err := xz.NewReader(br)
		if err != nil {
			return err
		}
		r = d
	case Gzip:
		d, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer d.Close()
		r = d
	default:
		return fmt.Errorf("unknown compression")
	}
	tmp, err := newTempFile(dir)
	if err != nil {
		return err
	}
	defer tmp.discard()
	w := &limitWriter{w: tmp.f, lim: lim, name: filepath.Base(in), interrupted: tmp.interrupted}
	if _, err := io.Copy(w, r); err != nil {
		if w.err != nil {
			return w.err
		}
		return err
	}
	if err := lim.complete(w.n); err != nil {
		return err
	}
	if Progress != nil {
		Progress(w.name, w.n, true)
	}
	return tmp.commit(out)
}

// FollowLinkFile resolves a "link file": a small regular file whose whole
// content is a relative or absolute path to another file or directory (the
// corpus stores its vmlinux.zst and modules/ links that way, for file
// systems without symlinks). Anything else is returned unchanged.
func FollowLinkFile(path string) string {
	for range 8 {
		st, err := os.Lstat(path)
		if err != nil || !st.Mode().IsRegular() || st.Size() == 0 || st.Size() > 4096 {
			return path
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return path
		}
		s := strings.TrimSpace(string(b))
		if s == "" || strings.ContainsAny(s, "\x00\n") {
			return path
		}
		target := s
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
			if _, err := os.Stat(target); err != nil {
				// Relative to where the link file really is: its
				// directory may have been reached through a symlink.
				if rd, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
					target = filepath.Join(rd, s)
				}
			}
		}
		if _, err := os.Stat(target); err != nil {
			return path
		}
		path = target
	}
	return path
}

// errInterrupted is the error of a decompression stopped by SIGINT or
// SIGTERM (named partial files only).
var errInterrupted = errors.New("interrupted")
