package kernel

import (
	"encoding/binary"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/dump"
)

// TestScanVMCOREINFO: the text found at the start of a page, in either of
// the kernel's two forms (vmcoreinfo_data's bare text, vmcoreinfo_note's
// ELF note) and either byte order; pages that only start alike (a text
// without the kallsyms tables, a note of another name, text not at a page
// start) are passed over; memory without it says so.
func TestScanVMCOREINFO(t *testing.T) {
	t.Parallel()
	text := []byte("OSRELEASE=7.2.13\nPAGESIZE=4096\nSYMBOL(kallsyms_names)=c000000001000000\n")
	stray := []byte("OSRELEASE=7.2.13\nPAGESIZE=4096\n")
	note := func(order binary.ByteOrder, name string, desc []byte) []byte {
		b := make([]byte, 12, 24+len(desc)+1)
		order.PutUint32(b[0:], uint32(len(name)+1))
		order.PutUint32(b[4:], uint32(len(desc)))
		order.PutUint32(b[8:], 0)
		n := append([]byte(name), 0)
		for len(n)%4 != 0 {
			n = append(n, 0)
		}
		return append(append(b, n...), desc...)
	}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, form := range []string{"text", "note"} {
			mem := regionMem{
				0x0000: append([]byte("xxOSRELEASE=1\n"), make([]byte, 4096)...), // not at a page start
				0x2000: append(stray, 0),                                         // no kallsyms tables
				0x3000: note(order, "CORE", text),                                // another note
			}
			want := uint64(0x7000)
			if form == "text" {
				mem[want] = append(append([]byte(nil), text...), 0)
			} else {
				mem[want] = note(order, "VMCOREINFO", text)
			}
			info, pa, err := scanVMCOREINFO(mem, []dump.Range{{Start: 0, End: 0x10000}}, order)
			if err != nil || pa != want || info.OSRELEASE != "7.2.13" {
				t.Errorf("%v %s: %+v at %#x, %v", order, form, info, pa, err)
				continue
			}
			if a, ok := info.Symbol("kallsyms_names"); !ok || a != 0xc000000001000000 {
				t.Errorf("%v %s: kallsyms_names %#x %v", order, form, a, ok)
			}
		}
	}
	if _, _, err := scanVMCOREINFO(regionMem{0x1000: append(stray, 0)}, []dump.Range{{Start: 0, End: 0x4000}}, binary.LittleEndian); err == nil {
		t.Error("memory without VMCOREINFO gave one")
	}
}
