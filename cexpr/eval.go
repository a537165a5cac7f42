package cexpr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// Env says what names mean. Types and enumeration constants come from
// Ctx.Types; Variable and Symbol are the program's (kernel.Program's
// Variable, the module-aware symbol resolver).
type Env struct {
	Ctx *kernel.Context
	// Variable returns a typed global variable, or an error when the name
	// is none (or has no type).
	Variable func(name string) (kernel.Object, error)
	// Symbol returns the address of a symbol known without a type: a
	// function, a module's symbol ("MODULE:NAME"), a section
	// ("MODULE:.stubs"). Text says it is code.
	Symbol func(name string) (addr uint64, text bool, ok bool)
	// Suggest, when set, returns names near an unknown one.
	Suggest func(name string) []string
	// LookupType, when set, resolves a type name Ctx.Types lacks (a
	// loaded module's own types, from its BTF in memory).
	LookupType func(name string) (ctype.Type, error)
}

// Value is the result of an expression: an lvalue (an object in memory,
// read only when an operator needs its value) or an rvalue (an integer or
// pointer held in Bits, extended to 64 bits by its type's signedness).
type Value struct {
	Type   ctype.Type // nil for a symbol without a type
	LValue bool
	Obj    kernel.Object // for an lvalue: where it lives
	Bits   uint64        // for an rvalue
	// Symbol names a symbol without a type: as an lvalue (Type nil) it
	// sits at Obj.Addr; as an rvalue it is the pointer &Symbol.
	Symbol string
	Text   bool // the symbol is code
}

// UnknownError is a name that is no variable, enumeration constant or
// symbol; Near lists the names closest to it (did you mean).
type UnknownError struct {
	Name string
	Near []string
}

func (e *UnknownError) Error() string {
	if len(e.Near) > 0 {
		return fmt.Sprintf("no symbol %q in vmlinux, its types or the modules; did you mean %s?", e.Name, strings.Join(e.Near, " or "))
	}
	return fmt.Sprintf("no symbol %q in vmlinux, its types or the modules", e.Name)
}

// EvalError is an operation the operands do not allow.
type EvalError struct {
	Expr string
	Pos  int
	Msg  string
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("%s (at column %d of %q)", e.Msg, e.Pos+1, e.Expr)
}

// Eval parses and evaluates expr.
func (env *Env) Eval(expr string) (Value, error) {
	n, err := parse(expr, env.isTypeName)
	if err != nil {
		return Value{}, err
	}
	ev := &evaluator{env: env, src: expr}
	return ev.eval(n)
}

// IsType reports whether s is a type name ("struct module *", "u64")
// rather than an expression, for sizeof and whatis-like callers.
func (env *Env) IsType(s string) bool {
	_, err := env.lookupType(strings.TrimSpace(s))
	return err == nil
}

// isTypeName says a bare identifier names a type and no variable.
func (env *Env) isTypeName(name string) bool {
	if env.Variable != nil {
		if _, err := env.Variable(name); err == nil {
			return false
		}
	}
	if env.Ctx == nil || env.Ctx.Types == nil {
		return false
	}
	if _, err := env.Ctx.Types.EnumConstant(name); err == nil {
		return false
	}
	_, err := env.Ctx.Types.Lookup(name)
	return err == nil
}

type evaluator struct {
	env   *Env
	src   string
	depth int
}

func (ev *evaluator) errf(n node, format string, args ...any) error {
	return &EvalError{Expr: ev.src, Pos: n.pos(), Msg: fmt.Sprintf(format, args...)}
}

func (ev *evaluator) eval(n node) (Value, error) {
	ev.depth++
	defer func() { ev.depth-- }()
	if ev.depth > maxDepth {
		return Value{}, ev.errf(n, "expression nested deeper than %d", maxDepth)
	}
	switch n := n.(type) {
	case *numNode:
		return rvalue(constType(n.kind), n.val), nil
	case *identNode:
		return ev.ident(n)
	case *unaryNode:
		return ev.unary(n)
	case *binaryNode:
		return ev.binary(n)
	case *condNode:
		c, err := ev.eval(n.c)
		if err != nil {
			return Value{}, err
		}
		t, err := ev.truth(n.c, c)
		if err != nil {
			return Value{}, err
		}
		if t {
			return ev.eval(n.a)
		}
		return ev.eval(n.b)
	case *castNode:
		return ev.cast(n)
	case *sizeofNode:
		return ev.sizeof(n)
	case *memberNode:
		return ev.member(n)
	case *indexNode:
		return ev.index(n)
	}
	return Value{}, fmt.Errorf("cexpr: unknown node %T", n)
}

func (ev *evaluator) ident(n *identNode) (Value, error) {
	env := ev.env
	if env.Variable != nil {
		if o, err := env.Variable(n.name); err == nil {
			return Value{Type: o.Type, LValue: true, Obj: o.Named(n.name)}, nil
		}
	}
	if env.Ctx != nil && env.Ctx.Types != nil {
		if v, err := env.Ctx.Types.EnumConstant(n.name); err == nil {
			t := intType(4, true)
			if v != int64(int32(v)) {
				t = intType(8, true)
			}
			return rvalue(t, uint64(v)), nil
		}
	}
	if env.Symbol != nil {
		if a, text, ok := env.Symbol(n.name); ok {
			return Value{LValue: true, Obj: kernel.Object{Ctx: env.Ctx, Addr: a}, Symbol: n.name, Text: text}, nil
		}
	}
	// An address as crash prints them: hexadecimal without 0x.
	if len(n.name) >= 8 && len(n.name) <= 16 && strings.Trim(strings.ToLower(n.name), "0123456789abcdef") == "" {
		v, _ := strconv.ParseUint(n.name, 16, 64)
		return rvalue(intType(8, false), v), nil
	}
	e := &UnknownError{Name: n.name}
	if env.Suggest != nil {
		e.Near = env.Suggest(n.name)
	}
	return Value{}, e
}

// load turns a value into an rvalue: arrays and functions decay to
// pointers, scalars are read, a struct stays an lvalue (no operator takes
// one), a symbol without a type is an error.
func (ev *evaluator) load(n node, v Value) (Value, error) {
	if !v.LValue {
		return v, nil
	}
	if v.Type == nil {
		return Value{}, ev.errf(n, "%s has no type (no debug info): take its address with &%s, or cast that: *(long *)&%s", v.Symbol, v.Symbol, v.Symbol)
	}
	u := ev.under(v.Type)
	switch u := u.(type) {
	case *ctype.ArrayType:
		return rvalue(ev.ptrTo(u.Type), v.Obj.Addr), nil
	case *ctype.FuncType:
		return rvalue(ev.ptrTo(v.Type), v.Obj.Addr), nil
	case *ctype.StructType:
		return v, nil
	case *ctype.VoidType:
		return Value{}, ev.errf(n, "a void object has no value")
	case *ctype.FloatType:
		return Value{}, ev.errf(n, "floating point is not supported")
	}
	if isSigned(u) {
		x, err := v.Obj.Int()
		if err != nil {
			return Value{}, err
		}
		return rvalue(v.Type, uint64(x)), nil
	}
	x, err := v.Obj.Uint()
	if err != nil {
		return Value{}, err
	}
	return rvalue(v.Type, x), nil
}

// scalar loads a value and checks it is an integer, enum, bool or pointer.
func (ev *evaluator) scalar(n node, v Value) (Value, error) {
	r, err := ev.load(n, v)
	if err != nil {
		return Value{}, err
	}
	if r.LValue || !isScalar(ev.under(r.Type)) {
		return Value{}, ev.errf(n, "%s is not a number or pointer", typeName(r.Type))
	}
	return r, nil
}

func (ev *evaluator) truth(n node, v Value) (bool, error) {
	r, err := ev.scalar(n, v)
	if err != nil {
		return false, err
	}
	return r.Bits != 0, nil
}

func (ev *evaluator) unary(n *unaryNode) (Value, error) {
	x, err := ev.eval(n.x)
	if err != nil {
		return Value{}, err
	}
	switch n.op {
	case "&":
		if !x.LValue {
			return Value{}, ev.errf(n, "& of a value that is not in memory")
		}
		if x.Type == nil {
			return Value{Type: ev.ptrTo(&ctype.VoidType{}), Bits: x.Obj.Addr, Symbol: x.Symbol, Text: x.Text}, nil
		}
		if x.Obj.BitSize > 0 {
			return Value{}, ev.errf(n, "cannot take the address of a bitfield")
		}
		return rvalue(ev.ptrTo(x.Type), x.Obj.Addr), nil
	case "*":
		r, err := ev.load(n.x, x)
		if err != nil {
			return Value{}, err
		}
		pt, ok := ev.under(r.Type).(*ctype.PtrType)
		if r.LValue || !ok {
			return Value{}, ev.errf(n, "* of %s, which is not a pointer (cast it: *(TYPE *)ADDR)", typeName(r.Type))
		}
		if isVoid(pt.Type) {
			return Value{}, ev.errf(n, "* of a void pointer (cast it: *(TYPE *)ADDR)")
		}
		return ev.lvalueAt(pt.Type, r.Bits, "*("+exprText(ev.src, n.x)+")"), nil
	}
	r, err := ev.scalar(n.x, x)
	if err != nil {
		return Value{}, err
	}
	if n.op == "!" {
		return boolValue(r.Bits == 0), nil
	}
	if _, ok := ev.under(r.Type).(*ctype.PtrType); ok {
		return Value{}, ev.errf(n, "%s of a pointer", n.op)
	}
	t, size, signed := promote(ev.under(r.Type))
	switch n.op {
	case "-":
		return rvalue(t, extend(-r.Bits, size, signed)), nil
	case "+":
		return rvalue(t, extend(r.Bits, size, signed)), nil
	case "~":
		return rvalue(t, extend(^r.Bits, size, signed)), nil
	}
	return Value{}, ev.errf(n, "unknown operator %s", n.op)
}

func (ev *evaluator) binary(n *binaryNode) (Value, error) {
	x, err := ev.eval(n.x)
	if err != nil {
		return Value{}, err
	}
	if n.op == "&&" || n.op == "||" {
		a, err := ev.truth(n.x, x)
		if err != nil {
			return Value{}, err
		}
		if n.op == "&&" && !a || n.op == "||" && a {
			return boolValue(a), nil
		}
		y, err := ev.eval(n.y)
		if err != nil {
			return Value{}, err
		}
		b, err := ev.truth(n.y, y)
		if err != nil {
			return Value{}, err
		}
		return boolValue(b), nil
	}
	y, err := ev.eval(n.y)
	if err != nil {
		return Value{}, err
	}
	if x, err = ev.scalar(n.x, x); err != nil {
		return Value{}, err
	}
	if y, err = ev.scalar(n.y, y); err != nil {
		return Value{}, err
	}
	xp, xPtr := ev.under(x.Type).(*ctype.PtrType)
	yp, yPtr := ev.under(y.Type).(*ctype.PtrType)
	switch {
	case n.op == "+" && xPtr && !yPtr:
		return ev.ptrAdd(n, x, xp, y, 1)
	case n.op == "+" && yPtr && !xPtr:
		return ev.ptrAdd(n, y, yp, x, 1)
	case n.op == "-" && xPtr && !yPtr:
		return ev.ptrAdd(n, x, xp, y, -1)
	case n.op == "-" && xPtr && yPtr:
		es, err := ev.elemSize(n, xp.Type)
		if err != nil {
			return Value{}, err
		}
		return rvalue(intType(8, true), uint64((int64(x.Bits)-int64(y.Bits))/es)), nil
	}
	// Pointers in other operators act as unsigned long (p/x &x & ~0xfff).
	t, size, signed := arith(ev.under(x.Type), ev.under(y.Type))
	a, b := x.Bits, y.Bits
	if xPtr || yPtr {
		t, size, signed = intType(8, false), 8, false
	}
	switch n.op {
	case "==", "!=", "<", "<=", ">", ">=":
		return boolValue(compare(n.op, extend(a, size, signed), extend(b, size, signed), signed)), nil
	case "<<", ">>":
		lt, lsize, lsigned := promote(ev.under(x.Type))
		if xPtr {
			lt, lsize, lsigned = intType(8, false), 8, false
		}
		if isSigned(ev.under(y.Type)) && int64(b) < 0 {
			return Value{}, ev.errf(n, "negative shift count %d", int64(b))
		}
		if b >= uint64(lsize*8) {
			return Value{}, ev.errf(n, "shift count %d is not below the width %d", b, lsize*8)
		}
		if n.op == "<<" {
			return rvalue(lt, extend(a<<b, lsize, lsigned)), nil
		}
		if lsigned {
			return rvalue(lt, extend(uint64(int64(a)>>b), lsize, lsigned)), nil
		}
		return rvalue(lt, extend(truncate(a, lsize)>>b, lsize, lsigned)), nil
	}
	a, b = extend(a, size, signed), extend(b, size, signed)
	var r uint64
	switch n.op {
	case "+":
		r = a + b
	case "-":
		r = a - b
	case "*":
		r = a * b
	case "/", "%":
		if truncate(b, size) == 0 {
			return Value{}, ev.errf(n, "division by zero")
		}
		switch {
		case signed && n.op == "/":
			r = uint64(int64(a) / int64(b))
		case signed:
			r = uint64(int64(a) % int64(b))
		case n.op == "/":
			r = truncate(a, size) / truncate(b, size)
		default:
			r = truncate(a, size) % truncate(b, size)
		}
	case "&":
		r = a & b
	case "|":
		r = a | b
	case "^":
		r = a ^ b
	default:
		return Value{}, ev.errf(n, "unknown operator %s", n.op)
	}
	return rvalue(t, extend(r, size, signed)), nil
}

func compare(op string, a, b uint64, signed bool) bool {
	var lt, eq bool
	eq = a == b
	if signed {
		lt = int64(a) < int64(b)
	} else {
		lt = a < b
	}
	switch op {
	case "==":
		return eq
	case "!=":
		return !eq
	case "<":
		return lt
	case "<=":
		return lt || eq
	case ">":
		return !lt && !eq
	}
	return !lt // ">="
}

// ptrAdd is p + sign*i, scaled by the size of what p points to (1 for
// void *, as GCC does).
func (ev *evaluator) ptrAdd(n node, p Value, pt *ctype.PtrType, i Value, sign int64) (Value, error) {
	es := int64(1)
	if !isVoid(pt.Type) {
		var err error
		if es, err = ev.elemSize(n, pt.Type); err != nil {
			return Value{}, err
		}
	}
	off := int64(i.Bits)
	if !isSigned(ev.under(i.Type)) && ev.sizeOf(i.Type) < 8 {
		off = int64(truncate(i.Bits, ev.sizeOf(i.Type)))
	}
	r := p
	r.Bits = p.Bits + uint64(sign*off*es)
	r.Symbol = "" // the pointer no longer names the symbol itself
	return r, nil
}

func (ev *evaluator) elemSize(n node, t ctype.Type) (int64, error) {
	s := ev.sizeOf(t)
	if s <= 0 {
		return 0, ev.errf(n, "pointer arithmetic on %s, which has no size", typeName(t))
	}
	return s, nil
}

func (ev *evaluator) cast(n *castNode) (Value, error) {
	t, err := ev.env.lookupType(n.typ)
	if err != nil {
		return Value{}, ev.errf(n, "%v", err)
	}
	x, err := ev.eval(n.x)
	if err != nil {
		return Value{}, err
	}
	u := ev.under(t)
	switch u.(type) {
	case *ctype.StructType, *ctype.ArrayType:
		// gdb's {TYPE} ADDR: the same memory seen as another type.
		if !x.LValue {
			return Value{}, ev.errf(n, "cast of a value that is not in memory to %s (cast to a pointer and dereference: *(%s *)ADDR)", n.typ, n.typ)
		}
		o := x.Obj
		o.Type = t
		return Value{Type: t, LValue: true, Obj: o.Named("(" + n.typ + ")" + exprText(ev.src, n.x))}, nil
	case *ctype.VoidType:
		return Value{Type: t}, nil
	}
	if !isScalar(u) {
		return Value{}, ev.errf(n, "cast to %s is not supported", n.typ)
	}
	r, err := ev.scalar(n.x, x)
	if err != nil {
		return Value{}, err
	}
	if _, ok := u.(*ctype.BoolType); ok {
		return rvalue(t, boolBits(r.Bits != 0)), nil
	}
	size := ev.sizeOf(t)
	if size <= 0 || size > 8 {
		size = 8
	}
	return rvalue(t, extend(r.Bits, size, isSigned(u))), nil
}

func (ev *evaluator) sizeof(n *sizeofNode) (Value, error) {
	var t ctype.Type
	if n.typ != "" {
		var err error
		if t, err = ev.env.lookupType(n.typ); err != nil {
			return Value{}, ev.errf(n, "%v", err)
		}
	} else {
		x, err := ev.eval(n.x)
		if err != nil {
			return Value{}, err
		}
		if x.Type == nil {
			return Value{}, ev.errf(n, "sizeof %s, which has no type (no debug info)", x.Symbol)
		}
		if x.LValue && x.Obj.BitSize > 0 {
			return Value{}, ev.errf(n, "sizeof a bitfield")
		}
		t = x.Type
	}
	s := ev.sizeOf(t)
	if s < 0 {
		return Value{}, ev.errf(n, "sizeof %s: incomplete type", typeName(t))
	}
	return rvalue(intType(8, false), uint64(s)), nil
}

func (ev *evaluator) member(n *memberNode) (Value, error) {
	x, err := ev.eval(n.x)
	if err != nil {
		return Value{}, err
	}
	if x.Type == nil {
		return Value{}, ev.errf(n, "%s has no type (no debug info): cast its address, ((struct T *)&%s)->%s", x.Symbol, x.Symbol, n.name)
	}
	var o kernel.Object
	switch {
	case x.LValue:
		o = x.Obj
	default:
		pt, ok := ev.under(x.Type).(*ctype.PtrType)
		if !ok {
			return Value{}, ev.errf(n, "%s%s of %s, which is neither a struct nor a pointer to one", map[bool]string{true: "->", false: "."}[n.arrow], n.name, typeName(x.Type))
		}
		o = ev.lvalueAt(pt.Type, x.Bits, "("+exprText(ev.src, n.x)+")").Obj
	}
	// `.` through a pointer and `->` on a struct are both taken (drgn and
	// crash users write either); kernel.Object.Member dereferences.
	m, err := o.Member(n.name)
	if err != nil {
		return Value{}, err
	}
	return Value{Type: m.Type, LValue: true, Obj: m}, nil
}

func (ev *evaluator) index(n *indexNode) (Value, error) {
	x, err := ev.eval(n.x)
	if err != nil {
		return Value{}, err
	}
	iv, err := ev.eval(n.i)
	if err != nil {
		return Value{}, err
	}
	if iv, err = ev.scalar(n.i, iv); err != nil {
		return Value{}, err
	}
	i := int64(iv.Bits)
	if x.LValue && x.Type != nil {
		if _, ok := ev.under(x.Type).(*ctype.ArrayType); ok {
			e, err := x.Obj.Index(i)
			if err != nil {
				return Value{}, err
			}
			return Value{Type: e.Type, LValue: true, Obj: e}, nil
		}
	}
	p, err := ev.load(n.x, x)
	if err != nil {
		return Value{}, err
	}
	pt, ok := ev.under(p.Type).(*ctype.PtrType)
	if p.LValue || !ok {
		return Value{}, ev.errf(n, "[] of %s, which is neither an array nor a pointer", typeName(p.Type))
	}
	if isVoid(pt.Type) {
		return Value{}, ev.errf(n, "[] of a void pointer")
	}
	es, err := ev.elemSize(n, pt.Type)
	if err != nil {
		return Value{}, err
	}
	return ev.lvalueAt(pt.Type, p.Bits+uint64(i*es), fmt.Sprintf("(%s)[%d]", exprText(ev.src, n.x), i)), nil
}

func (ev *evaluator) lvalueAt(t ctype.Type, addr uint64, name string) Value {
	o := kernel.Object{Ctx: ev.env.Ctx, Type: t, Addr: addr}.Named(name)
	return Value{Type: t, LValue: true, Obj: o}
}

// exprText is the source of a node for messages (from its position on).
func exprText(src string, n node) string {
	s := src[n.pos():]
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return strings.TrimSpace(s)
}

// lookupType resolves a type name as written in a cast.
func (env *Env) lookupType(name string) (ctype.Type, error) {
	base := strings.TrimSpace(name)
	ptrs := 0
	for strings.HasSuffix(base, "*") {
		ptrs++
		base = strings.TrimSpace(base[:len(base)-1])
	}
	var t ctype.Type
	if base == "void" {
		t = &ctype.VoidType{}
	} else {
		if env.Ctx == nil || env.Ctx.Types == nil {
			return nil, errors.New("no types")
		}
		var err error
		if t, err = env.Ctx.Types.Lookup(base); err != nil {
			if env.LookupType == nil {
				return nil, err
			}
			if t, err = env.LookupType(base); err != nil {
				return nil, err
			}
		}
	}
	for range ptrs {
		t = &ctype.PtrType{CommonType: ctype.CommonType{ByteSize: env.ptrSize()}, Type: t}
	}
	return t, nil
}

func (env *Env) ptrSize() int64 {
	if env.Ctx != nil && env.Ctx.PtrSize > 0 {
		return env.Ctx.PtrSize
	}
	return 8
}

func (ev *evaluator) ptrTo(t ctype.Type) ctype.Type {
	return &ctype.PtrType{CommonType: ctype.CommonType{ByteSize: ev.env.ptrSize()}, Type: t}
}

// under strips typedefs and qualifiers and completes a declaration.
func (ev *evaluator) under(t ctype.Type) ctype.Type { return ev.env.under(t) }

func (env *Env) under(t ctype.Type) ctype.Type {
	u := symbols.Underlying(t)
	if st, ok := u.(*ctype.StructType); ok && st.Incomplete && st.StructName != "" && env.Ctx != nil && env.Ctx.Types != nil {
		if def, err := env.Ctx.Types.Lookup(st.Kind + " " + st.StructName); err == nil {
			return symbols.Underlying(def)
		}
	}
	return u
}

// sizeOf is the size of t in bytes, -1 when it has none; a pointer whose
// DWARF gives no size has the target's pointer size.
func (ev *evaluator) sizeOf(t ctype.Type) int64 { return ev.env.SizeOf(t) }

// SizeOf is sizeof(t): a declaration is completed, a pointer without a
// DWARF size has the target's pointer size; -1 for void and incomplete
// types.
func (env *Env) SizeOf(t ctype.Type) int64 {
	if t == nil {
		return -1
	}
	u := env.under(t)
	switch u.(type) {
	case *ctype.PtrType:
		if s := u.Size(); s > 0 {
			return s
		}
		return env.ptrSize()
	case *ctype.VoidType:
		return -1
	}
	if s := t.Size(); s >= 0 {
		return s
	}
	return u.Size()
}

func rvalue(t ctype.Type, bits uint64) Value { return Value{Type: t, Bits: bits} }

func boolBits(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func boolValue(b bool) Value { return rvalue(intType(4, true), boolBits(b)) }

var (
	tInt   = &ctype.IntType{BasicType: ctype.BasicType{CommonType: ctype.CommonType{ByteSize: 4, Name: "int"}}}
	tUint  = &ctype.UintType{BasicType: ctype.BasicType{CommonType: ctype.CommonType{ByteSize: 4, Name: "unsigned int"}}}
	tLong  = &ctype.IntType{BasicType: ctype.BasicType{CommonType: ctype.CommonType{ByteSize: 8, Name: "long"}}}
	tUlong = &ctype.UintType{BasicType: ctype.BasicType{CommonType: ctype.CommonType{ByteSize: 8, Name: "unsigned long"}}}
)

// intType is int, unsigned int, long or unsigned long (LP64).
func intType(size int64, signed bool) ctype.Type {
	switch {
	case size <= 4 && signed:
		return tInt
	case size <= 4:
		return tUint
	case signed:
		return tLong
	}
	return tUlong
}

func constType(k intKind) ctype.Type {
	switch k {
	case kUint:
		return tUint
	case kLong:
		return tLong
	case kUlong:
		return tUlong
	}
	return tInt
}

func isVoid(t ctype.Type) bool {
	if t == nil {
		return true
	}
	_, ok := symbols.Underlying(t).(*ctype.VoidType)
	return ok
}

func isScalar(u ctype.Type) bool {
	switch u.(type) {
	case *ctype.IntType, *ctype.UintType, *ctype.CharType, *ctype.UcharType, *ctype.BoolType,
		*ctype.EnumType, *ctype.PtrType, *ctype.AddrType:
		return true
	}
	return false
}

// isSigned says an integer type is signed; an enum is signed when a
// value of it is negative (GCC gives other enums unsigned int).
func isSigned(u ctype.Type) bool {
	switch x := u.(type) {
	case *ctype.IntType, *ctype.CharType:
		return true
	case *ctype.EnumType:
		for _, v := range x.Val {
			if v.Val < 0 {
				return true
			}
		}
	}
	return false
}

// promote is C's integer promotion: anything narrower than int becomes
// int; the result's type, size and signedness.
func promote(u ctype.Type) (ctype.Type, int64, bool) {
	size := u.Size()
	signed := isSigned(u)
	if _, ok := u.(*ctype.PtrType); ok {
		return intType(8, false), 8, false
	}
	if size < 4 {
		return tInt, 4, true
	}
	if size > 8 {
		size = 8
	}
	return intType(size, signed), size, signed
}

// arith is C's usual arithmetic conversion of two promoted operands.
func arith(a, b ctype.Type) (ctype.Type, int64, bool) {
	_, as, asg := promote(a)
	_, bs, bsg := promote(b)
	switch {
	case as > bs:
		return intType(as, asg), as, asg
	case bs > as:
		return intType(bs, bsg), bs, bsg
	}
	signed := asg && bsg
	return intType(as, signed), as, signed
}

// truncate keeps the low size bytes of v.
func truncate(v uint64, size int64) uint64 {
	if size >= 8 || size <= 0 {
		return v
	}
	return v & (1<<(8*uint(size)) - 1)
}

// extend truncates v to size bytes, then sign- or zero-extends it to 64
// bits.
func extend(v uint64, size int64, signed bool) uint64 {
	if size >= 8 || size <= 0 {
		return v
	}
	v = truncate(v, size)
	if signed && v&(1<<(8*uint(size)-1)) != 0 {
		v |= ^uint64(0) << (8 * uint(size))
	}
	return v
}

// typeName names a type for messages.
func typeName(t ctype.Type) string {
	if t == nil {
		return "a symbol without type"
	}
	return symbols.TypeString(t)
}

// Address is the address a value stands for as an argument of rd,
// struct or search: a pointer's or integer's value, else (an array, a
// struct, a function, a symbol without type) where it lives.
func (env *Env) Address(v Value) (uint64, error) {
	if !v.LValue {
		if v.Type != nil && !isScalar(env.under(v.Type)) {
			return 0, fmt.Errorf("%s is not an address", typeName(v.Type))
		}
		return v.Bits, nil
	}
	if v.Type == nil {
		return v.Obj.Addr, nil
	}
	switch env.under(v.Type).(type) {
	case *ctype.ArrayType, *ctype.StructType, *ctype.FuncType:
		return v.Obj.Addr, nil
	}
	if v.Obj.BitSize > 0 {
		return 0, fmt.Errorf("a bitfield is not an address")
	}
	if _, ok := env.under(v.Type).(*ctype.PtrType); ok {
		return v.Obj.Uint()
	}
	if isScalar(env.under(v.Type)) {
		return v.Obj.Uint()
	}
	return v.Obj.Addr, nil
}

// Int is the value as a 64-bit integer (an rvalue's bits, or the lvalue
// read), for eval and counts.
func (env *Env) Int(v Value) (uint64, error) {
	ev := &evaluator{env: env}
	r, err := ev.load(&numNode{}, v)
	if err != nil {
		return 0, err
	}
	if r.LValue || !isScalar(env.under(r.Type)) {
		return 0, fmt.Errorf("%s is not a number or pointer", typeName(r.Type))
	}
	return r.Bits, nil
}

// Signed says the value's type is a signed integer.
func (env *Env) Signed(v Value) bool {
	return v.Type != nil && isSigned(env.under(v.Type))
}

// Kind is what a value is, for a printer that does not look at DWARF.
type Kind int

const (
	KindNone    Kind = iota // a symbol without type
	KindInt                 // integers and characters
	KindPointer             // pointers (Bits is the address)
	KindEnum                // enumerations (EnumName names the value)
	KindBool
	KindVoid
	KindObject // a struct, union, array or function in memory
)

// KindOf classifies a value.
func (env *Env) KindOf(v Value) Kind {
	if v.Type == nil {
		return KindNone
	}
	switch env.under(v.Type).(type) {
	case *ctype.PtrType:
		return KindPointer
	case *ctype.EnumType:
		return KindEnum
	case *ctype.BoolType:
		return KindBool
	case *ctype.VoidType:
		return KindVoid
	case *ctype.StructType, *ctype.ArrayType, *ctype.FuncType:
		return KindObject
	}
	return KindInt
}

// EnumName names an enumeration value (by its enumerator), ok false when
// no enumerator has it.
func (env *Env) EnumName(v Value, bits uint64) (string, bool) {
	if et, ok := env.under(v.Type).(*ctype.EnumType); ok {
		for _, e := range et.Val {
			if uint64(e.Val) == bits {
				return e.Name, true
			}
		}
	}
	return "", false
}

// IsChar says the value's type is a (signed or plain) char.
func (env *Env) IsChar(v Value) bool {
	switch u := env.under(v.Type).(type) {
	case *ctype.CharType:
		return true
	case *ctype.IntType:
		return u.ByteSize == 1
	}
	return false
}
