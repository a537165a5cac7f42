package kernel

import (
	"fmt"
	"iter"
)

// ListErrorKind says what went wrong in a list walk.
type ListErrorKind int

const (
	// ListBadPointer: a next pointer is NULL or cannot be read.
	ListBadPointer ListErrorKind = iota + 1
	// ListCycle: a node is reached twice without coming back to the head.
	ListCycle
	// ListTooLong: more entries than the cap (Context.MaxList).
	ListTooLong
)

func (k ListErrorKind) String() string {
	switch k {
	case ListBadPointer:
		return "bad pointer"
	case ListCycle:
		return "cycle"
	case ListTooLong:
		return "too long"
	}
	return fmt.Sprintf("ListErrorKind(%d)", int(k))
}

// ListError stops a list walk: Addr is the node (struct list_head) where
// it went wrong, Index the number of entries yielded before.
type ListError struct {
	Kind  ListErrorKind
	Head  uint64
	Addr  uint64
	Index int
	Err   error // the read error, for ListBadPointer
}

func (e *ListError) Error() string {
	s := fmt.Sprintf("list at %#x: %s at node %#x after %d entries", e.Head, e.Kind, e.Addr, e.Index)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ListError) Unwrap() error { return e.Err }

// ListForEachEntry walks the circular list headed by the struct list_head
// at head and yields, for each node, the containing object of type
// typeName whose list_head member is member (the kernel's
// list_for_each_entry(pos, head, member), include/linux/list.h). The walk
// follows next pointers, is cycle-checked (a node seen twice that is not
// the head) and capped at ctx.MaxList entries (default 1<<20); on a NULL
// or unreadable next pointer, a cycle, or the cap it yields one *ListError
// and stops.
func ListForEachEntry(ctx *Context, head uint64, typeName, member string) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		// Resolve the container type and offset once.
		first, err := ContainerOf(ctx, 0, typeName, member)
		if err != nil {
			yield(Object{}, err)
			return
		}
		off := -first.Addr // 0 - offsetof
		nextOff, err := listNextOffset(ctx)
		if err != nil {
			yield(Object{}, err)
			return
		}
		max := ctx.MaxList
		if max <= 0 {
			max = DefaultMaxList
		}
		visited := make(map[uint64]struct{})
		node := head
		next, err := readPtr(ctx, head+nextOff)
		if err != nil {
			yield(Object{}, &ListError{Kind: ListBadPointer, Head: head, Addr: head, Err: err})
			return
		}
		for i := 0; ; i++ {
			if next == head {
				return
			}
			if next == 0 {
				yield(Object{}, &ListError{Kind: ListBadPointer, Head: head, Addr: node, Index: i, Err: fmt.Errorf("next pointer of %#x is NULL", node)})
				return
			}
			if _, seen := visited[next]; seen {
				yield(Object{}, &ListError{Kind: ListCycle, Head: head, Addr: next, Index: i})
				return
			}
			if i >= max {
				yield(Object{}, &ListError{Kind: ListTooLong, Head: head, Addr: next, Index: i})
				return
			}
			visited[next] = struct{}{}
			// Read the node's own next pointer before yielding it, so
			// that an unreadable node stops the walk instead of being
			// handed out as an entry.
			after, err := readPtr(ctx, next+nextOff)
			if err != nil {
				yield(Object{}, &ListError{Kind: ListBadPointer, Head: head, Addr: next, Index: i, Err: err})
				return
			}
			obj := Object{Ctx: ctx, Type: first.Type, Addr: next - off}
			obj.expr = fmt.Sprintf("%s@%#x", typeNameOf(first), obj.Addr)
			if !yield(obj, nil) {
				return
			}
			node, next = next, after
		}
	}
}

func typeNameOf(o Object) string {
	o.expr = ""
	return o.Expr()
}

// listNextOffset is offsetof(struct list_head, next): 0 in every kernel,
// taken from the DWARF when it has struct list_head.
func listNextOffset(ctx *Context) (uint64, error) {
	t, err := ctx.Types.Lookup("struct list_head")
	if err != nil {
		return 0, nil
	}
	off, err := memberOffset(ctx, t, "struct list_head", "next")
	if err != nil {
		return 0, err
	}
	return uint64(off), nil
}

// readPtr reads one pointer of ctx.PtrSize bytes in ctx.Order.
func readPtr(ctx *Context, addr uint64) (uint64, error) {
	n := ctx.PtrSize
	if n != 4 {
		n = 8
	}
	b := make([]byte, n)
	got, err := ctx.Mem.ReadAt(b, addr)
	if got < len(b) {
		if err == nil {
			err = fmt.Errorf("short read at %#x", addr)
		}
		return 0, err
	}
	return decodeUint(b, ctx.order()), nil
}
