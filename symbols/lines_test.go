package symbols

import (
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
