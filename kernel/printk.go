package kernel

// The printk log: the kernel's lockless ring buffer
// (kernel/printk/printk_ringbuffer.c) read from the dump.

import (
	"fmt"
	"sort"
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
func ReadLog(p *Program) ([]LogRecord, int, error) {
	prbPtr, err := p.Variable("prb")
	if err != nil {
		return nil, 0, err
	}
	rb, err := prbPtr.Deref()
	if err != nil {
		return nil, 0, fmt.Errorf("prb: %w", err)
	}
	u := func(o Object, path string) (uint64, error) {
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
