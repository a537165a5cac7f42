package symbols

import (
	"encoding/binary"
	"errors"
	"testing"
)

// TestNoLineReader: a program that links no line reader is told so (never
// an empty table that answers nothing), and a registered reader is what
// both loaders call.
func TestNoLineReader(t *testing.T) {
	saved := lineReader.Load()
	defer lineReader.Store(saved)
	lineReader.Store(nil)
	if lt, err := LoadVmlinuxLines(nil, nil); lt != nil || !errors.Is(err, ErrNoLineReader) {
		t.Errorf("vmlinux without a reader: %v, %v", lt, err)
	}
	if lt, err := LoadModuleLines(nil, nil); lt != nil || !errors.Is(err, ErrNoLineReader) {
		t.Errorf("module without a reader: %v, %v", lt, err)
	}
	var calls []string
	boom := errors.New("boom")
	RegisterLineReader(LineReader{
		Vmlinux: func(*ELFFile, *Types) (LineTable, error) { calls = append(calls, "vmlinux"); return nil, boom },
		Module: func(*ELFFile, func(string) (uint64, bool)) (LineTable, error) {
			calls = append(calls, "module")
			return nil, boom
		},
	})
	if _, err := LoadVmlinuxLines(nil, nil); !errors.Is(err, boom) {
		t.Errorf("vmlinux: %v", err)
	}
	if _, err := LoadModuleLines(nil, nil); !errors.Is(err, boom) {
		t.Errorf("module: %v", err)
	}
	if len(calls) != 2 || calls[0] != "vmlinux" || calls[1] != "module" {
		t.Errorf("calls %v", calls)
	}
}

// TestNoFrameReader: without a registered call-frame reader ParseFrames
// says so (stack then walks by the link-register rule alone, as for a
// vmlinux without .debug_frame); a registered one is what it calls.
func TestNoFrameReader(t *testing.T) {
	saved := frameReader.Load()
	defer frameReader.Store(saved)
	frameReader.Store(nil)
	if ft, err := ParseFrames([]byte{1}, nil); ft != nil || !errors.Is(err, ErrNoFrameReader) {
		t.Errorf("without a reader: %v, %v", ft, err)
	}
	boom := errors.New("boom")
	var got []byte
	RegisterFrameReader(func(b []byte, _ binary.ByteOrder) (FrameTable, error) { got = b; return nil, boom })
	if ft, err := ParseFrames([]byte{7}, nil); ft != nil || !errors.Is(err, boom) || len(got) != 1 || got[0] != 7 {
		t.Errorf("registered reader: %v, %v, saw %v", ft, err, got)
	}
}
