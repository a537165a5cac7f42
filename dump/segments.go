package dump

import (
	"fmt"
	"sort"
)

// segment is one PT_LOAD as an address range backed by file bytes.
type segment struct {
	start  uint64 // p_paddr or p_vaddr
	memsz  uint64
	filesz uint64 // <= memsz; the tail reads as zeros (ELF semantics)
	off    int64  // p_offset
	file   *mappedFile
	index  int // program header index, for messages
}

func (s *segment) end() uint64 { return s.start + s.memsz }

// segMemory is the Memory of a set of PT_LOADs. Where segments overlap, the
// later program header wins (drgn's and delve's overlay rule).
type segMemory struct {
	phys    bool
	sorted  []segment // by start
	order   []segment // file order, used only when segments overlap
	overlap bool
	dmg     *damageLedger // nil for virtual segments
}

func newSegMemory(segs []segment, phys bool) *segMemory {
	m := &segMemory{phys: phys, order: segs}
	m.sorted = append([]segment(nil), segs...)
	sort.SliceStable(m.sorted, func(i, j int) bool { return m.sorted[i].start < m.sorted[j].start })
	for i := 1; i < len(m.sorted); i++ {
		if m.sorted[i].start < m.sorted[i-1].end() {
			m.overlap = true
		}
	}
	return m
}

func (m *segMemory) find(addr uint64) *segment {
	if m.overlap {
		for i := len(m.order) - 1; i >= 0; i-- {
			s := &m.order[i]
			if addr >= s.start && addr-s.start < s.memsz {
				return s
			}
		}
		return nil
	}
	i := sort.Search(len(m.sorted), func(i int) bool { return m.sorted[i].start > addr }) - 1
	if i < 0 {
		return nil
	}
	s := &m.sorted[i]
	if addr-s.start < s.memsz {
		return s
	}
	return nil
}

// ReadAt implements Memory.
func (m *segMemory) ReadAt(p []byte, addr uint64) (int, error) {
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		if a < addr { // wrapped around the address space
			return n, &Fault{Addr: a, Phys: m.phys, Reason: NotInDump}
		}
		s := m.find(a)
		if s == nil {
			return n, &Fault{Addr: a, Phys: m.phys, Reason: NotInDump}
		}
		off := a - s.start
		chunk := uint64(len(p) - n)
		if avail := s.memsz - off; chunk > avail {
			chunk = avail
		}
		if m.overlap {
			// A later segment may start inside this chunk.
			for i := range m.order {
				o := &m.order[i]
				if o.start > a && o.start-a < chunk {
					chunk = o.start - a
				}
			}
		}
		if off < s.filesz {
			fc := chunk
			if rest := s.filesz - off; fc > rest {
				fc = rest
			}
			k, err := s.file.copyAt(p[n:n+int(fc)], s.off+int64(off))
			n += k
			if err != nil {
				// The file shrank under its mapping after Open.
				if fc, ok := err.(*FileChangedError); ok && m.dmg != nil {
					m.dmg.truncated(TruncatedFile{File: fc.File, Size: fc.Off, Want: s.off + int64(s.filesz), FirstAddr: addr + uint64(n)})
				}
				return n, &Fault{Addr: addr + uint64(n), Phys: m.phys, Reason: Truncated, Detail: err.Error(), Err: err,
					File: s.file.Name(), FileOff: s.off + int64(off) + int64(k)}
			}
			if uint64(k) < fc {
				return n, &Fault{Addr: addr + uint64(n), Phys: m.phys, Reason: Truncated, File: s.file.Name(), FileOff: s.off + int64(off) + int64(k),
					Detail: fmt.Sprintf("PT_LOAD %d wants file offset %#x, file ends at %#x", s.index, s.off+int64(off)+int64(k), s.file.Size())}
			}
			chunk -= fc
		}
		// Beyond p_filesz up to p_memsz: zeros, as the ELF specification says.
		clear(p[n : n+int(chunk)])
		n += int(chunk)
	}
	return n, nil
}
