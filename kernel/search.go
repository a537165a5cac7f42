package kernel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
)

// SearchQuery is what Search looks for, as crash's search: words equal to
// one of Values, the bits set in Mask ignored (crash's -m); with Within,
// words in [value, value+Within) (a pointer into a 40-byte stub slot);
// with Branch, the 4-byte words that are branches (b, bl, bc) whose
// target matches instead (a relative call into a slot carries no
// pointer).
type SearchQuery struct {
	Values []uint64
	Mask   uint64
	Within uint64
	Unit   int // 8 (default), 4 or 2 bytes, aligned
	Branch bool
	// Max stops the search after this many hits (0: DefaultSearchHits).
	Max int
}

// DefaultSearchHits bounds the hits of one search.
const DefaultSearchHits = 10000

// MaxSearchBytes bounds the bytes one search walks (all ranges together).
const MaxSearchBytes = 64 << 30

// SearchRange is one address range [Start, End) to search.
type SearchRange struct {
	Start, End uint64
	Name       string // what it is: "klp_stub_bug text", "vmlinux", ...
}

// SearchHit is one matching word.
type SearchHit struct {
	Addr   uint64
	Word   uint64
	Target uint64 // the branch target (Branch queries)
	Link   bool   // the branch is bl
}

// SearchResult is the hits and how much was searched; Unreadable counts
// the bytes of the ranges that could not be read (pages the dump lacks),
// which were skipped, not taken for zeros.
type SearchResult struct {
	Hits       []SearchHit
	Searched   uint64
	Unreadable uint64
	Truncated  bool // Max hits reached
}

// searchChunk is the read size; a fault skips to the next skipPage
// boundary.
const (
	searchChunk = 1 << 16
	skipPage    = 1 << 12
)

// Search reads every range through mem, in order, and matches its aligned
// words against q. It stops when ctx ends (returning what it found with
// ctx's error), after q.Max hits, or refuses ranges larger than
// MaxSearchBytes in all.
func Search(ctx context.Context, mem Reader, order binary.ByteOrder, ranges []SearchRange, q SearchQuery) (SearchResult, error) {
	var res SearchResult
	unit := q.Unit
	if q.Branch {
		unit = 4
	}
	switch unit {
	case 0:
		unit = 8
	case 2, 4, 8:
	default:
		return res, fmt.Errorf("search: unit of %d bytes", unit)
	}
	if len(q.Values) == 0 {
		return res, errors.New("search: no value")
	}
	max := q.Max
	if max <= 0 {
		max = DefaultSearchHits
	}
	var total uint64
	for _, r := range ranges {
		if r.End < r.Start {
			return res, fmt.Errorf("search: range %#x-%#x ends before it starts", r.Start, r.End)
		}
		total += r.End - r.Start
		if total > MaxSearchBytes {
			return res, fmt.Errorf("search: more than %d GiB to search", MaxSearchBytes>>30)
		}
	}
	mask := ^q.Mask
	if unit < 8 {
		mask &= 1<<(8*uint(unit)) - 1
	}
	match := func(v uint64) bool {
		for _, want := range q.Values {
			if q.Within > 0 {
				if v >= want && v-want < q.Within {
					return true
				}
			} else if v&mask == want&mask {
				return true
			}
		}
		return false
	}
	buf := make([]byte, searchChunk)
	for _, r := range ranges {
		a := r.Start &^ uint64(unit-1)
		for a < r.End {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			n := uint64(searchChunk)
			if r.End-a < n {
				n = r.End - a
			}
			got, _ := mem.ReadAt(buf[:n], a)
			words := uint64(got) / uint64(unit)
			for i := uint64(0); i < words; i++ {
				b := buf[i*uint64(unit):]
				var v uint64
				switch unit {
				case 2:
					v = uint64(order.Uint16(b))
				case 4:
					v = uint64(order.Uint32(b))
				default:
					v = order.Uint64(b)
				}
				at := a + i*uint64(unit)
				hit := SearchHit{Addr: at, Word: v}
				if q.Branch {
					t, link, ok := ppc64.BranchTarget(uint32(v), at)
					if !ok || !match(t) {
						continue
					}
					hit.Target, hit.Link = t, link
				} else if !match(v) {
					continue
				}
				res.Hits = append(res.Hits, hit)
				if len(res.Hits) >= max {
					res.Truncated = true
					res.Searched += (i + 1) * uint64(unit)
					return res, nil
				}
			}
			res.Searched += uint64(got)
			next := a + n
			if uint64(got) < n {
				// Skip the unreadable page the read stopped in.
				bad := a + uint64(got)
				next = min((bad+skipPage)&^(skipPage-1), r.End)
				if next <= bad { // wrapped at the top of the address space
					next = r.End
				}
				res.Unreadable += next - bad
			}
			if next <= a {
				break
			}
			a = next
		}
	}
	return res, nil
}
