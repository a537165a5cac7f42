package container

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tempFile is the output of one decompression until it is complete: an
// unnamed file (O_TMPFILE, Linux 3.11) that the kernel frees whatever
// way the process ends, linked into the cache by commit; or, where the
// file system cannot make one, a named ".partial-*" file removed by
// discard, on SIGINT/SIGTERM, and at the next start when older than an
// hour (removeStalePartials).
type tempFile struct {
	f           *os.File
	name        string // "" for an unnamed file
	interrupted *atomic.Bool
	stop        func()
	done        bool
}

// noTmpfile makes newTempFile use a named file (tests of that path).
var noTmpfile = false

func newTempFile(dir string) (*tempFile, error) {
	if !noTmpfile {
		fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
		if err == nil {
			return &tempFile{f: os.NewFile(uintptr(fd), filepath.Join(dir, "(unnamed)")), stop: func() {}}, nil
		}
	}
	f, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		return nil, err
	}
	t := &tempFile{f: f, name: f.Name(), interrupted: new(atomic.Bool)}
	t.stop = removeOnSignal(t.name, t.interrupted)
	return t, nil
}

// commit gives the complete file the name out. Another process that
// made out first wins (its file is the same bytes).
func (t *tempFile) commit(out string) error {
	if err := t.f.Sync(); err != nil {
		return err
	}
	if t.name == "" {
		proc := "/proc/self/fd/" + strconv.Itoa(int(t.f.Fd()))
		err := unix.Linkat(unix.AT_FDCWD, proc, unix.AT_FDCWD, out, unix.AT_SYMLINK_FOLLOW)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			// Without /proc: AT_EMPTY_PATH (needs CAP_DAC_READ_SEARCH).
			if err2 := unix.Linkat(int(t.f.Fd()), "", unix.AT_FDCWD, out, unix.AT_EMPTY_PATH); err2 != nil && !errors.Is(err2, unix.EEXIST) {
				return fmt.Errorf("linking the decompressed file to %s: %v (and %v)", out, err, err2)
			}
		}
	} else if err := os.Rename(t.name, out); err != nil {
		return err
	}
	t.done = true
	return nil
}

// discard closes the file and, unless committed, removes it.
func (t *tempFile) discard() {
	t.stop()
	t.f.Close()
	if !t.done && t.name != "" {
		os.Remove(t.name)
	}
}

// removeOnSignal removes name on SIGINT or SIGTERM, marks the
// decompression interrupted, and lets the signal go on (re-sent once
// this handler is gone: with no other handler it ends the process as it
// would have). The returned function uninstalls it.
func removeOnSignal(name string, interrupted *atomic.Bool) func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			interrupted.Store(true)
			os.Remove(name)
			signal.Stop(ch)
			if s, ok := sig.(syscall.Signal); ok {
				syscall.Kill(os.Getpid(), s)
			}
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// removeStalePartials removes the ".partial-*" files of dir older than
// age: what a process killed while decompressing into a named file left.
func removeStalePartials(dir string, age time.Duration) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if len(e.Name()) < 9 || e.Name()[:9] != ".partial-" {
			continue
		}
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && time.Since(info.ModTime()) > age {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
