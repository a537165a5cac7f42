// Package tracebuf reads the ftrace ring buffer of a dump: the per-CPU
// struct ring_buffer_per_cpu of the global trace array (global_trace),
// page by page from the reader page through the head page to the commit
// page as ring_buffer_read does, each struct ring_buffer_event (data,
// padding, time extends and absolute stamps) with its timestamp, and the
// trace entries in them: function (TRACE_FN), function_graph entry and
// return, trace_printk (print, bprint), and every other event named by
// its trace_event_call. Layouts come from DWARF; pages, events and lists
// are bounded and cycle-checked, and what cannot be read is an error per
// CPU, never a silent gap.
//
// It does not format events as the kernel's trace file does beyond a
// one-line text per event (package repl prints), and it reads only the
// global trace array, not instances.
//
// Layer: models (docs/ARCHITECTURE.md).
package tracebuf

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// Ring-buffer constants (include/linux/ring_buffer.h, kernel/trace/
// ring_buffer.c).
const (
	typeDataMax   = 28 // RINGBUF_TYPE_DATA_TYPE_LEN_MAX
	typePadding   = 29 // RINGBUF_TYPE_PADDING
	typeTimeExt   = 30 // RINGBUF_TYPE_TIME_EXTEND
	typeTimeStamp = 31 // RINGBUF_TYPE_TIME_STAMP
	tsShift       = 27 // TS_SHIFT
	missedMask    = 3 << 30
	pageFlagMask  = 3 // RB_FLAG_MASK in the list pointers
)

// enum trace_type values (kernel/trace/trace.h) the reader decodes.
const (
	TraceFN       = 1
	TracePrint    = 5
	TraceBPrint   = 6
	TraceGraphRet = 10
	TraceGraphEnt = 11
)

// Bounds: a corrupt buffer must not make the reader allocate or loop
// without limit.
const (
	maxPages      = 1 << 16
	maxPageSize   = 1 << 20
	maxEventTypes = 1 << 12
)

// Event is one trace entry.
type Event struct {
	CPU      int
	TS       uint64 // nanoseconds (the trace clock)
	Type     int
	TypeName string
	PID      int32
	Flags    uint8
	Preempt  uint8
	// IP and Parent: TRACE_FN (function, caller), graph entry (func), print.
	IP, Parent uint64
	Depth      int64
	// Text: a trace_printk's text (print) or format (bprint).
	Text string
	// Data is the entry's bytes (the trace_entry header included).
	Data []byte
}

// CPUBuffer is one CPU's buffer.
type CPUBuffer struct {
	CPU    int
	Pages  int
	Events []Event
	// Missed: a page said events were lost (overwritten) before it.
	Missed bool
	Err    error
}

// Trace is the global trace array's ring buffer.
type Trace struct {
	Tracer   string // current_trace->name
	CPUs     []CPUBuffer
	Warnings []string
}

// Options bound the read.
type Options struct {
	// MaxEvents per CPU kept (the newest); 0 means all.
	MaxEvents int
}

// Read reads the global trace array's ring buffer.
func Read(p *kernel.Program, opts Options) (*Trace, error) {
	gt, err := p.Variable("global_trace")
	if err != nil {
		return nil, err
	}
	t := &Trace{}
	if ct, err := gt.Member("current_trace"); err == nil {
		if c, err := ct.Deref(); err == nil {
			if n, err := c.Member("name"); err == nil {
				t.Tracer, _ = n.CString(64)
			}
		}
	}
	bufPtr, err := gt.Member("array_buffer.buffer")
	if err != nil {
		return nil, fmt.Errorf("global_trace.array_buffer.buffer: %w", err)
	}
	buf, err := bufPtr.Deref()
	if err != nil {
		return t, fmt.Errorf("global_trace.array_buffer.buffer: %w", err)
	}
	r, err := newReader(p)
	if err != nil {
		return t, err
	}
	names := eventNames(p, &t.Warnings)
	arr, err := buf.Member("buffers") // struct ring_buffer_per_cpu **
	if err != nil {
		return t, err
	}
	ncpu := 1
	if v, err := p.Variable("nr_cpu_ids"); err == nil {
		if n, err := v.Uint(); err == nil && n > 0 && n <= 8192 {
			ncpu = int(n)
		}
	}
	for cpu := 0; cpu < ncpu; cpu++ {
		pp, err := arr.Index(int64(cpu))
		if err != nil {
			t.Warnings = append(t.Warnings, fmt.Sprintf("buffers[%d]: %v", cpu, err))
			continue
		}
		addr, err := pp.Uint()
		if err != nil || addr == 0 {
			continue
		}
		cb := r.readCPU(cpu, addr, names)
		if opts.MaxEvents > 0 && len(cb.Events) > opts.MaxEvents {
			cb.Events = cb.Events[len(cb.Events)-opts.MaxEvents:]
		}
		t.CPUs = append(t.CPUs, cb)
	}
	return t, nil
}

// reader holds the layouts.
type reader struct {
	p     *kernel.Program
	order binary.ByteOrder
	// struct ring_buffer_per_cpu
	cpuHead, cpuCommit, cpuReader, cpuNrPages int64
	// struct buffer_page
	bpList, bpRead, bpPage int64
	// struct buffer_data_page
	dpTS, dpCommit, dpData int64
	pageSize               uint64
	// entries
	fnIP, fnParent, geFunc, geDepth, grFunc, grDepth, prIP, prBuf, bpIP, bpFmt int64
}

func newReader(p *kernel.Program) (*reader, error) {
	r := &reader{p: p, order: p.Order, pageSize: p.PageSize}
	var err error
	off := func(typ, path string) int64 {
		if err != nil {
			return 0
		}
		var o int64
		o, err = offsetof(p.Context, typ, path)
		return o
	}
	r.cpuHead = off("struct ring_buffer_per_cpu", "head_page")
	r.cpuCommit = off("struct ring_buffer_per_cpu", "commit_page")
	r.cpuReader = off("struct ring_buffer_per_cpu", "reader_page")
	r.cpuNrPages = off("struct ring_buffer_per_cpu", "nr_pages")
	r.bpList = off("struct buffer_page", "list")
	r.bpRead = off("struct buffer_page", "read")
	r.bpPage = off("struct buffer_page", "page")
	r.dpTS = off("struct buffer_data_page", "time_stamp")
	r.dpCommit = off("struct buffer_data_page", "commit")
	r.dpData = off("struct buffer_data_page", "data")
	if err != nil {
		return nil, fmt.Errorf("ring buffer layout: %w", err)
	}
	opt := func(typ, path string) int64 {
		o, e := offsetof(p.Context, typ, path)
		if e != nil {
			return -1
		}
		return o
	}
	r.fnIP, r.fnParent = opt("struct ftrace_entry", "ip"), opt("struct ftrace_entry", "parent_ip")
	r.geFunc, r.geDepth = opt("struct ftrace_graph_ent_entry", "graph_ent.func"), opt("struct ftrace_graph_ent_entry", "graph_ent.depth")
	r.grFunc, r.grDepth = opt("struct ftrace_graph_ret_entry", "ret.func"), opt("struct ftrace_graph_ret_entry", "ret.depth")
	r.prIP, r.prBuf = opt("struct print_entry", "ip"), opt("struct print_entry", "buf")
	r.bpIP, r.bpFmt = opt("struct bprint_entry", "ip"), opt("struct bprint_entry", "fmt")
	// The sub-buffer size: trace_buffer->subbuf_order pages where it
	// exists; a page otherwise.
	if r.pageSize == 0 {
		r.pageSize = 4096
	}
	return r, nil
}

func (r *reader) u64(addr uint64) (uint64, error) { return r.p.ReadU64(addr) }

// readCPU reads one CPU's pages: the reader page (already swapped out of
// the ring by a reader, it may hold unread events), then from the head
// page along the ring to the commit page.
func (r *reader) readCPU(cpu int, addr uint64, names map[int]string) CPUBuffer {
	cb := CPUBuffer{CPU: cpu}
	head, err1 := r.u64(addr + uint64(r.cpuHead))
	commit, err2 := r.u64(addr + uint64(r.cpuCommit))
	rdr, err3 := r.u64(addr + uint64(r.cpuReader))
	nr, err4 := r.u64(addr + uint64(r.cpuNrPages))
	if err := firstErr(err1, err2, err3, err4); err != nil {
		cb.Err = fmt.Errorf("ring_buffer_per_cpu at %#x: %w", addr, err)
		return cb
	}
	if nr > maxPages {
		cb.Err = fmt.Errorf("ring_buffer_per_cpu at %#x: nr_pages %d above %d", addr, nr, maxPages)
		return cb
	}
	var pages []uint64
	if rdr != 0 && rdr != head {
		pages = append(pages, rdr)
	}
	seen := map[uint64]bool{}
	for bp, n := head, uint64(0); bp != 0; n++ {
		if seen[bp] || n > nr+1 {
			cb.Err = fmt.Errorf("page ring of CPU %d loops or is longer than nr_pages %d at %#x", cpu, nr, bp)
			break
		}
		seen[bp] = true
		pages = append(pages, bp)
		if bp == commit {
			break
		}
		next, err := r.u64(bp + uint64(r.bpList))
		if err != nil {
			cb.Err = fmt.Errorf("buffer_page %#x list.next: %w", bp, err)
			break
		}
		bp = (next &^ pageFlagMask) - uint64(r.bpList)
	}
	for i, bp := range pages {
		evs, missed, err := r.readPage(cpu, bp, i == 0 && bp == rdr, names)
		cb.Pages++
		cb.Missed = cb.Missed || missed
		cb.Events = append(cb.Events, evs...)
		if err != nil && cb.Err == nil {
			cb.Err = err
		}
	}
	sort.SliceStable(cb.Events, func(i, j int) bool { return cb.Events[i].TS < cb.Events[j].TS })
	return cb
}

// readPage decodes the events of one buffer page, from its read index
// when it is the reader page.
func (r *reader) readPage(cpu int, bp uint64, isReader bool, names map[int]string) ([]Event, bool, error) {
	dp, err := r.u64(bp + uint64(r.bpPage))
	if err != nil {
		return nil, false, fmt.Errorf("buffer_page %#x: %w", bp, err)
	}
	ts, err1 := r.u64(dp + uint64(r.dpTS))
	commit, err2 := r.u64(dp + uint64(r.dpCommit))
	if err := firstErr(err1, err2); err != nil {
		return nil, false, fmt.Errorf("buffer_data_page %#x: %w", dp, err)
	}
	missed := commit&(1<<31) != 0
	size := commit & (1<<30 - 1) // rb_data_page_size(): commit & ~RB_MISSED_MASK
	if size > maxPageSize || size > r.pageSize {
		return nil, missed, fmt.Errorf("buffer_data_page %#x: commit %#x beyond the page", dp, commit)
	}
	data, err := r.p.Read(dp+uint64(r.dpData), int(size))
	if err != nil {
		return nil, missed, fmt.Errorf("buffer_data_page %#x data: %w", dp, err)
	}
	start := uint64(0)
	if isReader {
		if rd, err := r.p.ReadU32(bp + uint64(r.bpRead)); err == nil && uint64(rd) <= size {
			start = uint64(rd)
		}
	}
	var evs []Event
	for off := uint64(0); off+4 <= size; {
		hdr := r.order.Uint32(data[off:])
		var typ, delta uint32
		if r.order == binary.LittleEndian {
			typ, delta = hdr&0x1f, hdr>>5
		} else {
			typ, delta = hdr>>27, hdr&(1<<27-1)
		}
		arr0 := func() (uint32, bool) {
			if off+8 > size {
				return 0, false
			}
			return r.order.Uint32(data[off+4:]), true
		}
		switch {
		case typ == typePadding:
			if delta == 0 {
				return evs, missed, nil // the rest of the page is empty
			}
			l, ok := arr0()
			if !ok || l == 0 {
				return evs, missed, nil
			}
			ts += uint64(delta)
			off += 4 + uint64(l)
		case typ == typeTimeExt:
			l, ok := arr0()
			if !ok {
				return evs, missed, fmt.Errorf("page %#x: truncated time extend at %#x", dp, off)
			}
			ts += uint64(l)<<tsShift + uint64(delta)
			off += 8
		case typ == typeTimeStamp:
			l, ok := arr0()
			if !ok {
				return evs, missed, fmt.Errorf("page %#x: truncated time stamp at %#x", dp, off)
			}
			abs := uint64(l)<<tsShift + uint64(delta)
			// rb_fix_abs_ts(): the stamp keeps 59 bits; the page's
			// time_stamp gives the top.
			ts = abs | ts&^(1<<59-1)
			off += 8
		default:
			var body []byte
			var n uint64
			if typ == 0 {
				l, ok := arr0()
				if !ok || l < 4 || off+4+uint64(l) > size {
					return evs, missed, fmt.Errorf("page %#x: bad event length at %#x", dp, off)
				}
				body, n = data[off+8:off+4+uint64(l)], 4+uint64(l)
			} else {
				l := uint64(typ) * 4
				if off+4+l > size {
					return evs, missed, fmt.Errorf("page %#x: event at %#x runs past the commit", dp, off)
				}
				body, n = data[off+4:off+4+l], 4+l
			}
			ts += uint64(delta)
			if off >= start {
				evs = append(evs, r.decode(cpu, ts, body, names))
			}
			off += n
		}
	}
	return evs, missed, nil
}

// decode reads a trace entry.
func (r *reader) decode(cpu int, ts uint64, b []byte, names map[int]string) Event {
	e := Event{CPU: cpu, TS: ts, Data: append([]byte(nil), b...)}
	if len(b) < 8 {
		return e
	}
	e.Type = int(r.order.Uint16(b))
	e.Flags, e.Preempt = b[2], b[3]
	e.PID = int32(r.order.Uint32(b[4:]))
	u := func(off int64) uint64 {
		if off < 0 || int(off)+8 > len(b) {
			return 0
		}
		return r.order.Uint64(b[off:])
	}
	switch e.Type {
	case TraceFN:
		e.TypeName, e.IP, e.Parent = "function", u(r.fnIP), u(r.fnParent)
	case TraceGraphEnt:
		e.TypeName, e.IP, e.Depth = "funcgraph_entry", u(r.geFunc), int64(u(r.geDepth))
	case TraceGraphRet:
		e.TypeName, e.IP, e.Depth = "funcgraph_exit", u(r.grFunc), int64(u(r.grDepth))
	case TracePrint:
		e.TypeName, e.IP = "print", u(r.prIP)
		if r.prBuf >= 0 && int(r.prBuf) < len(b) {
			e.Text = cstr(b[r.prBuf:])
		}
	case TraceBPrint:
		e.TypeName, e.IP = "bprint", u(r.bpIP)
		if f := u(r.bpFmt); f != 0 {
			if s, err := r.p.Read(f, 128); err == nil {
				e.Text = cstr(s)
			}
		}
	default:
		e.TypeName = names[e.Type]
		if e.TypeName == "" {
			e.TypeName = fmt.Sprintf("type %d", e.Type)
		}
	}
	return e
}

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// eventNames maps event types to names through the ftrace_events list of
// struct trace_event_call (call->tp->name for tracepoint events, else
// call->name).
func eventNames(p *kernel.Program, warns *[]string) map[int]string {
	out := map[int]string{}
	fl := int64(-1)
	if v, err := p.Context.Types.EnumConstant("TRACE_EVENT_FL_TRACEPOINT"); err == nil {
		fl = v
	}
	head, err := p.SymbolAddr("ftrace_events")
	if err != nil {
		return out
	}
	n := 0
	ctx := *p.Context
	ctx.MaxList = maxEventTypes + 1
	for obj, err := range kernel.ListForEachEntry(&ctx, head, "struct trace_event_call", "list") {
		if err != nil {
			*warns = append(*warns, fmt.Sprintf("ftrace_events: %v", err))
			break
		}
		if n++; n > maxEventTypes {
			*warns = append(*warns, fmt.Sprintf("ftrace_events: more than %d events", maxEventTypes))
			break
		}
		typ, err := obj.Member("event.type")
		if err != nil {
			continue
		}
		t, _ := typ.Uint()
		flags := uint64(0)
		if f, err := obj.Member("flags"); err == nil {
			flags, _ = f.Uint()
		}
		np, err := obj.Member("name")
		if err != nil {
			continue
		}
		pv, _ := np.Uint()
		if fl >= 0 && flags&uint64(fl) != 0 && pv != 0 {
			// tp->name: the first member of struct tracepoint.
			if q, err := p.ReadU64(pv); err == nil {
				pv = q
			}
		}
		if b, err := p.Read(pv, 64); err == nil {
			out[int(t)] = cstr(b)
		}
	}
	return out
}

// Trace entry flags (enum trace_flag_type, kernel/trace/trace.h).
const (
	flagIrqsOff        = 0x01
	flagIrqsNoSupport  = 0x02
	flagNeedResched    = 0x04
	flagHardIRQ        = 0x08
	flagSoftIRQ        = 0x10
	flagPreemptResched = 0x20
	flagNMI            = 0x40
	flagBHOff          = 0x80
)

// LatFmt is the five latency columns of the trace file ("d.h1."), as
// trace_print_lat_fmt() (kernel/trace/trace_output.c) prints them.
func (e *Event) LatFmt() string {
	f := e.Flags
	irqs := byte('.')
	switch {
	case f&flagIrqsOff != 0 && f&flagBHOff != 0:
		irqs = 'D'
	case f&flagIrqsOff != 0:
		irqs = 'd'
	case f&flagBHOff != 0:
		irqs = 'b'
	case f&flagIrqsNoSupport != 0:
		irqs = 'X'
	}
	resched := byte('.')
	switch f & (flagNeedResched | flagPreemptResched) {
	case flagNeedResched | flagPreemptResched:
		resched = 'N'
	case flagNeedResched:
		resched = 'n'
	case flagPreemptResched:
		resched = 'p'
	}
	nmi, hard, soft := f&flagNMI != 0, f&flagHardIRQ != 0, f&flagSoftIRQ != 0
	irq := byte('.')
	switch {
	case nmi && hard:
		irq = 'Z'
	case nmi:
		irq = 'z'
	case hard && soft:
		irq = 'H'
	case hard:
		irq = 'h'
	case soft:
		irq = 's'
	}
	pc := func(v uint8) byte {
		if v == 0 {
			return '.'
		}
		return "0123456789abcdef"[v]
	}
	return string([]byte{irqs, resched, irq, pc(e.Preempt & 0xf), pc(e.Preempt >> 4)})
}

// Time is the timestamp as the trace file prints it: seconds and
// microseconds, rounded as ns2usecs() rounds (kernel/trace/trace.c).
func (e *Event) Time() string {
	us := (e.TS + 500) / 1000
	return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
}

// offsetof is the offset of a member path in a type, through the
// context's type source (so that the example generator records it).
func offsetof(ctx *kernel.Context, typ, path string) (int64, error) {
	t, err := ctx.Types.Lookup(typ)
	if err != nil {
		return 0, err
	}
	m, err := kernel.Object{Ctx: ctx, Type: t}.Member(path)
	if err != nil {
		return 0, err
	}
	return int64(m.Addr), nil
}
