package repl

import (
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// lookupType finds "struct X", "union X", a typedef or base type; a bare
// name tries struct, union, then the name as given.
func (s *Session) lookupType(name string) (ctype.Type, error) {
	t, _, err := s.lookupTypeIn(name)
	return t, err
}

// lookupTypeIn is lookupType that also returns the Types that have the
// type: the vmlinux's, or a loaded module's from the BTF in memory
// (kernel.Program.LookupType), to complete and measure it with.
func (s *Session) lookupTypeIn(name string) (ctype.Type, *symbols.Types, error) {
	name = strings.TrimSpace(name)
	if strings.HasPrefix(name, "struct ") || strings.HasPrefix(name, "union ") || strings.HasPrefix(name, "enum ") {
		t, ts, _, err := s.Prog.LookupType(name)
		return t, ts, err
	}
	var first error
	for _, k := range []string{"struct ", "union ", ""} {
		t, ts, _, err := s.Prog.LookupType(k + name)
		if err == nil {
			return t, ts, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, nil, first
}

// structSpec is "NAME[.member[,member]]" split.
type structSpec struct {
	Type    string
	Members []string // member paths; empty: the whole struct
}

func parseStructSpec(kind, arg string) structSpec {
	name, members, _ := strings.Cut(arg, ".")
	sp := structSpec{Type: name}
	if kind != "" && !strings.Contains(name, " ") {
		sp.Type = kind + " " + name
	}
	if members != "" {
		for _, m := range strings.Split(members, ",") {
			if m = strings.TrimSpace(m); m != "" {
				sp.Members = append(sp.Members, m)
			}
		}
	}
	return sp
}

// printStruct prints COUNT objects of the spec's type from addr, crash
// style: the whole struct as "struct NAME {...}", members as
// "  path = value,".
func (s *Session) printStruct(c *Call, sp structSpec, addr uint64, count int, f numFormat, withOffsets bool) error {
	t, _, _, err := s.Prog.LookupType(sp.Type)
	if err != nil {
		if t, err = s.lookupType(strings.TrimPrefix(strings.TrimPrefix(sp.Type, "struct "), "union ")); err != nil {
			return err
		}
	}
	size := kernel.Object{Ctx: s.Prog.Context, Type: t}.Size()
	if count > 1 && size <= 0 {
		return fmt.Errorf("%s has no size: cannot print %d of them", sp.Type, count)
	}
	pr := s.newPrinterFormat(f)
	for i := 0; i < count; i++ {
		if err := c.Ctx.Err(); err != nil {
			return err
		}
		a := addr + uint64(int64(i)*size)
		o := pr.rebase(kernel.Object{Ctx: s.Prog.Context, Type: t, Addr: a})
		if i > 0 {
			c.Printf("\n")
		}
		if len(sp.Members) == 0 {
			c.Printf("%s %s\n", typeName(symbols.Underlying(t)), pr.value(o, 0, 0))
			continue
		}
		for _, m := range sp.Members {
			mo, err := o.Member(m)
			if err != nil {
				c.Printf("  %s = <%v>\n", m, err)
				continue
			}
			prefix := ""
			if withOffsets {
				prefix = fmt.Sprintf("[%#x] ", mo.Addr-a)
			}
			// The last name of the path decides hexadecimal for words, as for
			// members of a whole struct (arch.tramp is an address).
			c.Printf("  %s%s = %s\n", prefix, m, pr.memberValue(m[strings.LastIndexAny(m, ".>")+1:], mo, 2, 0))
		}
	}
	return nil
}

// printDefinitionIn is printDefinition completing t with ts (a module's
// Types for a module's type).
func (s *Session) printDefinitionIn(c *Call, t ctype.Type, ts *symbols.Types, withOffsets bool) {
	u := symbols.Underlying(t)
	if st, ok := u.(*ctype.StructType); ok && st.Incomplete {
		u = symbols.Underlying(ts.Complete(st))
	}
	switch x := u.(type) {
	case *ctype.StructType:
		c.Printf("%s {\n", typeName(x))
		s.defMembers(c, x, 0, 4, withOffsets)
		c.Printf("}\nSIZE: %d\n", x.ByteSize)
	case *ctype.EnumType:
		c.Printf("%s {\n", typeName(x))
		for i, v := range x.Val {
			sep := ","
			if i == len(x.Val)-1 {
				sep = ""
			}
			c.Printf("  %s = %d%s\n", v.Name, v.Val, sep)
		}
		c.Printf("};\nSIZE: %d\n", x.ByteSize)
	default:
		if td, ok := t.(*ctype.TypedefType); ok {
			c.Printf("typedef %s;\n", declare(td.Name, td.Type))
		} else {
			c.Printf("type = %s\n", declare("", t))
		}
		if n := s.typeSize(t); n >= 0 {
			c.Printf("SIZE: %d\n", n)
		}
	}
}

func (s *Session) defMembers(c *Call, st *ctype.StructType, base int64, indent int, withOffsets bool) {
	for _, f := range st.Field {
		pad := strings.Repeat(" ", indent)
		off := ""
		if withOffsets {
			off = fmt.Sprintf("[%#x] ", base+f.ByteOffset)
			if f.BitSize > 0 {
				bo := symbols.Fields(st, s.Prog.Order)
				for _, g := range bo {
					if g.Name == f.Name {
						off = fmt.Sprintf("[%#x:%d] ", base+g.BitOffset/8, g.BitOffset%8)
					}
				}
			}
		}
		if inner, ok := symbols.Underlying(f.Type).(*ctype.StructType); ok && inner.StructName == "" {
			c.Printf("%s%s%s {\n", pad, off, inner.Kind)
			s.defMembers(c, inner, base+f.ByteOffset, indent+4, withOffsets)
			name := f.Name
			if name != "" {
				name = " " + name
			}
			c.Printf("%s}%s;\n", pad, name)
			continue
		}
		decl := declare(f.Name, f.Type)
		if f.BitSize > 0 {
			decl += fmt.Sprintf(" : %d", f.BitSize)
		}
		c.Printf("%s%s%s;\n", pad, off, decl)
	}
}

// parseCount parses an optional COUNT argument.
func parseCount(s string) (int, error) {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 || n > 1<<20 {
		return 0, fmt.Errorf("bad count %q", s)
	}
	return n, nil
}

// typeSize is the size of t; a pointer (or a typedef of one, such as a
// function-pointer typedef) whose DWARF gives no byte size has the
// target's pointer size.
func (s *Session) typeSize(t ctype.Type) int64 {
	if n := t.Size(); n >= 0 {
		return n
	}
	if _, ok := symbols.Underlying(t).(*ctype.PtrType); ok {
		return s.Prog.PtrSize
	}
	return -1
}
