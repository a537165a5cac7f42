package textcheck

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/elfobj"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// MechKASLR: an absolute reference the decompressor moved by the KASLR
// offset.
const MechKASLR Mechanism = "KASLR relocation"

// x86VmlinuxTables are the vmlinux's own sections that describe patches to
// its text (all self-relative, so valid at the KASLR-moved addresses).
var x86VmlinuxTables = []string{".retpoline_sites", ".return_sites", ".call_sites", ".ibt_endbr_seal",
	".altinstructions", ".altinstr_replacement", ".smp_locks"}

// x86VmlinuxTableSyms are tables that live inside a larger output section,
// found by their bounds.
var x86VmlinuxTableSyms = [][3]string{
	{"__jump_table", "__start___jump_table", "__stop___jump_table"},
	{".static_call_sites", "__start_static_call_sites", "__stop_static_call_sites"},
}

// x86Vmlinux compares the x86_64 vmlinux's .text with its file, every
// address moved by the KASLR offset (p.KernelOffset), and explains the
// differences by the boot-time patchers (alternative_instructions():
// apply_retpolines(), apply_returns(), apply_alternatives(),
// apply_seal_endbr(), alternatives_smp_module_add()), ftrace, jump labels,
// static calls, kprobes, the text-poke batch, and the decompressor's
// handle_relocations() (x86 strips .rela from the vmlinux: a 32-bit
// sign-extended or 64-bit field whose found value is the file's plus the
// offset).
func (e *Env) x86Vmlinux(r *Result, f *elfobj.File) *Result {
	p := e.Prog
	off := p.KernelOffset
	img := &Image{Owner: "vmlinux", Order: binary.LittleEndian, Machine: elfobj.EM_X86_64}
	inInit := initMemory(p)
	secs, nobits := vmlinuxImageSections(r, f, off, func(name string) bool { return contains(x86VmlinuxTables, name) })
	if !addVmlinuxSections(r, img, secs, nobits, p.VmlinuxPath(), func(is *ImageSection) string {
		switch {
		case contains(x86VmlinuxTables, is.Name) && !is.Exec:
			return skipTable
		case is.Name == ".altinstr_replacement" || is.Name == ".altinstr_aux":
			is.Exec = false
			return skipInit
		case f.Sections[is.Index].Flags&elfobj.SHF_WRITE != 0:
			is.Exec = false
			return "writable data (an executable flag from assembly), not text"
		case inInit(is.Addr):
			return skipInit
		}
		return ""
	}) {
		return r
	}
	for _, t := range x86VmlinuxTableSyms {
		start, err1 := p.SymbolAddr(t[1])
		stop, err2 := p.SymbolAddr(t[2])
		if err1 != nil || err2 != nil || stop <= start || stop-start > 64<<20 {
			continue
		}
		b, err := readFile(f, start-off, int(stop-start))
		if err != nil {
			r.Incomplete = append(r.Incomplete, t[0]+": "+err.Error())
			continue
		}
		img.Sections = append(img.Sections, &ImageSection{Index: -1, Name: t[0], Addr: start, Orig: b, Want: b, Skip: skipTable})
	}
	cs := newCandidates()
	inText := func(addr uint64) bool {
		s := img.SectionAt(addr)
		return s != nil && s.Compare
	}
	if e.Ftrace != nil {
		x86FtraceCandidates(e, "", img, cs, r)
	} else {
		why := e.ftraceWhy()
		if n, err := x86VmlinuxFtraceFallback(p, f, cs); err != nil {
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("ftrace records not read (%s), and the call-site table not either: %v", why, err))
		} else {
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("ftrace records not read (%s): the %d call sites of __mcount_loc accept any ftrace state", why, n))
		}
	}
	e.x86Once.Do(func() { e.x86 = readX86State(p) })
	// Without the CPU's features every patched site would be a
	// difference; with call depth tracking every call is rewritten
	// (callthunks_patch_builtin_calls(), not modelled): not compared.
	switch {
	case e.x86.capsErr != nil:
		r.Incomplete = append(r.Incomplete, "boot_cpu_data.x86_capability unreadable ("+e.x86.capsErr.Error()+"): the boot-time patches cannot be modelled, .text not compared")
		return x86VmlinuxSkipped(r, img, "not compared: the CPU's features unreadable")
	case e.x86.has(featCallDepth):
		r.Incomplete = append(r.Incomplete, "X86_FEATURE_CALL_DEPTH is set: callthunks_patch_builtin_calls() is not modelled, .text not compared")
		return x86VmlinuxSkipped(r, img, "not compared: call depth tracking (callthunks) not modelled")
	}
	fx := &x86Finalize{img: img, st: e.x86, prog: p, scratch: map[*ImageSection][]byte{}, r: r}
	x86Patches(e, fx, inText, cs, r)
	x86RuntimeConsts(e, f, inText, cs, r)
	x86FtraceFunc(e, inText, cs, r)
	x86StaticCallTramps(e, fx, inText, cs, r)

	var kaslr func(s *ImageSection, found []byte)
	if off != 0 {
		kaslr = func(s *ImageSection, found []byte) {
			cs.add(kaslrCandidate(s, fx.bytesAt(s.Addr, len(s.Want)), found, off))
		}
	}
	compareExecSections(p, img, r, cs, 1, kaslr)
	return r
}

// kaslrCandidate is handle_relocations() (arch/x86/boot/compressed/misc.c)
// found from the bytes (the relocation list is not in the vmlinux): a
// differing byte is explained when a 4-byte field over it now holds its
// file value plus the offset (R_X86_64_32/32S; or minus it: the inverse
// 32-bit relocations of per-CPU references), or an 8-byte field its file
// value plus the offset (R_X86_64_64). The offset is 2 MiB-aligned, so the
// low 21 bits of such a field never change: a stray write matches only by
// being exactly the relocated value. want is the section after the
// boot-time patchers.
func kaslrCandidate(s *ImageSection, want, found []byte, off uint64) *Candidate {
	return &Candidate{Addr: s.Addr, Len: len(s.Want), Mech: MechKASLR, Mirrors: "handle_relocations()",
		Why:   fmt.Sprintf("an absolute reference moved by the KASLR offset %#x", off),
		Match: func([]byte) bool { return false },
		MatchAt: func(addr uint64, _ []byte) bool {
			i := int(addr - s.Addr)
			if i >= len(want) || found[i] == want[i] {
				// the byte is what the patchers left: theirs to explain
				return false
			}
			for st := max(0, i-3); st <= i && st+4 <= len(want); st++ {
				w := uint64(int64(int32(binary.LittleEndian.Uint32(want[st:]))))
				g := uint64(int64(int32(binary.LittleEndian.Uint32(found[st:]))))
				if uint32(g) == uint32(w+off) || uint32(g) == uint32(w-off) {
					return true
				}
			}
			for st := max(0, i-7); st <= i && st+8 <= len(want); st++ {
				w := binary.LittleEndian.Uint64(want[st:])
				if binary.LittleEndian.Uint64(found[st:]) == w+off {
					return true
				}
			}
			return false
		}}
}

// x86RuntimeConsts is runtime_const_init(ptr|shift, NAME)
// (arch/x86/include/asm/runtime-const.h, runtime_const_fixup()): each s32
// self-relative entry of section runtime_ptr_NAME points at the 8-byte
// immediate of a movabs (the placeholder 0x0123456789abcdef), written with
// NAME's value (__runtime_fixup_ptr()); of runtime_shift_NAME at the 1-byte
// immediate of a shift, written with NAME's low byte
// (__runtime_fixup_shift()). NAME's value is read from the dump.
func x86RuntimeConsts(e *Env, f *elfobj.File, inText func(uint64) bool, cs *candidates, r *Result) {
	p := e.Prog
	for _, s := range f.Sections {
		ptr := strings.HasPrefix(s.Name, "runtime_ptr_")
		shift := strings.HasPrefix(s.Name, "runtime_shift_")
		if !ptr && !shift || s.Type != elfobj.SHT_PROGBITS || s.Size > 1<<20 {
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(s.Name, "runtime_ptr_"), "runtime_shift_")
		tab, err := s.Data()
		if err != nil {
			r.Incomplete = append(r.Incomplete, s.Name+": "+err.Error())
			continue
		}
		n := 8
		if shift {
			n = 1
		}
		base := s.Addr + p.KernelOffset
		va, err := p.SymbolAddr(name)
		var val []byte
		why := fmt.Sprintf("%s: %s's value", s.Name, name)
		if err == nil {
			val, err = p.Read(va, n)
		} else if ptr {
			// no variable of that name (a kmem_cache runtime constant,
			// named only in the section): every site holds the one value
			// runtime_const_init() wrote, a struct kmem_cache
			val, why, err = x86RuntimeCache(p, tab, base, name)
		}
		if err != nil {
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("%s: %s unreadable (%v): its sites not explained", s.Name, name, err))
			continue
		}
		for off := 0; off+4 <= len(tab); off += 4 {
			site := base + uint64(off) + uint64(int64(int32(binary.LittleEndian.Uint32(tab[off:]))))
			if !inText(site) {
				continue
			}
			cs.add(&Candidate{Addr: site, Want: append([]byte(nil), val...), Mech: MechRuntimeConst, Mirrors: "runtime_const_fixup()",
				Why: fmt.Sprintf("%s %x", why, val)})
		}
	}
}

// x86RuntimeCache: the value every site of runtime_ptr_NAME holds when NAME
// is no variable of the vmlinux: the same 8 bytes at every site, a pointer
// to a struct kmem_cache whose name is readable.
func x86RuntimeCache(p *kernel.Program, tab []byte, base uint64, name string) ([]byte, string, error) {
	var v []byte
	for off := 0; off+4 <= len(tab); off += 4 {
		site := base + uint64(off) + uint64(int64(int32(binary.LittleEndian.Uint32(tab[off:]))))
		b, err := p.Read(site, 8)
		if err != nil {
			return nil, "", err
		}
		if v != nil && string(v) != string(b) {
			return nil, "", fmt.Errorf("symbol %s not in the vmlinux, and its sites hold different values (%x, %x)", name, v, b)
		}
		v = b
	}
	if v == nil {
		return nil, "", fmt.Errorf("no sites")
	}
	ptr := binary.LittleEndian.Uint64(v)
	o, err := p.Object("struct kmem_cache", ptr)
	if err != nil {
		return nil, "", err
	}
	nm, err := o.Member("name")
	if err != nil {
		return nil, "", err
	}
	cn, err := nm.CString(64)
	if err != nil || cn == "" {
		return nil, "", fmt.Errorf("symbol %s not in the vmlinux, and %#x is no struct kmem_cache with a name (%v)", name, ptr, err)
	}
	return v, fmt.Sprintf("runtime_ptr_%s: every site holds the same struct kmem_cache %q at", name, cn), nil
}

// x86FtraceFunc is ftrace_update_ftrace_func(): ftrace_call and
// ftrace_regs_call call ftrace_trace_function's value (read from the dump).
func x86FtraceFunc(e *Env, inText func(uint64) bool, cs *candidates, r *Result) {
	p := e.Prog
	va, err := p.SymbolAddr("ftrace_trace_function")
	if err != nil {
		return
	}
	fn, err := p.ReadU64(va)
	if err != nil {
		r.Incomplete = append(r.Incomplete, "ftrace_trace_function unreadable: ftrace_call/ftrace_regs_call not explained: "+err.Error())
		return
	}
	for _, site := range []string{"ftrace_call", "ftrace_regs_call"} {
		a, err := p.SymbolAddr(site)
		if err != nil || !inText(a) {
			continue
		}
		code := make([]byte, 5)
		textGen(code, 0xe8, a, fn)
		cs.add(&Candidate{Addr: a, Want: code, Mech: MechFtrace, Mirrors: "ftrace_update_ftrace_func()",
			Why: fmt.Sprintf("%s: call ftrace_trace_function (%s)", site, e.name(fn))})
	}
}

// x86StaticCallTramps is arch_static_call_transform()'s trampoline half:
// each __SCT__NAME is __static_call_transform(tramp, JMP func | RET) for
// its key __SCK__NAME's func (read from the dump).
func x86StaticCallTramps(e *Env, fx *x86Finalize, inText func(uint64) bool, cs *candidates, r *Result) {
	p := e.Prog
	if p.Syms == nil {
		return
	}
	bad := 0
	for _, sym := range p.Syms.Symbols() {
		if !strings.HasPrefix(sym.Name, "__SCT__") || !inText(sym.Addr) {
			continue
		}
		key, err := p.SymbolAddr("__SCK__" + strings.TrimPrefix(sym.Name, "__SCT__"))
		if err != nil {
			continue
		}
		fn, err := p.ReadU64(key)
		if err != nil {
			bad++
			continue
		}
		code := make([]byte, 5)
		what := "JMP " + e.name(fn)
		switch {
		case fn != 0:
			textGen(code, 0xe9, sym.Addr, fn)
		case fx.wantsRethunkAt(sym.Addr):
			textGen(code, 0xe9, sym.Addr, fx.st.returnThunk)
			what = "RET through x86_return_thunk"
		default:
			copy(code, []byte{0xc3, 0xcc, 0xcc, 0xcc, 0xcc})
			what = "RET"
		}
		cs.add(&Candidate{Addr: sym.Addr, Want: code, Mech: MechStaticCall, Mirrors: "arch_static_call_transform()",
			Why: fmt.Sprintf("trampoline %s of key func %#x: %s", sym.Name, fn, what)})
	}
	if bad > 0 {
		r.Incomplete = append(r.Incomplete, fmt.Sprintf("%d static call keys unreadable: their trampolines not explained", bad))
	}
}

// x86VmlinuxFtraceFallback: without the records, the vmlinux's call sites
// are its file's __start_mcount_loc..__stop_mcount_loc table (absolute
// link addresses, moved by the KASLR offset like the text): each accepts
// the nop or any call/jmp.
func x86VmlinuxFtraceFallback(p *kernel.Program, f *elfobj.File, cs *candidates) (int, error) {
	start, err1 := p.SymbolAddr("__start_mcount_loc")
	stop, err2 := p.SymbolAddr("__stop_mcount_loc")
	if err1 != nil || err2 != nil || stop < start || stop-start > 64<<20 {
		return 0, fmt.Errorf("no __start_mcount_loc..__stop_mcount_loc")
	}
	b, err := readFile(f, start-p.KernelOffset, int(stop-start))
	if err != nil {
		return 0, err
	}
	n := 0
	for off := 0; off+8 <= len(b); off += 8 {
		site := binary.LittleEndian.Uint64(b[off:])
		if site == 0 {
			continue
		}
		n++
		cs.add(&Candidate{Addr: site + p.KernelOffset, Len: 5, Loose: true, Mech: MechFtrace, Mirrors: "ftrace_init_nop()/ftrace_make_call()",
			Why:   "an ftrace call site listed in __mcount_loc, its record not read: the nop or a call",
			Match: func(b []byte) bool { return string(b) == string(x86Nop5) || b[0] == 0xe8 || b[0] == 0xe9 }})
	}
	return n, nil
}

// x86VmlinuxSkipped lists the image's text sections, none compared.
func x86VmlinuxSkipped(r *Result, img *Image, why string) *Result {
	for _, s := range img.Sections {
		if !s.Exec {
			continue
		}
		skip := s.Skip
		if s.Compare {
			skip = why
		}
		r.Sections = append(r.Sections, SectionResult{Name: s.Name, Addr: s.Addr, Size: uint64(len(s.Want)), Skip: skip})
	}
	return r
}
