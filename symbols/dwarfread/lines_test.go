package dwarfread

import (
	"encoding/binary"
	"testing"
)

// lineProgram builds a DWARF 4 line program for one file "a.c" (DWARF 4
// section 6.2): rows at base (line 1), base+8 (line 4), end of sequence at
// base+12.
func lineProgram(base uint64) []byte {
	hdr := []byte{
		4,                                  // minimum_instruction_length
		1,                                  // maximum_operations_per_instruction
		1,                                  // default_is_stmt
		0xfb,                               // line_base -5
		14,                                 // line_range
		13,                                 // opcode_base
		0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1, // standard_opcode_lengths
		0,                         // include_directories: none
		'a', '.', 'c', 0, 0, 0, 0, // file_names[1] = a.c, dir 0, mtime 0, length 0
		0, // end of file_names
	}
	prog := []byte{0, 9, 2} // DW_LNE_set_address
	prog = binary.LittleEndian.AppendUint64(prog, base)
	prog = append(prog,
		1,    // DW_LNS_copy: row (base, 1)
		2, 2, // DW_LNS_advance_pc 2*4
		3, 3, // DW_LNS_advance_line +3
		1,    // DW_LNS_copy: row (base+8, 4)
		2, 1, // DW_LNS_advance_pc 1*4
		0, 1, 1, // DW_LNE_end_sequence at base+12
	)
	var b []byte
	body := binary.LittleEndian.AppendUint16(nil, 4)
	body = binary.LittleEndian.AppendUint32(body, uint32(len(hdr)))
	body = append(body, hdr...)
	body = append(body, prog...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

func TestLineTableSynthetic(t *testing.T) {
	t.Parallel()
	const base = 0xc008000000840028
	lt := &LineTable{line: lineProgram(base), byOff: map[int64]*cuLines{}}
	cu := lt.parse(0, "/src")
	if cu == nil {
		t.Fatalf("parse failed: %v", lt.notes)
	}
	lt.units = []*cuLines{cu}
	for _, tc := range []struct {
		pc   uint64
		line int // 0: not covered
	}{
		{base, 1}, {base + 4, 1}, {base + 8, 4}, {base + 12, 0}, {base - 4, 0},
	} {
		var last *cuLines
		sl, ok := lt.lookup(tc.pc, base, &last)
		if tc.line == 0 {
			if ok {
				t.Errorf("%#x: %s:%d, want not covered", tc.pc, sl.File, sl.Line)
			}
			continue
		}
		if !ok || sl.Line != tc.line || sl.File != "/src/a.c" {
			t.Errorf("%#x: %s:%d %v, want /src/a.c:%d", tc.pc, sl.File, sl.Line, ok, tc.line)
		}
	}
}

func TestCheckLineHeader(t *testing.T) {
	t.Parallel()
	good := lineProgram(0x1000)
	if err := checkLineHeader(good); err != nil {
		t.Fatalf("good header refused: %v", err)
	}
	for name, mut := range map[string]func([]byte) []byte{
		"truncated":     func(b []byte) []byte { return b[:10] },
		"unit too long": func(b []byte) []byte { binary.LittleEndian.PutUint32(b, 1<<20); return b },
		"64-bit DWARF":  func(b []byte) []byte { binary.LittleEndian.PutUint32(b, 0xffffffff); return b },
		"version 9":     func(b []byte) []byte { b[4] = 9; return b },
		"line_range 0":  func(b []byte) []byte { b[14] = 0; return b },
	} {
		b := mut(append([]byte(nil), good...))
		if err := checkLineHeader(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzLineTable: any bytes as .debug_line: no panic escapes, no huge
// allocation (checkLineHeader bounds what delve's reader would trust).
func FuzzLineTable(f *testing.F) {
	f.Add(lineProgram(0x1000), uint64(0x1004))
	f.Add(lineProgram(0)[:20], uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, pc uint64) {
		lt := &LineTable{line: data, byOff: map[int64]*cuLines{}}
		if cu := lt.parse(0, ""); cu != nil {
			lt.units = []*cuLines{cu}
			var last *cuLines
			lt.lookup(pc, 0, &last)
			lt.lookup(pc, pc&^3, &last)
		}
	})
}
