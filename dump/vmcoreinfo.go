package dump

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// VMCOREINFO is the kernel's VMCOREINFO text (kernel/vmcore_info.c,
// crash_save_vmcoreinfo_init() and the VMCOREINFO_* macros of
// include/linux/vmcore_info.h), one "KEY=VALUE" per line.
type VMCOREINFO struct {
	// Raw maps every key (e.g. "SYMBOL(_stext)", "OFFSET(page.flags)",
	// "OSRELEASE") to its value text. A repeated key keeps its last value.
	Raw map[string]string
	// Keys lists the keys in text order.
	Keys      []string
	OSRELEASE string
	BuildID   []byte // nil when absent
}

// maxVMCOREINFO bounds the text ParseVMCOREINFO accepts (the kernel's
// VMCOREINFO_BYTES is one page).
const maxVMCOREINFO = 1 << 20

// ParseVMCOREINFO parses VMCOREINFO text. Lines without '=' are an error;
// a NUL ends the text.
func ParseVMCOREINFO(text []byte) (*VMCOREINFO, error) {
	if len(text) > maxVMCOREINFO {
		return nil, fmt.Errorf("VMCOREINFO: %d bytes, more than the %d accepted", len(text), maxVMCOREINFO)
	}
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	vi := &VMCOREINFO{Raw: make(map[string]string)}
	off := 0
	for _, line := range strings.SplitAfter(string(text), "\n") {
		lineOff := off
		off += len(line)
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, &FormatError{Off: int64(lineOff), Msg: "VMCOREINFO line without KEY=VALUE", Val: truncate(line, 64)}
		}
		if _, dup := vi.Raw[k]; !dup {
			vi.Keys = append(vi.Keys, k)
		}
		vi.Raw[k] = v
	}
	if len(vi.Raw) == 0 {
		return nil, &FormatError{Msg: "empty VMCOREINFO"}
	}
	vi.OSRELEASE = vi.Raw["OSRELEASE"]
	if s, ok := vi.Raw["BUILD-ID"]; ok {
		if b, err := hex.DecodeString(s); err == nil {
			vi.BuildID = b
		}
	}
	return vi, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (vi *VMCOREINFO) hex(key string) (uint64, bool) {
	s, ok := vi.Raw[key]
	if !ok {
		return 0, false
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	v, err := strconv.ParseUint(s, 16, 64)
	return v, err == nil
}

func (vi *VMCOREINFO) dec(key string) (uint64, bool) {
	s, ok := vi.Raw[key]
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// Get returns the raw value of key.
func (vi *VMCOREINFO) Get(key string) (string, bool) {
	s, ok := vi.Raw[key]
	return s, ok
}

// PageSize is PAGESIZE (decimal).
func (vi *VMCOREINFO) PageSize() (uint64, bool) { return vi.dec("PAGESIZE") }

// Symbol is SYMBOL(name) (hex without 0x: "SYMBOL(%s)=%lx").
func (vi *VMCOREINFO) Symbol(name string) (uint64, bool) { return vi.hex("SYMBOL(" + name + ")") }

// Offset is OFFSET(typ.member), e.g. Offset("page.flags") (decimal).
func (vi *VMCOREINFO) Offset(typeMember string) (uint64, bool) {
	return vi.dec("OFFSET(" + typeMember + ")")
}

// Size is SIZE(typ) (decimal).
func (vi *VMCOREINFO) Size(typ string) (uint64, bool) { return vi.dec("SIZE(" + typ + ")") }

// Length is LENGTH(name) (decimal).
func (vi *VMCOREINFO) Length(name string) (uint64, bool) { return vi.dec("LENGTH(" + name + ")") }

// Number is NUMBER(name): "%ld" in VMCOREINFO_NUMBER, but some are
// written "0x%lx" (NUMBER(VMALLOC_START)), so both are accepted.
func (vi *VMCOREINFO) Number(name string) (int64, bool) {
	s, ok := vi.Raw["NUMBER("+name+")"]
	if !ok {
		return 0, false
	}
	if v, err := strconv.ParseInt(s, 0, 64); err == nil {
		return v, true
	}
	if v, err := strconv.ParseUint(s, 0, 64); err == nil {
		return int64(v), true
	}
	return 0, false
}

// KernelOffset is KERNELOFFSET (hex).
func (vi *VMCOREINFO) KernelOffset() (uint64, bool) { return vi.hex("KERNELOFFSET") }

// CrashTime is CRASHTIME (seconds since the epoch).
func (vi *VMCOREINFO) CrashTime() (int64, bool) {
	s, ok := vi.Raw["CRASHTIME"]
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// vmcoreinfoNoteName is VMCOREINFO_NOTE_NAME.
const vmcoreinfoNoteName = "VMCOREINFO"

// ReadVMCOREINFO reads the VMCOREINFO ELF note the kernel keeps at a
// physical address (paddr_vmcoreinfo_note(), what /sys/kernel/vmcoreinfo
// prints, size VMCOREINFO_NOTE_SIZE) and returns the parsed text and the
// text itself. order is the guest's byte order; nil tries both (the note
// header's namesz must be 11).
func ReadVMCOREINFO(phys Memory, addr, size uint64, order binary.ByteOrder) (*VMCOREINFO, []byte, error) {
	if size < 12 || size > maxVMCOREINFO {
		return nil, nil, fmt.Errorf("VMCOREINFO note at %#x: size %d out of range", addr, size)
	}
	buf := make([]byte, size)
	if err := ReadFull(phys, buf, addr); err != nil {
		return nil, nil, fmt.Errorf("reading VMCOREINFO note at %#x: %w", addr, err)
	}
	text, err := VMCOREINFONoteText(buf, order)
	if err != nil {
		return nil, nil, fmt.Errorf("VMCOREINFO note at %#x: %w", addr, err)
	}
	vi, err := ParseVMCOREINFO(text)
	return vi, text, err
}

// VMCOREINFONoteText extracts the text of a VMCOREINFO ELF note from the
// note's bytes. order nil tries both byte orders.
func VMCOREINFONoteText(note []byte, order binary.ByteOrder) ([]byte, error) {
	orders := []binary.ByteOrder{order}
	if order == nil {
		orders = []binary.ByteOrder{binary.LittleEndian, binary.BigEndian}
	}
	for _, o := range orders {
		if len(note) < 12 || o.Uint32(note) != uint32(len(vmcoreinfoNoteName)+1) {
			continue
		}
		notes, err := parseNotes(note, 0, o, "")
		if len(notes) == 0 {
			if err != nil {
				return nil, err
			}
			continue
		}
		if notes[0].Name != vmcoreinfoNoteName {
			return nil, fmt.Errorf("note name %q, want %q", notes[0].Name, vmcoreinfoNoteName)
		}
		return trimNUL(notes[0].Desc), nil
	}
	return nil, fmt.Errorf("no VMCOREINFO note header (namesz %d expected)", len(vmcoreinfoNoteName)+1)
}
