package modules

import (
	"bytes"
	"fmt"
	"path/filepath"

	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// BuildIDMismatchError refuses a .ko whose build-id is not the loaded
// module's (crash's `mod -s` refuses a mismatched object the same way).
type BuildIDMismatchError struct {
	Module string
	Path   string
	Loaded []byte // from the module's .note.gnu.build-id in memory
	File   []byte
}

func (e *BuildIDMismatchError) Error() string {
	return fmt.Sprintf("%s: %s has build-id %x, the loaded module's is %x", e.Module, e.Path, e.File, e.Loaded)
}

// Reanalyze replaces the named module's debuginfo with the .ko at koPath
// (crash's `mod -s NAME FILE`), after checking its build-id against the one
// the module carries in memory, then reruns the loader model and re-reads
// .stubs with it, and rebuilds the set's resolver (.stubs and section sizes
// may change with the .ko). With koPath "" the module's .ko is searched
// again in the program's ModuleDirs (FindKo).
//
// On error the module's analysis is left as it was. The previous .ko is
// closed on success. Not safe for use concurrently with readers of the set.
func (s *Set) Reanalyze(name, koPath string) error {
	a := s.Find(name)
	if a == nil {
		return fmt.Errorf("no module %q in this dump", name)
	}
	p, m := s.Prog, a.Module
	id, idErr := m.BuildID(p)
	var notes []string
	if idErr != nil {
		notes = append(notes, fmt.Sprintf("build-id of the loaded module unreadable (%v): %s accepted unchecked", idErr, koPath))
	}
	if koPath == "" {
		koPath, notes = FindKo(p.ModuleDirs, m.Name, id)
		if koPath == "" {
			return fmt.Errorf("%s: no matching .ko in %v%s", m.Name, p.ModuleDirs, noteSuffix(notes))
		}
	}
	f, err := symbols.OpenELF(koPath)
	if err != nil {
		return err
	}
	switch {
	case len(id) > 0 && len(f.BuildID) > 0 && !bytes.Equal(id, f.BuildID):
		f.Close()
		return &BuildIDMismatchError{Module: m.Name, Path: koPath, Loaded: id, File: f.BuildID}
	case len(id) > 0 && len(f.BuildID) == 0:
		notes = append(notes, fmt.Sprintf("%s has no build-id: accepted unchecked", koPath))
	}
	if f.Module != "" && f.Module != m.Name {
		f.Close()
		return fmt.Errorf("%s: %s is module %q", m.Name, koPath, f.Module)
	}
	img, err := ReadKo(filepath.Base(koPath), f.File)
	if err != nil {
		f.Close()
		return err
	}
	old := a.Debuginfo
	a.Debuginfo = &Debuginfo{Path: koPath, ELF: f, Image: img, Notes: notes}
	a.Warnings = append(a.Warnings, notes...)
	a.Model, a.ModelErr = nil, nil
	// As analyzeOne: the model only where this kernel's loader and the
	// module agree on having OOL stubs.
	if s.Features.OutOfLine == m.Arch.HasOOL {
		a.Model, a.ModelErr = s.model(a)
	}
	a.Stubs, a.StubsErr = ReadStubs(p, m, StubsInput{Model: a.Model, Name: s.name, FtraceCaller: symAddr(p, "ftrace_caller"), FtraceRegsCaller: symAddr(p, "ftrace_regs_caller")})
	s.rebuildResolver()
	if old != nil && old.ELF != nil {
		old.ELF.Close()
	}
	return nil
}

// Close closes every module's .ko.
func (s *Set) Close() {
	for _, a := range s.Modules {
		if a.Debuginfo != nil && a.Debuginfo.ELF != nil {
			a.Debuginfo.ELF.Close()
		}
	}
}

// rebuildResolver makes the resolver again from every module's layout, as
// Analyze does once the .stubs sizes are known.
func (s *Set) rebuildResolver() {
	r := symbols.NewResolver()
	r.SetVmlinux(s.Prog.Syms)
	for _, a := range s.Modules {
		r.AddModule(layout(a))
	}
	s.Resolver = r
}
