// Package container opens files that may be stored compressed as a whole
// (.zst, .xz, .gz): the corpus keeps its ELF dumps and vmlinux files that
// way, as SUSE ships vmlinux-*.gz for crash. A compressed file is
// decompressed once into a cache file keyed by the compressed file's path,
// size and modification time, and the caller reads the cache file, which can
// then be mmapped or read at random. It does not decompress into memory.
//
// It does not handle per-section compression inside ELF files
// (SHF_COMPRESSED; that is debug/elf's job) nor per-page compression in
// kdump-compressed dumps (that is package dump's).
package container

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Suffixes lists the whole-file compressions Open understands.
var Suffixes = []string{".zst", ".xz", ".gz"}

// Compressed reports whether path names a whole-file-compressed file by its
// suffix.
func Compressed(path string) bool {
	for _, s := range Suffixes {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	return false
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

var mu sync.Mutex

// Open returns the path of a plain file with path's contents: path itself
// when it is not compressed, else the cache file (decompressing it first
// when the cache does not hold it yet). Concurrent callers in one process
// share one decompression. A link file (see FollowLinkFile) is followed
// first, so a user may name the corpus's vmlinux.zst directly.
func Open(path string) (string, error) {
	path = FollowLinkFile(path)
	if !Compressed(path) {
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
	base := strings.TrimSuffix(filepath.Base(abs), filepath.Ext(abs))
	dir := filepath.Join(CacheDir(), "files")
	out := filepath.Join(dir, hex.EncodeToString(h[:8])+"-"+base)

	mu.Lock()
	defer mu.Unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := decompress(path, out); err != nil {
		return "", fmt.Errorf("decompressing %s: %w", path, err)
	}
	return out, nil
}

func decompress(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader
	switch {
	case strings.HasSuffix(in, ".zst"):
		d, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(0))
		if err != nil {
			return err
		}
		defer d.Close()
		r = d
	case strings.HasSuffix(in, ".xz"):
		d, err := xz.NewReader(br)
		if err != nil {
			return err
		}
		r = d
	case strings.HasSuffix(in, ".gz"):
		d, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer d.Close()
		r = d
	default:
		return fmt.Errorf("unknown compression")
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".partial-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := &progressWriter{w: tmp, name: filepath.Base(in)}
	if _, err := io.Copy(w, r); err != nil {
		tmp.Close()
		return err
	}
	if Progress != nil {
		Progress(w.name, w.n, true)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

type progressWriter struct {
	w    io.Writer
	name string
	n    int64
	last int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if Progress != nil && p.n-p.last >= 16<<20 {
		p.last = p.n
		Progress(p.name, p.n, false)
	}
	return n, err
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
		}
		if _, err := os.Stat(target); err != nil {
			return path
		}
		path = target
	}
	return path
}
