package textcheck

import "testing"

// FuzzCompareSection: any expected and found bytes, any claims (words,
// loose matches, regions), never panic; every differing byte is counted
// once, explained or not.
func FuzzCompareSection(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{1, 2, 3, 5, 5, 6, 7, 9}, uint8(4), uint8(4), []byte{3, 4, 5})
	f.Fuzz(func(t *testing.T, want, found []byte, at, n uint8, cw []byte) {
		const base = 0xc008000000000000
		cs := newCandidates()
		cs.add(&Candidate{Addr: base + uint64(at), Want: cw, Mech: MechJumpLabel})
		cs.add(&Candidate{Addr: base + uint64(at/2), Len: int(n), Match: func(b []byte) bool { return len(b) > 0 && b[0]&1 == 0 }, Mech: MechKprobe})
		cs.add(&Candidate{Addr: base, Len: maxCandidateLen + int(n), MatchAt: func(a uint64, b []byte) bool { return a%8 == 0 }, Match: func([]byte) bool { return false }, Mech: MechOOLStub})
		var skip []bool
		if len(cw) > 0 && cw[0]&1 == 1 {
			skip = make([]bool, len(want))
			for i := range skip {
				skip[i] = i%3 == 0
			}
		}
		r := &Result{}
		compareSection(r, ".text", base, want, found, skip, 4, cs)
		var differ uint64
		for i := 0; i < min(len(want), len(found)); i++ {
			if (skip == nil || !skip[i]) && want[i] != found[i] {
				differ++
			}
		}
		if r.Differing != differ || r.Explained > r.Differing {
			t.Fatalf("differing %d (want %d), explained %d", r.Differing, differ, r.Explained)
		}
	})
}
