package repl

import (
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/cexpr"
	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/symbols"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// ValueKind is what a typed value is on the wire.
type ValueKind string

// EnumValues lists the kinds.
func (ValueKind) EnumValues() []string {
	return []string{"struct", "union", "array", "string", "pointer", "int", "enum", "bool", "float", "function", "void", "symbol"}
}

// ValueView is a typed C value (p, eval's operand, struct, union, task) as
// a JSON tree: structs and unions by their members, arrays by their
// elements, char arrays as strings, pointers and integers by their bits as
// "0x…" strings (with the integer as a number when it is exact in a
// double), enumerations by name and value, bitfields with their position.
type ValueView struct {
	// Name is the member's name (a member path for struct NAME.a.b); absent
	// for the top value, array elements and anonymous members.
	Name string `json:"name,omitempty"`
	// Type is the C type ("struct module", "unsigned int", "u32 [7]").
	Type string `json:"type"`
	// Kind: struct, union, array, string (a char array), pointer, int
	// (integers and chars), enum, bool, float, function, void, or symbol (a
	// symbol without a type: only its address is known).
	Kind ValueKind `json:"kind"`
	// Addr is where the object lies in kernel memory (absent for a value
	// computed by an expression).
	Addr *wire.Hex `json:"addr,omitempty"`
	// Size is the type's size in bytes (absent when unknown).
	Size int64 `json:"size,omitempty"`
	// Bitfield is the member's bit position, for a bitfield.
	Bitfield *BitfieldView `json:"bitfield,omitempty"`
	// Raw is the value's bits: an integer's, enumeration's or bool's value
	// masked to its size (two's complement for negative), a pointer's
	// address, a float's bytes as the dump's byte order reads them.
	Raw *wire.Hex `json:"raw,omitempty"`
	// Int is the integer (signed types sign-extended), enumeration or bool
	// as a number, present only when it lies within ±2^53 (else read raw).
	Int *int64 `json:"int,omitempty"`
	// Bool is a bool's value.
	Bool *bool `json:"bool,omitempty"`
	// Enum is the enumerator's name (absent when no enumerator has the
	// value).
	Enum string `json:"enum,omitempty"`
	// Symbol is what a pointer (or a symbol's address) points at:
	// "SYMBOL+0x…" or "MODULE:.stubs+0x…".
	Symbol string `json:"symbol,omitempty"`
	// String is a char array's text up to its last non-NUL byte
	// (non-printable bytes as C escapes, as in text output).
	String *string `json:"string,omitempty"`
	// Count is an array's number of elements (elements may hold fewer:
	// see truncated).
	Count *int64 `json:"count,omitempty"`
	// Elements are an array's elements, in order.
	Elements []ValueView `json:"elements,omitempty"`
	// Members are a struct's or union's members in declaration order.
	Members []ValueView `json:"members,omitempty"`
	// Truncated: only the first elements (200) or levels (16) are given.
	Truncated bool `json:"truncated,omitempty"`
	// Error says why the value could not be read (memory the dump lacks).
	Error string `json:"error,omitempty"`
}

// BitfieldView is a bitfield's position: Offset bits from the byte at
// addr (as DW_AT_data_bit_offset numbers them), Size bits wide.
type BitfieldView struct {
	Offset int64 `json:"offset"`
	Size   int64 `json:"size"`
}

const maxSafeInt = 1 << 53

func hexPtr(v uint64) *wire.Hex { h := wire.Hex(v); return &h }

// setInt fills raw and, when exact in a double, int.
func (v *ValueView) setInt(raw uint64, nbits int64, signed bool) {
	if nbits > 0 && nbits < 64 {
		raw &= 1<<uint(nbits) - 1
	}
	v.Raw = hexPtr(raw)
	var n int64
	switch {
	case signed && nbits > 0 && nbits < 64 && raw&(1<<uint(nbits-1)) != 0:
		n = int64(raw | ^uint64(0)<<uint(nbits))
	case signed:
		n = int64(raw)
	case raw > maxSafeInt:
		return
	default:
		n = int64(raw)
	}
	if n <= maxSafeInt && n >= -maxSafeInt {
		v.Int = &n
	}
}

// jsonValue is o as a ValueView; name is the member's name.
func (pr *printer) jsonValue(name string, o kernel.Object, depth int) ValueView {
	t := symbols.Underlying(o.Type)
	if st, ok := t.(*ctype.StructType); ok && st.Incomplete {
		t = symbols.Underlying(pr.s.Prog.Types.Complete(st))
	}
	v := ValueView{Name: name, Type: typeNameOf(o.Type), Addr: hexPtr(o.Addr)}
	if o.Type == nil {
		v.Type, v.Kind = "void", "void"
		return v
	}
	if n := o.Size(); n > 0 && o.BitSize == 0 {
		v.Size = n
	}
	if o.BitSize > 0 {
		v.Bitfield = &BitfieldView{Offset: o.BitOffset, Size: o.BitSize}
	}
	fail := func(err error) ValueView {
		v.Error = err.Error()
		return v
	}
	switch t := t.(type) {
	case *ctype.StructType:
		v.Kind = "struct"
		if t.Kind == "union" {
			v.Kind = "union"
		}
		if depth > maxDepth {
			v.Truncated = true
			return v
		}
		fields, err := o.Fields()
		if err != nil {
			return fail(err)
		}
		v.Members = make([]ValueView, 0, len(fields))
		for _, f := range fields {
			v.Members = append(v.Members, pr.jsonValue(f.Name, f.Object, depth+1))
		}
		return v
	case *ctype.ArrayType:
		n := t.Count
		if n < 0 {
			n = 0
		}
		v.Count = &n
		if isCharType(t.Type) && n > 0 {
			v.Kind = "string"
			b, err := o.Bytes()
			if err != nil {
				return fail(err)
			}
			s := quoteC(b)
			s = s[1 : len(s)-1]
			v.String = &s
			return v
		}
		v.Kind = "array"
		if depth > maxDepth {
			v.Truncated = true
			return v
		}
		shown := min(n, maxArrayElems)
		v.Truncated = shown < n
		v.Elements = make([]ValueView, 0, shown)
		for i := int64(0); i < shown; i++ {
			e, err := o.Index(i)
			if err != nil {
				v.Elements = append(v.Elements, ValueView{Type: typeNameOf(t.Type), Kind: "void", Error: err.Error()})
				break
			}
			ev := pr.jsonValue("", e, depth+1)
			v.Elements = append(v.Elements, ev)
		}
		return v
	case *ctype.PtrType:
		v.Kind = "pointer"
		p, err := o.Uint()
		if err != nil {
			return fail(err)
		}
		v.Raw = hexPtr(p)
		v.Symbol = pr.symbolFor(p)
		return v
	case *ctype.EnumType:
		v.Kind = "enum"
		u, err := o.Uint()
		if err != nil {
			return fail(err)
		}
		s, err := o.Int()
		if err != nil {
			return fail(err)
		}
		nbits := o.BitSize
		if nbits == 0 {
			nbits = o.Size() * 8
		}
		v.setInt(u, nbits, s < 0)
		for _, e := range t.Val {
			if e.Val == s {
				v.Enum = e.Name
				break
			}
		}
		return v
	case *ctype.BoolType:
		v.Kind = "bool"
		u, err := o.Uint()
		if err != nil {
			return fail(err)
		}
		b := u != 0
		v.Bool = &b
		v.setInt(u, 64, false)
		return v
	case *ctype.FuncType:
		v.Kind = "function"
		v.Symbol = pr.symbolFor(o.Addr)
		return v
	case *ctype.FloatType:
		v.Kind = "float"
		b, err := o.Bytes()
		if err != nil {
			return fail(err)
		}
		if len(b) <= 8 {
			var raw uint64
			for i := len(b) - 1; i >= 0; i-- { // as the bytes lie, little-endian first
				raw = raw<<8 | uint64(b[i])
			}
			if symbols.IsBigEndian(pr.ctx.Order) {
				raw = 0
				for _, c := range b {
					raw = raw<<8 | uint64(c)
				}
			}
			v.Raw = hexPtr(raw)
		}
		return v
	case *ctype.VoidType:
		v.Kind = "void"
		return v
	}
	v.Kind = "int"
	u, err := o.Uint()
	if err != nil {
		return fail(err)
	}
	nbits := o.BitSize
	if nbits == 0 {
		nbits = o.Size() * 8
	}
	signed := false
	switch symbols.Underlying(o.Type).(type) {
	case *ctype.IntType, *ctype.CharType:
		signed = true
	}
	v.setInt(u, nbits, signed)
	return v
}

// typeNameOf is a type's C name for the wire ("struct module", "u32 [7]").
func typeNameOf(t ctype.Type) string {
	if t == nil {
		return "void"
	}
	return declare("", t)
}

// exprValueView is an expression's value as a ValueView: an object in
// memory by its contents, a computed value by its bits.
func (s *Session) exprValueView(pr *printer, env *cexpr.Env, v cexpr.Value) ValueView {
	if v.LValue && v.Type == nil {
		kind := "data"
		if v.Text {
			kind = "text"
		}
		return ValueView{Type: "<" + kind + " symbol, no type>", Kind: "symbol", Addr: hexPtr(v.Obj.Addr), Symbol: pr.symbolFor(v.Obj.Addr)}
	}
	if v.LValue {
		return pr.jsonValue("", pr.rebase(v.Obj), 0)
	}
	out := ValueView{Type: typeNameOf(v.Type)}
	if v.Type == nil {
		out.Kind = "void"
		out.Error = "no value"
		return out
	}
	size := env.SizeOf(v.Type)
	if size > 0 {
		out.Size = size
	}
	nbits := size * 8
	if size <= 0 || size > 8 {
		nbits = 64
	}
	switch env.KindOf(v) {
	case cexpr.KindVoid:
		out.Kind = "void"
	case cexpr.KindPointer:
		out.Kind = "pointer"
		out.Raw = hexPtr(v.Bits)
		out.Symbol = pr.symbolFor(v.Bits)
	case cexpr.KindEnum:
		out.Kind = "enum"
		out.setInt(v.Bits, nbits, env.Signed(v) || int64(extendSigned(v.Bits, nbits/8)) < 0 && nbits < 64)
		if name, ok := env.EnumName(v, v.Bits); ok {
			out.Enum = name
		}
	case cexpr.KindBool:
		out.Kind = "bool"
		b := v.Bits != 0
		out.Bool = &b
		out.setInt(v.Bits, nbits, false)
	default:
		out.Kind = "int"
		out.setInt(v.Bits, nbits, env.Signed(v))
	}
	return out
}

// PrintView is `p --json`: the expression and its value.
type PrintView struct {
	Expr  string    `json:"expr"`
	Value ValueView `json:"value"`
}

// StructView is one object of `struct`/`union --json` (and of task's
// task_struct): its type and address, and either the whole value or the
// members asked for (NAME.a,b.c: each member named by its path).
type StructView struct {
	Type string   `json:"type"`
	Addr wire.Hex `json:"addr"`
	// Value is the whole object (absent when members were named).
	Value *ValueView `json:"value,omitempty"`
	// Members are the members named, in the order asked; a member the type
	// lacks has its error.
	Members []ValueView `json:"members,omitempty"`
}

// TaskView is one task of `task --json`: the identity line crash prints
// above the struct, and the task_struct (or the members of -R).
type TaskView struct {
	PID  int64    `json:"pid"`
	Task wire.Hex `json:"task"`
	// CPU is the CPU the task runs on, null when it is not running.
	CPU    *int       `json:"cpu"`
	Comm   string     `json:"comm"`
	Struct StructView `json:"struct"`
}

// structViews reads COUNT objects of the spec's type from addr as
// StructViews.
func (s *Session) structViews(sp structSpec, addr uint64, count int) ([]StructView, error) {
	t, _, _, err := s.Prog.LookupType(sp.Type)
	if err != nil {
		var ferr error
		if t, ferr = s.lookupType(trimKind(sp.Type)); ferr != nil {
			return nil, err
		}
	}
	size := kernel.Object{Ctx: s.Prog.Context, Type: t}.Size()
	if count > 1 && size <= 0 {
		return nil, fmt.Errorf("%s has no size: cannot print %d of them", sp.Type, count)
	}
	pr := s.newPrinterFormat(numFormat{})
	var out []StructView
	for i := 0; i < count; i++ {
		a := addr + uint64(int64(i)*size)
		o := pr.rebase(kernel.Object{Ctx: s.Prog.Context, Type: t, Addr: a})
		sv := StructView{Type: typeName(symbols.Underlying(t)), Addr: wire.Hex(a)}
		if len(sp.Members) == 0 {
			v := pr.jsonValue("", o, 0)
			sv.Value = &v
		} else {
			for _, m := range sp.Members {
				mo, err := o.Member(m)
				if err != nil {
					sv.Members = append(sv.Members, ValueView{Name: m, Type: "?", Kind: "void", Error: err.Error()})
					continue
				}
				sv.Members = append(sv.Members, pr.jsonValue(m, mo, 1))
			}
		}
		out = append(out, sv)
	}
	return out, nil
}

func trimKind(name string) string {
	for _, k := range []string{"struct ", "union "} {
		if len(name) > len(k) && name[:len(k)] == k {
			return name[len(k):]
		}
	}
	return name
}
