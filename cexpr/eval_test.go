package cexpr

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/go-delve/delve/pkg/dwarf/dwarfbuilder"
	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/dwarftest"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/symbols"
	"github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
)

// Synthetic types (C, LP64), offsets written out by hand:
//
//	enum color { RED, GREEN = 5, BLUE };
//	enum sgn { NEG = -1, POS = 1 };
//	struct node {
//		int id;                  //  0
//		unsigned int flags:3;    //  bits 32..34
//		int sbits:4;             //  bits 35..38
//		unsigned long word;      //  8
//		struct node *next;       // 16
//		unsigned int insn[4];    // 24
//		char name[8];            // 40
//		enum color c;            // 48
//	};                           // 56
//	typedef unsigned long long u64;
func synthTypes(t testing.TB) *symbols.Types {
	t.Helper()
	s := dwarftest.New()
	int_ := s.Base("int", dwarfbuilder.DW_ATE_signed, 4)
	uint_ := s.Base("unsigned int", dwarfbuilder.DW_ATE_unsigned, 4)
	ulong := s.Base("long unsigned int", dwarfbuilder.DW_ATE_unsigned, 8)
	s.Base("long int", dwarfbuilder.DW_ATE_signed, 8)
	s.Base("short int", dwarfbuilder.DW_ATE_signed, 2)
	s.Base("short unsigned int", dwarfbuilder.DW_ATE_unsigned, 2)
	s.Base("unsigned char", dwarfbuilder.DW_ATE_unsigned_char, 1)
	s.Base("signed char", dwarfbuilder.DW_ATE_signed_char, 1)
	ull := s.Base("long long unsigned int", dwarfbuilder.DW_ATE_unsigned, 8)
	s.Typedef("u64", ull)
	char := s.Base("char", dwarfbuilder.DW_ATE_signed_char, 1)

	color := s.Open(dwarf.TagEnumerationType, "color", 4)
	for _, e := range []struct {
		n string
		v uint8
	}{{"RED", 0}, {"GREEN", 5}, {"BLUE", 6}} {
		s.TagOpen(dwarf.TagEnumerator, e.n)
		s.Attr(dwarf.AttrConstValue, e.v)
		s.TagClose()
	}
	s.TagClose()
	s.Open(dwarf.TagEnumerationType, "sgn", 4)
	s.TagOpen(dwarf.TagEnumerator, "NEG")
	s.Attr(dwarf.AttrConstValue, ^uint64(0)) // -1 as data8
	s.TagClose()
	s.TagOpen(dwarf.TagEnumerator, "POS")
	s.Attr(dwarf.AttrConstValue, uint8(1))
	s.TagClose()
	s.TagClose()

	nodeT := s.Open(dwarf.TagStructType, "node", 56)
	s.Member("id", int_, 0)
	s.Bits5("flags", uint_, 32, 3)
	s.Bits5("sbits", int_, 35, 4)
	s.Member("word", ulong, 8)
	nextAt := s.MemberFwd("next", 16)
	s.Member("insn", s.Array(uint_, 4), 24)
	s.Member("name", s.Array(char, 8), 40)
	s.Member("c", color, 48)
	s.TagClose()
	s.PatchOffset(nextAt, s.Ptr(nodeT))
	ts, err := dwarfread.LoadTypes(s.Data(t), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

const (
	nodeA = 0xc000000001000000 // a struct node
	nodeB = 0xc000000001000100 // the node nodeA.next points to
	arrA  = 0xc000000001000200 // unsigned int[4] {1, 2, 3, 4}
	textA = 0xc000000000010000 // a function without type
)

// synthEnv lays out two nodes in little-endian memory and names them: the
// typed variable "head" (struct node at nodeA), "ptr" (struct node * =
// nodeA), "arr" (unsigned int[4]) and the symbols "mod:fn" (text) and
// "mod:.stubs" without type.
func synthEnv(t testing.TB) *Env {
	t.Helper()
	ts := synthTypes(t)
	le := binary.LittleEndian
	mem := make([]byte, 0x300)
	a := mem[0:]
	le.PutUint32(a[0:], 0xfffffffe)         // id = -2
	a[4] = 0b0_0101_101                     // flags = 5, sbits = 0b0101 = 5
	le.PutUint64(a[8:], 0x8000000000000001) // word
	le.PutUint64(a[16:], nodeB)             // next
	for i, w := range []uint32{0x7c0802a6, 0x48000001, 0x60000000, 0x4e800020} {
		le.PutUint32(a[24+4*i:], w) // insn
	}
	copy(a[40:], "first\x00")
	le.PutUint32(a[48:], 5) // c = GREEN
	b := mem[0x100:]
	le.PutUint32(b[0:], 7)  // id
	b[4] = 0b1_1111_000     // flags = 0, sbits = 0b1111 = -1
	le.PutUint64(b[16:], 0) // next = NULL
	copy(b[40:], "second\x00")
	for i := range 4 {
		le.PutUint32(mem[0x200+4*i:], uint32(i+1))
	}
	ctx := &kernel.Context{Mem: dwarftest.Mem{Base: nodeA, B: mem}, Order: le, Types: ts, PtrSize: 8}
	nodeType, _ := ts.Lookup("struct node")
	ptrType, _ := ts.Lookup("struct node *")
	arrType, _ := ts.Lookup("unsigned int [4]")
	ptrVar := make([]byte, 8)
	le.PutUint64(ptrVar, nodeA)
	vars := map[string]kernel.Object{
		"head": {Ctx: ctx, Type: nodeType, Addr: nodeA},
		"arr":  {Ctx: ctx, Type: arrType, Addr: arrA},
	}
	// "ptr" lives in its own memory.
	ctx.Mem = multiMem{ctx.Mem, dwarftest.Mem{Base: 0xc000000002000000, B: ptrVar}}
	vars["ptr"] = kernel.Object{Ctx: ctx, Type: ptrType, Addr: 0xc000000002000000}
	syms := map[string]uint64{"mod:fn": textA, "mod:.stubs": 0xc008000000800158}
	return &Env{
		Ctx: ctx,
		Variable: func(name string) (kernel.Object, error) {
			if o, ok := vars[name]; ok {
				return o, nil
			}
			return kernel.Object{}, errors.New("no variable")
		},
		Symbol: func(name string) (uint64, bool, bool) {
			a, ok := syms[name]
			return a, name == "mod:fn", ok
		},
		Suggest: func(name string) []string {
			if name == "haed" {
				return []string{"head"}
			}
			return nil
		},
	}
}

type multiMem []kernel.Reader

func (m multiMem) ReadAt(p []byte, addr uint64) (int, error) {
	var err error
	for _, r := range m {
		var n int
		if n, err = r.ReadAt(p, addr); n == len(p) {
			return n, nil
		}
	}
	return 0, err
}

// TestMemory evaluates expressions over the synthetic memory; the
// expected values are the bytes synthEnv wrote.
func TestMemory(t *testing.T) {
	t.Parallel()
	env := synthEnv(t)
	for _, tc := range []struct {
		expr string
		want uint64
	}{
		{"head.id", 0xfffffffffffffffe},  // int -2, sign-extended
		{"head->id", 0xfffffffffffffffe}, // -> on a struct, as crash users write it
		{"ptr->id", 0xfffffffffffffffe},
		{"ptr.id", 0xfffffffffffffffe}, // . through a pointer, as drgn allows
		{"(*ptr).word", 0x8000000000000001},
		{"head.flags", 5},
		{"head.sbits", 5},
		{"head.next->sbits", 0xffffffffffffffff}, // signed bitfield -1
		{"head.next->id + 1", 8},
		{"head.insn[0]", 0x7c0802a6},
		{"head.insn[3] >> 16", 0x4e80},
		{"((struct node *)0xc000000001000000)->next", nodeB},
		{"((struct node *)0xc000000001000000)->next->next", 0},
		{"((struct node *)c000000001000000)->id", 0xfffffffffffffffe}, // crash's bare hex
		{"((struct node *)nodeless)", 0},                              // replaced below
		{"(struct node *)0xc000000001000000 + 1", nodeA + 56},
		{"&((struct node *)0)->insn[2]", 24 + 8},
		{"&head.name", nodeA + 40},
		{"&ptr->c", nodeA + 48},
		{"ptr->c", 5},
		{"ptr->c == GREEN", 1},
		{"BLUE", 6},
		{"NEG", 0xffffffffffffffff},
		{"arr[2]", 3},
		{"*arr", 1},
		{"*(arr + 3)", 4},
		{"((unsigned int *)arr)[1]", 2},
		{"&arr[3] - &arr[0]", 3},
		{"(u64)head.id", 0xfffffffffffffffe},
		{"(unsigned char)head.id", 0xfe},
		{"(short)0x18000", 0xffffffffffff8000},
		{"sizeof(struct node)", 56},
		{"sizeof head", 56},
		{"sizeof(head.insn)", 16},
		{"sizeof(struct node *)", 8},
		{"sizeof *ptr", 56},
		{"sizeof(*(struct node *)0)", 56}, // reads nothing
		{"&*(struct node *)0x1234", 0x1234},
		{"0 && *(int *)0x10", 0},    // the right side is not read
		{"1 || *(int *)0x10", 1},    // nor here
		{"1 ? 7 : *(int *)0x10", 7}, // nor the branch not taken
		{"&mod:.stubs + 0x28", 0xc008000000800158 + 0x28},
		{"&mod:fn", textA},
		{"ptr != 0 && ptr->next != 0", 1},
		{"ptr->next->next == 0", 1},
		{"&head == ptr", 1},
		{"head.name[1]", 'i'},
	} {
		if tc.expr == "((struct node *)nodeless)" {
			continue
		}
		v, err := env.Eval(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		got, err := env.Int(v)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s = %#x, want %#x", tc.expr, got, tc.want)
		}
	}
}

// TestLValues: what stays in memory keeps its type and address.
func TestLValues(t *testing.T) {
	t.Parallel()
	env := synthEnv(t)
	v, err := env.Eval("*(struct node *)0xc000000001000100")
	if err != nil || !v.LValue || v.Obj.Addr != nodeB || symbols.TypeString(v.Type) != "struct node" {
		t.Fatalf("*(struct node *)B = %+v, %v", v, err)
	}
	v, err = env.Eval("((struct node *)0xc000000001000000)[1]")
	if err != nil || v.Obj.Addr != nodeA+56 {
		t.Fatalf("((struct node *)A)[1] at %#x, %v; want %#x", v.Obj.Addr, err, uint64(nodeA+56))
	}
	v, err = env.Eval("mod:fn")
	if err != nil || v.Type != nil || v.Symbol != "mod:fn" || !v.Text || v.Obj.Addr != textA {
		t.Fatalf("mod:fn = %+v, %v", v, err)
	}
	if a, err := env.Address(v); err != nil || a != textA {
		t.Errorf("Address(mod:fn) = %#x, %v", a, err)
	}
	v, _ = env.Eval("head")
	if a, err := env.Address(v); err != nil || a != nodeA {
		t.Errorf("Address(head) = %#x, %v", a, err)
	}
	v, _ = env.Eval("ptr")
	if a, err := env.Address(v); err != nil || a != nodeA {
		t.Errorf("Address(ptr) = %#x, %v (a pointer stands for what it points to)", a, err)
	}
}

// TestErrors: faults are errors (never zeros), and misuse is said.
func TestErrors(t *testing.T) {
	t.Parallel()
	env := synthEnv(t)
	v, err := env.Eval("*(int *)0x10")
	if err != nil {
		t.Fatalf("an lvalue alone reads nothing: %v", err)
	}
	if _, err := env.Int(v); err == nil {
		t.Errorf("reading unmapped memory gave a value")
	} else {
		var f *dump.Fault
		if !errors.As(err, &f) || f.Addr != 0x10 {
			t.Errorf("error %v is not the dump's fault at 0x10", err)
		}
	}
	for expr, want := range map[string]string{
		"haed":                 "did you mean head",
		"nosuch + 1":           `no symbol "nosuch"`,
		"mod:fn + 1":           "no type",
		"*head.id":             "not a pointer",
		"&head.flags":          "bitfield",
		"1 / 0":                "division by zero",
		"1 << 64":              "shift count",
		"head.nosuch":          "no member",
		"head.insn[4]":         "out of bounds",
		"(struct node)1":       "not in memory",
		"(":                    "expected",
		"1 +":                  "unexpected end",
		"head..id":             "expected a member name",
		"p)":                   "unexpected",
		"struct node":          "cast needs parentheses",
		"1 @ 2":                "unexpected character",
		"(struct nosuch *)0x1": "not found",
		"'ab'":                 "character constant",
		"08":                   "bad number",
	} {
		_, err := env.Eval(expr)
		if err == nil {
			v, _ := env.Eval(expr)
			if _, err = env.Int(v); err == nil {
				t.Errorf("%s: no error", expr)
				continue
			}
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want it to say %q", expr, err, want)
		}
	}
	deep := strings.Repeat("(", 1000) + "1" + strings.Repeat(")", 1000)
	if _, err := env.Eval(deep); err == nil || !strings.Contains(err.Error(), "deeper") {
		t.Errorf("1000 parentheses: %v", err)
	}
	if _, err := env.Eval(strings.Repeat("1+", 3000) + "1"); err == nil {
		t.Errorf("an expression of 6001 bytes was accepted")
	}
}

// gccCases are integer expressions whose value, size and signedness GCC
// (the compiler the kernel is built with, same LP64 model on x86_64 and
// ppc64le) decides in TestAgainstGCC.
var gccCases = []string{
	"1 + 2 * 3",
	"(1 + 2) * 3",
	"7 / 2", "-7 / 2", "-7 % 3", "7 % -3",
	"1 << 31", "1u << 31", "1ul << 63", "1l << 40",
	"-1 >> 1", "-1u >> 1", "0xffffffff", "0x7fffffff + 1u",
	"-1 < 0u", "-1 < 0", "-1l < 0u", "-1 < 0ul",
	"~0", "~0u", "~0ul", "!5", "!0", "-(-2147483647 - 1)",
	"4294967295", "2147483648", "0x80000000", "9223372036854775807",
	"18446744073709551615u", "0777", "'a'", "'\\n'",
	"1 ? 2 : 3", "0 ? 2 : 3", "3 > 2 > 1", "1 == 1 != 0",
	"6 & 3 | 8 ^ 1", "0x1234 & ~0xff", "100 - 1 - 2", "2 * 3 % 4",
	"(unsigned char)300", "(signed char)200", "(short)70000", "(unsigned short)-1",
	"(unsigned int)-1 + 1", "(long)-1 * 2", "(u64)-1 >> 60", "(int)0x123456789",
	"sizeof(int) * 3", "sizeof(unsigned long) - 9", "-sizeof(int)",
	"RED + GREEN + BLUE", "NEG * 3", "BLUE << 2",
	"1 && 2", "0 || 0", "5 >= 5", "5 <= 4",
}

// TestAgainstGCC compiles gccCases with the host's C compiler (skipped
// without one) and holds the evaluator's value, size and signedness
// against it: the arithmetic conversions are C's, not this package's
// idea of them.
func TestAgainstGCC(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler: the GCC cross-check is skipped")
	}
	dir := t.TempDir()
	var src strings.Builder
	src.WriteString("#include <stdio.h>\ntypedef unsigned long long u64;\nenum color { RED, GREEN = 5, BLUE };\nenum sgn { NEG = -1, POS = 1 };\nint main(void) {\n")
	for _, c := range gccCases {
		fmt.Fprintf(&src, "\tprintf(\"%%llx %%zu %%d\\n\", (unsigned long long)(%s), sizeof(%s), (__typeof__(%s))-1 < 0);\n", c, c, c)
	}
	src.WriteString("\treturn 0;\n}\n")
	if err := os.WriteFile(filepath.Join(dir, "c.c"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "c")
	if out, err := exec.Command(cc, "-w", "-o", bin, filepath.Join(dir, "c.c")).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(gccCases) {
		t.Fatalf("%d lines from the program, want %d", len(lines), len(gccCases))
	}
	env := synthEnv(t)
	for i, c := range gccCases {
		var wantV uint64
		var wantSize int64
		var wantSigned int
		if _, err := fmt.Sscanf(lines[i], "%x %d %d", &wantV, &wantSize, &wantSigned); err != nil {
			t.Fatalf("line %q: %v", lines[i], err)
		}
		v, err := env.Eval(c)
		if err != nil {
			t.Errorf("%s: %v", c, err)
			continue
		}
		got, err := env.Int(v)
		if err != nil {
			t.Errorf("%s: %v", c, err)
			continue
		}
		if got != wantV || env.SizeOf(v.Type) != wantSize || env.Signed(v) != (wantSigned == 1) {
			t.Errorf("%s = %#x (size %d, signed %v); gcc: %#x (size %d, signed %v)", c, got, env.SizeOf(v.Type), env.Signed(v), wantV, wantSize, wantSigned == 1)
		}
	}
}

func TestParseNumber(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint64{"0x10": 16, "10": 10, "010": 8, "0b101": 5, "5f92a0": 0x5f92a0, "10ul": 10} {
		if v, _, err := parseNumber(in); err != nil || v != want {
			t.Errorf("parseNumber(%q) = %d, %v; want %d", in, v, err, want)
		}
	}
	if _, err := strconv.ParseUint("1", 10, 64); err != nil {
		t.Fatal(err)
	}
}

// FuzzEval: any expression over the synthetic memory returns a value or
// an error, never panics.
func FuzzEval(f *testing.F) {
	for _, c := range gccCases {
		f.Add(c)
	}
	for _, c := range []string{"((struct node *)0xc000000001000000)->next->next->id", "&mod:.stubs[3]", "*(u64 *)&head", "head.insn[-1]", "sizeof sizeof 1", "(struct node *)ptr->next - ptr"} {
		f.Add(c)
	}
	env := synthEnv(f)
	f.Fuzz(func(t *testing.T, expr string) {
		v, err := env.Eval(expr)
		if err == nil {
			env.Int(v)
			env.Address(v)
		}
	})
}

// TestModuleTypeFallback: a type the vmlinux's types lack is looked up
// through Env.LookupType (a loaded module's BTF in the REPL), in casts
// and sizeof; without LookupType it stays unknown.
func TestModuleTypeFallback(t *testing.T) {
	t.Parallel()
	env := synthEnv(t)
	if _, err := env.Eval("sizeof(struct modonly)"); err == nil {
		t.Fatal("struct modonly known without a fallback")
	}
	node, err := env.Ctx.Types.Lookup("struct node")
	if err != nil {
		t.Fatal(err)
	}
	env.LookupType = func(name string) (ctype.Type, error) {
		if name == "struct modonly" {
			return node, nil // any complete type: the fallback's answer is used as is
		}
		return nil, errors.New("not found")
	}
	v, err := env.Eval("sizeof(struct modonly)")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := env.Int(v); int64(got) != node.Size() {
		t.Errorf("sizeof(struct modonly) = %d, want %d", got, node.Size())
	}
	if v, err := env.Eval("((struct modonly *)0xc000000001000000)->id"); err != nil {
		t.Errorf("cast to the fallback type: %v", err)
	} else if got, _ := env.Int(v); int32(got) != -2 {
		t.Errorf("->id = %d, want -2 (synthEnv's first node)", got)
	}
}
