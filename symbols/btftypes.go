package symbols

// Types backed by BTF: the constructors, and the Types methods' BTF side
// (types.go calls these when t.btf is set).

import (
	"errors"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/ctype"
)

// ErrNoDWARF is returned by Types.Data for Types backed by BTF.
var ErrNoDWARF = errors.New("types come from BTF: no DWARF")

// ErrNoBTF says an ELF file has no .BTF section.
var ErrNoBTF = errors.New("no .BTF section")

// maxBTFSection bounds the .BTF section read from a file.
const maxBTFSection = 256 << 20

// LoadBTFTypes parses base BTF — a vmlinux's .BTF section, or the bytes
// between __start_BTF and __stop_BTF in a dump's memory — and returns
// Types over it. data is kept (names point into it) and must not be
// modified afterwards.
func LoadBTFTypes(data []byte) (*Types, error) {
	b, err := ParseBTF(data, nil)
	if err != nil {
		return nil, err
	}
	return NewBTFTypes(b)
}

// LoadSplitBTFTypes parses split BTF — a module's .BTF, or the data of a
// loaded module's struct btf — over base's BTF (base must come from
// LoadBTFTypes) and returns Types over both: names are looked up in the
// module first, then in the base; the types the two share are the same
// values base hands out.
func LoadSplitBTFTypes(base *Types, data []byte) (*Types, error) {
	if base == nil || base.btf == nil {
		return nil, errors.New("LoadSplitBTFTypes: the base Types are not backed by BTF")
	}
	b, err := ParseBTF(data, base.btf)
	if err != nil {
		return nil, err
	}
	return NewBTFTypes(b)
}

// NewBTFTypes returns Types over a parsed blob (and its bases), building
// its name index.
func NewBTFTypes(b *BTF) (*Types, error) {
	for o := b; o != nil; o = o.base {
		if err := o.index().err; err != nil {
			return nil, err
		}
	}
	return &Types{btf: b, PtrSize: b.PtrSize(), byName: map[string]ctype.Type{}}, nil
}

// BTFSection returns the bytes of f's .BTF section (ErrNoBTF when it has
// none). A module's .BTF is split BTF over its vmlinux's; a module built
// out of tree may instead carry .BTF.base, a distilled base its .BTF is
// split over (see ModuleBTFBase).
func (f *ELFFile) BTFSection() ([]byte, error) {
	return f.sectionBytes(".BTF")
}

// ModuleBTFBase returns a module's .BTF.base section, nil when it has
// none (in-tree modules: their .BTF is split over the vmlinux's).
func (f *ELFFile) ModuleBTFBase() ([]byte, error) {
	b, err := f.sectionBytes(".BTF.base")
	if errors.Is(err, ErrNoBTF) {
		return nil, nil
	}
	return b, err
}

func (f *ELFFile) sectionBytes(name string) ([]byte, error) {
	b, err := f.SectionData(name, maxBTFSection)
	if errors.Is(err, ErrNoSection) {
		return nil, fmt.Errorf("%s: %w", f.Path, ErrNoBTF)
	}
	return b, err
}

// LoadELFBTFTypes is LoadBTFTypes over a vmlinux's .BTF section.
func LoadELFBTFTypes(f *ELFFile) (*Types, error) {
	data, err := f.BTFSection()
	if err != nil {
		return nil, err
	}
	t, err := LoadBTFTypes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: .BTF: %w", f.Path, err)
	}
	t.BuildID = f.BuildID
	return t, nil
}

// Source says where the types come from: "BTF" or "DWARF".
func (t *Types) Source() string {
	if t.btf != nil {
		return "BTF"
	}
	return "DWARF"
}

// BTF returns the BTF the types come from, nil for DWARF.
func (t *Types) BTF() *BTF { return t.btf }

func (t *Types) btfNamed(key string) (ctype.Type, bool, error) {
	id, ok, err := t.btf.lookupID(key)
	if err != nil || !ok {
		return nil, ok, err
	}
	ty, err := t.btf.Type(id)
	return ty, true, err
}

func (t *Types) btfVariableType(name string) (ctype.Type, error) {
	id, ok, err := t.btf.varID(name)
	if err != nil {
		return nil, &LookupError{Kind: "variable", Name: name, Err: err, Source: "BTF"}
	}
	if !ok {
		return nil, &LookupError{Kind: "variable", Name: name, Err: ErrNotInBTF, Source: "BTF"}
	}
	v, err := t.btf.typ(id)
	if err == nil {
		var ty ctype.Type
		if ty, err = t.btf.Type(v.SizeType); err == nil {
			return ty, nil
		}
	}
	return nil, &LookupError{Kind: "variable", Name: name, Err: err, Source: "BTF"}
}

// btfComplete returns the definition behind a declaration-shaped struct:
// the exact type of a shell, else (a FWD, or a shell of another Types)
// the definition by name.
func (t *Types) btfComplete(s *ctype.StructType) (ctype.Type, bool) {
	if id, ok := t.btf.shellID(s); ok {
		if def, err := t.btf.Type(id); err == nil {
			return def, true
		}
	}
	return nil, false
}

func (t *Types) btfStats() (types, vars, enumerators, units int) {
	for o := t.btf; o != nil; o = o.base {
		ix := o.index()
		types += len(ix.structs) + len(ix.unions) + len(ix.enums) + len(ix.others)
		vars += len(ix.vars)
		o.enOnce.Do(o.buildEnumerators)
		enumerators += o.enums.n
	}
	return types, vars, enumerators, 0
}
