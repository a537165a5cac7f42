package dump

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
)

// ELF64 layout sizes (Elf64_Ehdr, Elf64_Phdr, Elf64_Shdr).
const (
	elf64EhdrSize = 64
	elf64PhdrSize = 56
	elf64ShdrSize = 64
	pnXNum        = 0xffff // PN_XNUM: the real e_phnum is in section 0's sh_info
	maxPhnum      = 1 << 20
	maxNoteBytes  = 64 << 20
)

// Quirk strings, for Dump.Quirks.
const (
	QuirkQEMUBigEndianHeader = "qemu<8.0 big-endian ELF header for a little-endian guest"
	QuirkQEMUBigEndianKdump  = "qemu<8.0 big-endian kdump header for a little-endian guest"
)

// openELF parses an ELF64 core by hand: QEMU writes e_ehsize 8 and section
// headers that overlap the program headers, which debug/elf refuses, so
// only what a core needs is read and the rest is tolerated. The steps: the
// ELF header, the program headers (notes parsed, loads kept), the flavour
// (QEMU, process, kdump), the segments mapped, and the pages accounted.
func (d *Dump) openELF(f *mappedFile, opts Options) error {
	h, err := d.readELFHeader(f)
	if err != nil {
		return err
	}
	loads, hasQEMUNote, err := d.readProgramHeaders(f, h)
	if err != nil {
		return err
	}
	if len(loads) == 0 && d.VMCOREINFORaw == nil && len(d.CPUs) == 0 {
		return &FormatError{File: f.Name(), Off: int64(h.phoff), Msg: "ELF core has no PT_LOAD with data, no register and no VMCOREINFO note: it holds nothing to analyse",
			Val: fmt.Sprintf("%d program headers", h.phnum)}
	}
	d.Format = elfFlavour(loads, hasQEMUNote, d.VMCOREINFORaw != nil)
	phys := d.mapSegments(f, loads)
	d.detectMemoryOrder(QuirkQEMUBigEndianHeader)
	d.accountELFPages(f, loads, phys)
	_ = opts
	return nil
}

// elfHeader is what openELF keeps of an ELF64 core's header.
type elfHeader struct {
	order                   binary.ByteOrder
	phoff, phentsize, phnum uint64
}

// readELFHeader checks the ELF identification and header of a core (byte
// order, class, type, program header table within the file, PN_XNUM) and
// sets the dump's byte orders and machine.
func (d *Dump) readELFHeader(f *mappedFile) (elfHeader, error) {
	name := f.Name()
	size := f.Size()
	hdr := f.slice(0, elf64EhdrSize)
	if len(hdr) < 16 {
		return elfHeader{}, &FormatError{File: name, Off: int64(len(hdr)), Msg: "truncated ELF identification"}
	}
	if elfobj.Class(hdr[elfobj.EI_CLASS]) != elfobj.ELFCLASS64 {
		return elfHeader{}, &FormatError{File: name, Off: elfobj.EI_CLASS, Msg: "unsupported ELF class (only ELF64 cores)", Val: elfobj.Class(hdr[elfobj.EI_CLASS]).String()}
	}
	var order binary.ByteOrder
	switch elfobj.Data(hdr[elfobj.EI_DATA]) {
	case elfobj.ELFDATA2LSB:
		order = binary.LittleEndian
	case elfobj.ELFDATA2MSB:
		order = binary.BigEndian
	default:
		return elfHeader{}, &FormatError{File: name, Off: elfobj.EI_DATA, Msg: "unknown ELF data encoding", Val: hdr[elfobj.EI_DATA]}
	}
	if len(hdr) < elf64EhdrSize {
		return elfHeader{}, &FormatError{File: name, Off: int64(len(hdr)), Msg: "truncated ELF header"}
	}
	d.HeaderOrder = order
	d.MemoryOrder = order
	etype := order.Uint16(hdr[16:])
	d.Machine = Machine(order.Uint16(hdr[18:]))
	phoff := order.Uint64(hdr[32:])
	shoff := order.Uint64(hdr[40:])
	ehsize := order.Uint16(hdr[52:])
	phentsize := uint64(order.Uint16(hdr[54:]))
	phnum := uint64(order.Uint16(hdr[56:]))
	if elfobj.Type(etype) != elfobj.ET_CORE {
		return elfHeader{}, &FormatError{File: name, Off: 16, Msg: "not an ELF core file", Val: elfobj.Type(etype).String()}
	}
	if ehsize != elf64EhdrSize {
		// QEMU's dump-guest-memory writes 8 here; nothing depends on it.
		d.warnf("ELF header: e_ehsize is %d, not %d (ignored)", ehsize, elf64EhdrSize)
	}
	if phentsize < elf64PhdrSize {
		return elfHeader{}, &FormatError{File: name, Off: 54, Msg: "e_phentsize too small", Val: phentsize}
	}
	if phnum == pnXNum {
		sh := f.slice(int64(min(shoff, uint64(size))), elf64ShdrSize)
		if shoff > uint64(size) || len(sh) < elf64ShdrSize {
			return elfHeader{}, &FormatError{File: name, Off: int64(min(shoff, uint64(1)<<62)), Msg: "e_phnum is PN_XNUM but section header 0 is beyond end of file"}
		}
		// The gABI uses PN_XNUM only for 0xffff program headers or
		// more: a smaller sh_info means e_phnum (or the section header)
		// is corrupt, and reading sh_info's count would silently drop
		// the program headers.
		xn := uint64(order.Uint32(sh[44:])) // sh_info
		if xn < pnXNum {
			return elfHeader{}, &FormatError{File: name, Off: 56, Msg: "e_phnum is PN_XNUM (0xffff) but section header 0 gives fewer program headers: e_phnum or the section header is corrupt",
				Val: fmt.Sprintf("sh_info %d at offset %#x", xn, shoff+44)}
		}
		phnum = xn
	}
	if phnum > maxPhnum {
		return elfHeader{}, &FormatError{File: name, Off: 56, Msg: "too many program headers", Val: phnum}
	}
	if phoff > uint64(size) || phnum*phentsize > uint64(size)-phoff {
		return elfHeader{}, &FormatError{File: name, Off: int64(min(phoff, uint64(size))), Msg: "program headers extend beyond end of file", Val: fmt.Sprintf("%d headers at %#x, file size %#x", phnum, phoff, size)}
	}
	return elfHeader{order: order, phoff: phoff, phentsize: phentsize, phnum: phnum}, nil
}

// elfPhdr is one program header of a core.
type elfPhdr struct {
	typ                              uint32
	off, vaddr, paddr, filesz, memsz uint64
	index                            int
}

// readProgramHeaders reads every program header: each PT_NOTE's notes
// into the dump (whether one is QEMU's says who wrote the core), each
// PT_LOAD with memory kept (a truncated one warned about).
func (d *Dump) readProgramHeaders(f *mappedFile, h elfHeader) (loads []elfPhdr, hasQEMUNote bool, err error) {
	name, size, order := f.Name(), f.Size(), h.order
	for i := uint64(0); i < h.phnum; i++ {
		b := f.slice(int64(h.phoff+i*h.phentsize), elf64PhdrSize)
		p := elfPhdr{
			typ:    order.Uint32(b[0:]),
			off:    order.Uint64(b[8:]),
			vaddr:  order.Uint64(b[16:]),
			paddr:  order.Uint64(b[24:]),
			filesz: order.Uint64(b[32:]),
			memsz:  order.Uint64(b[40:]),
			index:  int(i),
		}
		phAt := int64(h.phoff + i*h.phentsize)
		if p.off > 1<<62 || p.filesz > 1<<62 || p.memsz > 1<<62 {
			return nil, false, &FormatError{File: name, Off: phAt, Msg: "program header offset or size out of range", Val: fmt.Sprintf("offset %#x filesz %#x memsz %#x", p.off, p.filesz, p.memsz)}
		}
		switch p.typ {
		case ptNote:
			n := min(p.filesz, maxNoteBytes)
			// Copied out of the mapping: notes outlive the parse.
			data := bytes.Clone(f.slice(int64(p.off), n))
			if uint64(len(data)) < p.filesz {
				d.warnf("PT_NOTE %d at %#x: %#x bytes, file holds %#x (truncated)", i, p.off, p.filesz, len(data))
			}
			before := len(d.Notes)
			if err := d.parseNotesInto(data, int64(p.off), order, name); err != nil {
				d.warnf("PT_NOTE %d: %v", i, err)
			}
			for _, n := range d.Notes[before:] {
				if n.Name == "QEMU" {
					hasQEMUNote = true
				}
			}
		case ptLoad:
			if p.filesz > p.memsz {
				d.warnf("PT_LOAD %d: p_filesz %#x > p_memsz %#x; using p_filesz", i, p.filesz, p.memsz)
				p.memsz = p.filesz
			}
			if p.memsz == 0 {
				continue
			}
			if p.off+p.filesz > uint64(size) {
				d.warnf("PT_LOAD %d: data [%#x, %#x) extends beyond end of file at %#x (truncated file): reads past it fault", i, p.off, p.off+p.filesz, size)
			}
			loads = append(loads, p)
		}
	}
	return loads, hasQEMUNote, nil
}

// elfFlavour tells who wrote the core: QEMU (its note, or every vaddr
// zero), a process core (every paddr zero, no VMCOREINFO), else kdump.
func elfFlavour(loads []elfPhdr, hasQEMUNote, hasVMCOREINFO bool) Format {
	allVaddrZero, allPaddrZero := true, true
	for _, p := range loads {
		if p.vaddr != 0 {
			allVaddrZero = false
		}
		if p.paddr != 0 {
			allPaddrZero = false
		}
	}
	switch {
	case hasQEMUNote || (allVaddrZero && len(loads) > 0):
		return ELFQEMU
	case allPaddrZero && !hasVMCOREINFO:
		return ELFProcess
	}
	return ELFKdump
}

// mapSegments makes the dump's physical memory (by paddr, not for process
// cores) and virtual memory (by vaddr) of the loads, and returns the
// physical segments.
func (d *Dump) mapSegments(f *mappedFile, loads []elfPhdr) []segment {
	var phys, virt []segment
	for _, p := range loads {
		s := segment{memsz: p.memsz, filesz: p.filesz, off: int64(p.off), file: f, index: p.index}
		if d.Format != ELFProcess && p.paddr != ^uint64(0) {
			s.start = p.paddr
			if p.paddr+p.memsz < p.paddr {
				d.warnf("PT_LOAD %d: physical range wraps around; ignored", p.index)
			} else {
				phys = append(phys, s)
			}
		}
		if p.vaddr != 0 && p.vaddr+p.memsz > p.vaddr {
			s.start = p.vaddr
			virt = append(virt, s)
		}
	}
	if len(phys) > 0 {
		d.Phys = newSegMemory(phys, true)
		d.Ranges = mergeRanges(phys)
	}
	if len(virt) > 0 {
		d.Virt = newSegMemory(virt, false)
	}
	return phys
}

// accountELFPages sets the page unit (VMCOREINFO's PAGESIZE, else 4K),
// records the pages a truncated file lacks as damage known at Open, and
// counts total, present and zero-filled pages.
func (d *Dump) accountELFPages(f *mappedFile, loads []elfPhdr, phys []segment) {
	name, size := f.Name(), f.Size()
	unit := uint64(4096)
	if d.VMCOREINFORaw != nil {
		if vi, err := ParseVMCOREINFO(d.VMCOREINFORaw); err == nil {
			d.VMCOREINFO = vi
			if ps, ok := vi.PageSize(); ok && ps > 0 && ps&(ps-1) == 0 {
				unit = ps
			}
		}
	}
	d.Pages.Unit = unit
	d.damage.setUnit(unit)
	// Every PT_LOAD's data against the file size: the pages a truncated
	// file lacks are damage known at Open.
	for _, p := range loads {
		if p.off+p.filesz <= uint64(size) || d.Format == ELFProcess {
			continue
		}
		have := uint64(0)
		if p.off < uint64(size) {
			have = uint64(size) - p.off
		}
		lo := p.paddr + have
		d.damage.truncated(TruncatedFile{File: name, Size: size, Want: int64(p.off + p.filesz), FirstAddr: lo})
		first, end := lo/unit, (p.paddr+p.filesz+unit-1)/unit
		if end > first {
			d.damage.pastEOF(Range{lo, p.paddr + p.filesz}, end-first)
		}
	}
	if m, ok := d.Phys.(*segMemory); ok {
		m.dmg = &d.damage
	}
	for _, s := range phys {
		total := (s.memsz + unit - 1) / unit
		held := (s.filesz + unit - 1) / unit
		d.Pages.Total += total
		d.Pages.Present += total
		d.Pages.Zero += total - held
	}
}

// detectMemoryOrder decides the guest memory's byte order. A ppc64 CPU's
// MSR_LE bit in NT_PRSTATUS says how the guest ran; QEMU before 8.0 wrote
// a big-endian header (and notes) for little-endian pseries guests.
func (d *Dump) detectMemoryOrder(quirk string) {
	if d.Machine != MachinePPC64 || len(d.CPUs) == 0 {
		return
	}
	le := 0
	for i := range d.CPUs {
		if d.CPUs[i].LittleEndian() {
			le++
		}
	}
	if d.HeaderOrder == binary.BigEndian && le == len(d.CPUs) {
		d.MemoryOrder = binary.LittleEndian
		d.Quirks = append(d.Quirks, quirk)
		d.warnf("headers are big-endian but every CPU's MSR has MSR_LE set: reading guest memory as little-endian (%s)", quirk)
	} else if d.HeaderOrder == binary.LittleEndian && le == 0 {
		d.warnf("headers are little-endian but no CPU's MSR has MSR_LE set")
	}
}

func mergeRanges(segs []segment) []Range {
	rs := make([]Range, 0, len(segs))
	for _, s := range segs {
		rs = append(rs, Range{s.start, s.end()})
	}
	return mergeAdjacent(rs)
}
