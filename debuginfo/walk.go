package debuginfo

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
)

// devIno identifies a directory across the links that reach it.
type devIno struct{ dev, ino uint64 }

// maxDepth bounds the directory nesting a walk follows.
const maxDepth = 64

// walker walks one searched tree, following symbolic links and link files
// to directories and files, visiting each directory once.
type walker struct {
	dir      Dir
	max, n   int
	visited  map[devIno]string
	onStack  map[devIno]bool
	files    []*file
	warnings []string
	capped   bool
}

func (w *walker) warnf(format string, args ...any) {
	w.warnings = append(w.warnings, fmt.Sprintf(format, args...))
}

// walk visits the directory at path (which may be a symlink or a link file
// to one).
//
// Paths below a real symbolic link keep the link's name (they open the
// same); below a link file they are the target's (a link file is not
// something open() follows).
func (w *walker) walk(path string, depth int) {
	target := container.FollowLinkFile(path)
	if target != path {
		path = target
	}
	st, err := os.Stat(target)
	if err != nil {
		if depth == 0 {
			w.warnf("%s (%s): %v", path, w.dir.Origin, err)
		}
		return
	}
	if !st.IsDir() {
		if depth == 0 {
			w.warnf("%s (%s) is not a directory", path, w.dir.Origin)
		}
		return
	}
	if depth > maxDepth {
		w.warnf("%s: deeper than %d directories, not searched", path, maxDepth)
		return
	}
	if key, ok := keyOf(st); ok {
		if prev, seen := w.visited[key]; seen {
			// Reached again: through a link back up the tree (a loop,
			// said once) or by a second link to it (searched already).
			if w.onStack[key] {
				w.warnf("%s: a link back to %s (a loop), not followed", path, prev)
			}
			return
		}
		w.visited[key] = path
		w.onStack[key] = true
		defer delete(w.onStack, key)
	}
	entries, err := os.ReadDir(target)
	if err != nil {
		w.warnf("%s: %v", path, err)
	}
	for _, e := range entries {
		if w.n++; w.n > w.max {
			if !w.capped {
				w.capped = true
				w.warnf("%s: more than %d entries, the rest not searched", w.dir.Path, w.max)
			}
			return
		}
		p := filepath.Join(path, e.Name())
		real := filepath.Join(target, e.Name())
		switch t := e.Type(); {
		case t.IsDir():
			w.walk(p, depth+1)
		case t&fs.ModeSymlink != 0:
			st, err := os.Stat(real)
			switch {
			case err != nil:
				if isCandidate(e.Name()) {
					w.warnf("%s: dangling link: %v", p, err)
				}
			case st.IsDir():
				w.walk(p, depth+1)
			case st.Mode().IsRegular() && isCandidate(e.Name()):
				r, err := filepath.EvalSymlinks(real)
				if err != nil {
					r = real
				}
				w.add(p, r, st)
			}
		case t.IsRegular():
			w.regular(p, real, e, depth)
		}
	}
}

// regular handles a plain file: a candidate, or a link file to one or to a
// directory.
func (w *walker) regular(p, real string, e fs.DirEntry, depth int) {
	info, err := e.Info()
	if err != nil {
		return
	}
	cand := isCandidate(e.Name())
	// A link file is a few bytes holding a path; a .ko never is. Only
	// small files are read: a distro tree holds thousands of others.
	small := info.Size() > 0 && (info.Size() <= 4096 && cand || info.Size() <= 512 && !strings.Contains(e.Name(), "."))
	if small {
		if t := container.FollowLinkFile(real); t != real {
			st, err := os.Stat(t)
			switch {
			case err != nil:
			case st.IsDir():
				w.walk(t, depth+1)
			case st.Mode().IsRegular() && cand:
				w.add(t, t, st)
			}
			return
		}
	}
	if cand {
		w.add(p, real, info)
	}
}

func (w *walker) add(path, real string, st os.FileInfo) {
	w.files = append(w.files, &file{path: path, real: real, module: ModuleName(filepath.Base(path)), dir: w.dir, size: st.Size(), mtime: st.ModTime().UnixNano()})
}

func keyOf(st os.FileInfo) (devIno, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return devIno{}, false
	}
	return devIno{uint64(s.Dev), uint64(s.Ino)}, true
}
