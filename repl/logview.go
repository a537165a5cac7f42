package repl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/ppc64"
)

// LogRecord is one printk record.
type LogRecord struct {
	Seq    uint64 `json:"seq"`
	TsNsec uint64 `json:"ts_nsec"`
	Level  uint64 `json:"level"`
	Text   string `json:"text"`
}

// printk ring buffer bounds (kernel/printk/printk_ringbuffer.h): the
// descriptor count and data size are powers of two from the dump, capped
// here so a corrupt prb cannot make us allocate without limit.
const (
	maxDescBits = 20 // 1M descriptors
	maxDataBits = 28 // 256 MiB of text
)

// desc_state values (enum desc_state in printk_ringbuffer.h).
const (
	descCommitted = 1
	descFinalized = 2
)

// ReadLog reads the printk ring buffer the way prb_read_valid() does:
// descriptors from tail_id to head_id whose state is committed or
// finalized and whose id matches, text from the data ring (get_data()),
// ordered by sequence number. Records that cannot be read are skipped and
// counted in the returned skipped count.
func ReadLog(p *kernel.Program) ([]LogRecord, int, error) {
	prbPtr, err := p.Variable("prb")
	if err != nil {
		return nil, 0, err
	}
	rb, err := prbPtr.Deref()
	if err != nil {
		return nil, 0, fmt.Errorf("prb: %w", err)
	}
	u := func(o kernel.Object, path string) (uint64, error) {
		m, err := o.Member(path)
		if err != nil {
			return 0, err
		}
		return m.Uint()
	}
	countBits, err := u(rb, "desc_ring.count_bits")
	if err != nil {
		return nil, 0, err
	}
	if countBits > maxDescBits {
		return nil, 0, fmt.Errorf("prb desc_ring.count_bits %d exceeds %d", countBits, maxDescBits)
	}
	sizeBits, err := u(rb, "text_data_ring.size_bits")
	if err != nil {
		return nil, 0, err
	}
	if sizeBits > maxDataBits || sizeBits < 4 {
		return nil, 0, fmt.Errorf("prb text_data_ring.size_bits %d outside [4,%d]", sizeBits, maxDataBits)
	}
	descs, err := rb.Member("desc_ring.descs")
	if err != nil {
		return nil, 0, err
	}
	infos, err := rb.Member("desc_ring.infos")
	if err != nil {
		return nil, 0, err
	}
	head, err := u(rb, "desc_ring.head_id.counter")
	if err != nil {
		return nil, 0, err
	}
	tail, err := u(rb, "desc_ring.tail_id.counter")
	if err != nil {
		return nil, 0, err
	}
	dataAddr, err := u(rb, "text_data_ring.data")
	if err != nil {
		return nil, 0, err
	}
	dataSize := uint64(1) << sizeBits
	data, err := p.Read(dataAddr, int(dataSize))
	if err != nil {
		return nil, 0, fmt.Errorf("prb text data ring at %#x: %w", dataAddr, err)
	}
	count := uint64(1) << countBits
	flagsShift := uint(62) // DESC_FLAGS_SHIFT = BITS_PER_LONG - 2
	idMask := ^(uint64(3) << flagsShift)
	var recs []LogRecord
	skipped := 0
	for id, n := tail, uint64(0); n <= count; id, n = (id+1)&idMask, n+1 {
		idx := int64(id & (count - 1))
		d, err := descs.Index(idx)
		if err != nil {
			return recs, skipped, err
		}
		sv, err := u(d, "state_var.counter")
		if err != nil {
			skipped++
			continue
		}
		state := sv >> flagsShift & 3
		if sv&idMask == id && (state == descCommitted || state == descFinalized) {
			begin, err1 := u(d, "text_blk_lpos.begin")
			next, err2 := u(d, "text_blk_lpos.next")
			info, err3 := infos.Index(idx)
			if err1 != nil || err2 != nil || err3 != nil {
				skipped++
			} else if text, ok := blockText(data, sizeBits, begin, next); ok {
				seq, _ := u(info, "seq")
				ts, _ := u(info, "ts_nsec")
				tl, _ := u(info, "text_len")
				lvl, _ := u(info, "level")
				if tl < uint64(len(text)) {
					text = text[:tl]
				}
				recs = append(recs, LogRecord{Seq: seq, TsNsec: ts, Level: lvl, Text: string(text)})
			} else {
				skipped++
			}
		}
		if id == head {
			break
		}
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
	return recs, skipped, nil
}

// blockText mirrors get_data(): a data-less block (odd lpos) has no text;
// a block in one wrap is [begin, next); a wrapping block starts at index 0
// of the next wrap. The block starts with its 8-byte id.
func blockText(data []byte, sizeBits uint64, begin, next uint64) ([]byte, bool) {
	const emptyLine = 0x3
	if begin&1 != 0 {
		if begin == emptyLine && next == emptyLine {
			return []byte{}, true
		}
		return nil, false
	}
	size := uint64(1) << sizeBits
	mask := size - 1
	wrapped := func(b, n uint64) bool { return b>>sizeBits != (n-1)>>sizeBits } // is_blk_wrapped()
	var start, n uint64
	switch {
	case !wrapped(begin, next):
		start, n = begin&mask, next-begin
	case !wrapped(begin+size, next):
		start, n = 0, next&mask
	default:
		return nil, false
	}
	if n <= 8 || start+n > size || begin&7 != 0 || next&7 != 0 {
		return nil, false
	}
	return data[start+8 : start+n], true
}

func cmdLog(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	recs, skipped, err := ReadLog(c.S.Prog)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	if boolFlag(fs, "json") {
		return c.JSON(recs)
	}
	for _, r := range recs {
		if err := c.Ctx.Err(); err != nil {
			return err
		}
		text := strings.TrimRight(r.Text, "\n")
		if boolFlag(fs, "t") {
			c.Printf("%s\n", text)
			continue
		}
		c.Printf("[%5d.%06d] %s\n", r.TsNsec/1e9, r.TsNsec%1e9/1e3, text)
	}
	if skipped > 0 {
		fmt.Fprintf(c.S.Err, "log: %d record(s) could not be read\n", skipped)
	}
	return nil
}

func cmdList(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	headS, typS, member := stringFlag(fs, "H"), stringFlag(fs, "s"), stringFlag(fs, "o")
	if headS == "" || typS == "" || member == "" {
		return &UsageError{Cmd: "list", Msg: "want -H HEAD -s TYPE -o MEMBER"}
	}
	head, err := c.S.ParseAddr(headS)
	if err != nil {
		return err
	}
	sp := parseStructSpec("struct", typS)
	ctx := *c.S.Prog.Context
	var maxN int
	fmt.Sscan(stringFlag(fs, "max"), &maxN)
	ctx.MaxList = maxN
	var addrs []uint64
	pr := c.S.newPrinter(c.S.radix == 16)
	for o, err := range kernel.ListForEachEntry(&ctx, head, sp.Type, member) {
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		if cerr := c.Ctx.Err(); cerr != nil {
			return cerr
		}
		addrs = append(addrs, o.Addr)
		if boolFlag(fs, "json") {
			continue
		}
		c.Printf("%x\n", o.Addr)
		for _, m := range sp.Members {
			mo, err := pr.rebase(o).Member(m)
			if err != nil {
				c.Printf("  %s = <%v>\n", m, err)
				continue
			}
			c.Printf("  %s = %s\n", m, pr.value(mo, 2, 0))
		}
	}
	if boolFlag(fs, "json") {
		return c.JSON(addrs)
	}
	return nil
}

func cmdFtrace(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	st, err := c.S.Ftrace()
	if err != nil {
		return fmt.Errorf("ftrace: %w", err)
	}
	var recs []ftrace.Record
	for _, r := range st.Records {
		if len(pos) == 0 || r.Module == pos[0] {
			recs = append(recs, r)
		}
	}
	if boolFlag(fs, "json") {
		return c.JSON(recs)
	}
	for _, w := range st.Warnings {
		c.Printf("warning: %s\n", w)
	}
	tw := newTable(c.Out, "IP", "FUNCTION", "MODULE", "FLAGS", "SITE")
	for _, r := range recs {
		if err := c.Ctx.Err(); err != nil {
			return err
		}
		tw.Append([]string{fmt.Sprintf("%x", r.IP), fmt.Sprintf("%s+%#x", r.Func, r.Off), r.Module, fmt.Sprintf("%v", r.Flags), c.S.ftraceSite(r.IP)})
	}
	tw.Render()
	return nil
}

// Ftrace loads the ftrace state once (package ftrace).

// ftraceSite annotates an ftrace call site: [FTRACE NOP] when the site
// holds a nop, [FTRACE -> ool stub j] when it branches into an OOL array,
// "" when ip is not a record's ip.
func (s *Session) ftraceSite(ip uint64) string {
	st, err := s.Ftrace()
	if err != nil || !s.ftraceSiteSet()[ip] {
		return ""
	}
	w, err := s.Prog.ReadU32(ip)
	if err != nil {
		return "[FTRACE site unreadable]"
	}
	if w == 0x60000000 { // PPC_RAW_NOP()
		return "[FTRACE NOP]"
	}
	if t, _, ok := ppc64.BranchTarget(w, ip); ok {
		for _, a := range st.OOL {
			if t >= a.Base && t < a.Base+uint64(a.Count)*modules.OOLStubSize {
				return fmt.Sprintf("[FTRACE -> ool stub %d]", (t-a.Base)/modules.OOLStubSize)
			}
		}
		return "[FTRACE -> " + s.resolve(t).String() + "]"
	}
	return fmt.Sprintf("[FTRACE site %08x]", w)
}

func cmdKlp(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	st, err := c.S.Ftrace()
	if err != nil {
		return fmt.Errorf("klp: %w", err)
	}
	if st.Livepatch == nil {
		if _, err := c.S.Prog.SymbolAddr("klp_patches"); err != nil {
			return fmt.Errorf("klp: this kernel has no livepatch support (no klp_patches: CONFIG_LIVEPATCH is off)")
		}
		return fmt.Errorf("klp: no livepatch state read")
	}
	if boolFlag(fs, "tasks") {
		tasks, err := c.S.klpTasks(st.Livepatch)
		if boolFlag(fs, "json") {
			if jerr := c.JSON(tasks); jerr != nil {
				return jerr
			}
		} else if tasks != nil {
			c.S.writeKlpTasks(c, st.Livepatch, tasks)
		}
		if err != nil {
			return fmt.Errorf("klp --tasks: %w", err)
		}
		return nil
	}
	if boolFlag(fs, "json") {
		return c.JSON(st.Livepatch)
	}
	c.S.writeKlp(c, st.Livepatch)
	return nil
}
