package kernel

// Where Open takes the vmlinux's types from (issue 20). A vmlinux with a
// .BTF section is typed by its BTF: 4.7 MB read and indexed in a few
// milliseconds on the distro kernel, where the DWARF name index costs
// 0.4–0.6 s to build and 40 ms to load from its cache. The DWARF is
// opened only when something asks what BTF does not hold (symbols,
// btfdwarf.go): the type of a variable the BTF has no record for and that
// is not one of the declarations below, the whole-file Data of `dis -l`
// and the example extractor. The stack walker's CFI reads .debug_frame
// from the file itself and never needed the DWARF index.
//
// Without .BTF (the corpus kernels, the trimmed vmlinux of the examples),
// or when asked (Options.Types), the DWARF is opened at once, as before.

import (
	"errors"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// TypesFrom says where Open takes the vmlinux's types from.
type TypesFrom string

const (
	// TypesAuto: the vmlinux's BTF when it has a .BTF section, its DWARF
	// opened on demand; otherwise its DWARF.
	TypesAuto TypesFrom = ""
	// TypesDWARF: the DWARF, opened at once (the example extractor, and
	// the tests that hold BTF against it).
	TypesDWARF TypesFrom = "dwarf"
	// TypesBTF: the BTF alone; what it lacks is not looked for in the
	// DWARF (a measure of what BTF gives by itself).
	TypesBTF TypesFrom = "btf"
)

// vmlinuxTypes returns the types of an opened vmlinux as from says, and
// warnings about what was not used.
func vmlinuxTypes(f *symbols.ELFFile, path, cacheDir string, from TypesFrom) (*symbols.Types, []string, error) {
	var warns []string
	if from != TypesDWARF {
		bt, err := symbols.LoadELFBTFTypes(f)
		switch {
		case err == nil:
			if from != TypesBTF && hasSection(f, ".debug_info") {
				key := indexKey(f)
				bt.SetDWARF(func() (*symbols.Types, error) {
					ts, err := symbols.LoadELFTypes(f, key, cacheDir)
					if err != nil {
						return nil, &vmlinuxDWARFError{path: path, err: err}
					}
					return ts, nil
				})
			}
			bt.SetVariableDecls(knownDecls(f.Table()))
			return bt, nil, nil
		case from == TypesBTF:
			return nil, nil, err
		case !errors.Is(err, symbols.ErrNoBTF):
			// A .BTF that does not parse: the DWARF decides (and the
			// user is told why it is slower).
			warns = append(warns, fmt.Sprintf("%v: typing from the DWARF instead", err))
		}
	}
	ts, err := symbols.LoadELFTypes(f, indexKey(f), cacheDir)
	if err != nil {
		return nil, warns, &vmlinuxDWARFError{path: path, err: err}
	}
	return ts, warns, nil
}

func hasSection(f *symbols.ELFFile, name string) bool {
	s, ok := f.SectionByName(name)
	return ok && s.Size > 0
}

// knownDecls types the variables of KnownVariableTypes (declaredType),
// checked against the size of their symbol in tab (none when tab has no
// size: kallsyms).
func knownDecls(tab *symbols.Table) func(*symbols.Types, string) (ctype.Type, bool) {
	return func(ts *symbols.Types, name string) (ctype.Type, bool) {
		d, ok := KnownVariableTypes[name]
		if !ok {
			return nil, false
		}
		var size uint64
		if tab != nil {
			if s, ok := tab.ByName(name); ok {
				size = s.Size
			}
		}
		return declaredType(ts, d, size)
	}
}
