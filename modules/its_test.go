package modules

import "testing"

// TestITSParse: a page as its_allocate_thunk() fills it (int3, thunks
// from offset 32 ending in the upper half of a cache line: "41 ff e1 cc",
// jmp *%r9, at 32 as in the corpus's geneve page) parses to that thunk;
// a thunk ending in a lower half and a stray byte are named.
func TestITSParse(t *testing.T) {
	page := make([]byte, 4096)
	for i := range page {
		page[i] = 0xcc
	}
	copy(page[32:], []byte{0x41, 0xff, 0xe1, 0xcc})
	copy(page[64:], []byte{0xff, 0xe0, 0xcc}) // ends at 66: lower half
	page[8] = 0x90
	var s ITSPages
	s.parse(0x1000, page)
	if len(s.Thunks) != 2 || s.Thunks[0].Addr != 0x1020 || s.Thunks[0].Reg != 9 || s.Thunks[0].Misplaced || !s.Thunks[1].Misplaced || s.Thunks[1].Reg != 0 {
		t.Errorf("thunks %+v", s.Thunks)
	}
	if len(s.Strays) != 1 || s.Strays[0].Addr != 0x1008 {
		t.Errorf("strays %+v", s.Strays)
	}
}

// FuzzITSParse: any page parses without a panic, and every byte is fill,
// a thunk or a stray.
func FuzzITSParse(f *testing.F) {
	f.Add([]byte{0xcc, 0x41, 0xff, 0xe1, 0xcc})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s ITSPages
		s.parse(0x1000, b)
		covered := 0
		for _, th := range s.Thunks {
			covered += th.Size
		}
		for _, st := range s.Strays {
			covered += len(st.Bytes)
		}
		fill := 0
		for _, c := range b {
			if c == 0xcc {
				fill++
			}
		}
		if covered > len(b) || covered+fill < len(b) {
			t.Fatalf("%d bytes: %d in thunks and strays, %d int3", len(b), covered, fill)
		}
	})
}
