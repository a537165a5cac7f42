package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// Reader is the kernel virtual memory an Object reads (dump.Memory has this
// shape). ReadAt returns the bytes read before the first unreadable one and
// an error (a *dump.Fault) when n < len(p).
type Reader interface {
	ReadAt(p []byte, addr uint64) (int, error)
}

// TypeSource resolves type names and enumeration constants (*symbols.Types
// is one).
type TypeSource interface {
	Lookup(name string) (ctype.Type, error)
	EnumConstant(name string) (int64, error)
}

// DefaultMaxList is the default cap on the length of a list walk.
const DefaultMaxList = 1 << 20

// Context is what typed objects need: memory, byte order, types.
type Context struct {
	Mem     Reader
	Order   binary.ByteOrder
	Types   TypeSource
	PtrSize int64
	// MaxList caps the number of entries ListForEachEntry yields before
	// it stops with a *ListError of kind ListTooLong; 0 means
	// DefaultMaxList.
	MaxList int
}

// maxObjectBytes bounds what Bytes reads for one object (a DWARF type
// from a hostile or corrupt file can claim any size).
const maxObjectBytes = 64 << 20

// Object is a typed value in kernel memory (drgn's Object): Type at Addr,
// or, for a bitfield, BitSize bits starting BitOffset bits (0..7) into the
// byte at Addr (DW_AT_data_bit_offset numbering: from the least significant
// bit on little-endian, from the most significant on big-endian).
type Object struct {
	Ctx       *Context
	Type      ctype.Type
	Addr      uint64
	BitOffset int64
	BitSize   int64

	// expr names the object in error messages ("struct module.arch");
	// empty means the type's name.
	expr string
}

// NewObject makes an Object of the named type at addr.
func NewObject(ctx *Context, typeName string, addr uint64) (Object, error) {
	if ctx == nil || ctx.Types == nil {
		return Object{}, errors.New("kernel.NewObject: no types")
	}
	t, err := ctx.Types.Lookup(typeName)
	if err != nil {
		return Object{}, err
	}
	return Object{Ctx: ctx, Type: t, Addr: addr}, nil
}

// MemberError names a member that a type does not have.
type MemberError struct {
	Type   string // e.g. "struct mod_arch_specific"
	Member string
	Expr   string // the object searched, e.g. "struct module.arch"
}

func (e *MemberError) Error() string {
	return fmt.Sprintf("%s (%s) has no member %q", e.Expr, e.Type, e.Member)
}

// ReadError is a failed read of an object's bytes; Err is the Reader's
// error (a *dump.Fault from a dump).
type ReadError struct {
	Expr string // "struct module.arch"
	Type string
	Addr uint64
	Size int64
	Err  error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("reading %s at %#x: %v", e.Expr, e.Addr, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// TypeError is an operation the object's type does not support: Deref of a
// non-pointer, Index of a scalar, Uint of a struct, a bad path.
type TypeError struct {
	Op   string // "Deref", "Index", "Uint", "Member", ...
	Expr string
	Type string
	Msg  string
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("%s: %s (%s): %s", e.Op, e.Expr, e.Type, e.Msg)
}

// IndexError is an index outside a fixed-size array.
type IndexError struct {
	Expr  string
	Index int64
	Len   int64
}

func (e *IndexError) Error() string {
	return fmt.Sprintf("%s: index %d out of bounds [0,%d)", e.Expr, e.Index, e.Len)
}

// Expr names the object as error messages do.
func (o Object) Expr() string {
	if o.expr != "" {
		return o.expr
	}
	return symbols.TypeString(o.Type)
}

func (o Object) typeErr(op, msg string) error {
	return &TypeError{Op: op, Expr: o.Expr(), Type: symbols.TypeString(o.Type), Msg: msg}
}

// resolved strips typedefs and qualifiers and completes a declaration-only
// struct ("struct module;") from the type index.
func (o Object) resolved() ctype.Type {
	t := symbols.Underlying(o.Type)
	if st, ok := t.(*ctype.StructType); ok && st.Incomplete && st.StructName != "" && o.Ctx != nil && o.Ctx.Types != nil {
		if def, err := o.Ctx.Types.Lookup(st.Kind + " " + st.StructName); err == nil {
			return symbols.Underlying(def)
		}
	}
	return t
}

// Size is the object's size in bytes (for a bitfield, the bytes it
// touches); -1 when the type has no size (void, incomplete).
func (o Object) Size() int64 {
	if o.BitSize > 0 {
		return (o.BitOffset + o.BitSize + 7) / 8
	}
	if o.Type == nil {
		return -1
	}
	return o.resolved().Size()
}

// Address returns the object's address (C's &); a bitfield has none.
func (o Object) Address() (uint64, error) {
	if o.BitSize > 0 {
		return 0, o.typeErr("Address", "cannot take the address of a bitfield")
	}
	return o.Addr, nil
}

// AddressOf returns a pointer-to-type value for the object as an
// Object-free pair: the address and the pointer type (for printers).
func (o Object) AddressOf() (uint64, ctype.Type, error) {
	a, err := o.Address()
	if err != nil {
		return 0, nil, err
	}
	return a, &ctype.PtrType{CommonType: ctype.CommonType{ByteSize: o.ptrSize()}, Type: o.Type}, nil
}

func (o Object) ptrSize() int64 {
	if o.Ctx != nil && o.Ctx.PtrSize > 0 {
		return o.Ctx.PtrSize
	}
	return 8
}

// Member follows a member path: "arch.ool_stubs", "mem[0].base",
// "mem[MOD_TEXT].base" (an enumeration constant as index),
// "klp_info->sechdrs" (-> dereferences a pointer; "." on a pointer does
// too, as in drgn). Members of anonymous structs and unions are found
// transparently.
func (o Object) Member(path string) (Object, error) {
	cur := o
	rest := path
	first := true
	for rest != "" {
		deref := false
		switch {
		case strings.HasPrefix(rest, "->"):
			deref, rest = true, rest[2:]
		case strings.HasPrefix(rest, "."):
			rest = rest[1:]
		case !first:
			return Object{}, cur.typeErr("Member", fmt.Sprintf("bad path %q", path))
		}
		first = false
		// The element runs to the next '.', '-' (of "->") or '['.
		end := strings.IndexAny(rest, ".-[")
		if end < 0 {
			end = len(rest)
		}
		name := rest[:end]
		rest = rest[end:]
		if name == "" {
			return Object{}, cur.typeErr("Member", fmt.Sprintf("empty member name in %q", path))
		}
		var err error
		if deref {
			if cur, err = cur.Deref(); err != nil {
				return Object{}, err
			}
		}
		if cur, err = cur.member(name); err != nil {
			return Object{}, err
		}
		for strings.HasPrefix(rest, "[") {
			j := strings.IndexByte(rest, ']')
			if j < 0 {
				return Object{}, cur.typeErr("Member", fmt.Sprintf("unbalanced [ in %q", path))
			}
			var enum func(string) (int64, error)
			if cur.Ctx != nil && cur.Ctx.Types != nil {
				enum = cur.Ctx.Types.EnumConstant
			}
			idx, err := symbols.ParseIndex(strings.TrimSpace(rest[1:j]), enum)
			if err != nil {
				return Object{}, cur.typeErr("Index", err.Error())
			}
			if cur, err = cur.Index(idx); err != nil {
				return Object{}, err
			}
			rest = rest[j+1:]
		}
	}
	return cur, nil
}

// member is one ".name" step; a pointer to a struct is dereferenced first
// (drgn's and crash's convenience).
func (o Object) member(name string) (Object, error) {
	if o.BitSize > 0 {
		return Object{}, o.typeErr("Member", "a bitfield has no members")
	}
	t := o.resolved()
	if _, ok := t.(*ctype.PtrType); ok {
		d, err := o.Deref()
		if err != nil {
			return Object{}, err
		}
		return d.member(name)
	}
	if _, ok := t.(*ctype.StructType); !ok {
		return Object{}, o.typeErr("Member", fmt.Sprintf("not a struct or union (looking for %q)", name))
	}
	f, ok := symbols.FindField(t, name, o.Ctx.order())
	if !ok {
		return Object{}, &MemberError{Type: symbols.TypeString(t), Member: name, Expr: o.Expr()}
	}
	return o.field(f, "."+name), nil
}

// field makes the member Object of f (bit position from the start of o).
func (o Object) field(f symbols.Field, suffix string) Object {
	m := Object{Ctx: o.Ctx, Type: f.Type, expr: o.Expr() + suffix}
	m.Addr = o.Addr + uint64(f.BitOffset/8)
	if f.BitSize > 0 {
		m.BitOffset = f.BitOffset % 8
		m.BitSize = f.BitSize
	}
	return m
}

func (c *Context) order() binary.ByteOrder {
	if c == nil || c.Order == nil {
		return binary.LittleEndian
	}
	return c.Order
}

// Field is one member of a struct or union object, for printers.
type Field struct {
	Name   string // "" for an anonymous struct or union member
	Object Object
}

// Fields returns the members of a struct or union object in declaration
// order (anonymous members as one Field with Name ""), so that a printer
// (package repl) can walk a value without knowing DWARF.
func (o Object) Fields() ([]Field, error) {
	t := o.resolved()
	if _, ok := t.(*ctype.StructType); !ok {
		return nil, o.typeErr("Fields", "not a struct or union")
	}
	var out []Field
	for _, f := range symbols.Fields(t, o.Ctx.order()) {
		out = append(out, Field{Name: f.Name, Object: o.field(f, "."+f.Name)})
	}
	return out, nil
}

// Deref follows a pointer (C's *p); the result is a void object when the
// pointer is void *.
func (o Object) Deref() (Object, error) {
	pt, ok := o.resolved().(*ctype.PtrType)
	if !ok {
		return Object{}, o.typeErr("Deref", "not a pointer")
	}
	p, err := o.Uint()
	if err != nil {
		return Object{}, err
	}
	var t ctype.Type = pt.Type
	if t == nil {
		t = &ctype.VoidType{}
	}
	return Object{Ctx: o.Ctx, Type: t, Addr: p, expr: "*(" + o.Expr() + ")"}, nil
}

// Index is a[i] on an array (bounds-checked unless the array is flexible:
// no bound, or GNU zero-length) or p[i] on a pointer (pointer arithmetic).
func (o Object) Index(i int64) (Object, error) {
	expr := fmt.Sprintf("%s[%d]", o.Expr(), i)
	switch t := o.resolved().(type) {
	case *ctype.ArrayType:
		if t.Count > 0 && (i < 0 || i >= t.Count) {
			return Object{}, &IndexError{Expr: o.Expr(), Index: i, Len: t.Count}
		}
		if i < 0 {
			return Object{}, &IndexError{Expr: o.Expr(), Index: i, Len: t.Count}
		}
		es, err := elemSize(t.Type, o)
		if err != nil {
			return Object{}, err
		}
		return Object{Ctx: o.Ctx, Type: t.Type, Addr: o.Addr + uint64(i*es), expr: expr}, nil
	case *ctype.PtrType:
		if t.Type == nil {
			return Object{}, o.typeErr("Index", "cannot index void *")
		}
		es, err := elemSize(t.Type, o)
		if err != nil {
			return Object{}, err
		}
		p, err := o.Uint()
		if err != nil {
			return Object{}, err
		}
		return Object{Ctx: o.Ctx, Type: t.Type, Addr: p + uint64(i*es), expr: expr}, nil
	}
	return Object{}, o.typeErr("Index", "not an array or pointer")
}

func elemSize(t ctype.Type, o Object) (int64, error) {
	e := Object{Ctx: o.Ctx, Type: t}.Size()
	if e <= 0 {
		return 0, o.typeErr("Index", "element type "+symbols.TypeString(t)+" has no size")
	}
	return e, nil
}

// Cast reinterprets the object's memory as another type (C's *(T *)&x).
func (o Object) Cast(typeName string) (Object, error) {
	if o.Ctx == nil || o.Ctx.Types == nil {
		return Object{}, o.typeErr("Cast", "no types")
	}
	t, err := o.Ctx.Types.Lookup(typeName)
	if err != nil {
		return Object{}, err
	}
	if o.BitSize > 0 {
		return Object{}, o.typeErr("Cast", "cannot cast a bitfield")
	}
	return Object{Ctx: o.Ctx, Type: t, Addr: o.Addr, expr: "(" + typeName + ")" + o.Expr()}, nil
}

// read reads n bytes at the object's address.
func (o Object) read(n int64) ([]byte, error) {
	if o.Ctx == nil || o.Ctx.Mem == nil {
		return nil, &ReadError{Expr: o.Expr(), Type: symbols.TypeString(o.Type), Addr: o.Addr, Size: n, Err: errors.New("no memory")}
	}
	if n < 0 || n > maxObjectBytes {
		return nil, o.typeErr("read", fmt.Sprintf("size %d outside [0,%d]", n, maxObjectBytes))
	}
	b := make([]byte, n)
	got, err := o.Ctx.Mem.ReadAt(b, o.Addr)
	if got < len(b) {
		if err == nil {
			err = fmt.Errorf("short read: %d of %d bytes", got, n)
		}
		return nil, &ReadError{Expr: o.Expr(), Type: symbols.TypeString(o.Type), Addr: o.Addr, Size: n, Err: err}
	}
	return b, nil
}

// Bytes reads the object's bytes (at most 64 MiB).
func (o Object) Bytes() ([]byte, error) {
	n := o.Size()
	if n < 0 {
		return nil, o.typeErr("Bytes", "type has no size")
	}
	return o.read(n)
}

// rawUint reads an integer-like object (integer, enum, pointer, bool,
// bitfield) as its unsigned bits, with its size in bits and signedness.
func (o Object) rawUint(op string) (v uint64, bits int64, signed bool, err error) {
	t := o.resolved()
	switch x := t.(type) {
	case *ctype.IntType, *ctype.CharType:
		signed = true
	case *ctype.EnumType:
		signed = false
		for _, v := range x.Val {
			if v.Val < 0 {
				signed = true
			}
		}
	case *ctype.UintType, *ctype.UcharType, *ctype.BoolType, *ctype.PtrType, *ctype.AddrType:
	default:
		return 0, 0, false, o.typeErr(op, "not an integer, enum, bool or pointer")
	}
	size := t.Size()
	if o.BitSize == 0 {
		if size <= 0 || size > 8 {
			return 0, 0, false, o.typeErr(op, fmt.Sprintf("integer of %d bytes", size))
		}
		b, err := o.read(size)
		if err != nil {
			return 0, 0, false, err
		}
		return decodeUint(b, o.Ctx.order()), size * 8, signed, nil
	}
	if o.BitSize > 64 || o.BitOffset < 0 || o.BitOffset > 7 {
		return 0, 0, false, o.typeErr(op, fmt.Sprintf("bitfield of %d bits at bit %d", o.BitSize, o.BitOffset))
	}
	n := (o.BitOffset + o.BitSize + 7) / 8 // at most 9 bytes
	b, err := o.read(n)
	if err != nil {
		return 0, 0, false, err
	}
	return extractBits(b, o.BitOffset, o.BitSize, symbols.IsBigEndian(o.Ctx.order())), o.BitSize, signed, nil
}

// decodeUint decodes 1..8 bytes in the given order.
func decodeUint(b []byte, order binary.ByteOrder) uint64 {
	var v uint64
	if symbols.IsBigEndian(order) {
		for _, c := range b {
			v = v<<8 | uint64(c)
		}
		return v
	}
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// extractBits takes size bits starting off bits into b, numbering bits as
// DW_AT_data_bit_offset does: on little-endian bit k is bit k%8 (from the
// least significant) of byte k/8; on big-endian bit k is bit 7-k%8 of byte
// k/8. b holds at most 9 bytes.
func extractBits(b []byte, off, size int64, bigEndian bool) uint64 {
	var v uint64
	for k := range size {
		bit := off + k
		by := b[bit/8]
		var x uint64
		if bigEndian {
			x = uint64(by>>(7-bit%8)) & 1
			v = v<<1 | x
		} else {
			x = uint64(by>>(bit%8)) & 1
			v |= x << k
		}
	}
	return v
}

// Uint reads an integer, enum, bool, pointer or bitfield as unsigned.
func (o Object) Uint() (uint64, error) {
	v, _, _, err := o.rawUint("Uint")
	return v, err
}

// Int reads an integer, enum, bool, pointer or bitfield, sign-extending
// signed types (a signed bitfield from its top bit).
func (o Object) Int() (int64, error) {
	v, bits, signed, err := o.rawUint("Int")
	if err != nil {
		return 0, err
	}
	if signed && bits < 64 && v&(1<<(bits-1)) != 0 {
		v |= ^uint64(0) << bits
	}
	return int64(v), nil
}

// Bool reads any integer-like object as C truth (non-zero).
func (o Object) Bool() (bool, error) {
	v, _, _, err := o.rawUint("Bool")
	return v != 0, err
}

// Pointer reads a pointer's value.
func (o Object) Pointer() (uint64, error) {
	if _, ok := o.resolved().(*ctype.PtrType); !ok {
		return 0, o.typeErr("Pointer", "not a pointer")
	}
	return o.Uint()
}

// cstringChunk is the read size for strings behind pointers: small, so a
// string near the end of a readable page does not fault on bytes after it.
const cstringChunk = 64

// CString reads a NUL-terminated string of at most max bytes from a char
// array (bounded also by the array's length) or through a char pointer.
// Without a NUL within the bound it returns the bytes read (for an array,
// as C allows a full array without NUL) or, through a pointer, a
// *TypeError.
func (o Object) CString(max int) (string, error) {
	if max < 0 {
		max = 0
	}
	switch t := o.resolved().(type) {
	case *ctype.ArrayType:
		if !isChar(t.Type) {
			return "", o.typeErr("CString", "not a char array")
		}
		n := int64(max)
		if t.Count >= 0 && t.Count < n {
			n = t.Count
		}
		b, err := o.read(n)
		if err != nil {
			return "", err
		}
		if i := indexByte0(b); i >= 0 {
			b = b[:i]
		}
		return string(b), nil
	case *ctype.PtrType:
		if t.Type != nil && !isChar(t.Type) {
			return "", o.typeErr("CString", "not a char pointer")
		}
		p, err := o.Uint()
		if err != nil {
			return "", err
		}
		return readCString(o, p, max)
	}
	return "", o.typeErr("CString", "not a char array or char pointer")
}

// CStringAt reads the NUL-terminated string at addr (at most max bytes),
// as a char * holding addr would: for strings found by arithmetic, such
// as a struct kernel_symbol's self-relative name_offset.
func (c *Context) CStringAt(addr uint64, max int) (string, error) {
	return readCString(Object{Ctx: c, Addr: addr, expr: fmt.Sprintf("(char *)%#x", addr)}, addr, max)
}

func readCString(o Object, addr uint64, max int) (string, error) {
	var out []byte
	for len(out) < max {
		n := min(cstringChunk, max-len(out))
		s := Object{Ctx: o.Ctx, Type: o.Type, Addr: addr + uint64(len(out)), expr: "*(" + o.Expr() + ")"}
		// Read byte-exact up to the first fault: a string may end just
		// before an unreadable page.
		b := make([]byte, n)
		got, err := o.Ctx.Mem.ReadAt(b, s.Addr)
		if i := indexByte0(b[:got]); i >= 0 {
			return string(append(out, b[:i]...)), nil
		}
		out = append(out, b[:got]...)
		if got < n {
			if err == nil {
				err = fmt.Errorf("short read: %d of %d bytes", got, n)
			}
			return string(out), &ReadError{Expr: s.expr, Type: "char", Addr: s.Addr + uint64(got), Size: 1, Err: err}
		}
	}
	return string(out), o.typeErr("CString", fmt.Sprintf("no NUL within %d bytes at %#x", max, addr))
}

func indexByte0(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

func isChar(t ctype.Type) bool {
	switch u := symbols.Underlying(t).(type) {
	case *ctype.CharType, *ctype.UcharType:
		return true
	case *ctype.IntType:
		return u.Size() == 1
	case *ctype.UintType:
		return u.Size() == 1
	}
	return false
}

// ContainerOf returns the object of type typeName that contains member at
// ptr (the kernel's container_of(ptr, type, member)).
func ContainerOf(ctx *Context, ptr uint64, typeName, member string) (Object, error) {
	if ctx == nil || ctx.Types == nil {
		return Object{}, errors.New("kernel.ContainerOf: no types")
	}
	t, err := ctx.Types.Lookup(typeName)
	if err != nil {
		return Object{}, err
	}
	off, err := memberOffset(ctx, t, typeName, member)
	if err != nil {
		return Object{}, err
	}
	return Object{Ctx: ctx, Type: t, Addr: ptr - uint64(off)}, nil
}

// memberOffset is offsetof(type, member) for a "."-separated path, with
// array indexes allowed, following no pointers.
func memberOffset(ctx *Context, t ctype.Type, typeName, member string) (int64, error) {
	// Lay the object at address 0 and walk the path without reading.
	o := Object{Ctx: ctx, Type: t, expr: typeName}
	if strings.Contains(member, "->") {
		return 0, o.typeErr("offsetof", "member path crosses a pointer: "+member)
	}
	m, err := o.offsetOnly(member)
	if err != nil {
		return 0, err
	}
	if m.BitSize > 0 {
		return 0, o.typeErr("offsetof", member+" is a bitfield")
	}
	return int64(m.Addr), nil
}

// offsetOnly follows a member path of struct members and array indexes
// without reading memory (the only reads in Member are for pointers).
func (o Object) offsetOnly(path string) (Object, error) {
	ctx := *o.Ctx
	ctx.Mem = noMem{}
	o.Ctx = &ctx
	return o.Member(path)
}

type noMem struct{}

func (noMem) ReadAt(p []byte, addr uint64) (int, error) {
	return 0, errors.New("offsetof must not read memory")
}
