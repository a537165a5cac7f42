package container

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// CacheMax is the size the cache is kept under: KDUMP_INSPECT_CACHE_MAX
// (a size as ParseSize reads it), else DefaultCacheMax (also when the
// variable does not parse).
func CacheMax() int64 {
	n, err := envSize("KDUMP_INSPECT_CACHE_MAX", DefaultCacheMax)
	if err != nil {
		return DefaultCacheMax
	}
	return n
}

// Entry is one file of the cache.
type Entry struct {
	Path    string
	Size    int64 // bytes on disk
	LastUse time.Time
	// Kind is "file" (a decompressed file), "dwarf-index" (package
	// symbols' name index), "symbols" (a vmlinux's or a dump's kallsyms
	// symbol table, symbols/symcache.go), "vmcoreinfo" (where a dump's
	// VMCOREINFO page is, kernel/startcache.go), "btf" (the vmlinux BTF
	// read from a dump's memory, kernel/startcache.go) or "partial" (a
	// decompression in progress, or left by a process killed while
	// writing one).
	Kind string
	// InUse: this process opened it (eviction and Clear leave it).
	InUse bool
}

// List returns the files of the cache (CacheDir), most recently used
// first.
func List() ([]Entry, error) {
	var out []Entry
	root := CacheDir()
	for _, sub := range []string{"files", "dwarf-index"} {
		ents, err := os.ReadDir(filepath.Join(root, sub))
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		for _, e := range ents {
			info, err := e.Info()
			if err != nil || !info.Mode().IsRegular() {
				continue
			}
			p := filepath.Join(root, sub, e.Name())
			kind := "file"
			switch {
			case strings.HasPrefix(e.Name(), ".partial-"):
				kind = "partial"
			case sub == "dwarf-index" && (strings.HasPrefix(e.Name(), "symtab-") || strings.HasPrefix(e.Name(), "kallsyms-")):
				kind = "symbols"
			case sub == "dwarf-index" && strings.HasPrefix(e.Name(), "vmcoreinfo-"):
				kind = "vmcoreinfo"
			case sub == "dwarf-index" && strings.HasPrefix(e.Name(), "btf-"):
				kind = "btf"
			case sub == "dwarf-index":
				kind = "dwarf-index"
			}
			mu.Lock()
			use := inUse[p]
			mu.Unlock()
			out = append(out, Entry{Path: p, Size: diskSize(info), LastUse: lastUse(info), Kind: kind, InUse: use})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastUse.After(out[j].LastUse) })
	return out, nil
}

// diskSize is the space a file takes (its blocks; a sparse file takes
// less than its length).
func diskSize(info os.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}

// lastUse is the later of the access and modification times: Open
// touches a cache file on every use (the access time alone is not
// updated under noatime, and only daily under relatime).
func lastUse(info os.FileInfo) time.Time {
	t := info.ModTime()
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		if a := time.Unix(st.Atim.Sec, st.Atim.Nsec); a.After(t) {
			t = a
		}
	}
	return t
}

func touch(path string) {
	now := time.Now()
	os.Chtimes(path, now, now)
}

// Clear removes every file of the cache but those this process uses and
// partial files younger than an hour (a decompression in progress in
// another process). It returns how many files and bytes it removed.
func Clear() (removed int, freed int64, err error) {
	ents, err := List()
	if err != nil {
		return 0, 0, err
	}
	for _, e := range ents {
		if e.InUse || (e.Kind == "partial" && time.Since(e.LastUse) < time.Hour) {
			continue
		}
		if os.Remove(e.Path) == nil {
			removed++
			freed += e.Size
		}
	}
	return removed, freed, nil
}

// Evict removes the least recently used files of the cache until it
// holds at most max bytes, never a file this process uses nor a partial
// file younger than an hour. It returns what it removed.
func Evict(max int64) (removed int, freed int64, err error) {
	ents, err := List()
	if err != nil {
		return 0, 0, err
	}
	var total int64
	for _, e := range ents {
		total += e.Size
	}
	for i := len(ents) - 1; i >= 0 && total > max; i-- { // oldest first
		e := ents[i]
		if e.InUse || (e.Kind == "partial" && time.Since(e.LastUse) < time.Hour) {
			continue
		}
		if os.Remove(e.Path) == nil {
			removed++
			freed += e.Size
			total -= e.Size
		}
	}
	return removed, freed, nil
}
