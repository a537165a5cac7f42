package symbols

// BTF first, DWARF on demand (issue 20). A vmlinux built with
// CONFIG_DEBUG_INFO_BTF carries its whole type graph twice: 4.7 MB of
// .BTF, read and indexed in a few milliseconds, and 249 MB of
// .debug_info, whose name index costs 0.4–0.6 s to build (section 7 of
// docs/PERFORMANCE.md). Types backed by BTF answer every type, member,
// size, offset and enumerator question; what BTF does not hold they hand
// to the DWARF of the same file, opened the first time it is needed:
//
//   - the type of a variable BTF has no VAR record for (every variable
//     but the per-CPU ones), after the declarations the caller vouches
//     for (SetVariableDecls: the kernel's own declarations of the
//     variables the tool reads, checked against the symbol's size);
//   - the whole-file debug/dwarf Data (Data: line tables for `dis -l`,
//     the example extractor).
//
// Failed type lookups never open the DWARF: a type BTF lacks is a type
// the kernel does not have (pahole encodes every type of every unit), and
// feature detection asks for types that may not exist on every call.

import (
	"errors"
	"fmt"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/ctype"
)

// btfFallback is what BTF-backed Types fall back to (set before the
// Types are shared; read-only after).
type btfFallback struct {
	// open opens the DWARF of the same kernel (nil: there is none).
	open func() (*Types, error)
	// decl types a variable the caller knows the declaration of.
	decl func(t *Types, name string) (ctype.Type, bool)

	once   sync.Once
	dwarf  *Types
	err    error
	opened bool
}

func (t *Types) fallback() *btfFallback {
	if t.fb == nil {
		t.fb = &btfFallback{}
	}
	return t.fb
}

// SetDWARF gives BTF-backed Types the DWARF of the same kernel: open is
// called at most once, when a question BTF cannot answer is first asked
// (VariableType of a variable it has no record for, Data). Call it before
// the Types are used.
func (t *Types) SetDWARF(open func() (*Types, error)) {
	if t.btf == nil {
		return
	}
	t.fallback().open = open
}

// SetVariableDecls gives BTF-backed Types the declarations of variables
// the BTF has no record for: decl returns the type of a variable it
// knows the declaration of (looked up in the Types it is passed), ok
// false for any other, and VariableType then goes on to the DWARF
// (SetDWARF). Call it before the Types are used.
func (t *Types) SetVariableDecls(decl func(t *Types, name string) (ctype.Type, bool)) {
	if t.btf == nil {
		return
	}
	t.fallback().decl = decl
}

// DWARF returns the DWARF-backed Types: t itself when it is backed by
// DWARF, else the DWARF SetDWARF names, opened on the first call;
// ErrNoDWARF when there is none.
func (t *Types) DWARF() (*Types, error) {
	if t.btf == nil {
		return t, nil
	}
	fb := t.fb
	if fb == nil || fb.open == nil {
		return nil, ErrNoDWARF
	}
	fb.once.Do(func() {
		fb.dwarf, fb.err = fb.open()
		if fb.dwarf == nil && fb.err == nil {
			fb.err = ErrNoDWARF
		}
		t.mu.Lock()
		fb.opened = true
		t.mu.Unlock()
	})
	return fb.dwarf, fb.err
}

// HasDWARF says whether DWARF stands behind the types: they come from it,
// or SetDWARF gave BTF-backed Types a way to open it (which may still
// fail when it is opened).
func (t *Types) HasDWARF() bool {
	return t.btf == nil || t.fb != nil && t.fb.open != nil
}

// DWARFOpened says whether BTF-backed Types have opened their DWARF (a
// question only DWARF could answer was asked); true for DWARF-backed
// Types.
func (t *Types) DWARFOpened() bool {
	if t.btf == nil {
		return true
	}
	if t.fb == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fb.opened
}

// btfVariableFallback answers VariableType for a variable the BTF has no
// record for (err wraps ErrNotInBTF): the caller's declaration, then the
// DWARF.
func (t *Types) btfVariableFallback(name string, err error) (ctype.Type, error) {
	fb := t.fb
	if fb == nil {
		return nil, err
	}
	if fb.decl != nil {
		if ty, ok := fb.decl(t, name); ok {
			return ty, nil
		}
	}
	if fb.open == nil {
		return nil, err
	}
	dt, derr := t.DWARF()
	if derr != nil {
		return nil, &LookupError{Kind: "variable", Name: name, Source: "BTF",
			Err: fmt.Errorf("%w; the DWARF could not be read: %v", ErrNotInBTF, derr)}
	}
	ty, verr := dt.VariableType(name)
	var le *LookupError
	if errors.As(verr, &le) && errors.Is(verr, ErrNotFound) {
		// Neither has it: say so once, as BTF and DWARF.
		return nil, &LookupError{Kind: "variable", Name: name, Err: ErrNotFound, Source: "BTF or DWARF"}
	}
	return ty, verr
}
