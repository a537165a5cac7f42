package ftrace

import (
	"fmt"
	"sort"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// OpsLayout is where struct ftrace_ops, struct ftrace_ops_hash, struct
// ftrace_hash and struct ftrace_func_entry (include/linux/ftrace.h,
// kernel/trace/trace.h) keep the members the walk reads.
type OpsLayout struct {
	Func, Next, Flags, FuncHash, Trampoline int64 // struct ftrace_ops
	Size                                    int64 // sizeof(struct ftrace_ops)
	NotraceHash, FilterHash                 int64 // struct ftrace_ops_hash
	SizeBits, Buckets, Count                int64 // struct ftrace_hash
	EntryHlist, EntryIP                     int64 // struct ftrace_func_entry
	// EntryDirect is ftrace_func_entry.direct (the direct-call target,
	// CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS), -1 without it.
	EntryDirect int64
}

// DetectOpsLayout reads the layouts from the DWARF.
func DetectOpsLayout(ls LayoutSource) (OpsLayout, error) {
	var l OpsLayout
	r := layoutReader{ls: ls}
	l.Func = r.off("struct ftrace_ops", "func")
	l.Next = r.off("struct ftrace_ops", "next")
	l.Flags = r.off("struct ftrace_ops", "flags")
	l.FuncHash = r.off("struct ftrace_ops", "func_hash")
	l.Trampoline = r.off("struct ftrace_ops", "trampoline")
	l.NotraceHash = r.off("struct ftrace_ops_hash", "notrace_hash")
	l.FilterHash = r.off("struct ftrace_ops_hash", "filter_hash")
	l.SizeBits = r.off("struct ftrace_hash", "size_bits")
	l.Buckets = r.off("struct ftrace_hash", "buckets")
	l.Count = r.off("struct ftrace_hash", "count")
	l.EntryHlist = r.off("struct ftrace_func_entry", "hlist")
	l.EntryIP = r.off("struct ftrace_func_entry", "ip")
	l.Size = r.size("struct ftrace_ops")
	l.EntryDirect = -1
	if v, err := ls.Offsetof("struct ftrace_func_entry", "direct"); err == nil {
		l.EntryDirect = v
	}
	return l, r.err("ftrace_ops layout")
}

func (l OpsLayout) headerLen() int64 {
	return max(l.Func, l.Next, l.Flags, l.FuncHash, l.Trampoline) + 8
}

// Hash is one struct ftrace_hash: its entries' ips, sorted.
type Hash struct {
	Addr     uint64
	SizeBits uint64
	Count    uint64 // hash->count as the dump holds it
	IPs      []uint64
	// Direct is each entry's direct-call target (direct_functions), when
	// the kernel's entries have one.
	Direct map[uint64]uint64
	// Err says why IPs may be incomplete (an unreadable bucket, a
	// cycle): Contains is then not an answer to rely on.
	Err error
}

// Known says whether the hash was read whole (a NULL hash is known).
func (h *Hash) Known() bool { return h == nil || h.Err == nil }

// Empty is ftrace_hash_empty(): a NULL hash or a zero count.
func (h *Hash) Empty() bool { return h == nil || h.Count == 0 }

// Contains is __ftrace_lookup_ip() over the entries read.
func (h *Hash) Contains(ip uint64) bool {
	if h == nil {
		return false
	}
	i := sort.Search(len(h.IPs), func(i int) bool { return h.IPs[i] >= ip })
	return i < len(h.IPs) && h.IPs[i] == ip
}

// Ops is one struct ftrace_ops.
type Ops struct {
	Addr       uint64
	Name       string // the symbol, or the owner ("klp_ops: cmdline_proc_show"), or ""
	Func       uint64
	FuncName   string
	Flags      uint64
	Trampoline uint64
	FuncHash   uint64 // ops->func_hash
	Filter     *Hash  // func_hash->filter_hash (nil: NULL)
	Notrace    *Hash  // func_hash->notrace_hash
	// InList: reached from ftrace_ops_list.
	InList   bool
	Warnings []string
	// HashErr says why Filter or Notrace could not be read whole (the
	// pointer or the hash unreadable).
	HashErr error
}

// FilterKnown says whether Filter was read whole.
func (o *Ops) FilterKnown() bool { return o.HashErr == nil && o.Filter.Known() }

// Matches is hash_contains_ip(ip, ops->func_hash) (kernel/trace/ftrace.c):
// in the filter hash or the filter hash is empty, and not in a non-empty
// notrace hash.
func (o *Ops) Matches(ip uint64) bool {
	return (o.Filter.Empty() || o.Filter.Contains(ip)) && (o.Notrace.Empty() || !o.Notrace.Contains(ip))
}

// Bounds of a hash walk: alloc_ftrace_hash() caps size_bits at
// FTRACE_HASH_MAX_BITS (12); entries are bounded in total.
const (
	maxHashBits    = 12
	MaxHashEntries = 1 << 20
	MaxOps         = 1 << 12
)

// ReadOps reads the ftrace_ops at addr (and its hashes); problems are
// warnings on the Ops, an unreadable header an error.
func ReadOps(ctx *kernel.Context, addr uint64, l OpsLayout) (*Ops, error) {
	hdr := make([]byte, l.headerLen())
	if err := readFull(ctx, hdr, addr); err != nil {
		return nil, &WalkError{What: "ftrace_ops", Addr: addr, Msg: "unreadable", Err: err}
	}
	o := &Ops{
		Addr:       addr,
		Func:       ctx.Order.Uint64(hdr[l.Func:]),
		Flags:      ctx.Order.Uint64(hdr[l.Flags:]),
		Trampoline: ctx.Order.Uint64(hdr[l.Trampoline:]),
		FuncHash:   ctx.Order.Uint64(hdr[l.FuncHash:]),
	}
	if o.FuncHash == 0 {
		return o, nil
	}
	for _, h := range []struct {
		off int64
		dst **Hash
		n   string
	}{{l.FilterHash, &o.Filter, "filter_hash"}, {l.NotraceHash, &o.Notrace, "notrace_hash"}} {
		p, err := readU64(ctx, o.FuncHash+uint64(h.off))
		if err != nil {
			o.Warnings = append(o.Warnings, fmt.Sprintf("func_hash->%s at %#x: %v", h.n, o.FuncHash+uint64(h.off), err))
			o.HashErr = fmt.Errorf("func_hash->%s at %#x: %w", h.n, o.FuncHash+uint64(h.off), err)
			continue
		}
		if p == 0 {
			continue
		}
		hs, err := ReadHash(ctx, p, l)
		if err != nil {
			o.Warnings = append(o.Warnings, fmt.Sprintf("%s: %v", h.n, err))
			if hs == nil {
				o.HashErr = fmt.Errorf("%s: %w", h.n, err)
			} else {
				hs.Err = err
			}
		}
		*h.dst = hs
	}
	return o, nil
}

// ReadHash reads a struct ftrace_hash: every bucket's hlist of
// ftrace_func_entry, cycle-checked and bounded by MaxHashEntries. A
// partial hash is returned with the error.
func ReadHash(ctx *kernel.Context, addr uint64, l OpsLayout) (*Hash, error) {
	h := &Hash{Addr: addr}
	var err error
	if h.SizeBits, err = readU64(ctx, addr+uint64(l.SizeBits)); err != nil {
		return nil, &WalkError{What: "ftrace_hash", Addr: addr, Msg: "unreadable size_bits", Err: err}
	}
	if h.Count, err = readU64(ctx, addr+uint64(l.Count)); err != nil {
		return nil, &WalkError{What: "ftrace_hash", Addr: addr, Msg: "unreadable count", Err: err}
	}
	if h.SizeBits > maxHashBits {
		return h, &WalkError{What: "ftrace_hash", Addr: addr, Msg: fmt.Sprintf("size_bits %d above FTRACE_HASH_MAX_BITS %d", h.SizeBits, maxHashBits)}
	}
	buckets, err := readU64(ctx, addr+uint64(l.Buckets))
	if err != nil || buckets == 0 {
		if err == nil && h.Count == 0 {
			return h, nil
		}
		return h, &WalkError{What: "ftrace_hash", Addr: addr, Msg: "unreadable or NULL buckets", Err: err}
	}
	n := 1 << h.SizeBits
	raw := make([]byte, n*8)
	if err := readFull(ctx, raw, buckets); err != nil {
		return h, &WalkError{What: "ftrace_hash", Addr: buckets, Msg: "unreadable buckets", Err: err}
	}
	seen := map[uint64]bool{}
	for b := range n {
		node := ctx.Order.Uint64(raw[b*8:])
		for node != 0 {
			if seen[node] {
				return h, &WalkError{What: "ftrace_hash", Addr: node, Msg: fmt.Sprintf("cycle in bucket %d", b)}
			}
			if len(seen) >= MaxHashEntries {
				return h, &WalkError{What: "ftrace_hash", Addr: node, Msg: fmt.Sprintf("more than %d entries", MaxHashEntries)}
			}
			seen[node] = true
			entry := node - uint64(l.EntryHlist)
			ip, err := readU64(ctx, entry+uint64(l.EntryIP))
			if err != nil {
				return h, &WalkError{What: "ftrace_hash", Addr: entry, Msg: "unreadable ftrace_func_entry", Err: err}
			}
			h.IPs = append(h.IPs, ip)
			if l.EntryDirect >= 0 {
				d, err := readU64(ctx, entry+uint64(l.EntryDirect))
				if err != nil {
					return h, &WalkError{What: "ftrace_hash", Addr: entry, Msg: "unreadable ftrace_func_entry.direct", Err: err}
				}
				if h.Direct == nil {
					h.Direct = map[uint64]uint64{}
				}
				h.Direct[ip] = d
			}
			if node, err = readU64(ctx, node); err != nil { // hlist_node.next is first
				return h, &WalkError{What: "ftrace_hash", Addr: entry, Msg: "unreadable hlist next", Err: err}
			}
		}
	}
	sort.Slice(h.IPs, func(i, j int) bool { return h.IPs[i] < h.IPs[j] })
	if uint64(len(h.IPs)) != h.Count {
		return h, &WalkError{What: "ftrace_hash", Addr: addr, Msg: fmt.Sprintf("count is %d but the buckets hold %d entries", h.Count, len(h.IPs))}
	}
	return h, nil
}

// WalkOpsList walks ftrace_ops_list from first (its value) along ->next
// until end (&ftrace_list_end), as do_for_each_ftrace_op does; cycle-
// checked and capped at MaxOps. A broken list returns what was read with
// a *WalkError.
func WalkOpsList(ctx *kernel.Context, first, end uint64, l OpsLayout) ([]*Ops, error) {
	var out []*Ops
	seen := map[uint64]bool{}
	for op := first; op != end; {
		if op == 0 {
			return out, &WalkError{What: "ftrace_ops_list", Addr: op, Msg: fmt.Sprintf("NULL next after %d ops, before ftrace_list_end", len(out))}
		}
		if seen[op] {
			return out, &WalkError{What: "ftrace_ops_list", Addr: op, Msg: "cycle"}
		}
		if len(out) >= MaxOps {
			return out, &WalkError{What: "ftrace_ops_list", Addr: op, Msg: fmt.Sprintf("more than %d ops", MaxOps)}
		}
		seen[op] = true
		o, err := ReadOps(ctx, op, l)
		if err != nil {
			return out, err
		}
		o.InList = true
		out = append(out, o)
		next, err := readU64(ctx, op+uint64(l.Next))
		if err != nil {
			return out, &WalkError{What: "ftrace_ops_list", Addr: op, Msg: "unreadable next", Err: err}
		}
		op = next
	}
	return out, nil
}

// UniqueOps is ftrace_find_unique_ops(rec): the one ops of the list whose
// hashes match ip; 0 when none or more than one does.
func UniqueOps(list []*Ops, ip uint64) uint64 {
	var found uint64
	for _, o := range list {
		if o.Matches(ip) {
			if found != 0 {
				return 0
			}
			found = o.Addr
		}
	}
	return found
}
