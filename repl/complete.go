package repl

import (
	"sort"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// maxCandidates bounds one completion answer.
const maxCandidates = 500

// Candidates returns completion candidates for a word of the given kind.
func (s *Session) Candidates(kind CompleteKind, cur string) []string {
	return s.candidates("", kind, cur)
}

// candidates completes cur as an argument of command cmd ("" if unknown):
// `struct`/`union` complete that namespace's tag names, other type
// commands every name of the DWARF index.
func (s *Session) candidates(cmd string, kind CompleteKind, cur string) []string {
	var out []string
	add := func(v string) {
		if strings.HasPrefix(v, cur) {
			out = append(out, v)
		}
	}
	switch kind {
	case CompleteCommand:
		for _, c := range s.cmds {
			add(c.Name)
		}
	case CompleteModule:
		for _, n := range s.moduleNames() {
			add(n)
		}
	case CompleteType:
		if i := strings.IndexByte(cur, '.'); i >= 0 {
			return s.memberCandidates(cur[:i], cur[i+1:])
		}
		if s.Prog == nil || s.Prog.Types == nil {
			return nil
		}
		switch cmd {
		case "struct", "union":
			out, _ = s.Prog.Types.Names(cur, cmd, maxCandidates)
		default:
			// whatis takes "struct x" as two words: offer bare tag
			// names and typedefs alike.
			for _, k := range []string{"struct", "union", "enum", "typedef"} {
				n, _ := s.Prog.Types.Names(cur, k, maxCandidates)
				out = append(out, n...)
			}
		}
	case CompleteSymbol, CompleteDis:
		if cur == "" {
			return nil
		}
		if kind == CompleteDis {
			for _, n := range s.moduleNames() {
				add(n + ":.stubs")
			}
		}
		if s.Prog.Syms != nil {
			for _, sym := range s.Prog.Syms.Symbols() {
				if strings.HasPrefix(sym.Name, cur) {
					out = append(out, sym.Name)
					if len(out) > 500 {
						break
					}
				}
			}
		}
		if set := s.modsIfLoaded(); set != nil {
			for _, a := range set.Modules {
				if a.Syms == nil {
					continue
				}
				for _, sym := range a.Syms.Symbols() {
					add(sym.Name)
				}
			}
		}
	}
	sort.Strings(out)
	return dedup(out)
}

func dedup(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// modsIfLoaded returns the module set only if already analysed (completion
// must not start a multi-second analysis).
func (s *Session) modsIfLoaded() *modules.Set {
	return s.A.ModulesIfLoaded()
}

func (s *Session) moduleNames() []string {
	var out []string
	for _, a := range s.Modules().Modules {
		out = append(out, a.Module.Name)
	}
	return out
}

// memberCandidates completes "TYPE.mem.sub" member paths.
func (s *Session) memberCandidates(typ, path string) []string {
	t, err := s.lookupType(typ)
	if err != nil {
		return nil
	}
	prefix := typ + "."
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		f, ok := symbols.FindField(t, p, s.Prog.Order)
		if !ok {
			return nil
		}
		t = s.complete(f.Type)
		prefix += p + "."
	}
	last := parts[len(parts)-1]
	var out []string
	var walk func(t ctype.Type, depth int)
	walk = func(t ctype.Type, depth int) {
		for _, f := range symbols.Fields(s.complete(t), s.Prog.Order) {
			if f.Name == "" && depth < 8 {
				walk(f.Type, depth+1)
				continue
			}
			if strings.HasPrefix(f.Name, last) {
				out = append(out, prefix+f.Name)
			}
		}
	}
	walk(t, 0)
	sort.Strings(out)
	return out
}

// complete strips typedefs/qualifiers and pointers to reach a struct, and
// completes a declaration.
func (s *Session) complete(t ctype.Type) ctype.Type {
	for range 8 {
		t = symbols.Underlying(t)
		if p, ok := t.(*ctype.PtrType); ok && p.Type != nil {
			t = p.Type
			continue
		}
		if a, ok := t.(*ctype.ArrayType); ok {
			t = a.Type
			continue
		}
		break
	}
	return s.Prog.Types.Complete(t)
}
