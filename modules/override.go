package modules

import (
	"bytes"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/debuginfo"
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
// again through the program's debuginfo index.
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
		di, err := OpenDebuginfo(p, m)
		if err != nil {
			return err
		}
		return s.install(a, di)
	}
	di, err := readModuleKo(m, koPath)
	if err != nil {
		return err
	}
	fileID := di.ELF.BuildID
	switch {
	case len(id) > 0 && len(fileID) > 0 && !bytes.Equal(id, fileID):
		di.ELF.Close()
		return &BuildIDMismatchError{Module: m.Name, Path: koPath, Loaded: id, File: fileID}
	case len(id) > 0 && len(fileID) == 0:
		notes = append(notes, fmt.Sprintf("%s has no build-id: accepted unchecked", koPath))
	}
	if err := di.checkName(m); err != nil {
		return err
	}
	di.Match = debuginfo.Match{Module: m.Name, Path: koPath, How: "named by mod -s", BuildIDMatched: len(id) > 0 && bytes.Equal(id, fileID)}
	di.Notes = notes
	return s.install(a, di)
}

// install makes di the module's debuginfo and redoes what depends on it.
func (s *Set) install(a *Analysis, di *Debuginfo) error {
	p, m := s.Prog, a.Module
	old := a.Debuginfo
	a.Debuginfo, a.DebuginfoErr = di, nil
	a.Warnings = append(a.Warnings, di.Notes...)
	s.runModel(a)
	a.Stubs, a.StubsErr = ReadStubs(p, m, s.stubsInput(a))
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
