// Package extract cuts a small, real example out of a corpus dump: it
// records which physical pages and which DWARF types a job reads, and
// writes a QEMU-style ELF core holding only those pages, a minimal vmlinux
// (full symbol table, build-id note, linux_banner's bytes, DWARF re-emitted
// for the recorded types only) and the loaded modules' .ko files without
// their debug sections. cmd/mkexample drives it.
//
// It does not make a general-purpose dump: any read outside the recorded
// pages faults, and any type the job did not look up is absent. It never
// changes the corpus.
//
// Layer: generators (docs/ARCHITECTURE.md).
package extract

import (
	"sort"
	"strings"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// PageSize is the granularity of the page recorder: 4 KiB keeps the
// extract small even though the corpus kernel's pages are 64 KiB.
const PageSize = 4096

// PageRecorder is a dump.Memory that remembers every PageSize-aligned
// physical page from which it returned bytes.
type PageRecorder struct {
	Mem dump.Memory

	mu    sync.Mutex
	pages map[uint64]bool
}

// NewPageRecorder wraps m.
func NewPageRecorder(m dump.Memory) *PageRecorder {
	return &PageRecorder{Mem: m, pages: make(map[uint64]bool)}
}

// ReadAt reads through and records the pages of the bytes it returns.
func (r *PageRecorder) ReadAt(p []byte, addr uint64) (int, error) {
	n, err := r.Mem.ReadAt(p, addr)
	if n > 0 {
		r.mu.Lock()
		for pg := addr &^ (PageSize - 1); pg < addr+uint64(n); pg += PageSize {
			r.pages[pg] = true
		}
		r.mu.Unlock()
	}
	return n, err
}

// Pages returns the recorded page addresses, sorted.
func (r *PageRecorder) Pages() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]uint64, 0, len(r.pages))
	for pg := range r.pages {
		out = append(out, pg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// TypeRecorder wraps *symbols.Types and remembers every type name,
// variable and enumeration constant looked up through it. It satisfies
// kernel.TypeSource, ftrace.LayoutSource and ftrace.EnumSource.
type TypeRecorder struct {
	T *symbols.Types

	mu     sync.Mutex
	types  map[string]bool
	vars   map[string]bool
	consts map[string]bool
}

// NewTypeRecorder wraps t.
func NewTypeRecorder(t *symbols.Types) *TypeRecorder {
	return &TypeRecorder{T: t, types: map[string]bool{}, vars: map[string]bool{}, consts: map[string]bool{}}
}

func (r *TypeRecorder) add(m map[string]bool, k string) {
	r.mu.Lock()
	m[k] = true
	r.mu.Unlock()
}

// Lookup records name and looks it up.
func (r *TypeRecorder) Lookup(name string) (ctype.Type, error) {
	r.add(r.types, name)
	return r.T.Lookup(name)
}

// EnumConstant records name and looks it up.
func (r *TypeRecorder) EnumConstant(name string) (int64, error) {
	r.add(r.consts, name)
	return r.T.EnumConstant(name)
}

// Sizeof records typeName and looks it up.
func (r *TypeRecorder) Sizeof(typeName string) (int64, error) {
	r.add(r.types, typeName)
	return r.T.Sizeof(typeName)
}

// Offsetof records typeName and any enumeration constant used as an index.
func (r *TypeRecorder) Offsetof(typeName, path string) (int64, error) {
	r.add(r.types, typeName)
	for _, el := range strings.Split(path, ".") {
		if i := strings.IndexByte(el, '['); i >= 0 && strings.HasSuffix(el, "]") {
			r.add(r.consts, strings.TrimSpace(el[i+1:len(el)-1]))
		}
	}
	return r.T.Offsetof(typeName, path)
}

// VariableType records name and looks it up.
func (r *TypeRecorder) VariableType(name string) (ctype.Type, error) {
	r.add(r.vars, name)
	return r.T.VariableType(name)
}

// Names returns what was looked up: type names, variables, enumeration
// constants, each sorted.
func (r *TypeRecorder) Names() (types, vars, consts []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return sorted(r.types), sorted(r.vars), sorted(r.consts)
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
