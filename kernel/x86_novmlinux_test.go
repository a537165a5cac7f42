package kernel

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/kdump-inspect/kdump-inspect/arch/x86"
	"github.com/kdump-inspect/kdump-inspect/internal/gen/coregen"
)

// TestX86NoVmlinuxNoVMCOREINFO: an x86_64 QEMU dump without VMCOREINFO
// opened without a vmlinux is refused, saying both reasons: x86_64 cannot
// read kallsyms before its layout is set up, and without VMCOREINFO the
// layout needs the vmlinux's symbols. With a VMCOREINFO note only the
// first is said.
func TestX86NoVmlinuxNoVMCOREINFO(t *testing.T) {
	for _, withInfo := range []bool{false, true} {
		e := &coregen.ELF{Machine: elf.EM_X86_64, Segments: []coregen.Segment{{Paddr: 0, Data: make([]byte, 1<<16)}}}
		if withInfo {
			e.Notes = []coregen.Note{{Name: "VMCOREINFO", Desc: []byte("OSRELEASE=7.2.13\nPAGESIZE=4096\nKERNELOFFSET=0\nNUMBER(phys_base)=0\n")}}
		}
		p := filepath.Join(t.TempDir(), "vmcore")
		if err := os.WriteFile(p, e.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open([]string{p}, Options{DumpOnly: true})
		if err == nil {
			t.Fatalf("with VMCOREINFO %v: opened", withInfo)
		}
		msg := err.Error()
		early := strings.Contains(msg, "x86_64 has no map of the kernel image's link-time addresses")
		layout := strings.Contains(msg, "the dump has no VMCOREINFO note: without VMCOREINFO the layout (KASLR offset, phys_base) is found from the QEMU CPU state")
		if !early || layout == withInfo {
			t.Errorf("with VMCOREINFO %v: %v", withInfo, err)
		}
	}
}
