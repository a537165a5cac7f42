package symbols

import (
	"encoding/binary"
	"fmt"
)

// Memory is one address space to read from. It is the same one-method
// interface as dump.Memory (which satisfies it), declared here so that
// symbols does not import dump. A short read returns an error naming the
// first unreadable address.
type Memory interface {
	ReadAt(p []byte, addr uint64) (n int, err error)
}

// KallsymsError reports an inconsistent kallsyms table in memory.
type KallsymsError struct {
	Addr uint64 // address of the offending datum
	Msg  string
}

func (e *KallsymsError) Error() string {
	return fmt.Sprintf("kallsyms: %s at %#x", e.Msg, e.Addr)
}

const (
	// maxKallsyms caps kallsyms_num_syms (a distro kernel has ~250 000).
	maxKallsyms = 1 << 22
	// ksymNameLen is KSYM_NAME_LEN (include/linux/kallsyms.h): names,
	// truncated by the kernel at this length including the NUL.
	ksymNameLen = 512
	// maxNameBytes bounds one decompressed name (type char included) that
	// we accept before calling the table corrupt.
	maxNameBytes = 4 * ksymNameLen
)

// cursor reads memory sequentially through a small cache, with a sticky
// error (debug/dwarf's buf pattern).
type cursor struct {
	mem   Memory
	addr  uint64 // next address to read
	buf   []byte
	base  uint64 // address of buf[0]
	err   error
	chunk int
}

func newCursor(mem Memory, addr uint64) *cursor {
	return &cursor{mem: mem, addr: addr, chunk: 64 << 10}
}

func (c *cursor) byte() byte {
	if c.err != nil {
		return 0
	}
	if c.addr < c.base || c.addr-c.base >= uint64(len(c.buf)) {
		c.fill()
		if c.err != nil {
			return 0
		}
	}
	b := c.buf[c.addr-c.base]
	c.addr++
	return b
}

// u32 reads a 32-bit value in order.
func (c *cursor) u32(order binary.ByteOrder) uint32 {
	var b [4]byte
	for i := range b {
		b[i] = c.byte()
	}
	return order.Uint32(b[:])
}

// fill reads a chunk at c.addr, shrinking the chunk to what is readable
// (the table may end just before an unreadable page).
func (c *cursor) fill() {
	if c.buf == nil {
		c.buf = make([]byte, c.chunk)
	}
	buf := c.buf[:cap(c.buf)]
	if c.addr > ^uint64(0)-uint64(len(buf)) {
		buf = buf[:^uint64(0)-c.addr]
	}
	n, err := c.mem.ReadAt(buf, c.addr)
	if n <= 0 {
		if err == nil {
			err = fmt.Errorf("short read at %#x", c.addr)
		}
		c.err = err
		return
	}
	c.buf, c.base = buf[:n], c.addr
}

// readArray reads n bytes at addr, failing with the memory's error.
func readArray(mem Memory, addr uint64, n int) ([]byte, error) {
	b := make([]byte, n)
	got, err := mem.ReadAt(b, addr)
	if got == n {
		return b, nil
	}
	if err == nil {
		err = fmt.Errorf("short read: %d of %d bytes", got, n)
	}
	return nil, fmt.Errorf("reading %d bytes at %#x: %w", n, addr, err)
}

// ReadKallsyms reads the kernel's own compressed symbol table out of
// memory (kernel/kallsyms.c and scripts/kallsyms.c of Linux 7.2). lookup
// gives the addresses of the kallsyms_* arrays (from the vmlinux symbol
// table or VMCOREINFO); order is the kernel's byte order.
//
// Addresses are computed as kallsyms_sym_address() does: when the kernel
// has kallsyms_relative_base (older kernels, before the offsets became
// self-relative), base + (u32)offset; otherwise the offset is relative to its own
// slot, offset_to_ptr(&kallsyms_offsets[i]). The resulting symbols have
// no size and no section; ByAddr then gives the nearest preceding symbol,
// as the kernel's own lookup does.
func ReadKallsyms(mem Memory, order binary.ByteOrder, lookup func(string) (uint64, bool)) (*Table, error) {
	need := func(name string) (uint64, error) {
		a, ok := lookup(name)
		if !ok {
			return 0, fmt.Errorf("kallsyms: symbol %s not found", name)
		}
		return a, nil
	}
	var addrs [5]uint64
	for i, n := range []string{"kallsyms_num_syms", "kallsyms_names", "kallsyms_token_table", "kallsyms_token_index", "kallsyms_offsets"} {
		a, err := need(n)
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	numAddr, namesAddr, tokTableAddr, tokIndexAddr, offsetsAddr := addrs[0], addrs[1], addrs[2], addrs[3], addrs[4]

	b, err := readArray(mem, numAddr, 4)
	if err != nil {
		return nil, fmt.Errorf("kallsyms_num_syms: %w", err)
	}
	num := order.Uint32(b)
	if num == 0 || num > maxKallsyms {
		return nil, &KallsymsError{Addr: numAddr, Msg: fmt.Sprintf("kallsyms_num_syms %d out of range (1..%d)", num, maxKallsyms)}
	}

	tokens, err := readTokens(mem, order, tokTableAddr, tokIndexAddr)
	if err != nil {
		return nil, err
	}

	// kallsyms_offsets and kallsyms_markers are read through cursors as
	// the names are decoded, so that a corrupt num_syms costs only the
	// reads up to the first fault, not a large allocation up front.
	offCur := newCursor(mem, offsetsAddr)
	relBase, hasRelBase := lookup("kallsyms_relative_base")
	if hasRelBase {
		rb, err := readArray(mem, relBase, 8)
		if err != nil {
			return nil, fmt.Errorf("kallsyms_relative_base: %w", err)
		}
		relBase = order.Uint64(rb)
	}

	var markCur *cursor
	markersAddr, hasMarkers := lookup("kallsyms_markers")
	if hasMarkers {
		markCur = newCursor(mem, markersAddr)
		markCur.chunk = 4096
	}

	// The names go into one arena, made one string at the end (a string
	// per symbol was a third of ReadKallsyms on a distro kernel's 137 k
	// symbols); the capacity bound keeps a corrupt num_syms from costing
	// more than ~27 MB up front (a distro kernel has 140-200 k).
	syms := make([]Symbol, 0, min(num, 1<<18))
	ends := make([]uint32, 0, cap(syms))
	arena := make([]byte, 0, 24*cap(syms))
	c := newCursor(mem, namesAddr)
	name := make([]byte, 0, 64)
	for i := uint32(0); i < num; i++ {
		symOff := c.addr - namesAddr
		if markCur != nil && i%256 == 0 {
			m := markCur.u32(order)
			if markCur.err != nil {
				return nil, fmt.Errorf("kallsyms_markers[%d]: %w", i/256, markCur.err)
			}
			if uint64(m) != symOff {
				return nil, &KallsymsError{Addr: markersAddr + uint64(i/256*4), Msg: fmt.Sprintf("kallsyms_markers[%d] = %#x, but symbol %d starts at names offset %#x", i/256, m, i, symOff)}
			}
		}
		// kallsyms_expand_symbol(): one length byte, or two when the MSB
		// is set ("big" symbol: len = (b0 & 0x7f) | b1 << 7).
		n := int(c.byte())
		if n&0x80 != 0 {
			n = n&0x7f | int(c.byte())<<7
		}
		if c.err != nil {
			return nil, fmt.Errorf("kallsyms_names: symbol %d: %w", i, c.err)
		}
		if n == 0 {
			return nil, &KallsymsError{Addr: namesAddr + symOff, Msg: fmt.Sprintf("symbol %d has an empty compressed name", i)}
		}
		name = name[:0]
		for ; n > 0; n-- {
			tok := tokens[c.byte()]
			if len(name)+len(tok) > maxNameBytes {
				return nil, &KallsymsError{Addr: namesAddr + symOff, Msg: fmt.Sprintf("symbol %d expands to more than %d bytes", i, maxNameBytes)}
			}
			name = append(name, tok...)
		}
		if c.err != nil {
			return nil, fmt.Errorf("kallsyms_names: symbol %d: %w", i, c.err)
		}
		if len(name) < 2 {
			return nil, &KallsymsError{Addr: namesAddr + symOff, Msg: fmt.Sprintf("symbol %d expands to %q: no type and name", i, name)}
		}
		// kallsyms_sym_address()
		off := offCur.u32(order)
		if offCur.err != nil {
			return nil, fmt.Errorf("kallsyms_offsets[%d]: %w", i, offCur.err)
		}
		var addr uint64
		if hasRelBase {
			addr = relBase + uint64(off)
		} else {
			addr = offsetsAddr + uint64(i)*4 + uint64(int64(int32(off)))
		}
		if len(arena)+len(name) > 1<<31 {
			return nil, &KallsymsError{Addr: namesAddr + symOff, Msg: fmt.Sprintf("%d symbols expand to more than 2 GiB of names", i)}
		}
		arena = append(arena, name[1:]...)
		ends = append(ends, uint32(len(arena)))
		syms = append(syms, Symbol{Addr: addr, Kind: name[0]})
	}
	all, start := string(arena), uint32(0)
	for i := range syms {
		syms[i].Name = all[start:ends[i]]
		start = ends[i]
	}
	return NewKallsymsTable(syms), nil
}

// readTokens reads the 256 tokens: kallsyms_token_index[b] is the offset
// of token b's NUL-terminated string in kallsyms_token_table.
func readTokens(mem Memory, order binary.ByteOrder, tableAddr, indexAddr uint64) ([256][]byte, error) {
	var tokens [256][]byte
	idx, err := readArray(mem, indexAddr, 512)
	if err != nil {
		return tokens, fmt.Errorf("kallsyms_token_index: %w", err)
	}
	// Tokens are short (scripts/kallsyms.c merges pairs; a token is at
	// most a few dozen bytes); bound each at ksymNameLen.
	for i := range tokens {
		o := uint64(order.Uint16(idx[i*2:]))
		c := newCursor(mem, tableAddr+o)
		c.chunk = 64
		var t []byte
		for {
			ch := c.byte()
			if c.err != nil {
				return tokens, fmt.Errorf("kallsyms_token_table: token %d at %#x: %w", i, tableAddr+o, c.err)
			}
			if ch == 0 {
				break
			}
			if len(t) >= ksymNameLen {
				return tokens, &KallsymsError{Addr: tableAddr + o, Msg: fmt.Sprintf("token %d longer than %d bytes", i, ksymNameLen)}
			}
			t = append(t, ch)
		}
		tokens[i] = t
	}
	return tokens, nil
}

// elf64SymSize is sizeof(Elf64_Sym).
const elf64SymSize = 24

// maxModuleSyms caps a module's num_symtab.
const maxModuleSyms = 1 << 20

// ModuleKallsyms builds a Table from a module's kallsyms as the kernel
// keeps them (struct mod_kallsyms: symtab, num_symtab, strtab, typetab;
// kernel/module/kallsyms.c layout_symtab/add_kallsyms): symtab holds
// Elf64_Sym entries with st_value already relocated, st_name indexes
// strtab, and typetab[i] is the type letter elf_type() chose. Symbols with
// empty names are skipped, as /proc/kallsyms does. Sizes come from
// st_size.
func ModuleKallsyms(mem Memory, order binary.ByteOrder, symtab, numSymtab, strtab, typetab uint64, module string) (*Table, error) {
	if numSymtab > maxModuleSyms {
		return nil, &KallsymsError{Addr: symtab, Msg: fmt.Sprintf("module %s: num_symtab %d exceeds %d", module, numSymtab, maxModuleSyms)}
	}
	n := int(numSymtab)
	raw, err := readArray(mem, symtab, n*elf64SymSize)
	if err != nil {
		return nil, fmt.Errorf("module %s: symtab: %w", module, err)
	}
	types, err := readArray(mem, typetab, n)
	if err != nil {
		return nil, fmt.Errorf("module %s: typetab: %w", module, err)
	}
	syms := make([]Symbol, 0, n)
	var c *cursor
	for i := 0; i < n; i++ {
		e := raw[i*elf64SymSize:]
		stName := order.Uint32(e)
		other := e[5]
		value := order.Uint64(e[8:])
		size := order.Uint64(e[16:])
		// strtab has no recorded size: read the C string bounded by
		// KSYM_NAME_LEN, reusing the cursor's cache when it is close.
		addr := strtab + uint64(stName)
		if c == nil || addr < c.base || addr-c.base >= uint64(len(c.buf)) {
			c = newCursor(mem, addr)
			c.chunk = 4096
		} else {
			c.addr = addr
		}
		var name []byte
		for {
			ch := c.byte()
			if c.err != nil {
				return nil, fmt.Errorf("module %s: symbol %d name at %#x: %w", module, i, addr, c.err)
			}
			if ch == 0 {
				break
			}
			if len(name) >= ksymNameLen {
				return nil, &KallsymsError{Addr: addr, Msg: fmt.Sprintf("module %s: symbol %d name longer than %d bytes", module, i, ksymNameLen)}
			}
			name = append(name, ch)
		}
		if len(name) == 0 {
			continue
		}
		syms = append(syms, Symbol{
			Name: string(name), Addr: value, Size: size, Kind: types[i], Module: module,
			LocalEntry: LocalEntryOffset(other),
		})
	}
	return NewKallsymsTable(syms), nil
}
