package repl

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// maxArrayElems bounds the elements printed of one array (gdb's default
// `print elements` limit).
const maxArrayElems = 200

// maxDepth bounds nesting when printing values.
const maxDepth = 16

// pageCache is a Reader that keeps the pages it read: printing a struct
// reads every member separately.
type pageCache struct {
	mem   kernel.Reader
	pages map[uint64][]byte // nil slice: unreadable
	errs  map[uint64]error
}

const cachePage = 4096

func newPageCache(mem kernel.Reader) *pageCache {
	return &pageCache{mem: mem, pages: map[uint64][]byte{}, errs: map[uint64]error{}}
}

func (c *pageCache) page(a uint64) ([]byte, error) {
	if b, ok := c.pages[a]; ok {
		return b, nil
	}
	if err, ok := c.errs[a]; ok {
		return nil, err
	}
	if len(c.pages) > 4096 { // bound the cache (16 MiB)
		clear(c.pages)
	}
	b := make([]byte, cachePage)
	n, err := c.mem.ReadAt(b, a)
	if n < len(b) {
		if err == nil {
			err = fmt.Errorf("short read at %#x", a+uint64(n))
		}
		// Keep nothing partial: re-read exactly below.
		c.errs[a] = err
		return nil, err
	}
	c.pages[a] = b
	return b, nil
}

func (c *pageCache) ReadAt(p []byte, addr uint64) (int, error) {
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		base := a &^ (cachePage - 1)
		pg, err := c.page(base)
		if err != nil {
			// Fall back to a direct read: part of the page may be there.
			m, err := c.mem.ReadAt(p[n:], a)
			return n + m, err
		}
		n += copy(p[n:], pg[a-base:])
	}
	return n, nil
}

// printer formats typed values in crash's (gdb's) shape.
type printer struct {
	s   *Session
	hex bool // every integer in hexadecimal (-x, or set radix 16)
	// dec prints every integer in decimal (-d); without hex or dec,
	// arrays of unsigned words (instructions, u32 jump[7], GPRs, bytes)
	// print in hexadecimal and other integers (counts) in decimal.
	dec bool
	ctx *kernel.Context
}

func (s *Session) newPrinter(hex bool) *printer {
	ctx := *s.Prog.Context
	ctx.Mem = newPageCache(s.Prog.Context.Mem)
	return &printer{s: s, hex: hex, ctx: &ctx}
}

// numFormat is how a command asked integers printed: -x, -d, or neither
// (the session radix and the per-type defaults decide).
type numFormat struct{ hex, dec bool }

// numFormat reads -x and -d from a command's flags, with `set radix 16`
// as -x unless -d is given.
func (s *Session) numFormat(fs *flag.FlagSet) numFormat {
	dec := boolFlag(fs, "d")
	return numFormat{hex: boolFlag(fs, "x") || (s.radix == 16 && !dec), dec: dec}
}

func (s *Session) newPrinterFormat(f numFormat) *printer {
	pr := s.newPrinter(f.hex)
	pr.dec = f.dec && !f.hex
	return pr
}

// rebase makes o read through the printer's cache.
func (pr *printer) rebase(o kernel.Object) kernel.Object {
	o.Ctx = pr.ctx
	return o
}

func (pr *printer) symbolFor(addr uint64) string {
	if addr == 0 {
		return ""
	}
	loc := pr.s.resolve(addr)
	if loc.Symbol == nil && loc.Section == "" {
		return ""
	}
	// crash and gdb name an address at a symbol's start without +0x0.
	out := loc.String()
	if loc.Off == 0 && loc.Symbol != nil || loc.Symbol == nil && loc.SectionOff == 0 {
		out = strings.Replace(out, "+0x0", "", 1)
	}
	return out
}

// value formats o; indent is the current indentation (spaces).
func (pr *printer) value(o kernel.Object, indent, depth int) string {
	if depth > maxDepth {
		return "{...}"
	}
	t := symbols.Underlying(o.Type)
	if st, ok := t.(*ctype.StructType); ok && st.Incomplete {
		t = symbols.Underlying(pr.s.Prog.Types.Complete(st))
	}
	switch t := t.(type) {
	case *ctype.StructType:
		fields, err := o.Fields()
		if err != nil {
			return unreadable(err)
		}
		var b strings.Builder
		b.WriteString("{\n")
		for i, f := range fields {
			b.WriteString(strings.Repeat(" ", indent+2))
			if f.Name != "" {
				b.WriteString(f.Name + " = ")
			}
			b.WriteString(pr.memberValue(f.Name, f.Object, indent+2, depth+1))
			if i < len(fields)-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString(strings.Repeat(" ", indent) + "}")
		return b.String()
	case *ctype.ArrayType:
		return pr.array(o, t, indent, depth)
	case *ctype.PtrType:
		v, err := o.Uint()
		if err != nil {
			return unreadable(err)
		}
		if v == 0 {
			return "0x0"
		}
		if sym := pr.symbolFor(v); sym != "" {
			return fmt.Sprintf("%#x <%s>", v, sym)
		}
		return fmt.Sprintf("%#x", v)
	case *ctype.EnumType:
		v, err := o.Int()
		if err != nil {
			return unreadable(err)
		}
		for _, e := range t.Val {
			if e.Val == v {
				return e.Name
			}
		}
		return strconv.FormatInt(v, 10)
	case *ctype.BoolType:
		v, err := o.Uint()
		if err != nil {
			return unreadable(err)
		}
		if v == 0 {
			return "false"
		}
		if v == 1 {
			return "true"
		}
		return fmt.Sprintf("%d", v)
	case *ctype.FuncType:
		return fmt.Sprintf("{%s} %#x", symbols.TypeString(t), o.Addr)
	case *ctype.FloatType:
		b, err := o.Bytes()
		if err != nil {
			return unreadable(err)
		}
		return fmt.Sprintf("<float %x>", b)
	case *ctype.VoidType:
		return "void"
	}
	return pr.scalar(o)
}

// scalar prints an integer in the session radix (hex with -x).
func (pr *printer) scalar(o kernel.Object) string {
	signed := false
	switch symbols.Underlying(o.Type).(type) {
	case *ctype.IntType, *ctype.CharType:
		signed = true
	}
	if pr.hex {
		v, err := o.Uint()
		if err != nil {
			return unreadable(err)
		}
		if sz := o.Size(); o.BitSize == 0 && sz > 0 && sz < 8 {
			v &= 1<<(8*uint(sz)) - 1
		}
		return fmt.Sprintf("%#x", v)
	}
	if signed {
		v, err := o.Int()
		if err != nil {
			return unreadable(err)
		}
		return strconv.FormatInt(v, 10)
	}
	v, err := o.Uint()
	if err != nil {
		return unreadable(err)
	}
	return strconv.FormatUint(v, 10)
}

func isCharType(t ctype.Type) bool {
	switch u := symbols.Underlying(t).(type) {
	case *ctype.CharType, *ctype.UcharType:
		return true
	case *ctype.IntType:
		return u.ByteSize == 1 && (u.Name == "char" || u.Name == "signed char")
	case *ctype.UintType:
		return u.ByteSize == 1 && u.Name == "unsigned char" && false
	}
	return false
}

func (pr *printer) array(o kernel.Object, t *ctype.ArrayType, indent, depth int) string {
	n := t.Count
	if n < 0 {
		n = 0
	}
	if isCharType(t.Type) && n > 0 {
		b, err := o.Bytes()
		if err != nil {
			return unreadable(err)
		}
		return quoteC(b)
	}
	shown := n
	if shown > maxArrayElems {
		shown = maxArrayElems
	}
	var parts []string
	composite := false
	switch symbols.Underlying(t.Type).(type) {
	case *ctype.StructType, *ctype.ArrayType:
		composite = true
	}
	// Words (u32 insn[4], jump[7], unsigned long gpr[32], u8 bytes) read
	// best in hexadecimal, as crash users expect of instructions and
	// addresses; -d keeps them decimal.
	elems := pr
	if _, ok := symbols.Underlying(t.Type).(*ctype.UintType); ok && !pr.dec && !pr.hex {
		h := *pr
		h.hex = true
		elems = &h
	}
	for i := int64(0); i < shown; i++ {
		e, err := o.Index(i)
		if err != nil {
			parts = append(parts, unreadable(err))
			break
		}
		parts = append(parts, elems.value(e, indent+2, depth+1))
	}
	if shown < n {
		parts = append(parts, "...")
	}
	if composite {
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// quoteC prints bytes as a C string up to the last non-NUL byte, crash
// style ("name\000\000" shortened to the text when the rest is NUL).
func quoteC(b []byte) string {
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	var sb strings.Builder
	sb.WriteByte('"')
	for _, c := range b[:end] {
		switch {
		case c == '"' || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c == '\n':
			sb.WriteString(`\n`)
		case c >= 0x20 && c < 0x7f:
			sb.WriteByte(c)
		default:
			fmt.Fprintf(&sb, `\%03o`, c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

func unreadable(err error) string {
	return fmt.Sprintf("<unreadable: %v>", err)
}

// declare writes a C declaration of name with type t ("char name[56]",
// "void (*fn)(void)", "struct list_head *next").
func declare(name string, t ctype.Type) string {
	switch x := t.(type) {
	case *ctype.ArrayType:
		n := ""
		if x.Count >= 0 {
			n = strconv.FormatInt(x.Count, 10)
		}
		return declare(name+"["+n+"]", x.Type)
	case *ctype.PtrType:
		if x.Type == nil {
			return joinDecl("void", "*"+name)
		}
		if f, ok := x.Type.(*ctype.FuncType); ok {
			return declareFunc("(*"+name+")", f)
		}
		if _, ok := x.Type.(*ctype.ArrayType); ok {
			return declare("(*"+name+")", x.Type)
		}
		return declare("*"+name, x.Type)
	case *ctype.FuncType:
		return declareFunc(name, x)
	case *ctype.QualType:
		return x.Qual + " " + declare(name, x.Type)
	case nil:
		return joinDecl("void", name)
	}
	return joinDecl(typeName(t), name)
}

func declareFunc(name string, f *ctype.FuncType) string {
	var ps []string
	for _, p := range f.ParamType {
		ps = append(ps, declare("", p))
	}
	if len(ps) == 0 {
		ps = []string{"void"}
	}
	ret := "void"
	if f.ReturnType != nil {
		ret = declare("", f.ReturnType)
	}
	return ret + " " + name + "(" + strings.Join(ps, ", ") + ")"
}

func joinDecl(t, name string) string {
	if name == "" {
		return t
	}
	return t + " " + name
}

// typeName is a type's C name; an anonymous struct prints as "struct {...}".
func typeName(t ctype.Type) string {
	switch x := t.(type) {
	case *ctype.StructType:
		if x.StructName == "" {
			return x.Kind + " {...}"
		}
		return x.Kind + " " + x.StructName
	case *ctype.EnumType:
		if x.EnumName == "" {
			return "enum {...}"
		}
		return "enum " + x.EnumName
	case *ctype.TypedefType:
		return x.Name
	}
	return t.String()
}

// memberValue prints a member: an unsigned member that holds an address,
// flags or an instruction (by its name and width, wordLike) in
// hexadecimal unless -d asked decimal; anything else as value does.
func (pr *printer) memberValue(name string, o kernel.Object, indent, depth int) string {
	if pr.hex || pr.dec || o.BitSize > 0 {
		return pr.value(o, indent, depth)
	}
	if _, ok := symbols.Underlying(o.Type).(*ctype.UintType); ok && wordLike(name, o.Size()) {
		h := *pr
		h.hex = true
		return h.value(o, indent, depth)
	}
	return pr.value(o, indent, depth)
}

// Name parts of unsigned members that hold words rather than counts.
var (
	wordNames  = []string{"flag", "mask", "magic", "insn", "inst", "addr", "tramp", "phys", "cookie", "canary", "crc", "hash"}
	wordSuffix = []string{"ip", "pc", "lr", "ctr", "sp", "ksp", "nip", "msr", "xer", "ccr", "trap", "dar", "dsisr", "base", "start", "end", "entry", "func", "pgd", "word"}
)

// wordLike says an unsigned member is a word (an address, flags, an
// instruction, a magic) by its name: it contains flag, mask, magic, insn,
// addr..., or it is or ends in _ip, _pc, _sp, _base, _start, _end ...
// Counts, sizes and times keep decimal.
func wordLike(name string, size int64) bool {
	n := strings.ToLower(name)
	for _, w := range wordNames {
		if strings.Contains(n, w) {
			return true
		}
	}
	for _, w := range wordSuffix {
		if n == w || strings.HasSuffix(n, "_"+w) {
			return size >= 4
		}
	}
	return false
}
