package dump

import "testing"

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
