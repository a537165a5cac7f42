package ftrace

import (
	"errors"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// LayoutSource gives member offsets and type sizes (*symbols.Types is one).
type LayoutSource interface {
	Offsetof(typeName, path string) (int64, error)
	Sizeof(typeName string) (int64, error)
}

// RecordLayout is where struct ftrace_page (kernel/trace/ftrace.c) and
// struct dyn_ftrace (include/linux/ftrace.h) keep their members.
type RecordLayout struct {
	PageNext, PageRecords, PageIndex, PageOrder int64 // struct ftrace_page
	RecSize, RecIP, RecFlags                    int64 // struct dyn_ftrace
	// RecOOL is offsetof(struct dyn_ftrace, arch.ool_stub); HasOOL false
	// without PPC_FTRACE_OUT_OF_LINE.
	RecOOL int64
	HasOOL bool
	// PageSize is the kernel's PAGE_SIZE: a page group holds at most
	// (PAGE_SIZE << order) / sizeof(struct dyn_ftrace) records
	// (ENTRIES_PER_PAGE_GROUP).
	PageSize uint64
}

// DetectRecordLayout reads the layouts from the DWARF.
func DetectRecordLayout(ls LayoutSource, pageSize uint64) (RecordLayout, error) {
	l := RecordLayout{PageSize: pageSize}
	r := layoutReader{ls: ls}
	l.PageNext = r.off("struct ftrace_page", "next")
	l.PageRecords = r.off("struct ftrace_page", "records")
	l.PageIndex = r.off("struct ftrace_page", "index")
	l.PageOrder = r.off("struct ftrace_page", "order")
	l.RecIP = r.off("struct dyn_ftrace", "ip")
	l.RecFlags = r.off("struct dyn_ftrace", "flags")
	l.RecSize = r.size("struct dyn_ftrace")
	if v, err := ls.Offsetof("struct dyn_ftrace", "arch.ool_stub"); err == nil {
		l.RecOOL, l.HasOOL = v, true
	}
	if err := r.err("ftrace record layout"); err != nil {
		return l, err
	}
	return l, l.check()
}

// layoutReader reads member offsets and sizes, keeping every error for
// one check at the end (a sticky-error cursor, as debug/dwarf's buf).
type layoutReader struct {
	ls   LayoutSource
	errs []error
}

func (r *layoutReader) off(typeName, member string) int64 {
	v, err := r.ls.Offsetof(typeName, member)
	if err != nil {
		r.errs = append(r.errs, err)
	}
	return v
}

func (r *layoutReader) size(typeName string) int64 {
	v, err := r.ls.Sizeof(typeName)
	if err != nil {
		r.errs = append(r.errs, err)
	}
	return v
}

func (r *layoutReader) err(what string) error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w", what, errors.Join(r.errs...))
}

func (l RecordLayout) check() error {
	if l.RecSize < 16 || l.RecSize > 4096 || l.RecIP+8 > l.RecSize || l.RecFlags+8 > l.RecSize || (l.HasOOL && l.RecOOL+8 > l.RecSize) {
		return fmt.Errorf("ftrace record layout: implausible struct dyn_ftrace (size %d, ip %d, flags %d)", l.RecSize, l.RecIP, l.RecFlags)
	}
	if l.PageSize == 0 || l.PageSize&(l.PageSize-1) != 0 || l.PageSize > 1<<24 {
		return fmt.Errorf("ftrace record layout: PAGE_SIZE %#x", l.PageSize)
	}
	return nil
}

// Record is one struct dyn_ftrace.
type Record struct {
	Addr    uint64 // &records[i]
	Page    int    // which ftrace_page in the chain
	Index   int    // i in that page
	IP      uint64
	Flags   Flags
	OOLStub uint64 // rec->arch.ool_stub (&stub->insn[0]); 0 without OOL
	// Module is the module whose memory holds IP, "" for the vmlinux;
	// Func the function symbol and Off the offset of IP into it.
	Module   string
	Func     string
	FuncAddr uint64
	Off      uint64
	// LocalEntry is the function's st_other local-entry offset (ELFv2).
	LocalEntry uint64
}

// Page is one struct ftrace_page.
type Page struct {
	Addr    uint64
	Records uint64
	Index   int64
	Order   int64
}

// MaxPages and MaxRecords bound the walk of ftrace_pages_start.
const (
	MaxPages   = 1 << 16
	MaxRecords = 1 << 21
	maxOrder   = 12 // MAX_PAGE_ORDER is at most 10..12 on every arch
)

// WalkError stops a record or ops walk: where and why.
type WalkError struct {
	What string // "ftrace_pages", "ftrace_ops_list", ...
	Addr uint64
	Msg  string
	Err  error
}

func (e *WalkError) Error() string {
	s := fmt.Sprintf("%s at %#x: %s", e.What, e.Addr, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *WalkError) Unwrap() error { return e.Err }

// WalkRecords walks the ftrace_page chain starting at first (the value of
// the static ftrace_pages_start) as for_ftrace_rec_iter / do_for_each_
// ftrace_rec do (kernel/trace/ftrace.c): each page's records[0..index).
// The chain is cycle-checked and capped at MaxPages; index must lie in
// [0, ENTRIES_PER_PAGE_GROUP(order)] and order in [0, 12]. A broken page
// ends the walk with a *WalkError and the records read so far; a record
// array that cannot be read is a warning.
func WalkRecords(ctx *kernel.Context, first uint64, l RecordLayout, fl *FlagLayout) ([]Record, []Page, []string, error) {
	if err := l.check(); err != nil {
		return nil, nil, nil, err
	}
	// Two passes: the page headers first (every check on the chain), then
	// the records into one slice of the exact size (60 000 records on a
	// distro kernel: growing by append copied them ~17 times over).
	var pages []Page
	var walkErr error
	seen := map[uint64]bool{}
	total := 0
	good := -1 // pages whose records are read: all, or all but a last one that failed its checks
	for pg, n := first, 0; pg != 0; n++ {
		if n >= MaxPages {
			walkErr = &WalkError{What: "ftrace_pages", Addr: pg, Msg: fmt.Sprintf("more than %d pages", MaxPages)}
			break
		}
		if seen[pg] {
			walkErr = &WalkError{What: "ftrace_pages", Addr: pg, Msg: "cycle in the page chain"}
			break
		}
		seen[pg] = true
		hdr := make([]byte, max(l.PageNext, l.PageRecords, l.PageIndex, l.PageOrder)+8)
		if err := readFull(ctx, hdr, pg); err != nil {
			walkErr = &WalkError{What: "ftrace_pages", Addr: pg, Msg: "unreadable struct ftrace_page", Err: err}
			break
		}
		p := Page{
			Addr:    pg,
			Records: ctx.Order.Uint64(hdr[l.PageRecords:]),
			Index:   int64(int32(ctx.Order.Uint32(hdr[l.PageIndex:]))),
			Order:   int64(int32(ctx.Order.Uint32(hdr[l.PageOrder:]))),
		}
		next := ctx.Order.Uint64(hdr[l.PageNext:])
		pages = append(pages, p)
		if p.Order < 0 || p.Order > maxOrder {
			walkErr = &WalkError{What: "ftrace_pages", Addr: pg, Msg: fmt.Sprintf("order %d out of [0, %d]", p.Order, maxOrder)}
			good = len(pages) - 1
			break
		}
		per := int64((l.PageSize << uint(p.Order)) / uint64(l.RecSize))
		if p.Index < 0 || p.Index > per {
			walkErr = &WalkError{What: "ftrace_pages", Addr: pg, Msg: fmt.Sprintf("index %d out of [0, %d] for order %d", p.Index, per, p.Order)}
			good = len(pages) - 1
			break
		}
		if total+int(p.Index) > MaxRecords {
			walkErr = &WalkError{What: "ftrace_pages", Addr: pg, Msg: fmt.Sprintf("more than %d records", MaxRecords)}
			good = len(pages) - 1
			break
		}
		total += int(p.Index)
		pg = next
	}
	// The records of every page that passed its checks (a page that failed
	// one is listed but its records are not read).
	if good < 0 {
		good = len(pages)
	}
	var recs []Record
	if total > 0 {
		recs = make([]Record, 0, total)
	}
	var warns []string
	for n, p := range pages[:good] {
		if p.Index <= 0 {
			continue
		}
		buf := make([]byte, p.Index*l.RecSize)
		if err := readFull(ctx, buf, p.Records); err != nil {
			warns = append(warns, fmt.Sprintf("ftrace_page %#x: records at %#x (%d): %v", p.Addr, p.Records, p.Index, err))
			continue
		}
		for i := int64(0); i < p.Index; i++ {
			b := buf[i*l.RecSize:]
			r := Record{
				Addr:  p.Records + uint64(i*l.RecSize),
				Page:  n,
				Index: int(i),
				IP:    ctx.Order.Uint64(b[l.RecIP:]),
				Flags: Flags{Raw: ctx.Order.Uint64(b[l.RecFlags:]), Layout: fl},
			}
			if l.HasOOL {
				r.OOLStub = ctx.Order.Uint64(b[l.RecOOL:])
			}
			recs = append(recs, r)
		}
	}
	return recs, pages, warns, walkErr
}

// readFull reads len(b) bytes at addr or fails.
func readFull(ctx *kernel.Context, b []byte, addr uint64) error {
	n, err := ctx.Mem.ReadAt(b, addr)
	if n < len(b) {
		if err == nil {
			err = fmt.Errorf("short read of %d bytes at %#x", len(b), addr)
		}
		return err
	}
	return nil
}

func readU64(ctx *kernel.Context, addr uint64) (uint64, error) {
	var b [8]byte
	if err := readFull(ctx, b[:], addr); err != nil {
		return 0, err
	}
	return ctx.Order.Uint64(b[:]), nil
}
