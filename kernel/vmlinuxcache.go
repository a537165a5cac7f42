package kernel

// A process-wide cache of opened vmlinux files: the jobs of one batch
// (batch.Run) mostly audit dumps of one kernel, and without this each
// job re-read the same symbol table and re-parsed the same DWARF (OpenELF +
// LoadELFTypes: 60–100 ms of a ~150 ms corpus audit; docs/PERFORMANCE.md).
//
// An entry is keyed by the file's identity (path with symlinks and corpus
// link files resolved, device, inode, size, modification time) and the
// index cache directory, so a rebuilt or replaced vmlinux is a new entry. It is reference-counted: Program.Close
// releases it, and the last release does not close it at once but after
// vmlinuxIdle, so that a batch running one job at a time still shares it;
// opening another vmlinux closes the idle ones at once.
//
// What is shared is read-only after Open: the ELFFile (its methods only read
// the file), its symbol Table, and the Types (safe for concurrent use; its
// type cache is behind a mutex). A caller that decodes types through
// dwarfread.Data(types) itself bypasses that mutex (internal/gen/extract's findEnums does, from one
// goroutine) and must not run while another Program of the process
// decodes types; Options.PrivateVmlinux gives it a Types of its own.
//
// A file rewritten in place with its size and modification time preserved
// is taken for the one already open.

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// vmlinuxIdle is how long an unreferenced vmlinux stays open.
const vmlinuxIdle = 3 * time.Second

type vmlinuxKey struct {
	path     string
	dev, ino uint64
	size     int64
	mtime    int64 // ns
	cacheDir string
	from     TypesFrom
	hasInode bool
}

// sharedVmlinux is one opened vmlinux with its symbols and types.
type sharedVmlinux struct {
	key   vmlinuxKey
	ready chan struct{} // closed when the open below is done
	elf   *symbols.ELFFile
	syms  *symbols.Table
	types *symbols.Types
	// warnings say what the open did not use (a .BTF that did not parse).
	warnings []string
	err      error

	refs  int         // guarded by vmlinuxCache.mu
	timer *time.Timer // pending idle close, guarded by vmlinuxCache.mu
}

var vmlinuxCache struct {
	mu sync.Mutex
	m  map[vmlinuxKey]*sharedVmlinux
}

// fileKey identifies path's current contents; ok is false when the file
// cannot be identified (it is then not shared).
func fileKey(path, cacheDir string, from TypesFrom) (vmlinuxKey, bool) {
	abs, err := filepath.Abs(container.FollowLinkFile(path))
	if err != nil {
		return vmlinuxKey{}, false
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	st, err := os.Stat(abs)
	if err != nil || !st.Mode().IsRegular() {
		return vmlinuxKey{}, false
	}
	k := vmlinuxKey{path: abs, size: st.Size(), mtime: st.ModTime().UnixNano(), cacheDir: cacheDir, from: from}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		k.dev, k.ino, k.hasInode = uint64(s.Dev), uint64(s.Ino), true
	}
	return k, true
}

// openVmlinux returns the opened vmlinux for path (shared with other
// Programs of this process when the same file is already open) and a
// release function that Program.Close calls once. private opens it for
// the caller alone.
func openVmlinux(path, cacheDir string, from TypesFrom, private bool) (*sharedVmlinux, func() error, error) {
	key, ok := fileKey(path, cacheDir, from)
	if !ok || private {
		v := loadVmlinux(path, cacheDir, from)
		if v.err != nil {
			return nil, nil, v.err
		}
		return v, v.elf.Close, nil
	}
	vmlinuxCache.mu.Lock()
	if vmlinuxCache.m == nil {
		vmlinuxCache.m = make(map[vmlinuxKey]*sharedVmlinux)
	}
	v := vmlinuxCache.m[key]
	if v != nil {
		v.refs++
		if v.timer != nil {
			v.timer.Stop()
			v.timer = nil
		}
		vmlinuxCache.mu.Unlock()
		<-v.ready
		if v.err != nil {
			releaseVmlinux(v)
			return nil, nil, v.err
		}
		return v, onceRelease(v), nil
	}
	// Another vmlinux is wanted: the idle ones are not kept alongside it
	// (a batch goes from one kernel's dumps to the next's).
	for k, o := range vmlinuxCache.m {
		if o.refs == 0 && o.timer != nil {
			o.timer.Stop()
			o.timer = nil
			delete(vmlinuxCache.m, k)
			o.elf.Close()
		}
	}
	v = &sharedVmlinux{key: key, ready: make(chan struct{}), refs: 1}
	vmlinuxCache.m[key] = v
	vmlinuxCache.mu.Unlock()

	l := loadVmlinux(path, cacheDir, from)
	v.elf, v.syms, v.types, v.warnings, v.err = l.elf, l.syms, l.types, l.warnings, l.err
	// A failed open is not cached (the next Open tries again), and
	// neither is a file that changed while it was read: others must not
	// share what may be a mix of two versions (this Program keeps it).
	if v.err != nil {
		uncache(v)
	} else if k2, ok := fileKey(path, cacheDir, from); !ok || k2 != key {
		uncache(v)
	}
	close(v.ready)
	if v.err != nil {
		releaseVmlinux(v)
		return nil, nil, v.err
	}
	return v, onceRelease(v), nil
}

func uncache(v *sharedVmlinux) {
	vmlinuxCache.mu.Lock()
	if vmlinuxCache.m[v.key] == v {
		delete(vmlinuxCache.m, v.key)
	}
	vmlinuxCache.mu.Unlock()
}

// loadVmlinux opens path unshared, its types as from says
// (typesopen.go).
func loadVmlinux(path, cacheDir string, from TypesFrom) *sharedVmlinux {
	v := &sharedVmlinux{}
	// The symbol table is cached beside the DWARF index (symcache.go).
	f, err := symbols.OpenELFCached(path, cacheDir)
	if err != nil {
		v.err = err
		return v
	}
	ts, warns, err := vmlinuxTypes(f, path, cacheDir, from)
	if err != nil {
		f.Close()
		v.err = err
		return v
	}
	v.elf, v.syms, v.types, v.warnings = f, f.Table(), ts, warns
	return v
}

// vmlinuxDWARFError is LoadELFTypes' error, named as Open always named it.
type vmlinuxDWARFError struct {
	path string
	err  error
}

func (e *vmlinuxDWARFError) Error() string { return e.path + ": no usable DWARF: " + e.err.Error() }
func (e *vmlinuxDWARFError) Unwrap() error { return e.err }

func onceRelease(v *sharedVmlinux) func() error {
	var once sync.Once
	return func() error {
		once.Do(func() { releaseVmlinux(v) })
		return nil
	}
}

// releaseVmlinux drops one reference; the last one closes the file after
// vmlinuxIdle (at once when the open failed or the entry is no longer in
// the cache).
func releaseVmlinux(v *sharedVmlinux) {
	vmlinuxCache.mu.Lock()
	defer vmlinuxCache.mu.Unlock()
	v.refs--
	if v.refs > 0 {
		return
	}
	cached := vmlinuxCache.m[v.key] == v
	if v.err != nil || !cached {
		if cached {
			delete(vmlinuxCache.m, v.key)
		}
		if v.elf != nil {
			v.elf.Close()
		}
		return
	}
	// The timer's function cannot run before v.timer is set: it needs mu.
	var tm *time.Timer
	tm = time.AfterFunc(vmlinuxIdle, func() {
		vmlinuxCache.mu.Lock()
		defer vmlinuxCache.mu.Unlock()
		if v.refs > 0 || v.timer != tm {
			return // taken again meanwhile
		}
		v.timer = nil
		delete(vmlinuxCache.m, v.key)
		v.elf.Close()
	})
	v.timer = tm
}
