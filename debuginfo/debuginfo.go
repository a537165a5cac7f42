// Package debuginfo finds the debuginfo files of a dump's modules: the .ko
// (or split .ko.debug) whose GNU build-id equals the one the loaded module
// carries in memory, searched by build-id first and by module name second,
// in the directories the user names (--modules), the directory beside the
// dump, and the distribution layouts under a system root
// (/usr/lib/debug/.build-id/xx/rest.debug, /usr/lib/debug/lib/modules/RELEASE,
// /lib/modules/RELEASE). Directory trees are walked once per Index,
// following symbolic links (root and nested, loop-safe by device and inode)
// and "link files" (small files holding a path, as ../shared stores
// symlinks); build-ids are read from the ELF notes, from a bounded prefix
// of the decompressed stream for .ko.xz/.zst/.gz, in parallel, and cached
// on disk by path, size and modification time.
//
// It says, for every module, which file it chose and why it refused the
// others (another build-id, unreadable, not an ELF file). It does not open
// or interpret the chosen file (packages symbols and modules do), and it
// never decompresses a whole file.
//
// Layer: files (docs/ARCHITECTURE.md).
package debuginfo

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
)

// Origin says why a directory is searched.
type Origin string

const (
	FromOption  Origin = "--modules"
	FromBeside  Origin = "beside the dump"
	FromDistro  Origin = "distribution layout"
	FromBuildID Origin = "build-id tree"
)

// Dir is one directory searched, in order.
type Dir struct {
	Path   string
	Origin Origin
}

// Options say where to search.
type Options struct {
	// Dirs are searched first, in order (--modules, then the modules/
	// directory beside the dump).
	Dirs []Dir
	// Release is the kernel release (uname -r) for the distribution
	// layouts; "" leaves out the RELEASE directories.
	Release string
	// Roots are system roots whose distribution layouts are searched
	// after Dirs: ROOT/usr/lib/debug/.build-id, ROOT/usr/lib/debug/lib/modules/RELEASE,
	// ROOT/lib/modules/RELEASE. nil means none; the command line passes "/".
	Roots []string
	// CacheDir holds the build-id cache; "" disables it.
	CacheDir string
	// MaxEntries bounds the directory entries visited per tree (0: 500,000).
	MaxEntries int
}

// Refusal is a candidate file not used, and why.
type Refusal struct {
	Path   string
	Reason string
	// Unusable: the file is the module's by name but cannot be read (cut
	// short, corrupt), as opposed to another build's file.
	Unusable bool
}

// Match is the outcome of a search for one module.
type Match struct {
	Module string
	// Path is the file chosen; "" when none fits.
	Path string
	// How says why Path was chosen ("build-id matches", "by name: the
	// loaded module's build-id is unknown", ...).
	How string
	// BuildIDMatched is true when the file's build-id equals the loaded
	// module's.
	BuildIDMatched bool
	Refused        []Refusal
	Searched       []Dir
}

// Summary says in one line what happened, for a coverage reason.
func (m *Match) Summary() string {
	if m.Path != "" {
		return fmt.Sprintf("%s (%s)", m.Path, m.How)
	}
	var where []string
	for _, d := range m.Searched {
		where = append(where, d.Path)
	}
	for _, r := range m.Refused {
		if r.Unusable {
			// The module's file is there but damaged: say that first.
			return fmt.Sprintf("%s is unusable: %s", r.Path, r.Reason)
		}
	}
	s := fmt.Sprintf("no .ko for %s in %s", m.Module, strings.Join(where, ", "))
	if len(where) == 0 {
		s = fmt.Sprintf("no .ko for %s: no debuginfo directory (give --modules DIR)", m.Module)
	}
	if len(m.Refused) > 0 {
		var rs []string
		for _, r := range m.Refused {
			rs = append(rs, r.Path+": "+r.Reason)
		}
		s += "; refused " + strings.Join(rs, "; ")
	}
	return s
}

// Index is the set of candidate files under the searched directories. It
// is built lazily (on the first Find) and is safe for concurrent use.
type Index struct {
	opts Options
	dirs []Dir // Dirs, then the existing distribution directories

	once     sync.Once
	files    []*file            // every candidate, in search order
	byName   map[string][]*file // module name ('-' as '_') -> files
	warnings []string

	idOnce sync.Once // all build-ids read (for a search by build-id alone)
	// cache is the build-id cache, read at its first use (idc): most
	// start-ups never look a module file up.
	cache     *idCache
	cacheOnce sync.Once
	cacheRead atomic.Bool // cacheOnce done with a cache
}

// file is one candidate debuginfo file.
type file struct {
	path   string // as found (through links)
	real   string // resolved path, for reading
	module string
	dir    Dir
	size   int64
	mtime  int64

	idOnce sync.Once
	id     []byte
	idErr  error
}

// New prepares an index; nothing is read until Find.
func New(opts Options) *Index {
	ix := &Index{opts: opts}
	seen := map[string]bool{}
	add := func(d Dir) {
		key := d.Path
		if abs, err := filepath.Abs(d.Path); err == nil {
			key = abs
		}
		if seen[key] {
			return
		}
		seen[key] = true
		ix.dirs = append(ix.dirs, d)
	}
	for _, d := range opts.Dirs {
		add(Dir{Path: container.FollowLinkFile(d.Path), Origin: d.Origin})
	}
	for _, root := range opts.Roots {
		if opts.Release == "" {
			continue
		}
		for _, d := range []string{
			filepath.Join(root, "usr/lib/debug/lib/modules", opts.Release),
			filepath.Join(root, "lib/modules", opts.Release),
		} {
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				add(Dir{Path: d, Origin: FromDistro})
			}
		}
	}
	return ix
}

// idc is the build-id cache (nil when there is none), read once.
func (ix *Index) idc() *idCache {
	ix.cacheOnce.Do(func() {
		if ix.opts.CacheDir != "" {
			ix.cache = openIDCache(ix.opts.CacheDir)
			ix.cacheRead.Store(true)
		}
	})
	return ix.cache
}

// Dirs are the directories searched, in order.
func (ix *Index) Dirs() []Dir { return ix.dirs }

// Warnings are what the walk met: symlink loops, unreadable directories,
// the entry limit.
func (ix *Index) Warnings() []string {
	ix.build()
	return ix.warnings
}

// ModuleName normalises a module or file name as the kernel does ('-' and
// '_' are the same): "sch_fq_pie.ko.xz" -> "sch_fq_pie".
func ModuleName(name string) string {
	for _, suf := range []string{".xz", ".zst", ".gz", ".debug", ".ko"} {
		name = strings.TrimSuffix(name, suf)
	}
	return strings.ReplaceAll(name, "-", "_")
}

// isCandidate says whether a file name may hold a module's debuginfo.
func isCandidate(name string) bool {
	for _, suf := range []string{".ko", ".ko.debug", ".ko.xz", ".ko.zst", ".ko.gz", ".ko.debug.xz", ".ko.debug.zst", ".ko.debug.gz"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

func (ix *Index) build() {
	ix.once.Do(func() {
		ix.byName = map[string][]*file{}
		max := ix.opts.MaxEntries
		if max == 0 {
			max = 500000
		}
		for _, d := range ix.dirs {
			w := walker{dir: d, max: max, visited: map[devIno]string{}, onStack: map[devIno]bool{}}
			w.walk(d.Path, 0)
			ix.warnings = append(ix.warnings, w.warnings...)
			for _, f := range w.files {
				ix.files = append(ix.files, f)
				ix.byName[f.module] = append(ix.byName[f.module], f)
			}
		}
	})
}

// buildID reads (once) a file's build-id, through the cache.
func (ix *Index) buildID(f *file) ([]byte, error) {
	f.idOnce.Do(func() {
		cache := ix.idc()
		if cache != nil {
			if id, ok := cache.get(f.real, f.size, f.mtime); ok {
				f.id = id
				return
			}
		}
		f.id, f.idErr = ReadBuildID(f.real)
		if f.idErr == nil && cache != nil {
			cache.put(f.real, f.size, f.mtime, f.id)
		}
	})
	return f.id, f.idErr
}

// readAllIDs reads every file's build-id in parallel (once).
func (ix *Index) readAllIDs() {
	ix.idOnce.Do(func() {
		if len(ix.files) == 0 {
			return // nothing to read: leave the cache file unread
		}
		work := make(chan *file)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for f := range work {
					ix.buildID(f)
				}
			}()
		}
		for _, f := range ix.files {
			work <- f
		}
		close(work)
		wg.Wait()
		if c := ix.idc(); c != nil {
			c.flush()
		}
	})
}

// Find chooses the debuginfo file of module (its name as the kernel has
// it) whose build-id is want (nil when the loaded module's is unknown):
//
//  1. ROOT/usr/lib/debug/.build-id/xx/rest.debug for each root;
//  2. files named after the module whose build-id equals want;
//  3. any file of the index whose build-id equals want (renamed files);
//  4. with want unknown, the first file named after the module; with want
//     known, a file named after the module that has no build-id at all.
//
// Files named after the module with another build-id, or unreadable, are
// refused and listed.
func (ix *Index) Find(module string, want []byte) Match {
	ix.build()
	m := Match{Module: module, Searched: ix.dirs}
	name := ModuleName(module)
	if len(want) > 0 {
		for _, root := range ix.opts.Roots {
			p := BuildIDPath(root, want)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				id, err := ReadBuildID(p)
				if err == nil && bytes.Equal(id, want) {
					m.Path, m.How, m.BuildIDMatched = p, "build-id matches (build-id tree)", true
					m.Searched = append([]Dir{{Path: filepath.Dir(filepath.Dir(p)), Origin: FromBuildID}}, m.Searched...)
					return m
				}
				m.Refused = append(m.Refused, Refusal{Path: p, Reason: refuseReason(id, err, want), Unusable: err != nil})
			}
		}
	}
	var noID []*file
	for _, f := range ix.byName[name] {
		id, err := ix.buildID(f)
		switch {
		case err != nil:
			m.Refused = append(m.Refused, Refusal{Path: f.path, Reason: "cannot read its build-id: " + strings.TrimPrefix(err.Error(), f.path+": "), Unusable: true})
		case len(want) == 0:
			if m.Path == "" {
				m.Path, m.How = f.path, "by name: the loaded module's build-id is unknown"
			}
		case bytes.Equal(id, want):
			m.Path, m.How, m.BuildIDMatched = f.path, "build-id matches", true
			return m
		case len(id) == 0:
			noID = append(noID, f)
		default:
			m.Refused = append(m.Refused, Refusal{Path: f.path, Reason: refuseReason(id, nil, want)})
		}
	}
	if m.Path != "" {
		return m
	}
	if len(want) > 0 {
		ix.readAllIDs()
		for _, f := range ix.files {
			if f.module == name {
				continue
			}
			if id, err := ix.buildID(f); err == nil && bytes.Equal(id, want) {
				m.Path, m.How, m.BuildIDMatched = f.path, "build-id matches (file named "+filepath.Base(f.path)+")", true
				return m
			}
		}
	}
	if len(noID) > 0 {
		m.Path, m.How = noID[0].path, "by name: the file carries no build-id to check"
	}
	return m
}

func refuseReason(id []byte, err error, want []byte) string {
	if err != nil {
		return err.Error()
	}
	if len(id) == 0 {
		return "no build-id"
	}
	return fmt.Sprintf("build-id %x, the loaded module's is %x", id, want)
}

// BuildIDPath is where a build-id tree under root keeps the debuginfo of
// build-id id: ROOT/usr/lib/debug/.build-id/xx/rest.debug.
func BuildIDPath(root string, id []byte) string {
	h := hex.EncodeToString(id)
	if len(h) < 3 {
		return filepath.Join(root, "usr/lib/debug/.build-id", h+".debug")
	}
	return filepath.Join(root, "usr/lib/debug/.build-id", h[:2], h[2:]+".debug")
}

// Candidates lists every candidate file of the index (for `mod -S` and
// tests), by module name.
func (ix *Index) Candidates() map[string][]string {
	ix.build()
	out := map[string][]string{}
	for n, fs := range ix.byName {
		for _, f := range fs {
			out[n] = append(out[n], f.path)
		}
		sort.Strings(out[n])
	}
	return out
}
