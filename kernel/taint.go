package kernel

import (
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// Taint is one taint flag as the kernel's taint_flags[] describes it
// (kernel/panic.c): its bit, letters and whether modules carry it.
type Taint struct {
	Bit    int
	True   byte // the letter when set ('O', 'K', ...)
	False  byte // the letter when clear (' ' or '-')
	Module bool // module_flags() shows it for a module
	Desc   string
}

// Taints reads the kernel's taint_flags[] table (one entry per TAINT_*
// bit), so that letters come from the kernel itself, not a copy of its
// source.
func (p *Program) Taints() ([]Taint, error) {
	v, err := p.Variable("taint_flags")
	if err != nil {
		return nil, err
	}
	at, ok := symbols.Underlying(v.Type).(*ctype.ArrayType)
	if !ok || at.Count <= 0 || at.Count > 64 {
		return nil, fmt.Errorf("taint_flags is %s, not an array of at most 64", v.Type)
	}
	var out []Taint
	for i := int64(0); i < at.Count; i++ {
		e, err := v.Index(i)
		if err != nil {
			return out, err
		}
		t := Taint{Bit: int(i)}
		if m, err := e.Member("c_true"); err == nil {
			x, _ := m.Uint()
			t.True = byte(x)
		}
		if m, err := e.Member("c_false"); err == nil {
			x, _ := m.Uint()
			t.False = byte(x)
		}
		// Kernels whose struct taint_flag has no "module" member show
		// every taint set on a module (module_flags_taint()).
		t.Module = true
		if m, err := e.Member("module"); err == nil {
			x, _ := m.Uint()
			t.Module = x != 0
		}
		if m, err := e.Member("desc"); err == nil {
			t.Desc, _ = m.CString(64)
		}
		out = append(out, t)
	}
	return out, nil
}

// ModuleTaintLetters is module_flags()'s taint part: the letters of the
// module-relevant taints set in bits, in table order ("OK").
func ModuleTaintLetters(table []Taint, bits uint64) string {
	var s []byte
	for _, t := range table {
		if t.Module && t.Bit < 64 && bits&(1<<t.Bit) != 0 && t.True != 0 {
			s = append(s, t.True)
		}
	}
	return string(s)
}
