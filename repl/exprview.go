package repl

import (
	"errors"
	"fmt"
	"math/bits"
	"regexp"
	"strconv"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/cexpr"
	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// exprEnv is the C expression environment of the session: vmlinux
// variables typed by DWARF or BTF, enumeration constants and types from
// the same, and every symbol the module-aware resolver knows.
func (s *Session) exprEnv() *cexpr.Env {
	return &cexpr.Env{
		Ctx:      s.Prog.Context,
		Variable: s.Prog.Variable,
		Symbol: func(name string) (uint64, bool, bool) {
			var sym symbols.Symbol
			var ok bool
			if set := s.Modules(); set != nil && set.Resolver != nil {
				sym, ok = set.Resolver.SymbolByName(name)
			} else if s.Prog.Resolver != nil {
				sym, ok = s.Prog.Resolver.SymbolByName(name)
			}
			return sym.Addr, ok && (sym.Kind == 'T' || sym.Kind == 't'), ok
		},
		Suggest: s.nearSymbols,
		LookupType: func(name string) (ctype.Type, error) {
			t, _, _, err := s.Prog.LookupType(name)
			return t, err
		},
	}
}

// nearSymbols suggests symbol names (vmlinux and module) close to an
// unknown one, for "did you mean".
func (s *Session) nearSymbols(name string) []string {
	var names []string
	if s.Prog != nil && s.Prog.Syms != nil {
		for _, sym := range s.Prog.Syms.Symbols() {
			names = append(names, sym.Name)
		}
	}
	if s.Prog != nil {
		for _, a := range s.Modules().Modules {
			if a.Syms == nil {
				continue
			}
			for _, sym := range a.Syms.Symbols() {
				names = append(names, sym.Name)
			}
		}
	}
	return nearest(name, names, 3)
}

// exprAddr evaluates an address argument that is neither a number nor a
// symbol(+offset): `rd init_task.stack`, `struct module
// ((struct module *)0xc…)`, `rd &klp_stub_bug:.stubs+0xc8`.
func (s *Session) exprAddr(arg string) (uint64, error) {
	env := s.exprEnv()
	v, err := env.Eval(arg)
	if err != nil {
		var ue *cexpr.UnknownError
		if errors.As(err, &ue) && ue.Name == strings.TrimSpace(arg) {
			if len(ue.Near) > 0 {
				return 0, fmt.Errorf("%s: no such symbol, and not an address; did you mean %s?", arg, strings.Join(ue.Near, " or "))
			}
			return 0, fmt.Errorf("%s: no such symbol, and not an address", arg)
		}
		return 0, err
	}
	return env.Address(v)
}

func cmdPrint(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return &UsageError{Cmd: "p", Msg: "want an expression"}
	}
	expr := strings.Join(pos, " ")
	env := c.S.exprEnv()
	v, err := env.Eval(expr)
	if err != nil {
		return fmt.Errorf("p: %w", err)
	}
	pr := c.S.newPrinterFormat(c.S.numFormat(fs))
	if boolFlag(fs, "json") {
		return c.JSON(PrintView{Expr: expr, Value: c.S.exprValueView(pr, env, v)})
	}
	text, err := c.S.formatValue(pr, env, v, trailingMember(expr))
	if err != nil {
		return fmt.Errorf("p: %s: %w", expr, err)
	}
	c.Printf("%s = %s\n", expr, text)
	return nil
}

// formatValue prints a value as gdb and crash do: an object in memory
// with the struct printer, a pointer as (TYPE) 0x… <symbol>, an integer
// in the radix asked (decimal by default), an enumeration by name.
func (s *Session) formatValue(pr *printer, env *cexpr.Env, v cexpr.Value, member string) (string, error) {
	if v.LValue && v.Type == nil {
		kind := "data"
		if v.Text {
			kind = "text"
		}
		loc := pr.symbolFor(v.Obj.Addr)
		return fmt.Sprintf("{<%s symbol, no type>} %#x <%s> (take its address: &%s, or cast that: *(long *)&%s)", kind, v.Obj.Addr, loc, v.Symbol, v.Symbol), nil
	}
	if v.LValue {
		return pr.memberValue(member, pr.rebase(v.Obj), 0, 0), nil
	}
	if v.Type == nil {
		return "", errors.New("no value")
	}
	switch env.KindOf(v) {
	case cexpr.KindVoid:
		return "void", nil
	case cexpr.KindPointer:
		out := fmt.Sprintf("(%s) %#x", declare("", v.Type), v.Bits)
		if v.Bits == 0 {
			return out, nil
		}
		if sym := pr.symbolFor(v.Bits); sym != "" {
			out += " <" + sym + ">"
		}
		return out, nil
	case cexpr.KindEnum:
		if name, ok := env.EnumName(v, v.Bits); ok && !pr.hex {
			return name, nil
		}
	case cexpr.KindBool:
		if !pr.hex {
			return strconv.FormatBool(v.Bits != 0), nil
		}
	}
	size := env.SizeOf(v.Type)
	if pr.hex {
		return fmt.Sprintf("%#x", truncBits(v.Bits, size)), nil
	}
	if env.Signed(v) {
		out := strconv.FormatInt(int64(v.Bits), 10)
		if env.IsChar(v) && v.Bits < 0x80 {
			out += " " + strconv.QuoteRune(rune(v.Bits))
		}
		return out, nil
	}
	return strconv.FormatUint(truncBits(v.Bits, size), 10), nil
}

var trailingMemberRe = regexp.MustCompile(`(?:\.|->)\s*([A-Za-z_][A-Za-z0-9_]*)\s*$`)

// trailingMember is the member an expression ends in ("magic" of
// "...[5].magic"), which decides hexadecimal for words (wordLike).
func trailingMember(expr string) string {
	if m := trailingMemberRe.FindStringSubmatch(expr); m != nil {
		return m[1]
	}
	return ""
}

func truncBits(v uint64, size int64) uint64 {
	if size > 0 && size < 8 {
		return v & (1<<(8*uint(size)) - 1)
	}
	return v
}

// cmdEval is crash's eval: the value of an expression in hexadecimal,
// decimal, octal and binary.
func cmdEval(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return &UsageError{Cmd: "eval", Msg: "want an expression"}
	}
	env := c.S.exprEnv()
	v, err := env.Eval(strings.Join(pos, " "))
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	n, err := env.Int(v)
	if err != nil {
		// An object in memory stands for its address (crash's eval of a
		// symbol).
		a, aerr := env.Address(v)
		if aerr != nil {
			return fmt.Errorf("eval: %w", err)
		}
		n = a
	}
	size := env.SizeOf(v.Type)
	if size <= 0 || size > 8 || v.LValue {
		size = 8
	}
	n = truncBits(n, size)
	if boolFlag(fs, "json") {
		return c.JSON(evalView(strings.Join(pos, " "), n, env.Signed(v) && int64(extendSigned(n, size)) < 0, size))
	}
	for _, l := range evalLines(n, env.Signed(v) && int64(extendSigned(n, size)) < 0, size) {
		c.Printf("%s\n", l)
	}
	return nil
}

func extendSigned(v uint64, size int64) uint64 {
	if size >= 8 {
		return v
	}
	if v&(1<<(8*uint(size)-1)) != 0 {
		v |= ^uint64(0) << (8 * uint(size))
	}
	return v
}

// evalLines formats n as crash's eval does.
func evalLines(n uint64, negative bool, size int64) []string {
	hex := fmt.Sprintf("hexadecimal: %x", n)
	if unit := sizeUnit(n); unit != "" {
		hex += "  (" + unit + ")"
	}
	dec := strconv.FormatUint(n, 10)
	if negative {
		dec += fmt.Sprintf("  (%d)", int64(extendSigned(n, size)))
	}
	width := int(size * 8)
	bin := strconv.FormatUint(n, 2)
	if len(bin) < width {
		bin = strings.Repeat("0", width-len(bin)) + bin
	}
	return []string{hex, "    decimal: " + dec, "      octal: " + strconv.FormatUint(n, 8), "     binary: " + bin}
}

// sizeUnit names a power-of-two multiple of a KiB as crash does ("64KB").
func sizeUnit(n uint64) string {
	if n < 1024 || bits.OnesCount64(n) != 1 && n%1024 != 0 {
		return ""
	}
	for _, u := range []struct {
		shift uint
		name  string
	}{{60, "EB"}, {50, "PB"}, {40, "TB"}, {30, "GB"}, {20, "MB"}, {10, "KB"}} {
		if n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.name)
		}
	}
	return ""
}
