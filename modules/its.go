package modules

import (
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// ITS thunk pages (x86_64, CONFIG_MITIGATION_ITS; arch/x86/kernel/
// alternative.c): when the CPU needs indirect-branch thunks for Indirect
// Target Selection, apply_retpolines() rewrites each indirect call or jump
// of a module whose branch would sit in the lower half of a cache line
// into a call or jump to a thunk its_allocate_thunk() writes into the
// module's own pages (mod->arch.its_pages): each page is filled with int3,
// thunks ("jmp *%reg; int3", with a REX.B prefix for r8-r15) start at
// offset 32 and are placed so that each ends in the upper half of its
// 64-byte cache line. The x86 analogue of ppc64's .stubs.

// ITSThunk is one thunk found in a page.
type ITSThunk struct {
	Addr uint64
	Reg  int // the register jumped through (0 rax ... 15 r15)
	Size int
	// Misplaced: its last byte is in the lower half of its cache line,
	// where its_allocate_thunk() never puts one (the mitigation needs the
	// indirect branch in the upper half).
	Misplaced bool
}

// RegName is the register the thunk jumps through, in AT&T syntax.
func (t ITSThunk) RegName() string {
	return [...]string{"%rax", "%rcx", "%rdx", "%rbx", "%rsp", "%rbp", "%rsi", "%rdi", "%r8", "%r9", "%r10", "%r11", "%r12", "%r13", "%r14", "%r15"}[t.Reg&15]
}

// ITSStray is a run of bytes in a page that is neither int3 fill nor a
// thunk: nothing its_allocate_thunk() writes.
type ITSStray struct {
	Addr  uint64
	Bytes []byte
}

// ITSPages is a module's mod->arch.its_pages as the dump holds them.
type ITSPages struct {
	Pages   []uint64
	Thunks  []ITSThunk
	Strays  []ITSStray
	Unread  []string // pages that could not be read
	PageLen int
}

// MaxITSPages bounds mod->arch.its_pages.num.
const MaxITSPages = 256

// ErrNoITS: the kernel has no mod->arch.its_pages (no CONFIG_MITIGATION_ITS
// or not x86).
var ErrNoITS = fmt.Errorf("no mod->arch.its_pages in this kernel")

// ReadITSPages reads and parses a module's ITS pages.
func ReadITSPages(p *kernel.Program, m *Module) (*ITSPages, error) {
	numObj, err := m.Obj.Member("arch.its_pages.num")
	if err != nil {
		return nil, ErrNoITS
	}
	n, err := numObj.Int()
	if err != nil {
		return nil, fmt.Errorf("mod->arch.its_pages.num: %w", err)
	}
	if n < 0 || n > MaxITSPages {
		return nil, fmt.Errorf("mod->arch.its_pages.num is %d, outside 0..%d: damaged", n, MaxITSPages)
	}
	out := &ITSPages{PageLen: int(p.PageSize)}
	if n == 0 {
		return out, nil
	}
	pp, err := m.Obj.Member("arch.its_pages.pages")
	if err != nil {
		return nil, err
	}
	arr, err := pp.Pointer()
	if err != nil {
		return nil, err
	}
	raw, err := p.Read(arr, 8*int(n))
	if err != nil {
		return nil, fmt.Errorf("mod->arch.its_pages.pages[0..%d) at %#x: %w", n, arr, err)
	}
	for i := range int(n) {
		page := p.Order.Uint64(raw[8*i:])
		out.Pages = append(out.Pages, page)
		b, err := p.Read(page, out.PageLen)
		if err != nil {
			out.Unread = append(out.Unread, fmt.Sprintf("page %d at %#x: %v", i, page, err))
			continue
		}
		out.parse(page, b)
	}
	return out, nil
}

// parse walks one page: int3 fill, thunks from offset 32 on.
func (s *ITSPages) parse(base uint64, b []byte) {
	stray := func(i, j int) {
		s.Strays = append(s.Strays, ITSStray{Addr: base + uint64(i), Bytes: append([]byte(nil), b[i:j]...)})
	}
	start := -1 // start of a stray run
	flush := func(i int) {
		if start >= 0 {
			stray(start, i)
			start = -1
		}
	}
	for i := 0; i < len(b); {
		if b[i] == 0xcc {
			flush(i)
			i++
			continue
		}
		if i >= 32 {
			if size, reg, ok := thunkAt(b[i:]); ok {
				flush(i)
				last := i + size - 1
				s.Thunks = append(s.Thunks, ITSThunk{Addr: base + uint64(i), Reg: reg, Size: size, Misplaced: last%64 < 32})
				i += size
				continue
			}
		}
		if start < 0 {
			start = i
		}
		i++
	}
	flush(len(b))
}

// thunkAt decodes its_init_thunk()'s "jmp *%reg; int3" (REX.B 0x41 for
// r8-r15).
func thunkAt(b []byte) (size, reg int, ok bool) {
	// With FineIBT's paranoid mode the thunk starts with the rest of the
	// caller's check: UDB (0xd6), JNE -3.
	if len(b) >= 3 && b[0] == 0xd6 && b[1] == 0x75 && b[2] == 0xfd {
		if n, r, ok := thunkAt(b[3:]); ok && n > 0 && b[3] != 0xd6 {
			return n + 3, r, true
		}
	}
	switch {
	case len(b) >= 4 && b[0] == 0x41 && b[1] == 0xff && b[2]&0xf8 == 0xe0 && b[3] == 0xcc:
		return 4, 8 + int(b[2]&7), true
	case len(b) >= 3 && b[0] == 0xff && b[1]&0xf8 == 0xe0 && b[2] == 0xcc:
		return 3, int(b[1] & 7), true
	}
	return 0, 0, false
}

// Contains says whether addr lies in one of the pages.
func (s *ITSPages) Contains(addr uint64) bool {
	for _, p := range s.Pages {
		if addr >= p && addr-p < uint64(s.PageLen) {
			return true
		}
	}
	return false
}

// ThunkAt returns the thunk starting at addr.
func (s *ITSPages) ThunkAt(addr uint64) (ITSThunk, bool) {
	for _, t := range s.Thunks {
		if t.Addr == addr {
			return t, true
		}
	}
	return ITSThunk{}, false
}

// RetpolineSiteTarget decodes a rewritten indirect branch at site as
// __emit_trampoline() writes it: call or jmp rel32, after a CS prefix
// when the original was 6 bytes, or a Jcc rel32 (clang's conditional
// tail calls). relOff is the rel32's offset in b.
func RetpolineSiteTarget(b []byte, site uint64) (target uint64, relOff int, ok bool) {
	i := 0
	if len(b) > 0 && b[0] == 0x2e {
		i = 1
	}
	switch {
	case len(b) >= i+5 && (b[i] == 0xe8 || b[i] == 0xe9):
		relOff = i + 1
	case len(b) >= i+6 && b[i] == 0x0f && b[i+1]&0xf0 == 0x80:
		relOff = i + 2
	default:
		return 0, 0, false
	}
	end := relOff + 4
	rel := int32(uint32(b[relOff]) | uint32(b[relOff+1])<<8 | uint32(b[relOff+2])<<16 | uint32(b[relOff+3])<<24)
	return site + uint64(end) + uint64(int64(rel)), relOff, true
}
