package repl

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/dwarftest"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// TestModuleSourceLinesX86Arm64: `dis -l` of a module function on x86_64
// and arm64, whose .ko's .rela.debug_line use R_X86_64_64/R_X86_64_32 and
// R_AARCH64_ABS64/ABS32 (it knew only ppc64's relocation types and gave 357
// "relocation type 10 not applied" notes and no line). Every instruction
// of livepatch_cmdline_proc_show (samples/livepatch/livepatch-sample.c)
// must have the line debug/dwarf's own line reader gives for its offset
// in the .ko (debug/elf applies the relocations itself), and no note.
func TestModuleSourceLinesX86Arm64(t *testing.T) {
	for _, c := range []struct{ arch, dump, vmlinux string }{
		{"x86", "livepatch-kaslr", "vmlinux"},
		{"arm64", "livepatch-kaslr", "vmlinux.zst"},
	} {
		t.Run(c.arch, func(t *testing.T) {
			dir := testcorpus.Corpora(t, c.arch, c.dump)
			if testing.Short() {
				t.Skip("-short: opens a 1 GiB dump")
			}
			ko := filepath.Join(dir, "modules", "livepatch-sample.ko")
			want := koLines(t, ko, "livepatch_cmdline_proc_show")
			p, err := kernel.Open([]string{filepath.Join(dir, "vmcore.kdump")}, kernel.Options{Vmlinux: filepath.Join(dir, c.vmlinux),
				ModuleDirs: []string{filepath.Join(dir, "modules")}, CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var errb strings.Builder
			s := New(p, Options{Out: os.Stdout, Err: &errb})
			lines := disJSON(t, s, "dis -l livepatch_cmdline_proc_show")
			if len(lines) < 3 {
				t.Fatalf("%d instructions", len(lines))
			}
			start := lines[0].Addr
			for _, l := range lines {
				w := want(uint64(l.Addr - start))
				if len(w) == 0 {
					t.Errorf("%#x: no row in the .ko's line table", l.Addr)
					continue
				}
				if !slices.Contains(w, l.Line) || !strings.HasSuffix(l.File, "samples/livepatch/livepatch-sample.c") {
					t.Errorf("%#x (+%#x): %s:%d, debug/dwarf says livepatch-sample.c:%v", l.Addr, l.Addr-start, l.File, l.Line, w)
				}
			}
			if errb.Len() > 0 {
				t.Errorf("notes: %s", errb.String())
			}
		})
	}
}

// koLines returns the lines of the rows that cover an offset into fn (the
// rows at the greatest address not above it, in one sequence), from the
// .ko's line table as debug/dwarf reads it (with debug/elf's relocations).
func koLines(t *testing.T, path, fn string) func(off uint64) []int {
	t.Helper()
	f := testcorpus.OpenELF(t, path)
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	var sym elf.Symbol
	for _, s := range syms {
		if s.Name == fn && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			sym = s
		}
	}
	if sym.Name == "" || int(sym.Section) >= len(f.Sections) || f.Sections[sym.Section].Name != ".text" {
		t.Fatalf("%s: no %s in .text", path, fn)
	}
	d, err := f.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		addr uint64
		line int
		end  bool
	}
	var rows []row
	r := d.Reader()
	for e := range dwarftest.Entries(t, r) {
		if e.Tag != dwarf.TagCompileUnit {
			r.SkipChildren()
			continue
		}
		lr, err := d.LineReader(e)
		if err != nil || lr == nil {
			t.Fatalf("line reader: %v", err)
		}
		for {
			var le dwarf.LineEntry
			if err := lr.Next(&le); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(le.File.Name, "livepatch-sample.c") || le.EndSequence {
				rows = append(rows, row{le.Address, le.Line, le.EndSequence})
			}
		}
		r.SkipChildren()
	}
	return func(off uint64) []int {
		a := sym.Value + off
		var lines []int
		at := uint64(0)
		for _, rw := range rows {
			switch {
			case rw.addr > a:
			case rw.end:
				if rw.addr <= a {
					lines = nil
				}
			case rw.addr != at:
				if rw.addr > at || lines == nil {
					at, lines = rw.addr, []int{rw.line}
				}
			default:
				lines = append(lines, rw.line)
			}
		}
		return lines
	}
}
