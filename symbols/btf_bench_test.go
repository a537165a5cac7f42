package symbols

import (
	"testing"

	"github.com/kdump-inspect/kdump-inspect/ctype"
)

// closure converts every type reachable from t, completing the structs
// pointers point to: what debug/dwarf's eager decoding of a type gives,
// here over the whole vmlinux rather than one unit. It returns the number
// of types visited.
func closure(ts *Types, t ctype.Type, seen map[ctype.Type]bool) int {
	if t == nil || seen[t] {
		return 0
	}
	seen[t] = true
	n := 1
	switch x := t.(type) {
	case *ctype.StructType:
		if x.Incomplete {
			return n + closure(ts, ts.Complete(x), seen)
		}
		for _, f := range x.Field {
			n += closure(ts, f.Type, seen)
		}
	case *ctype.PtrType:
		n += closure(ts, x.Type, seen)
	case *ctype.ArrayType:
		n += closure(ts, x.Type, seen)
	case *ctype.TypedefType:
		n += closure(ts, x.Type, seen)
	case *ctype.QualType:
		n += closure(ts, x.Type, seen)
	case *ctype.FuncType:
		n += closure(ts, x.ReturnType, seen)
		for _, p := range x.ParamType {
			n += closure(ts, p, seen)
		}
	}
	return n
}

// BenchmarkBTFLoad: the distro vmlinux's .BTF (4.7 MB, 107 841 types),
// step by step: the section read from the opened file; parsed (every
// record's offset); with the name index (what LoadBTFTypes returns);
// then `struct module` resolved (Lookup: its members and what they hold
// by value); then as the jobs use it (every member's pointer target
// completed too); then fully (everything reachable through pointers,
// what debug/dwarf's eager decoding gives).
func BenchmarkBTFLoad(b *testing.B) {
	f, err := OpenELF(btfDistroVmlinux(b))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	data, err := f.BTFSection()
	if err != nil {
		b.Fatal(err)
	}
	load := func(b *testing.B) *Types {
		ts, err := LoadBTFTypes(data)
		if err != nil {
			b.Fatal(err)
		}
		return ts
	}
	module := func(b *testing.B, ts *Types) ctype.Type {
		m, err := ts.Lookup("struct module")
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	b.Run("section", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.BTFSection(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseBTF(data, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("index", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			load(b)
		}
	})
	b.Run("module", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			module(b, load(b))
		}
	})
	b.Run("module-jobs", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ts := load(b)
			for _, fl := range Fields(module(b, ts), nil) {
				if p, ok := Underlying(fl.Type).(*ctype.PtrType); ok {
					ts.Complete(p.Type)
				}
			}
		}
	})
	b.Run("module-closure", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			ts := load(b)
			n = closure(ts, module(b, ts), map[ctype.Type]bool{})
		}
		b.ReportMetric(float64(n), "types")
	})
}

// BenchmarkDWARFLoadStructModule is the DWARF path's equivalent of
// BenchmarkBTFLoad/module on the same file: Types from a warm name-index
// cache, then `struct module` decoded through its unit.
func BenchmarkDWARFLoadStructModule(b *testing.B) {
	f, err := OpenELF(btfDistroVmlinux(b))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	cache := b.TempDir()
	if _, err := LoadELFTypes(f, nil, cache); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ts, err := LoadELFTypes(f, nil, cache)
		if err != nil || !ts.FromCache {
			b.Fatal("not from the cache", err)
		}
		if _, err := ts.Lookup("struct module"); err != nil {
			b.Fatal(err)
		}
	}
}
