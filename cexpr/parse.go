// Package cexpr evaluates C expressions over a kernel's memory and types,
// as crash's `p` (gdb's print) and drgn's object arithmetic do: casts
// `(struct module *)0x…`, member access `.` and `->`, `[]`, unary `&` and
// `*`, the arithmetic, bitwise, shift, comparison and logical operators
// with C's precedence and conversions, `?:`, `sizeof`, vmlinux variables
// (typed by DWARF or BTF), symbols without types (`MODULE:NAME`, functions,
// sections such as `mod:.stubs`) and enumeration constants.
//
// It sits on package kernel (typed objects: kernel.Object) and is a model
// of C, not a view: the REPL formats what Eval returns. Values in memory
// stay lvalues until an operator needs their bits, so `sizeof`, `&` and
// the branch not taken of `&&`, `||` and `?:` read nothing; a read that
// faults is an error, never a zero.
//
// Layer: program (docs/ARCHITECTURE.md).
package cexpr

import (
	"fmt"
	"strconv"
	"strings"
)

// Limits on hostile input: an expression is typed by a person, but the
// parser is fuzzed and must not recurse without bound.
const (
	maxExprLen = 4096
	maxDepth   = 200
)

// SyntaxError is an expression that does not parse; Pos is the byte
// offset where parsing stopped.
type SyntaxError struct {
	Expr string
	Pos  int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s at column %d of %q", e.Msg, e.Pos+1, e.Expr)
}

type tokKind int

const (
	tEOF tokKind = iota
	tNum
	tIdent
	tChar
	tOp
)

type token struct {
	kind tokKind
	text string
	pos  int
}

// lex splits an expression into tokens. An identifier may carry a module
// prefix, "MODULE:NAME" or "MODULE:.section" (crash's and this tool's
// spelling of module symbols), when no blank surrounds the colon.
func lex(s string) ([]token, error) {
	var out []token
	i := 0
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (isIdent(s[j], false) || s[j] == '.') {
				j++
			}
			out = append(out, token{tNum, s[i:j], i})
			i = j
		case isIdent(c, true):
			j := i
			for j < len(s) && isIdent(s[j], false) {
				j++
			}
			// MODULE:NAME or MODULE:.section
			if j+1 < len(s) && s[j] == ':' && (isIdent(s[j+1], true) || s[j+1] == '.') {
				k := j + 1
				for k < len(s) && (isIdent(s[k], false) || s[k] == '.') {
					k++
				}
				j = k
			}
			out = append(out, token{tIdent, s[i:j], i})
			i = j
		case c == '\'':
			j := i + 1
			if j < len(s) && s[j] == '\\' {
				j++
			}
			if j+1 >= len(s) || s[j+1] != '\'' {
				return nil, &SyntaxError{Expr: s, Pos: i, Msg: "bad character constant"}
			}
			out = append(out, token{tChar, s[i : j+2], i})
			i = j + 2
		default:
			op := ""
			for _, o := range []string{"<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "->"} {
				if strings.HasPrefix(s[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				if !strings.ContainsRune("+-*/%&|^~!<>()[].?:,", rune(c)) {
					return nil, &SyntaxError{Expr: s, Pos: i, Msg: fmt.Sprintf("unexpected character %q", c)}
				}
				op = string(c)
			}
			out = append(out, token{tOp, op, i})
			i += len(op)
		}
	}
	return append(out, token{tEOF, "", len(s)}), nil
}

// node is one node of the expression tree.
type node interface{ pos() int }

type (
	numNode struct {
		p    int
		val  uint64
		kind intKind
	}
	identNode struct {
		p    int
		name string
	}
	unaryNode struct {
		p  int
		op string // - + ! ~ * &
		x  node
	}
	binaryNode struct {
		p    int
		op   string
		x, y node
	}
	condNode struct {
		p       int
		c, a, b node
	}
	castNode struct {
		p   int
		typ string // "struct module *"
		x   node
	}
	sizeofNode struct {
		p   int
		typ string // "" when x is set
		x   node
	}
	memberNode struct {
		p     int
		x     node
		name  string
		arrow bool
	}
	indexNode struct {
		p    int
		x, i node
	}
)

func (n *numNode) pos() int    { return n.p }
func (n *identNode) pos() int  { return n.p }
func (n *unaryNode) pos() int  { return n.p }
func (n *binaryNode) pos() int { return n.p }
func (n *condNode) pos() int   { return n.p }
func (n *castNode) pos() int   { return n.p }
func (n *sizeofNode) pos() int { return n.p }
func (n *memberNode) pos() int { return n.p }
func (n *indexNode) pos() int  { return n.p }

// parser is a recursive-descent parser of C's expression grammar (C11
// 6.5, without assignment, comma, calls and compound literals).
type parser struct {
	src    string
	toks   []token
	i      int
	depth  int
	isType func(name string) bool // a bare identifier that names a type
}

// typeKeywords start a type name in a cast or sizeof.
var typeKeywords = map[string]bool{
	"struct": true, "union": true, "enum": true, "unsigned": true, "signed": true,
	"char": true, "short": true, "int": true, "long": true, "void": true, "_Bool": true,
	"const": true, "volatile": true, "float": true, "double": true,
}

func parse(src string, isType func(string) bool) (node, error) {
	if len(src) > maxExprLen {
		return nil, &SyntaxError{Expr: src[:64] + "…", Pos: maxExprLen, Msg: fmt.Sprintf("expression longer than %d bytes", maxExprLen)}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks, isType: isType}
	if p.peek().kind == tEOF {
		return nil, &SyntaxError{Expr: src, Pos: 0, Msg: "empty expression"}
	}
	n, err := p.ternary()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errAt(t, fmt.Sprintf("unexpected %q", t.text))
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tOp && t.text == s
}

func (p *parser) expect(s string) error {
	if !p.isOp(s) {
		t := p.peek()
		found := t.text
		if t.kind == tEOF {
			found = "end of expression"
		}
		return p.errAt(t, fmt.Sprintf("expected %q, found %q", s, found))
	}
	p.next()
	return nil
}

func (p *parser) errAt(t token, msg string) error {
	return &SyntaxError{Expr: p.src, Pos: t.pos, Msg: msg}
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errAt(p.peek(), fmt.Sprintf("expression nested deeper than %d", maxDepth))
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) ternary() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	c, err := p.binary(0)
	if err != nil {
		return nil, err
	}
	if !p.isOp("?") {
		return c, nil
	}
	t := p.next()
	a, err := p.ternary()
	if err != nil {
		return nil, err
	}
	if err := p.expect(":"); err != nil {
		return nil, err
	}
	b, err := p.ternary()
	if err != nil {
		return nil, err
	}
	return &condNode{p: t.pos, c: c, a: a, b: b}, nil
}

// precedence levels of the binary operators, loosest first.
var binaryLevels = [][]string{
	{"||"}, {"&&"}, {"|"}, {"^"}, {"&"}, {"==", "!="}, {"<", "<=", ">", ">="},
	{"<<", ">>"}, {"+", "-"}, {"*", "/", "%"},
}

func (p *parser) binary(level int) (node, error) {
	if level == len(binaryLevels) {
		return p.unary()
	}
	x, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tOp || !contains(binaryLevels[level], t.text) {
			return x, nil
		}
		p.next()
		y, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		x = &binaryNode{p: t.pos, op: t.text, x: x, y: y}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) unary() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.peek()
	switch {
	case t.kind == tOp && strings.Contains("-+!~*&", t.text) && len(t.text) == 1:
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &unaryNode{p: t.pos, op: t.text, x: x}, nil
	case t.kind == tIdent && t.text == "sizeof":
		p.next()
		if p.isOp("(") {
			save := p.i
			p.next()
			if typ, ok, err := p.typeName(); err != nil {
				return nil, err
			} else if ok {
				if err := p.expect(")"); err != nil {
					return nil, err
				}
				return &sizeofNode{p: t.pos, typ: typ}, nil
			}
			p.i = save
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &sizeofNode{p: t.pos, x: x}, nil
	case t.kind == tOp && t.text == "(":
		save := p.i
		p.next()
		typ, ok, err := p.typeName()
		if err != nil {
			return nil, err
		}
		if ok {
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			x, err := p.unary()
			if err != nil {
				return nil, err
			}
			return &castNode{p: t.pos, typ: typ, x: x}, nil
		}
		p.i = save
	}
	return p.postfix()
}

// typeName parses a type name if one starts here: keywords ("struct
// module", "unsigned long", "const char") or an identifier that names a
// type and is not a variable, then `*`s and `[N]`s. It consumes nothing
// and returns ok false when no type name starts here.
func (p *parser) typeName() (string, bool, error) {
	start := p.i
	t := p.peek()
	if t.kind != tIdent {
		return "", false, nil
	}
	var words []string
	switch {
	case typeKeywords[t.text]:
		for p.peek().kind == tIdent && typeKeywords[p.peek().text] {
			w := p.next().text
			if w == "const" || w == "volatile" {
				continue
			}
			words = append(words, w)
			if w == "struct" || w == "union" || w == "enum" {
				tag := p.next()
				if tag.kind != tIdent {
					return "", false, p.errAt(tag, "expected a tag name after "+w)
				}
				words = append(words, tag.text)
				break
			}
		}
	case p.isType != nil && p.isType(t.text):
		// A lone identifier is a type only before `*`s or `)`: `(x)` with
		// x both a type and a variable stays an expression because isType
		// says no for variables.
		p.next()
		words = append(words, t.text)
		for p.peek().kind == tIdent && (p.peek().text == "const" || p.peek().text == "volatile") {
			p.next()
		}
	default:
		return "", false, nil
	}
	if len(words) == 0 {
		p.i = start
		return "", false, nil
	}
	name := strings.Join(words, " ")
	for p.isOp("*") {
		p.next()
		name += " *"
		for p.peek().kind == tIdent && (p.peek().text == "const" || p.peek().text == "volatile") {
			p.next()
		}
	}
	for p.isOp("[") {
		p.next()
		n := p.next()
		if n.kind != tNum {
			return "", false, p.errAt(n, "expected an array length")
		}
		if err := p.expect("]"); err != nil {
			return "", false, err
		}
		name += " [" + n.text + "]"
	}
	if !p.isOp(")") {
		p.i = start
		return "", false, nil
	}
	return name, true, nil
}

func (p *parser) postfix() (node, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case t.kind == tOp && (t.text == "." || t.text == "->"):
			p.next()
			m := p.next()
			if m.kind != tIdent {
				return nil, p.errAt(m, "expected a member name after "+t.text)
			}
			x = &memberNode{p: t.pos, x: x, name: m.text, arrow: t.text == "->"}
		case t.kind == tOp && t.text == "[":
			p.next()
			i, err := p.ternary()
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			x = &indexNode{p: t.pos, x: x, i: i}
		default:
			return x, nil
		}
	}
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tNum:
		v, k, err := parseNumber(t.text)
		if err != nil {
			return nil, p.errAt(t, err.Error())
		}
		return &numNode{p: t.pos, val: v, kind: k}, nil
	case tChar:
		v, err := parseChar(t.text)
		if err != nil {
			return nil, p.errAt(t, err.Error())
		}
		return &numNode{p: t.pos, val: v, kind: kInt}, nil
	case tIdent:
		if typeKeywords[t.text] {
			return nil, p.errAt(t, fmt.Sprintf("type name %q where a value was expected (a cast needs parentheses)", t.text))
		}
		return &identNode{p: t.pos, name: t.text}, nil
	case tOp:
		if t.text == "(" {
			x, err := p.ternary()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return x, nil
		}
		return nil, p.errAt(t, fmt.Sprintf("unexpected %q", t.text))
	}
	return nil, p.errAt(t, "unexpected end of expression")
}

// intKind is the type of an integer constant (C11 6.4.4.1).
type intKind int

const (
	kInt intKind = iota
	kUint
	kLong
	kUlong
)

// parseNumber reads a C integer constant: decimal, 0x hexadecimal, 0
// octal, with u/l suffixes; its type is the first of int, unsigned int
// (not for decimal), long, unsigned long that holds it. A constant with
// hexadecimal digits but no 0x (an address as crash prints them,
// "5f92a0") is read as hexadecimal.
func parseNumber(s string) (uint64, intKind, error) {
	body := strings.TrimRight(strings.ToLower(s), "ul")
	suffix := strings.ToLower(s[len(body):])
	unsignedSuffix := strings.Contains(suffix, "u")
	longSuffix := strings.Contains(suffix, "l")
	if strings.Count(suffix, "u") > 1 || strings.Count(suffix, "l") > 2 {
		return 0, 0, fmt.Errorf("bad suffix in %q", s)
	}
	var v uint64
	var err error
	decimal := false
	switch {
	case strings.HasPrefix(body, "0x"):
		v, err = strconv.ParseUint(body[2:], 16, 64)
	case strings.HasPrefix(body, "0b"):
		v, err = strconv.ParseUint(body[2:], 2, 64)
	case len(body) > 1 && body[0] == '0' && strings.Trim(body, "0123456789") == "":
		v, err = strconv.ParseUint(body[1:], 8, 64) // 08 is an error, as in C
	case strings.Trim(body, "0123456789") == "":
		v, err = strconv.ParseUint(body, 10, 64)
		decimal = true
	default:
		// Bare hexadecimal (crash's addresses); a suffix cannot be told
		// from digits here, so the whole token is the number.
		v, err = strconv.ParseUint(strings.ToLower(s), 16, 64)
		unsignedSuffix, longSuffix = false, false
	}
	if err != nil {
		return 0, 0, fmt.Errorf("bad number %q", s)
	}
	k := kInt
	switch {
	case unsignedSuffix && longSuffix:
		k = kUlong
	case unsignedSuffix:
		k = kUint
		if v > 0xffffffff {
			k = kUlong
		}
	case longSuffix:
		k = kLong
		if v > 1<<63-1 {
			k = kUlong
		}
	default:
		switch {
		case v <= 1<<31-1:
			k = kInt
		case v <= 0xffffffff && !decimal:
			k = kUint
		case v <= 1<<63-1:
			k = kLong
		default:
			k = kUlong
		}
	}
	return v, k, nil
}

func parseChar(s string) (uint64, error) {
	body := s[1 : len(s)-1]
	if len(body) == 1 {
		return uint64(body[0]), nil
	}
	if len(body) == 2 && body[0] == '\\' {
		if c, ok := map[byte]uint64{'n': '\n', 't': '\t', 'r': '\r', '0': 0, '\\': '\\', '\'': '\'', '"': '"'}[body[1]]; ok {
			return c, nil
		}
	}
	return 0, fmt.Errorf("bad character constant %s", s)
}
