package debuginfo

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
)

// idCache keeps files' build-ids by path, size and modification time, so a
// second run over a distro tree reads no file. The file is a text table
// ("kdump-inspect debuginfo ids 1" then "ID SIZE MTIME PATH" lines, "-" for
// a file without build-id); a damaged or foreign file is ignored, bounded
// by maxCacheFile.
type idCache struct {
	path  string
	mu    sync.Mutex
	ids   map[string]cached
	dirty bool
}

type cached struct {
	size, mtime int64
	id          []byte
}

const (
	cacheMagic   = "kdump-inspect debuginfo ids 1"
	maxCacheFile = 64 << 20
)

func openIDCache(dir string) *idCache {
	c := &idCache{path: filepath.Join(dir, "debuginfo-ids"), ids: map[string]cached{}}
	f, err := os.Open(c.path)
	if err != nil {
		return c
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() > maxCacheFile {
		return c
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	if !sc.Scan() || sc.Text() != cacheMagic {
		return c
	}
	for sc.Scan() {
		fs := strings.SplitN(sc.Text(), " ", 4)
		if len(fs) != 4 {
			continue
		}
		size, err1 := strconv.ParseInt(fs[1], 10, 64)
		mtime, err2 := strconv.ParseInt(fs[2], 10, 64)
		var id []byte
		var err3 error
		if fs[0] != "-" {
			id, err3 = hex.DecodeString(fs[0])
		}
		if err1 != nil || err2 != nil || err3 != nil || len(id) > 64 {
			continue
		}
		c.ids[fs[3]] = cached{size, mtime, id}
	}
	return c
}

func (c *idCache) get(path string, size, mtime int64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.ids[path]
	if !ok || e.size != size || e.mtime != mtime {
		return nil, false
	}
	return e.id, true
}

func (c *idCache) put(path string, size, mtime int64, id []byte) {
	if strings.ContainsAny(path, "\n") {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids[path] = cached{size, mtime, id}
	c.dirty = true
}

// flush writes the cache (atomically: a temporary file renamed over it).
// Errors are ignored: the cache only saves time.
func (c *idCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return
	}
	err := container.WriteAtomic(c.path, ".debuginfo-ids", func(f io.Writer) error {
		w := bufio.NewWriter(f)
		fmt.Fprintln(w, cacheMagic)
		for p, e := range c.ids {
			// Forget files that are gone (test and scratch directories):
			// the cache is read whole by every run that needs an id.
			if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
				continue
			}
			id := "-"
			if len(e.id) > 0 {
				id = hex.EncodeToString(e.id)
			}
			fmt.Fprintf(w, "%s %d %d %s\n", id, e.size, e.mtime, p)
		}
		return w.Flush()
	})
	if err == nil {
		c.dirty = false
	}
}

// Flush writes the build-ids read so far to the cache.
func (ix *Index) Flush() {
	// Not read yet: nothing was put in it.
	if ix.cacheRead.Load() {
		ix.idc().flush()
	}
}
