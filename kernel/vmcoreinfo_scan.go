package kernel

// VMCOREINFO found in memory without a symbol to find it by. A QEMU
// dump-guest-memory of a pseries guest has no VMCOREINFO note (QEMU
// copies one only from its fw_cfg vmcoreinfo device, which pseries does
// not have), and without a vmlinux there is no vmcoreinfo_data symbol to
// follow (vmcoreinfoFromMemory). But the kernel keeps the text at the
// start of a page of its own, twice: crash_save_vmcoreinfo_init()
// (kernel/vmcore_info.c) allocates vmcoreinfo_data with
// get_zeroed_page() — the text itself, "OSRELEASE=..." first — and
// vmcoreinfo_note with alloc_pages_exact() — the same text in an ELF note
// named "VMCOREINFO" (update_vmcoreinfo_note()). Both are allocated at
// boot, so they lie low in physical memory (64–80 MiB in the Debian
// dumps). scanVMCOREINFO looks at the first bytes of every 4 KiB page of
// the dump from the bottom up, and takes the first page that holds
// either form and parses with the symbols no-vmlinux needs.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/dump"
)

const (
	// scanStep is the smallest page size the kernel can have: both
	// pages are aligned to it whatever PAGE_SIZE is.
	scanStep = 4096
	// maxScanBytes bounds the physical address space looked at.
	maxScanBytes = 8 << 30
	// vmcoreinfoBytes is VMCOREINFO_BYTES (PAGE_SIZE), at least: the text
	// is read up to its NUL within this many bytes.
	vmcoreinfoBytes = 64 << 10
)

var noteName = []byte("VMCOREINFO\x00")

// scanVMCOREINFO finds the kernel's VMCOREINFO text in physical memory
// (the file's comment): the parsed text and the physical address of the
// page that held it.
func scanVMCOREINFO(phys dump.Memory, ranges []dump.Range, order binary.ByteOrder) (*dump.VMCOREINFO, uint64, error) {
	info, _, pa, err := scanVMCOREINFOText(phys, ranges, order)
	return info, pa, err
}

// ScanVMCOREINFO finds the kernel's VMCOREINFO text in a dump's physical
// memory without a vmlinux (for a dump that has no VMCOREINFO note: QEMU's
// of a pseries guest): the text and the physical address of the page it
// starts.
func ScanVMCOREINFO(d *dump.Dump) ([]byte, uint64, error) {
	if d.Phys == nil || d.MemoryOrder == nil {
		return nil, 0, errors.New("no physical memory, or its byte order unknown")
	}
	_, text, pa, err := scanVMCOREINFOText(d.Phys, d.Ranges, d.MemoryOrder)
	return text, pa, err
}

func scanVMCOREINFOText(phys dump.Memory, ranges []dump.Range, order binary.ByteOrder) (*dump.VMCOREINFO, []byte, uint64, error) {
	scanned := uint64(0)
	head := make([]byte, vmciHead)
	for _, r := range ranges {
		start := (r.Start + scanStep - 1) &^ (scanStep - 1)
		for pa := start; pa+vmciHead <= r.End; pa += scanStep {
			if scanned >= maxScanBytes {
				return nil, nil, 0, fmt.Errorf("no VMCOREINFO page in the first %d MiB of physical memory", maxScanBytes>>20)
			}
			scanned += scanStep
			info, text, err := vmcoreinfoAtPage(phys, order, pa, head)
			if err != nil {
				continue
			}
			return info, text, pa, nil
		}
	}
	return nil, nil, 0, errors.New("no page of physical memory starts with the VMCOREINFO text or note")
}

// vmciHead is how much of a page vmcoreinfoAtPage looks at first.
const vmciHead = 24

// errNotVMCOREINFOPage: the page starts with neither form.
var errNotVMCOREINFOPage = errors.New("the page starts with neither the VMCOREINFO text nor its note")

// vmcoreinfoAtPage reads the VMCOREINFO text at the page at pa, as the
// text itself or in its note, as the scan takes it.
// head is a buffer of vmciHead bytes (the scan's, reused page after
// page).
func vmcoreinfoAtPage(phys dump.Memory, order binary.ByteOrder, pa uint64, head []byte) (*dump.VMCOREINFO, []byte, error) {
	head = head[:vmciHead]
	if n, _ := phys.ReadAt(head, pa); n < len(head) {
		return nil, nil, errNotVMCOREINFOPage
	}
	var textAt uint64
	var limit uint64 = vmcoreinfoBytes
	switch {
	case bytes.HasPrefix(head, []byte("OSRELEASE=")):
		textAt = pa
	case order.Uint32(head[0:]) == uint32(len(noteName)) && order.Uint32(head[8:]) == 0 && bytes.Equal(head[12:23], noteName):
		textAt = pa + 24 // Elf64_Nhdr, then the name padded to 4
		if n := uint64(order.Uint32(head[4:])); n > 0 && n < limit {
			limit = n
		}
	default:
		return nil, nil, errNotVMCOREINFOPage
	}
	return readVMCOREINFOText(phys, textAt, limit)
}

// readVMCOREINFOText reads the text at pa (up to its NUL, at most limit
// bytes) and parses it; a text without OSRELEASE and the kallsyms tables
// is not the one sought (a stray copy, a page that only starts alike).
func readVMCOREINFOText(phys dump.Memory, pa, limit uint64) (*dump.VMCOREINFO, []byte, error) {
	buf := make([]byte, 0, scanStep)
	chunk := make([]byte, scanStep)
	for uint64(len(buf)) < limit {
		n := min(uint64(len(chunk)), limit-uint64(len(buf)))
		got, _ := phys.ReadAt(chunk[:n], pa+uint64(len(buf)))
		buf = append(buf, chunk[:got]...)
		if i := bytes.IndexByte(chunk[:got], 0); i >= 0 || uint64(got) < n {
			break
		}
	}
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	info, err := dump.ParseVMCOREINFO(buf)
	if err != nil {
		return nil, nil, err
	}
	if info.OSRELEASE == "" {
		return nil, nil, errors.New("no OSRELEASE")
	}
	if _, ok := info.Symbol("kallsyms_names"); !ok {
		return nil, nil, errors.New("no SYMBOL(kallsyms_names)")
	}
	return info, buf, nil
}
