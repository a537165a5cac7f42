package stack

import (
	"encoding/binary"
	"testing"
)

// debugFrame lays out one CIE and one FDE as GCC does for a ppc64 function
// at 0xc000000000010000 that makes a 32-byte frame (DWARF 5 §6.4):
//
//	CIE: code_align 4, data_align -8, return address register 65 (LR),
//	     DW_CFA_def_cfa r1, 0
//	FDE: [0xc000000000010000, +0x40):
//	     +0x0: CFA = r1, LR holds the return address
//	     DW_CFA_advance_loc 2 (8 bytes): after mflr r0
//	     DW_CFA_register 65, 0: the return address is in r0
//	     DW_CFA_advance_loc 1 (4 bytes): after stdu r1,-32(r1)
//	     DW_CFA_def_cfa_offset 32
//	     DW_CFA_offset_extended_sf 65, -2: saved at CFA + 16
func debugFrame() []byte {
	le := binary.LittleEndian
	cie := []byte{0xff, 0xff, 0xff, 0xff, 1, 0, 4, 0x78, 65, 0x0c, 1, 0}
	for len(cie)%8 != 4 {
		cie = append(cie, 0) // DW_CFA_nop
	}
	fde := le.AppendUint32(nil, 0) // CIE pointer
	fde = le.AppendUint64(fde, 0xc000000000010000)
	fde = le.AppendUint64(fde, 0x40)
	fde = append(fde, 0x40|2, 0x09, 65, 0, 0x40|1, 0x0e, 32, 0x11, 65, 0x7e)
	for len(fde)%8 != 4 {
		fde = append(fde, 0)
	}
	b := le.AppendUint32(nil, uint32(len(cie)))
	b = append(b, cie...)
	b = le.AppendUint32(b, uint32(len(fde)))
	return append(b, fde...)
}

func TestCFIRules(t *testing.T) {
	c, err := NewCFI(debugFrame(), binary.LittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pc   uint64
		want CFIRule
	}{
		{0xc000000000010000, CFIRule{CFAOffset: 0, RA: RAInLR}},
		{0xc000000000010008, CFIRule{CFAOffset: 0, RA: RAInR0}},
		{0xc00000000001000c, CFIRule{CFAOffset: 32, RA: RAInMemory, RAOffset: 16}},
		{0xc00000000001003c, CFIRule{CFAOffset: 32, RA: RAInMemory, RAOffset: 16}},
	} {
		if got, ok := c.Rule(tc.pc); !ok || got != tc.want {
			t.Errorf("Rule(%#x) = %+v, %v; want %+v", tc.pc, got, ok, tc.want)
		}
	}
	if _, ok := c.Rule(0xc000000000010040); ok {
		t.Error("a pc past the FDE has a rule")
	}
}

// FuzzCFI: any .debug_frame bytes, any pc: delve's parser runs under
// recover, so nothing may panic out of NewCFI or Rule.
func FuzzCFI(f *testing.F) {
	f.Add(debugFrame(), uint64(0xc00000000001000c))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, pc uint64) {
		c, err := NewCFI(b, binary.LittleEndian)
		if err != nil {
			return
		}
		c.Rule(pc)
		c.Rule(0xc000000000010000)
	})
}
