package elfobj_test

import (
	"debug/elf"
	"os"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
)

// BenchmarkOpenSymtab: what opening a vmlinux costs up to its symbol
// table's bytes (the headers, the section names, .symtab and .strtab
// read), elfobj against debug/elf, on the example's vmlinux.
func BenchmarkOpenSymtab(b *testing.B) {
	path, err := container.Open("../testdata/example/buggy-radix/vmlinux.zst")
	if err != nil {
		b.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	b.Run("elfobj", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f, err := elfobj.NewFile(fh)
			if err != nil {
				b.Fatal(err)
			}
			st := f.SectionByType(elfobj.SHT_SYMTAB)
			if _, err := st.Data(); err != nil {
				b.Fatal(err)
			}
			if _, err := f.Sections[st.Link].Data(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("debug-elf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f, err := elf.NewFile(fh)
			if err != nil {
				b.Fatal(err)
			}
			st := f.SectionByType(elf.SHT_SYMTAB)
			if _, err := st.Data(); err != nil {
				b.Fatal(err)
			}
			if _, err := f.Sections[st.Link].Data(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
