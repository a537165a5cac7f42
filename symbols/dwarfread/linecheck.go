package dwarfread

import (
	"encoding/binary"
	"fmt"
)

// checkLineHeader validates the header of the line program at the start of
// b before delve's reader sees it: delve trusts the counts and lengths it
// reads (make([]T, 0, count) of a hostile ULEB count is an allocation no
// recover catches), reads little-endian 32-bit DWARF only, and divides by
// line_range. It walks the header as DWARF 5 section 6.2.4 lays it out
// (DWARF 2-4 for the older versions) and checks that every count and block
// fits in the unit. It does not check the opcodes (delve's state machine
// bounds those by the unit, under recover).
func checkLineHeader(b []byte) error {
	c := &lcur{b: b}
	unitLen := c.u32()
	if c.err != nil {
		return c.err
	}
	if unitLen >= 0xfffffff0 {
		return fmt.Errorf("unit length %#x: 64-bit DWARF or reserved, not supported", unitLen)
	}
	if uint64(unitLen) > uint64(len(b)-4) {
		return fmt.Errorf("unit length %#x beyond the section (%#x bytes left)", unitLen, len(b)-4)
	}
	c.b = b[:4+unitLen]
	version := c.u16()
	if version < 2 || version > 5 {
		return fmt.Errorf("line table version %d", version)
	}
	if version >= 5 {
		if as := c.u8(); c.err == nil && as != 8 {
			return fmt.Errorf("address size %d, want 8", as)
		}
		if ss := c.u8(); c.err == nil && ss != 0 {
			return fmt.Errorf("segment selector size %d", ss)
		}
	}
	hdrLen := c.u32()
	if c.err == nil && uint64(hdrLen) > uint64(len(c.b)-c.off) {
		return fmt.Errorf("header length %#x beyond the unit", hdrLen)
	}
	c.u8() // minimum_instruction_length
	if version >= 4 {
		c.u8() // maximum_operations_per_instruction
	}
	c.u8() // default_is_stmt
	c.u8() // line_base
	if lr := c.u8(); c.err == nil && lr == 0 {
		return fmt.Errorf("line_range 0")
	}
	ob := c.u8()
	if c.err == nil && (ob == 0 || ob > 13) {
		// Above 13 (DWARF 3-5's standard opcodes end at 12), delve's
		// state machine prints every vendor opcode it meets on stdout,
		// into the session's output: refused.
		return fmt.Errorf("opcode_base %d (want 1..13)", ob)
	}
	c.skip(int(ob) - 1)
	if version < 5 {
		// include_directories and file_names: NUL-terminated lists; a
		// walk bounded by the unit.
		for c.err == nil && c.cstr() != 0 {
		}
		for c.err == nil {
			if c.cstr() == 0 {
				break
			}
			c.uleb()
			c.uleb()
			c.uleb()
		}
		return c.err
	}
	for range 2 { // directories, then file names
		nfmt := int(c.u8())
		forms := make([]uint64, 0, nfmt)
		for range nfmt {
			c.uleb() // content type
			forms = append(forms, c.uleb())
		}
		count := c.uleb()
		if c.err != nil {
			return c.err
		}
		// Every entry takes at least one byte per format (or none with no
		// formats, which makes a count > 0 meaningless).
		if count > uint64(len(c.b)-c.off) || (nfmt == 0 && count > 0) {
			return fmt.Errorf("entry count %d does not fit the unit", count)
		}
		for range count {
			for _, f := range forms {
				c.form(f)
			}
			if c.err != nil {
				return c.err
			}
		}
	}
	return c.err
}

// lcur is a sticky-error cursor over a line program header.
type lcur struct {
	b   []byte
	off int
	err error
}

func (c *lcur) need(n int) bool {
	if c.err != nil {
		return false
	}
	if n < 0 || n > len(c.b)-c.off {
		c.err = fmt.Errorf("line table header truncated at offset %#x", c.off)
		return false
	}
	return true
}

func (c *lcur) skip(n int) {
	if c.need(n) {
		c.off += n
	}
}

func (c *lcur) u8() uint8 {
	if !c.need(1) {
		return 0
	}
	c.off++
	return c.b[c.off-1]
}

func (c *lcur) u16() uint16 {
	if !c.need(2) {
		return 0
	}
	c.off += 2
	return binary.LittleEndian.Uint16(c.b[c.off-2:])
}

func (c *lcur) u32() uint32 {
	if !c.need(4) {
		return 0
	}
	c.off += 4
	return binary.LittleEndian.Uint32(c.b[c.off-4:])
}

func (c *lcur) uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		b := c.u8()
		if c.err != nil {
			return 0
		}
		if shift < 64 {
			v |= uint64(b&0x7f) << shift
		}
		if b&0x80 == 0 {
			return v
		}
	}
}

// cstr skips a NUL-terminated string and returns its length.
func (c *lcur) cstr() int {
	for n := 0; ; n++ {
		if b := c.u8(); c.err != nil || b == 0 {
			return n
		}
	}
}

// form skips one attribute value of the forms delve's reader knows
// (parse_util.go); any other form is refused.
func (c *lcur) form(f uint64) {
	switch f {
	case 0x08: // DW_FORM_string
		c.cstr()
	case 0x0b, 0x0c, 0x25: // data1, flag, strx1
		c.skip(1)
	case 0x05, 0x26: // data2, strx2
		c.skip(2)
	case 0x27: // strx3
		c.skip(3)
	case 0x06, 0x1f, 0x17, 0x0e, 0x28: // data4, line_strp, sec_offset, strp, strx4
		c.skip(4)
	case 0x07: // data8
		c.skip(8)
	case 0x1e: // data16
		c.skip(16)
	case 0x0d, 0x0f, 0x1a: // sdata, udata, strx
		c.uleb()
	case 0x09: // block
		n := c.uleb()
		if n > uint64(len(c.b)) {
			c.err = fmt.Errorf("block of %d bytes beyond the unit", n)
			return
		}
		c.skip(int(n))
	case 0x0a: // block1
		c.skip(int(c.u8()))
	case 0x03: // block2
		c.skip(int(c.u16()))
	case 0x04: // block4
		n := c.u32()
		if uint64(n) > uint64(len(c.b)) {
			c.err = fmt.Errorf("block of %d bytes beyond the unit", n)
			return
		}
		c.skip(int(n))
	default:
		if c.err == nil {
			c.err = fmt.Errorf("unsupported form %#x in the line table header", f)
		}
	}
}

// sequenceRanges returns the [first row, end_sequence) address range of
// every sequence of the line program at the start of b (checked by
// checkLineHeader first). Delve's PCToLine answers "file 1, line 1" for a
// pc past the last sequence of a program, so coverage is decided here: a
// minimal run of the state machine's address register (DWARF 5 section
// 6.2.5; op_index is ignored, maximum_operations_per_instruction being 1
// on ppc64).
func sequenceRanges(b []byte) ([][2]uint64, error) {
	c := &lcur{b: b}
	unitLen := c.u32()
	if c.err != nil || uint64(unitLen) > uint64(len(b)-4) {
		return nil, fmt.Errorf("unit length %#x beyond the section", unitLen)
	}
	c.b = b[:4+int(unitLen)]
	version := c.u16()
	if version >= 5 {
		c.skip(2)
	}
	hdrLen := c.u32()
	progStart := c.off + int(hdrLen)
	minInst := uint64(c.u8())
	if version >= 4 {
		c.u8()
	}
	c.u8()
	c.u8()
	lineRange := c.u8()
	opBase := c.u8()
	if c.err != nil {
		return nil, c.err
	}
	if lineRange == 0 || opBase == 0 {
		return nil, fmt.Errorf("line_range %d, opcode_base %d", lineRange, opBase)
	}
	stdLens := make([]uint8, opBase-1)
	for i := range stdLens {
		stdLens[i] = c.u8()
	}
	c.off = 0
	c.skip(progStart)
	var out [][2]uint64
	var addr, first uint64
	rows := false
	row := func() {
		if !rows || addr < first {
			first = addr
		}
		rows = true
	}
	for c.err == nil && c.off < len(c.b) {
		op := c.u8()
		switch {
		case op >= opBase:
			addr += uint64((op-opBase)/lineRange) * minInst
			row()
		case op == 0: // extended
			n := c.uleb()
			if c.err != nil || n == 0 || n > uint64(len(c.b)-c.off) {
				return out, fmt.Errorf("extended opcode length %d at offset %#x", n, c.off)
			}
			end := c.off + int(n)
			switch c.u8() {
			case 1: // DW_LNE_end_sequence
				if rows && addr > first {
					out = append(out, [2]uint64{first, addr})
				}
				addr, rows = 0, false
			case 2: // DW_LNE_set_address
				if n == 9 {
					addr = binary.LittleEndian.Uint64(c.b[c.off:])
				}
			}
			c.off = end
		case op == 1: // DW_LNS_copy
			row()
		case op == 2: // DW_LNS_advance_pc
			addr += c.uleb() * minInst
		case op == 8: // DW_LNS_const_add_pc
			addr += uint64((255-opBase)/lineRange) * minInst
		case op == 9: // DW_LNS_fixed_advance_pc
			addr += uint64(c.u16())
		default: // other standard opcodes: skip their ULEB operands
			for range stdLens[op-1] {
				c.uleb()
			}
		}
	}
	return out, nil
}
