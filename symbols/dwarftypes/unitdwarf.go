package dwarftypes

// Per-unit type decoding.
//
// debug/dwarf's New parses the header and the abbreviation table of every
// unit before it returns: 131 ms, and all of .debug_abbrev resident, on a
// distro vmlinux of 2176 units, for a job that decodes about fifteen
// types from a handful of units (docs/PERFORMANCE.md, section 8). So when
// the DWARF is mapped (rawDWARF), Types decodes a type through a
// dwarf.Data made over the bytes of its own unit alone — dwarf.New over
// one unit of .debug_info with the whole .debug_abbrev, .debug_str,
// .debug_line_str, .debug_str_offsets and .debug_addr — at the index's
// offset minus the unit's start, and makes the whole-file Data only when
// something asks for it (Types.Data: `dis -l`'s unit lookup by address,
// the example extractor).
//
// A one-unit Data decodes a type as the whole-file one does as long as no
// attribute of the unit leaves it: its abbreviation table decides, once
// per unit and before anything is decoded from it. A form that refers to
// another unit or file (DW_FORM_ref_addr, ref_sig8, ref_sup4/8,
// strp_sup, GNU_ref_alt, GNU_strp_alt), one known only per DIE
// (DW_FORM_indirect), or the 64-bit DWARF format (whose first bytes
// debug/dwarf's byte-order guess misreads when it is the first unit of a
// Data) sends the whole unit to the whole-file Data. The equality of the
// two decodings on every type the jobs resolve is tested on the corpus
// and distro vmlinux (unitdwarf_test.go).

import (
	"debug/dwarf"
	"fmt"
	"sort"
)

// unitData is what Types decodes the DIEs of one unit with.
type unitData struct {
	d     *dwarf.Data  // nil: the unit is decoded through the whole-file Data
	base  dwarf.Offset // the unit's offset in .debug_info (0 with the whole-file Data)
	alone bool         // d is the unit's own Data
	why   string       // why the unit is not decoded alone
}

// unitFor returns the unit of raw.info holding off, as the offset of its
// header (the largest unit start ≤ off). The unit starts come from the
// index (cached with it) when they are plausible, else from reading every
// unit header.
func (t *Source) unitFor(off dwarf.Offset) (int, error) {
	t.unitsOnce.Do(func() {
		if s := t.ix.UnitStarts; plausibleStarts(s, len(t.raw.info)) {
			t.unitStarts = s
			return
		}
		t.unitStarts, _, t.unitsErr = listUnits(t.raw)
	})
	if t.unitsErr != nil {
		return 0, t.unitsErr
	}
	i := sort.Search(len(t.unitStarts), func(i int) bool { return t.unitStarts[i] > int(off) })
	if i == 0 || int64(off) >= int64(len(t.raw.info)) {
		return 0, fmt.Errorf("no DWARF unit holds offset %#x", off)
	}
	return t.unitStarts[i-1], nil
}

// plausibleStarts: the first unit at 0, strictly increasing, inside the
// section. (Each start is checked again when its header is parsed.)
func plausibleStarts(s []int, size int) bool {
	if len(s) == 0 || s[0] != 0 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			return false
		}
	}
	return s[len(s)-1] < size
}

// unitSafe reports whether the unit at start can be decoded by a Data of
// its own (see the top of this file), and why not.
func unitSafe(raw *rawDWARF, start int) (end int, safe bool, why string, err error) {
	w := &unitWalker{raw: raw}
	if _, err := w.unitHeader(start); err != nil {
		return 0, false, "", err
	}
	if w.offSize == 8 {
		return w.end, false, "64-bit DWARF", nil
	}
	for _, s := range w.arena {
		switch s.form {
		case formRefAddr, formRefSig8, formRefSup4, formRefSup8, formStrpSup,
			formGNURefAlt, formGNUStrpAlt, formIndirect:
			return w.end, false, fmt.Sprintf("form %#x (attribute %#x)", s.form, s.attr), nil
		}
	}
	return w.end, true, "", nil
}

// dataFor returns the Data to decode the DIE at off (a .debug_info
// offset) with, and the offset to subtract from off for it. Without
// mapped sections that is the whole-file Data. The choice for a unit is
// made once and kept.
func (t *Source) dataFor(off dwarf.Offset) (unitData, error) {
	if t.raw == nil {
		d, err := t.Data()
		return unitData{d: d}, err
	}
	start, err := t.unitFor(off)
	if err != nil {
		return unitData{}, err
	}
	t.mu.Lock()
	u, ok := t.units[start]
	if !ok {
		u = t.newUnitData(start)
		t.units[start] = u
	}
	t.mu.Unlock()
	if u.d == nil {
		d, err := t.Data()
		return unitData{d: d, why: u.why}, err
	}
	return u, nil
}

// newUnitData makes the Data of the unit at start, or says why the unit
// is left to the whole-file Data.
func (t *Source) newUnitData(start int) unitData {
	end, safe, why, err := unitSafe(t.raw, start)
	if err != nil {
		return unitData{why: err.Error()}
	}
	if !safe {
		return unitData{why: why}
	}
	d, err := t.raw.newData(t.raw.info[start:end:end])
	if err != nil {
		return unitData{why: err.Error()}
	}
	return unitData{d: d, base: dwarf.Offset(start), alone: true}
}

// Data returns the whole-file debug/dwarf Data, parsing every unit header
// the first time it is called on a Types loaded from a mapped vmlinux
// (LoadFile). Type lookups do not need it; callers that decode types
// through it themselves must not do so concurrently with each other (its
// type cache is not goroutine-safe).
func (t *Source) Data() (*dwarf.Data, error) {
	t.wholeOnce.Do(func() {
		if t.whole == nil && t.raw != nil {
			t.whole, t.wholeErr = t.raw.whole()
		}
		if t.whole == nil && t.wholeErr == nil {
			t.wholeErr = fmt.Errorf("no DWARF data")
		}
	})
	return t.whole, t.wholeErr
}
