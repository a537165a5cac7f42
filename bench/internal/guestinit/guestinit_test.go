//go:build linux

package guestinit

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "load.list")
	if err := os.WriteFile(p, []byte("  a.ko x=1 \n\n# comment\n\tb.ko\n!wait-livepatch"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLines(p)
	if want := []string{"a.ko x=1", "b.ko", "!wait-livepatch"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadLines = %q, %v; want %q", got, err, want)
	}
	if _, err := ReadLines(p + ".missing"); err == nil {
		t.Fatal("ReadLines of a missing file: no error")
	}
	if got := Lines(p + ".missing"); got != nil {
		t.Fatalf("Lines of a missing file = %q", got)
	}
}

func TestParseAddrLine(t *testing.T) {
	a, fs, ok := ParseAddrLine("ffffffffc0a01000 t tcp_yeah_ssthresh\t[tcp_yeah]")
	if !ok || a != 0xffffffffc0a01000 || len(fs) != 4 || fs[2] != "tcp_yeah_ssthresh" || fs[3] != "[tcp_yeah]" {
		t.Fatalf("ParseAddrLine = %#x %q %v", a, fs, ok)
	}
	for _, l := range []string{"ffffffff81000000 T", "xyz T _text", ""} {
		if _, _, ok := ParseAddrLine(l); ok {
			t.Errorf("ParseAddrLine(%q) ok", l)
		}
	}
}

func TestKallsyms(t *testing.T) {
	// /proc/kallsyms lines as the kernel prints them (a module symbol has
	// a tab before its [module])
	k := parseKallsyms(strings.NewReader(strings.Join([]string{
		"ffff800080000000 T _text",
		"ffff800080010000 T vfs_read",
		"ffff800082000000 D modules",
		"ffff800000010000 t yeah_init\t[tcp_yeah]",
		"ffff800000010040 t modules\t[tcp_yeah]",
		"short line",
	}, "\n")))
	if len(k.Lines) != 6 || len(k.All) != 5 {
		t.Fatalf("%d lines, %d symbols; want 6, 5", len(k.Lines), len(k.All))
	}
	if got := k.First("modules"); got != 0xffff800082000000 {
		t.Errorf("First(modules) = %#x, want the vmlinux one", got)
	}
	if got := k.First("yeah_init"); got != 0 {
		t.Errorf("First(yeah_init) = %#x, want 0 (a module symbol only)", got)
	}
	if s := k.ByName["yeah_init [tcp_yeah]"]; len(s) != 1 || s[0].Addr != 0xffff800000010000 || s[0].Mod != "tcp_yeah" || s[0].Type != "t" {
		t.Errorf("ByName[yeah_init [tcp_yeah]] = %+v", s)
	}
	if n := len(k.ByName["modules"]); n != 2 {
		t.Errorf("%d symbols named modules, want 2", n)
	}
	for a, want := range map[uint64]string{
		0xffff800080010000: "vfs_read",
		0xffff800080010004: "vfs_read+0x4",
		0xffff800000010044: "modules+0x4_[tcp_yeah]",
		0xffff800000000000: "?",
		0:                  "?",
	} {
		if got := k.Lookup(a); got != want {
			t.Errorf("Lookup(%#x) = %q, want %q", a, got, want)
		}
	}
}

func TestKcoreRead(t *testing.T) {
	b := make([]byte, 64)
	for i := range b {
		b[i] = byte(i)
	}
	f := tempFile(t, b)
	k := &Kcore{F: f, Loads: []Load{{Vaddr: 0x1000, Off: 16, Filesz: 32, Memsz: 32}}}
	got, err := k.Read(0x1004, 4)
	if err != nil || !reflect.DeepEqual(got, []byte{20, 21, 22, 23}) {
		t.Fatalf("Read(0x1004, 4) = %v, %v; want the bytes at file offset 20", got, err)
	}
	if v, err := k.U64(0x1008); err != nil || v != binary.LittleEndian.Uint64(b[24:]) {
		t.Fatalf("U64(0x1008) = %#x, %v", v, err)
	}
	if _, err := k.Read(0x101e, 4); err == nil || err.Error() != "0x101e+4 not in /proc/kcore" {
		t.Fatalf("Read across the end of the load: %v", err)
	}
	k.NotMapped = func(addr uint64, n int) error { return &os.PathError{Op: "read", Path: "kcore", Err: os.ErrNotExist} }
	if _, err := k.Read(0x2000, 1); err == nil || err.Error() != "read kcore: file does not exist" {
		t.Fatalf("Read with NotMapped: %v", err)
	}
	var nilK *Kcore
	if _, err := nilK.U64(0x1000); err == nil || err.Error() != "no /proc/kcore" {
		t.Fatalf("read of a nil Kcore: %v", err)
	}
}

func TestElfLoads(t *testing.T) {
	// an ELF64 little-endian core header with two program headers: a
	// PT_NOTE, then a PT_LOAD (vaddr 0xffff800080000000, paddr 0x40000000,
	// offset 0x1000, size 0x2000)
	b := make([]byte, 64+2*56)
	copy(b, "\x7fELF\x02\x01\x01")
	le := binary.LittleEndian
	le.PutUint16(b[16:], 4)  // ET_CORE
	le.PutUint16(b[18:], 62) // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[32:], 64) // e_phoff
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[54:], 56)
	le.PutUint16(b[56:], 2)
	ph := b[64:]
	le.PutUint32(ph[0:], 4) // PT_NOTE
	ph = b[64+56:]
	le.PutUint32(ph[0:], 1) // PT_LOAD
	le.PutUint64(ph[8:], 0x1000)
	le.PutUint64(ph[16:], 0xffff800080000000)
	le.PutUint64(ph[24:], 0x40000000)
	le.PutUint64(ph[32:], 0x2000)
	le.PutUint64(ph[40:], 0x2000)
	got, err := elfFile(tempFile(t, b))
	want := []Load{{Vaddr: 0xffff800080000000, Paddr: 0x40000000, Off: 0x1000, Filesz: 0x2000, Memsz: 0x2000}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("elfFile = %+v, %v; want %+v", got, err, want)
	}
}

// tempFile returns b in a file opened for reading, closed at the end of the test.
func tempFile(t *testing.T, b []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestEnabledName(t *testing.T) {
	for l, want := range map[string]string{
		"tcp_yeah_ssthresh [tcp_yeah] (1)    R   \ttramp: 0xffffffffc0a05000": "tcp_yeah_ssthresh [tcp_yeah]",
		"vfs_read (2)":   "vfs_read",
		"vfs_read":       "vfs_read",
		" (1) odd start": " (1) odd start",
	} {
		if got := EnabledName(l); got != want {
			t.Errorf("EnabledName(%q) = %q, want %q", l, got, want)
		}
	}
}
