package dump

import (
	"testing"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
)

// TestSniffBytes: each format's signature as its specification writes it
// (ELF e_ident, makedumpfile's diskdump and flattened headers, RFC 8878
// zstd, xz 1.0.4, RFC 1952 gzip), and text that only has a dump's name.
func TestSniffBytes(t *testing.T) {
	for _, tc := range []struct {
		b    string
		want Magic
	}{
		{"\x7fELF\x02\x01\x01", MagicELF},
		{"KDUMP   \x06\x00\x00\x00", MagicKdump},
		{"makedumpfile\x00\x00\x00\x00", MagicFlattened},
		{"\x28\xb5\x2f\xfd\x24\x00", MagicCompressed},
		{"\xfd7zXZ\x00\x00", MagicCompressed},
		{"\x1f\x8b\x08\x00", MagicCompressed},
		{"KDUMP", NotDump},
		{"makedump", NotDump},
		{"\x7fEL", NotDump},
		{"vmcoreinfo-location", NotDump},
		{"", NotDump},
	} {
		if got := SniffBytes([]byte(tc.b)); got != tc.want {
			t.Errorf("SniffBytes(%q) = %d, want %d", tc.b, got, tc.want)
		}
	}
}

// TestELFType: e_type at offset 16 (gABI Elf64_Ehdr) in the byte order of
// e_ident[EI_DATA]: a big-endian ppc64 vmlinux is ET_EXEC (2), a
// little-endian core ET_CORE (4); short or non-ELF bytes are not read.
func TestELFType(t *testing.T) {
	head := func(data byte, hi, lo byte) []byte {
		b := make([]byte, 18)
		copy(b, "\x7fELF\x02")
		b[5] = data
		b[16], b[17] = hi, lo
		return b
	}
	for _, tc := range []struct {
		b    []byte
		want elfobj.Type
		ok   bool
	}{
		{head(2, 0, 2), elfobj.ET_EXEC, true},
		{head(1, 4, 0), elfobj.ET_CORE, true},
		{head(1, 3, 0), elfobj.ET_DYN, true},
		{head(1, 4, 0)[:17], 0, false},
		{[]byte("KDUMP   \x06\x00\x00\x00\x00\x00\x00\x00\x00\x00"), 0, false},
	} {
		if got, ok := ELFType(tc.b); got != tc.want || ok != tc.ok {
			t.Errorf("ELFType(%q) = %v, %v; want %v, %v", tc.b, got, ok, tc.want, tc.ok)
		}
	}
}
