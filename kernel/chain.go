package kernel

import (
	"fmt"
	"iter"
)

// Chain is a linked structure walked as crash's list command walks it:
// from the pointer First, each entry's next pointer sits at entry +
// LinkOff; a pointer minus Adjust is the entry (Adjust is the offset of
// an embedded struct list_head, 0 when pointers point at entries).
type Chain struct {
	First   uint64
	LinkOff uint64
	Adjust  uint64
	// Stop ends the walk when a pointer equals it (the list head, or the
	// first entry of a ring); End when an entry equals it (crash's -e).
	Stop, End uint64
	// NullEnds: a NULL pointer ends the walk (a singly linked list);
	// else NULL is a broken list (ListBadPointer).
	NullEnds bool
	// FirstIsEntry: First is itself an entry's pointer even when it
	// equals Stop (crash's -h START and a ring walked from START).
	FirstIsEntry bool
	// Max caps the entries (0: DefaultMaxList).
	Max int
}

// WalkChain yields the entries' addresses. It is cycle-checked and
// capped; it stops with one *ListError on a NULL (unless NullEnds), an
// unreadable next pointer, a cycle or the cap.
func WalkChain(ctx *Context, c Chain) iter.Seq2[uint64, error] {
	return func(yield func(uint64, error) bool) {
		max := c.Max
		if max <= 0 {
			max = DefaultMaxList
		}
		seen := map[uint64]bool{}
		p, prev := c.First, c.Stop
		for i := 0; ; i++ {
			if p == c.Stop && (i > 0 || !c.FirstIsEntry) {
				return
			}
			if p == 0 {
				if !c.NullEnds {
					yield(0, &ListError{Kind: ListBadPointer, Head: c.Stop, Addr: prev, Index: i, Err: fmt.Errorf("next pointer of %#x is NULL", prev)})
				}
				return
			}
			entry := p - c.Adjust
			if entry == c.End && c.End != 0 {
				return
			}
			if seen[p] {
				yield(0, &ListError{Kind: ListCycle, Head: c.Stop, Addr: p, Index: i})
				return
			}
			if i >= max {
				yield(0, &ListError{Kind: ListTooLong, Head: c.Stop, Addr: p, Index: i})
				return
			}
			seen[p] = true
			next, err := readPtr(ctx, entry+c.LinkOff)
			if err != nil {
				yield(0, &ListError{Kind: ListBadPointer, Head: c.Stop, Addr: p, Index: i, Err: err})
				return
			}
			if !yield(entry, nil) {
				return
			}
			prev, p = p, next
		}
	}
}
