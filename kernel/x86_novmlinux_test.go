package kernel

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/kdump-inspect/kdump-inspect/arch/arm64"
	_ "github.com/kdump-inspect/kdump-inspect/arch/x86"
	"github.com/kdump-inspect/kdump-inspect/internal/gen/coregen"
)

// TestX86NoVmlinuxRefusals: an x86_64 dump opened without a vmlinux needs
// VMCOREINFO (the note, else the kernel's copy in memory) naming the
// kallsyms tables and NUMBER(phys_base), which maps the kernel image
// before setup (x86.EarlyFrom); each missing piece is named, and kallsyms
// tables outside the dump's memory are a read fault at their address,
// never an empty symbol table.
func TestX86NoVmlinuxRefusals(t *testing.T) {
	const ksyms = "SYMBOL(kallsyms_names)=ffffffff82000000\nSYMBOL(kallsyms_num_syms)=ffffffff81fffff0\nSYMBOL(kallsyms_token_table)=ffffffff82100000\nSYMBOL(kallsyms_token_index)=ffffffff82200000\nSYMBOL(kallsyms_offsets)=ffffffff82300000\n"
	for _, c := range []struct {
		name, info string
		want       []string
	}{
		{"no VMCOREINFO", "", []string{"no VMCOREINFO in the dump or in its memory", "no kallsyms to take the symbols from; without VMCOREINFO the layout (KASLR offset, phys_base) is found from the QEMU CPU state by holding the IDT's gate handlers against the vmlinux's symbols"}},
		{"no kallsyms tables", "OSRELEASE=7.2.13\nPAGESIZE=4096\nKERNELOFFSET=0\nNUMBER(phys_base)=0\n", []string{"VMCOREINFO names no kallsyms tables"}},
		{"no phys_base", "OSRELEASE=7.2.13\nPAGESIZE=4096\nKERNELOFFSET=0\n" + ksyms, []string{"x86_64 maps its kernel image at __START_KERNEL_map + phys_base", "VMCOREINFO lacks NUMBER(phys_base)"}},
		{"tables outside memory", "OSRELEASE=7.2.13\nPAGESIZE=4096\nKERNELOFFSET=0\nNUMBER(phys_base)=0\n" + ksyms, []string{"reading kallsyms (VMCOREINFO names its tables): kallsyms_num_syms: reading 4 bytes at 0xffffffff81fffff0"}},
	} {
		e := &coregen.ELF{Machine: elf.EM_X86_64, Segments: []coregen.Segment{{Paddr: 0, Data: make([]byte, 1<<16)}}}
		if c.info != "" {
			e.Notes = []coregen.Note{{Name: "VMCOREINFO", Desc: []byte(c.info)}}
		}
		p := filepath.Join(t.TempDir(), "vmcore")
		if err := os.WriteFile(p, e.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open([]string{p}, Options{DumpOnly: true, CacheDir: t.TempDir()})
		if err == nil {
			t.Fatalf("%s: opened", c.name)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\nwant %q", c.name, err, w)
			}
		}
	}
}

// The committed x86 and arm64 extracts (testdata/example) are dump-only
// capable (cmd/mkexample keeps the pages a session on the dump alone
// reads): analysis.TestDumpOnlyExamples opens them without their vmlinux
// and holds them against their truth.json.
