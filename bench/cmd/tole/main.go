// Command tole rewrites a dump that kdump-inspect reads (QEMU < 8.0's ELF
// with big-endian headers for a little-endian guest, a flattened or
// kdump-compressed file) as a plain little-endian ELF vmcore: physical
// PT_LOADs with the linear-map p_vaddr a kdump vmcore has, one
// NT_PRSTATUS per CPU and the VMCOREINFO note (the dump's, else the
// kernel's own copy found in memory: kernel.ScanVMCOREINFO). It exists so that crash,
// which opens neither of QEMU 7.2's dumps of the distro kernel, can be
// held against the same memory (bench/vs-crash/README.md).
//
// The whole of memory is held in memory while the file is built.
//
// usage: tole DUMP OUT
//
// Layer: bench, outside the tool (docs/ARCHITECTURE.md).
package main

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/gen/coregen"
	"github.com/kdump-inspect/kdump-inspect/kernel"

	// The DWARF type and line readers the models ask for.
	_ "github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: tole DUMP OUT")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "tole:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	d, err := dump.Open([]string{in}, dump.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	le := binary.LittleEndian
	e := coregen.ELF{Order: le}
	for i, pr := range d.CPUs {
		r := coregen.PPC64Regs{GPR: pr.GPR, NIP: pr.NIP, MSR: pr.MSR, OrigGPR3: pr.OrigGPR3, CTR: pr.CTR, Link: pr.Link,
			XER: pr.XER, CCR: pr.CCR, SoftE: pr.SoftE, Trap: pr.Trap, DAR: pr.DAR, DSISR: pr.DSISR, Result: pr.Result}
		e.Notes = append(e.Notes, coregen.Note{Name: "CORE", Type: uint32(elf.NT_PRSTATUS), Desc: coregen.PRStatusPPC64(le, int32(i+1), r)})
	}
	if d.VMCOREINFORaw != nil {
		e.Notes = append(e.Notes, coregen.Note{Name: "VMCOREINFO", Desc: d.VMCOREINFORaw})
	} else if text, pa, err := kernel.ScanVMCOREINFO(d); err == nil {
		// QEMU's dumps of a pseries guest have no note: the kernel's own
		// copy, so that drgn (which needs it) can read the file too.
		fmt.Fprintf(os.Stderr, "tole: VMCOREINFO from the kernel's page at physical %#x\n", pa)
		e.Notes = append(e.Notes, coregen.Note{Name: "VMCOREINFO", Desc: text})
	} else {
		fmt.Fprintf(os.Stderr, "tole: no VMCOREINFO note, and none found in memory: %v\n", err)
	}
	for _, r := range d.Ranges {
		b := make([]byte, r.End-r.Start)
		for off := uint64(0); off < uint64(len(b)); off += 1 << 20 {
			end := min(off+1<<20, uint64(len(b)))
			if _, err := d.Phys.ReadAt(b[off:end], r.Start+off); err != nil {
				if _, ok := dump.IsFault(err); !ok {
					return err
				}
				// Pages the dump lacks stay zero here, as crash would
				// read them from a dump that excluded them as zero pages.
			}
		}
		s := coregen.Segment{Paddr: r.Start, Data: b}
		if r.End <= 1<<40 { // the linear map, as a kdump vmcore's p_vaddr
			s.Vaddr = ppc64.PageOffset + r.Start
		}
		e.Segments = append(e.Segments, s)
	}
	return os.WriteFile(out, e.Bytes(), 0o644)
}
