package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/repl"
	"github.com/kdump-inspect/kdump-inspect/triage"
)

// DumpOnlyCommands are the session commands the dump-only job runs (with
// `struct module ADDR` of each subject module and the audit of the
// subjects after them): what a user opening the example with nothing but
// the dump starts with.
//
// Not the session's `mod` and `bt -a` themselves: their marks are the
// findings of the audit of every module (mod) and of the vmlinux too
// (bt), whose FTRACE-SITE reads the text at each of the vmlinux's ~47 000
// ftrace sites (3 800 pages on the x86 distro dump). The job reads what
// they show instead (the module list and every CPU's and task's stack,
// through the session's analysis), and audits the subjects only, as the
// job with the vmlinux does; on the example those views' audit is partial
// (the vmlinux's text is not there), as with the vmlinux.
var DumpOnlyCommands = []string{"info", "ftrace --enabled", "log"}

// DumpOnlyJob is the second session of a dump-only capable extract: the
// source dump opened alone (kernel.Options{DumpOnly: true}: kallsyms
// through VMCOREINFO's early map, the vmlinux BTF between
// __start_BTF/__stop_BTF, module BTF through btf_modules), the commands
// of DumpOnlyCommands, `struct module` of every subject module, and the
// audit of the subjects with `why` on it. It returns the physical pages
// that session read. A kernel without BTF in its memory cannot be opened
// alone: the error is then kernel.ErrNoMemoryBTF (the caller skips).
// Without withFtrace (mkexample -ftrace=false) neither `ftrace` nor the
// audit runs, as in the job with the vmlinux.
func DumpOnlyJob(path string, subjects []string, withFtrace bool) ([]uint64, error) {
	cache, err := os.MkdirTemp("", "mkexample-dumponly-")
	if err != nil {
		return nil, err
	}
	// A fresh cache: a cached kallsyms table would spare the reads of
	// kallsyms' own tables, which the example must hold.
	defer os.RemoveAll(cache)
	var rec *PageRecorder
	p, err := kernel.Open([]string{path}, kernel.Options{DumpOnly: true, CacheDir: cache, PhysWrap: func(m dump.Memory) dump.Memory {
		rec = NewPageRecorder(m)
		return rec
	}})
	if err != nil {
		return nil, fmt.Errorf("dump-only open: %w", err)
	}
	defer p.Close()
	var errb bytes.Buffer
	s := repl.New(p, repl.Options{Out: io.Discard, Err: &errb, Width: 200, Plain: true})
	ctx := context.Background()
	var jerr error
	for _, c := range DumpOnlyCommands {
		if !withFtrace && strings.HasPrefix(c, "ftrace") {
			continue
		}
		if err := s.Exec(ctx, c); err != nil {
			jerr = errors.Join(jerr, fmt.Errorf("%s: %w", c, err))
		}
	}
	set := s.A.Modules()
	if set.ListErr != nil {
		return nil, fmt.Errorf("dump-only modules list: %w", set.ListErr)
	}
	// The modules' BTF (btf_modules: each struct btf_module, struct btf
	// and its data), which `struct`/`p` of a module's own type reads.
	if _, err := p.ModuleBTF(); err != nil {
		jerr = errors.Join(jerr, fmt.Errorf("module BTF: %w", err))
	}
	if _, err := s.A.Stacks(); err != nil {
		jerr = errors.Join(jerr, fmt.Errorf("stacks: %w", err))
	}
	for _, m := range set.Modules {
		if inList(subjects, m.Module.Name) {
			c := fmt.Sprintf("struct module %#x", m.Module.Addr)
			if err := s.Exec(ctx, c); err != nil {
				jerr = errors.Join(jerr, fmt.Errorf("%s: %w", c, err))
			}
		}
	}
	if withFtrace {
		triage.Explain(s.A, audit.Run(s.A, audit.Options{Subjects: subjects}))
	}
	_ = jerr // commands' own errors (a faulting view) are the views'; the pages are what matters
	return rec.Pages(), nil
}
