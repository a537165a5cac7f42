// Package analysis is the model object of one opened dump: it owns the
// module set (package modules: every struct module, its .ko, the loader
// model, .stubs), the ftrace and livepatch state (package ftrace), the
// unwound stack of every CPU and task (package stack) and the comparison of
// each module's and the vmlinux's text with its ELF file (package
// textcheck); it computes each on first need, and drops what depends on
// the module debuginfo when a .ko is loaded again (crash's `mod -s`,
// `mod -S`). The audit, the REPL's views
// and the batch mode all read through one Analysis, so that they see the
// same facts.
//
// It decides nothing (package audit judges) and prints nothing (package
// repl formats).
//
// Layer: analysis (docs/ARCHITECTURE.md).
package analysis

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/stack"
	"github.com/kdump-inspect/kdump-inspect/textcheck"
)

// Analysis is the analysed state of one program. Its methods are safe for
// concurrent use.
type Analysis struct {
	Prog *kernel.Program

	mu  sync.Mutex
	gen uint64 // bumped whenever the module set changes

	set *modules.Set

	ftraceDone bool
	st         *ftrace.State
	stErr      error

	stacksDone bool
	stacks     []stack.Unwound
	stacksErr  error

	textMu  sync.Mutex
	textEnv *textcheck.Env
	textGen uint64
	text    map[string]*textcheck.Result

	lines lineCache
}

// New makes the analysis of p; nothing is read until asked.
func New(p *kernel.Program) *Analysis { return &Analysis{Prog: p} }

// errNoProgram: a module set made without a program (synthetic .stubs in
// tests and fuzzing) has no ftrace records or stacks to read.
var errNoProgram = errors.New("no program: a module set without a dump")

// FromSet wraps an already analysed module set (tests, the example
// generator; set.Prog may be nil for synthetic .stubs).
func FromSet(set *modules.Set) *Analysis { return &Analysis{Prog: set.Prog, set: set} }

// Generation changes whenever the module set is replaced or a module's
// debuginfo reloaded: what a caller computed from an earlier generation is
// stale.
func (a *Analysis) Generation() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen
}

// Modules returns every module analysed (once).
func (a *Analysis) Modules() *modules.Set {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.modulesLocked()
}

func (a *Analysis) modulesLocked() *modules.Set {
	if a.set == nil {
		a.set = modules.Analyze(a.Prog)
	}
	return a.set
}

// ModulesIfLoaded returns the module set when it has been analysed, else
// nil (for completion, which must not start the analysis).
func (a *Analysis) ModulesIfLoaded() *modules.Set {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.set
}

// Ftrace returns the ftrace records, ops and livepatch state held against
// the models (once per generation). The error says why no record could be
// read at all.
func (a *Analysis) Ftrace() (*ftrace.State, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.ftraceDone {
		if a.Prog == nil {
			a.stErr = errNoProgram
		} else {
			a.st, a.stErr = ftrace.Load(a.modulesLocked())
		}
		a.ftraceDone = true
	}
	return a.st, a.stErr
}

// Stacks returns every CPU's and task's unwound stack (once): the one
// enumeration of every task that the audit and the views share. The error
// says what could not be walked; what was walked comes with it.
func (a *Analysis) Stacks() ([]stack.Unwound, error) {
	// The ftrace state first (it takes the lock itself): on x86_64 the
	// unwinder maps ops trampolines to the code they copy (x86_64).
	var opt stack.Options
	if a.Prog != nil && arch.Has(a.Prog.Arch, arch.OpsTrampolines) {
		if st, err := a.Ftrace(); err == nil && st != nil {
			opt.Trampoline = st.X86TrampolineSource(a.Prog)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.stacksDone {
		if a.Prog == nil {
			a.stacksErr = errNoProgram
		} else {
			a.stacks, a.stacksErr = stack.WalkAllWith(a.Prog, a.modulesLocked(), opt)
		}
		a.stacksDone = true
	}
	return a.stacks, a.stacksErr
}

// Text returns the comparison of one module's text with its .ko (package
// textcheck), or of the vmlinux's when m is nil; once per generation.
func (a *Analysis) Text(m *modules.Analysis) *textcheck.Result {
	set := a.Modules()
	st, stErr := a.Ftrace()
	gen := a.Generation()
	name := "vmlinux"
	if m != nil {
		name = m.Module.Name
	}
	a.textMu.Lock()
	defer a.textMu.Unlock()
	if a.textEnv == nil || a.textGen != gen {
		a.textEnv, a.textGen, a.text = textcheck.NewEnv(set, st, stErr), gen, map[string]*textcheck.Result{}
	}
	if r, ok := a.text[name]; ok {
		return r
	}
	var r *textcheck.Result
	if m != nil {
		r = a.textEnv.Module(m)
	} else {
		r = a.textEnv.Vmlinux()
	}
	a.text[name] = r
	return r
}

// ReloadModule replaces one module's debuginfo (crash's `mod -s NAME
// FILE`; path "" searches again) and drops the derived state. The .ko
// must be a regular file carrying the loaded module's build-id.
func (a *Analysis) ReloadModule(name, path string) error {
	if path != "" {
		if st, err := os.Stat(path); err != nil {
			return err
		} else if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.modulesLocked().Reanalyze(name, path); err != nil {
		return err
	}
	a.dropDerivedLocked()
	return nil
}

// ReloadAll analyses every module again with dirs as the only module
// directories (crash's `mod -S DIR`; nil: the directories the program was
// opened with), closing the old set's files. .ko files named by
// ReloadModule are forgotten: everything is loaded from the directories.
func (a *Analysis) ReloadAll(dirs []string) error {
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return fmt.Errorf("%s is not a directory", d)
		}
	}
	if dirs != nil {
		a.Prog.SetModuleDirs(dirs, true)
	} else {
		a.Prog.ResetModuleDirs()
	}
	set := modules.Analyze(a.Prog)
	a.mu.Lock()
	old := a.set
	a.set = set
	a.dropDerivedLocked()
	a.mu.Unlock()
	a.dropModuleLines()
	if old != nil {
		old.Close()
	}
	return nil
}

func (a *Analysis) dropDerivedLocked() {
	a.gen++
	a.ftraceDone, a.st, a.stErr = false, nil, nil
}

// Close closes the module set's files (not the program).
func (a *Analysis) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.set != nil {
		a.set.Close()
	}
}
