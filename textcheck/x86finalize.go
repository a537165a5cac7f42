package textcheck

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// X86_FEATURE_* bits (arch/x86/include/asm/cpufeatures.h, 6.x to 7.2).
const (
	featRetpoline       = 11*32 + 12
	featRetpolineLfence = 11*32 + 13
	featRethunk         = 11*32 + 14
	featCallDepth       = 11*32 + 19
	featIndirectITS     = 21*32 + 10
)

// x86State is what x86 module_finalize() and the run-time patchers read:
// boot_cpu_data.x86_capability, the return thunk, the thunk arrays.
type x86State struct {
	caps    []byte
	capsErr error
	// x86_return_thunk's value, its_return_thunk, __x86_return_thunk
	returnThunk, itsReturnThunk, plainReturnThunk uint64
	rtErr                                         error
	thunkArray, callThunkArray, jumpThunkArray    uint64
	itsThunkArray                                 uint64
	uniproc                                       byte
	uniprocErr                                    error
	warnTrap, scReturn0                           uint64
}

func (s *x86State) has(bit int) bool {
	return bit/8 < len(s.caps) && s.caps[bit/8]&(1<<(bit%8)) != 0
}

func readX86State(p *kernel.Program) *x86State {
	s := &x86State{}
	if v, err := p.Variable("boot_cpu_data"); err != nil {
		s.capsErr = err
	} else if c, err := v.Member("x86_capability"); err != nil {
		s.capsErr = err
	} else {
		s.caps, s.capsErr = c.Bytes()
	}
	sym := func(n string) uint64 { a, _ := p.SymbolAddr(n); return a }
	s.plainReturnThunk = sym("__x86_return_thunk")
	s.itsReturnThunk = sym("its_return_thunk")
	if a, err := p.SymbolAddr("x86_return_thunk"); err == nil {
		s.returnThunk, s.rtErr = p.ReadU64(a)
	} else {
		s.rtErr = err
	}
	s.thunkArray = sym("__x86_indirect_thunk_array")
	s.callThunkArray = sym("__x86_indirect_call_thunk_array")
	s.jumpThunkArray = sym("__x86_indirect_jump_thunk_array")
	s.itsThunkArray = sym("__x86_indirect_its_thunk_array")
	s.warnTrap = sym("__WARN_trap")
	s.scReturn0 = sym("__static_call_return0")
	if a, err := p.SymbolAddr("uniproc_patched"); err == nil {
		var b []byte
		if b, s.uniprocErr = p.Read(a, 1); s.uniprocErr == nil {
			s.uniproc = b[0]
		}
	} else {
		s.uniprocErr = err
	}
	return s
}

// x86Site is one place module_finalize() (or a run-time patcher) decided.
type x86Site struct {
	addr uint64
	n    int
	mech Mechanism
	why  string
	fn   string
}

// x86Finalize runs module_finalize() (arch/x86/kernel/module.c) over a
// scratch copy of the relocated image in the kernel's order:
// apply_retpolines(), apply_returns(), callthunks_patch_module_calls(),
// apply_alternatives(), apply_seal_endbr(), alternatives_smp_module_add().
type x86Finalize struct {
	img      *Image
	st       *x86State
	mod      *modules.Analysis
	scratch  map[*ImageSection][]byte
	sites    []x86Site
	r        *Result
	prog     *kernel.Program
	itsSites []itsSite
}

// itsSite is an indirect branch emit_its_trampoline() sent through a thunk
// its_allocate_thunk() placed in the module's ITS pages (or, when none
// could be allocated, __x86_indirect_its_thunk_array[reg]).
type itsSite struct {
	addr uint64
	n    int
	reg  int
	jcc  bool
}

func (fx *x86Finalize) bytesAt(addr uint64, n int) []byte {
	s := fx.img.SectionAt(addr)
	if s == nil || addr-s.Addr+uint64(n) > uint64(len(s.Want)) {
		return nil
	}
	b, ok := fx.scratch[s]
	if !ok {
		b = append([]byte(nil), s.Want...)
		fx.scratch[s] = b
	}
	return b[addr-s.Addr : addr-s.Addr+uint64(n)]
}

// avail is how many bytes from addr to the end of its section.
func (fx *x86Finalize) avail(addr uint64) []byte {
	s := fx.img.SectionAt(addr)
	if s == nil {
		return nil
	}
	return fx.bytesAt(addr, int(uint64(len(s.Want))-(addr-s.Addr)))
}

func (fx *x86Finalize) poke(addr uint64, b []byte, mech Mechanism, fn, why string) {
	d := fx.bytesAt(addr, len(b))
	if d == nil {
		fx.r.Problems = append(fx.r.Problems, fmt.Sprintf("%s: %#x lies in no section of the image", fn, addr))
		return
	}
	copy(d, b)
	fx.sites = append(fx.sites, x86Site{addr: addr, n: len(b), mech: mech, why: why, fn: fn})
}

// s32Table returns the absolute addresses of a table of s32 self-relative
// offsets (.retpoline_sites, .return_sites, .ibt_endbr_seal, .smp_locks).
func (fx *x86Finalize) s32Table(name string) []uint64 {
	t := fx.img.Section(name)
	if t == nil {
		return nil
	}
	var out []uint64
	for off := 0; off+4 <= len(t.Want); off += 4 {
		v := int32(binary.LittleEndian.Uint32(t.Want[off:]))
		if v == 0 && name == ".smp_locks" {
			continue
		}
		out = append(out, t.Addr+uint64(off)+uint64(int64(v)))
	}
	return out
}

func (fx *x86Finalize) run() {
	st := fx.st
	if st.capsErr != nil {
		fx.r.Incomplete = append(fx.r.Incomplete, "boot_cpu_data.x86_capability unreadable ("+st.capsErr.Error()+"): module_finalize()'s patches not modelled")
		return
	}
	fx.retpolines()
	fx.returns()
	if fx.img.Section(".call_sites") != nil && st.has(featCallDepth) {
		fx.r.Incomplete = append(fx.r.Incomplete, ".call_sites: X86_FEATURE_CALL_DEPTH is set: callthunks_patch_module_calls() not modelled")
	}
	fx.alternatives()
	fx.sealEndbr()
	fx.smpLocks()
}

// retpolines is apply_retpolines() and patch_retpoline().
func (fx *x86Finalize) retpolines() {
	st := fx.st
	for _, addr := range fx.s32Table(".retpoline_sites") {
		b := fx.avail(addr)
		x, ok := decodeX86(b)
		if !ok {
			continue
		}
		jcc := x.op0 == 0x0f && x.op1&0xf0 == 0x80
		if !(x.op0 == 0xe8 || x.op0 == 0xe9 || jcc) {
			continue
		}
		dest := addr + uint64(x.n) + uint64(x.rel(b))
		if st.thunkArray == 0 || dest < st.thunkArray || (dest-st.thunkArray)%32 != 0 || (dest-st.thunkArray)/32 > 15 {
			continue // WARN_ON_ONCE(reg & ~0xf)
		}
		reg := int((dest - st.thunkArray) / 32)
		bytes := make([]byte, x.n)
		n := fx.patchRetpoline(addr, x, b, reg, bytes)
		if n == x.n {
			optimizeNops(addr, bytes)
			fx.poke(addr, bytes, MechRetpoline, "apply_retpolines()", fmt.Sprintf("call/jmp __x86_indirect_thunk_r%d rewritten for this CPU's features", reg))
		}
	}
}

func (fx *x86Finalize) emitTrampoline(addr uint64, x xinsn, b []byte, bytes []byte, callDest, jmpDest uint64) int {
	i := 0
	op := x.op0
	if x.op0 == 0x0f && x.op1&0xf0 == 0x80 {
		bytes[i] = op
		i++
		op = x.op1
		bytes[i] = op
		binary.LittleEndian.PutUint32(bytes[i+1:], uint32(int32(int64(jmpDest-(addr+uint64(i)+5)))))
		return i + 5
	}
	if x.n == 6 {
		bytes[i] = 0x2e
		i++
	}
	switch op {
	case 0xe8:
		i += textGen(bytes[i:], 0xe8, addr+uint64(i), callDest)
	case 0xe9:
		i += textGen(bytes[i:], 0xe9, addr+uint64(i), jmpDest)
	default:
		return -1
	}
	return i
}

func (fx *x86Finalize) patchRetpoline(addr uint64, x xinsn, b []byte, reg int, bytes []byte) int {
	st := fx.st
	if st.has(featRetpoline) && !st.has(featRetpolineLfence) {
		if st.has(featCallDepth) {
			return fx.emitTrampoline(addr, x, b, bytes, st.callThunkArray+uint64(reg)*32, st.jumpThunkArray+uint64(reg)*32)
		}
		return -1
	}
	i := 0
	op := x.op0
	if x.op0 == 0x0f && x.op1&0xf0 == 0x80 {
		cc := (x.op1 & 0xf) ^ 1
		bytes[0], bytes[1] = 0x70+cc, byte(x.n-2)
		i = 2
		op = 0xe9
	}
	if st.has(featRetpolineLfence) {
		copy(bytes[i:], []byte{0x0f, 0xae, 0xe8})
		i += 3
	}
	if st.has(featIndirectITS) {
		a := addr + uint64(i) + 1 + uint64(reg/8)
		if a&0x20 == 0 {
			// emit_its_trampoline(): a thunk its_allocate_thunk() placed
			// in the module's ITS pages, else the static array's
			n := fx.emitTrampoline(addr, x, b, bytes, st.itsThunkArray+uint64(reg)*32, st.itsThunkArray+uint64(reg)*32)
			if n == x.n {
				fx.sites = append(fx.sites, x86Site{addr: addr, n: n, mech: MechRetpoline, fn: "emit_its_trampoline()",
					why: fmt.Sprintf("indirect branch via r%d in a cacheline's lower half: through an ITS thunk", reg)})
				fx.itsSites = append(fx.itsSites, itsSite{addr: addr, n: n, reg: reg, jcc: x.op0 == 0x0f})
			}
			return -1
		}
	}
	// emit_indirect()
	ln := x.n - i - 2
	if reg >= 8 {
		ln--
	}
	cs, bp := 0, 0
	var modrm byte
	switch op {
	case 0xe8:
		modrm = 0x10
		if ln <= 3 {
			cs = ln
		}
	case 0xe9:
		modrm = 0x20
		bp = ln
	default:
		return -1
	}
	for ; cs > 0; cs-- {
		bytes[i] = 0x2e
		i++
	}
	r := reg
	if r >= 8 {
		bytes[i] = 0x41
		i++
		r -= 8
	}
	bytes[i], bytes[i+1] = 0xff, modrm|0xc0+byte(r)
	i += 2
	for ; bp > 0; bp-- {
		bytes[i] = 0xcc
		i++
	}
	for ; i < x.n; i++ {
		bytes[i] = 0x90
	}
	return i
}

// wantsRethunkAt is cpu_wants_rethunk_at().
func (fx *x86Finalize) wantsRethunkAt(addr uint64) bool {
	if !fx.st.has(featRethunk) {
		return false
	}
	if fx.st.returnThunk != fx.st.itsReturnThunk || fx.st.itsReturnThunk == 0 {
		return true
	}
	return addr&0x20 == 0
}

// returns is apply_returns() and patch_return().
func (fx *x86Finalize) returns() {
	st := fx.st
	sites := fx.s32Table(".return_sites")
	if len(sites) > 0 && st.has(featRethunk) && st.rtErr != nil {
		fx.r.Incomplete = append(fx.r.Incomplete, ".return_sites: x86_return_thunk unreadable: "+st.rtErr.Error())
		return
	}
	for _, addr := range sites {
		b := fx.avail(addr)
		x, ok := decodeX86(b)
		if !ok || x.op0 != 0xe9 {
			continue
		}
		if len(b) >= 8 && string(b[5:8]) == "\x0f\xb9\xcc" {
			continue // __static_call_fixup(): a static call trampoline
		}
		dest := addr + uint64(x.n) + uint64(x.rel(b))
		if dest != st.plainReturnThunk {
			continue // WARN_ONCE("missing return thunk")
		}
		bytes := make([]byte, x.n)
		i := 0
		why := "jmp __x86_return_thunk: ret (no RETHUNK)"
		if fx.wantsRethunkAt(addr) {
			i = textGen(bytes, 0xe9, addr, st.returnThunk)
			why = fmt.Sprintf("jmp __x86_return_thunk: jmp x86_return_thunk (%#x)", st.returnThunk)
		} else {
			bytes[0] = 0xc3
			i = 1
		}
		for ; i < x.n; i++ {
			bytes[i] = 0xcc
		}
		fx.poke(addr, bytes, MechReturn, "apply_returns()", why)
	}
}

// altInstr is struct alt_instr (14 bytes, packed).
type altInstr struct {
	entry    uint64
	instr    uint64
	repl     uint64
	cpuid    int
	flags    uint16
	instrlen int
	replLen  int
}

const (
	altFlagNot        = 1
	altFlagDirectCall = 2
	altInstrSize      = 14
)

func (fx *x86Finalize) altTable() []altInstr {
	t := fx.img.Section(".altinstructions")
	if t == nil {
		return nil
	}
	var out []altInstr
	for off := 0; off+altInstrSize <= len(t.Want); off += altInstrSize {
		e := t.Want[off:]
		ent := t.Addr + uint64(off)
		ft := binary.LittleEndian.Uint32(e[8:])
		out = append(out, altInstr{entry: ent,
			instr: ent + uint64(int64(int32(binary.LittleEndian.Uint32(e)))),
			repl:  ent + 4 + uint64(int64(int32(binary.LittleEndian.Uint32(e[4:])))),
			cpuid: int(ft & 0xffff), flags: uint16(ft >> 16), instrlen: int(e[12]), replLen: int(e[13])})
	}
	return out
}

// alternatives is apply_alternatives(): each site (consecutive entries of
// one instr) takes the last entry whose feature test passes, its
// replacement relocated (__apply_relocation()) and padded with nops, and
// optimize_nops() runs over the result either way.
func (fx *x86Finalize) alternatives() {
	tab := fx.altTable()
	for i := 0; i < len(tab); {
		instr := tab[i].instr
		plen := 0
		var chosen *altInstr
		for ; i < len(tab) && tab[i].instr == instr; i++ {
			a := &tab[i]
			plen = max(plen, a.instrlen)
			if fx.st.has(a.cpuid) != (a.flags&altFlagNot != 0) {
				chosen = a
			}
		}
		cur := fx.bytesAt(instr, plen)
		if cur == nil || plen == 0 {
			continue
		}
		buf := append([]byte(nil), cur...)
		why := "no replacement for this CPU: the original, nops optimized"
		if chosen != nil {
			repl := fx.bytesAt(chosen.repl, chosen.replLen)
			if repl == nil {
				fx.r.Problems = append(fx.r.Problems, fmt.Sprintf("alternative at %#x: replacement %#x not in the image", instr, chosen.repl))
				continue
			}
			buf = make([]byte, plen)
			copy(buf, repl)
			n := chosen.replLen
			if chosen.flags&altFlagDirectCall != 0 {
				n = fx.altReplaceCall(instr, buf, chosen)
				if n < 0 {
					continue
				}
			}
			for ; n < plen; n++ {
				buf[n] = 0x90
			}
			applyRelocation(buf, instr, chosen.repl, chosen.replLen)
			neg := ""
			if chosen.flags&altFlagNot != 0 {
				neg = "not "
			}
			why = fmt.Sprintf("feature %d*32+%d %sset: replacement at %#x", chosen.cpuid>>5, chosen.cpuid&31, neg, chosen.repl)
		}
		optimizeNops(instr, buf)
		fx.poke(instr, buf, MechAlternative, "apply_alternatives()", why)
	}
}

// altReplaceCall is alt_replace_call(): the paravirt call's target read
// from the pointer the original `call *disp(%rip)` names (in the dump).
func (fx *x86Finalize) altReplaceCall(instr uint64, buf []byte, a *altInstr) int {
	orig := fx.bytesAt(instr, a.instrlen)
	if a.replLen != 5 || buf[0] != 0xe8 || a.instrlen != 6 || orig == nil || orig[0] != 0xff || orig[1] != 0x15 {
		fx.r.Problems = append(fx.r.Problems, fmt.Sprintf("alternative at %#x: ALT_FLAG_DIRECT_CALL on a site the kernel refuses (BUG)", instr))
		return -1
	}
	disp := int64(int32(binary.LittleEndian.Uint32(orig[2:])))
	ptr := instr + 6 + uint64(disp)
	target, err := fx.prog.ReadU64(ptr)
	if err != nil {
		fx.r.Incomplete = append(fx.r.Incomplete, fmt.Sprintf("alternative at %#x: paravirt pointer at %#x unreadable: %v", instr, ptr, err))
		return -1
	}
	bug, _ := fx.prog.SymbolAddr("BUG_func")
	if target == 0 {
		target = bug
	}
	v := int64(int32(binary.LittleEndian.Uint32(buf[1:]))) + int64(target-bug)
	binary.LittleEndian.PutUint32(buf[1:], uint32(int32(v)))
	if nf, err := fx.prog.SymbolAddr("nop_func"); err == nil && target == nf {
		return 0
	}
	return 5
}

// applyRelocation is __apply_relocation(): relative branches and
// RIP-relative operands that leave the replacement are moved by
// repl - instr; a jmp32 becomes a jmp8 where it fits.
func applyRelocation(buf []byte, instr, repl uint64, replLen int) {
	diff := int64(repl - instr)
	needReloc := func(off int64) bool {
		return off < 0 || off > int64(replLen)
	}
	for i := 0; i < len(buf); {
		x, ok := decodeX86(buf[i:])
		if !ok {
			return
		}
		next := i + x.n
		if x.relLen > 0 {
			b := buf[i:]
			v := x.rel(b)
			if needReloc(int64(next) + v) {
				x.setRel(b, v+diff)
			}
			if x.op0 == 0xe9 && x.isBranch {
				imm := x.rel(b) + 3 // JMP32_INSN_SIZE - JMP8_INSN_SIZE
				if imm == int64(int8(imm)) {
					b[0], b[1] = 0xeb, byte(int8(imm))
					for k := 2; k < x.n; k++ {
						b[k] = 0xcc
					}
				}
			}
		}
		i = next
	}
}

// sealEndbr is apply_seal_endbr(): each listed endbr64 becomes
// gen_endbr_poison() (nopl -0x2a(%rax): 0f 1f 40 d6).
func (fx *x86Finalize) sealEndbr() {
	for _, addr := range fx.s32Table(".ibt_endbr_seal") {
		b := fx.bytesAt(addr, 4)
		if b == nil || string(b) != "\xf3\x0f\x1e\xfa" {
			continue
		}
		fx.poke(addr, []byte{0x0f, 0x1f, 0x40, 0xd6}, MechEndbrSeal, "apply_seal_endbr()", "endbr64 sealed (not an indirect-call target)")
	}
}

// smpLocks is alternatives_smp_module_add(): with uniproc_patched, each
// lock prefix in MOD_TEXT becomes a ds prefix.
func (fx *x86Finalize) smpLocks() {
	sites := fx.s32Table(".smp_locks")
	if len(sites) == 0 {
		return
	}
	if fx.st.uniprocErr != nil {
		fx.r.Incomplete = append(fx.r.Incomplete, ".smp_locks: uniproc_patched unreadable: either prefix accepted")
		for _, a := range sites {
			fx.sites = append(fx.sites, x86Site{addr: a, n: 1, mech: MechSmpLock, fn: "alternatives_smp_unlock()", why: "lock or ds prefix (uniproc_patched unknown)"})
		}
		return
	}
	if fx.st.uniproc == 0 {
		return
	}
	var lo, hi uint64
	if fx.mod == nil {
		// alternatives_smp_module_add(NULL, "core kernel", ..., _text, _etext)
		lo, _ = fx.prog.SymbolAddr("_text")
		hi, _ = fx.prog.SymbolAddr("_etext")
	} else {
		for _, r := range fx.mod.Module.Regions {
			if r.Name == "MOD_TEXT" {
				lo, hi = r.Base, r.Base+r.Size
			}
		}
	}
	for _, a := range sites {
		if a < lo || a >= hi {
			continue
		}
		if b := fx.bytesAt(a, 1); b != nil && b[0] == 0xf0 {
			fx.poke(a, []byte{0x3e}, MechSmpLock, "alternatives_smp_unlock()", "uniproc_patched: lock prefix made a ds prefix")
		}
	}
}

// itsPages reads mod->arch.its_pages (struct its_array: pages[0..num),
// each PAGE_SIZE, __its_alloc()); for the vmlinux (its_mod NULL) the
// global its_pages (its_alloc()).
func (fx *x86Finalize) itsPages() ([][2]uint64, error) {
	var m kernel.Object
	prefix := "arch.its_pages."
	if fx.mod == nil {
		v, err := fx.prog.Variable("its_pages")
		if err != nil {
			return nil, err
		}
		m, prefix = v, ""
	} else {
		m = fx.mod.Module.Obj
	}
	no, err := m.Member(prefix + "num")
	if err != nil {
		return nil, err
	}
	n, err := no.Uint()
	if err != nil {
		return nil, err
	}
	ao, err := m.Member(prefix + "pages")
	if err != nil {
		return nil, err
	}
	arr, err := ao.Uint()
	if err != nil {
		return nil, err
	}
	ps := fx.prog.PageSize
	if ps == 0 {
		ps = 4096
	}
	var out [][2]uint64
	for i := uint64(0); i < n && i < 1024; i++ {
		pg, err := fx.prog.ReadU64(arr + 8*i)
		if err != nil {
			return out, err
		}
		out = append(out, [2]uint64{pg, pg + ps})
	}
	return out, nil
}

// candidates turns every decided site into a claim on its final bytes.
func (fx *x86Finalize) candidates(cs *candidates) {
	if len(fx.itsSites) > 0 {
		var pages [][2]uint64
		var err error
		core := fx.mod == nil
		if !core {
			pages, err = fx.itsPages()
		}
		if err != nil {
			fx.r.Incomplete = append(fx.r.Incomplete, "mod->arch.its_pages unreadable ("+err.Error()+"): ITS thunk calls accept any thunk target")
		}
		arr := fx.st.itsThunkArray
		for _, s := range fx.itsSites {
			s := s
			cs.add(&Candidate{Addr: s.addr, Len: s.n, Mech: MechRetpoline, Mirrors: "emit_its_trampoline()", Loose: err != nil,
				Why: fmt.Sprintf("indirect branch via r%d in a cacheline's lower half: call/jmp to an ITS thunk (its_allocate_thunk())", s.reg),
				Match: func(b []byte) bool {
					i := 0
					if s.jcc {
						if b[0] != 0x0f || b[1]&0xf0 != 0x80 {
							return false
						}
						i = 1
					} else if s.n == 6 {
						if b[0] != 0x2e {
							return false
						}
						i = 1
					}
					if !s.jcc && b[i] != 0xe8 && b[i] != 0xe9 {
						return false
					}
					t := s.addr + uint64(i) + 5 + uint64(int64(int32(binary.LittleEndian.Uint32(b[i+1:]))))
					if err != nil || t == arr+uint64(s.reg)*32 {
						return true
					}
					if core {
						// its_fini_core() kfree()d its_pages.pages: the
						// target must hold its_init_thunk()'s jmp *%reg; int3
						return fx.itsThunkAt(t, s.reg)
					}
					for _, pg := range pages {
						if t >= pg[0] && t < pg[1] {
							return true
						}
					}
					return false
				}})
		}
	}
	sort.SliceStable(fx.sites, func(i, j int) bool { return fx.sites[i].addr < fx.sites[j].addr })
	for _, s := range fx.sites {
		b := fx.bytesAt(s.addr, s.n)
		if b == nil {
			continue
		}
		cs.add(&Candidate{Addr: s.addr, Want: append([]byte(nil), b...), Mech: s.mech, Why: s.why, Mirrors: s.fn})
	}
}

// itsThunkAt says whether the dump holds its_init_thunk()'s thunk for reg
// at t (no cfi_paranoid): [REX.B] jmp *%reg; int3.
func (fx *x86Finalize) itsThunkAt(t uint64, reg int) bool {
	want := []byte{}
	if reg >= 8 {
		want = append(want, 0x41)
	}
	want = append(want, 0xff, 0xe0|byte(reg&7), 0xcc)
	b, err := fx.prog.Read(t, len(want))
	return err == nil && string(b) == string(want)
}
