package textcheck

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/elfobj"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// R_AARCH64_RELATIVE (elf.h).
const rAarch64Relative = 1027

// vmlinuxArm64 compares the arm64 vmlinux's resident text with its ELF
// file: the image relocated as relocate_kernel() (arch/arm64/kernel/pi/
// relocate.c) does it by the KASLR displacement (every R_AARCH64_RELATIVE
// of __rela_start..__rela_end written as addend + offset, every .relr.dyn
// place incremented by offset), then the run-time mechanisms the module
// model has: alternatives by system_cpucaps, ftrace sites, jump labels,
// kprobes.
func (e *Env) vmlinuxArm64(r *Result, f *elfobj.File) *Result {
	p := e.Prog
	off := p.KernelOffset
	img := &Image{Owner: "vmlinux", Order: f.ByteOrder, Machine: elfobj.EM_AARCH64}
	inInit := initMemory(p)
	secs, _ := vmlinuxImageSections(r, f, off, func(name string) bool { return name == ".altinstructions" || name == "__jump_table" })
	for _, is := range secs {
		is.Want = append([]byte(nil), is.Orig...) // relocate_kernel() writes into it
		switch {
		case !is.Exec:
			is.Skip = skipTable
		case strings.HasPrefix(is.Name, ".init") || strings.HasPrefix(is.Name, ".exit") || inInit(is.Addr):
			is.Skip = skipInit
		default:
			is.Compare = true
		}
		img.Sections = append(img.Sections, is)
	}
	if start, err1 := p.SymbolAddr("__start___jump_table"); err1 == nil {
		if stop, err2 := p.SymbolAddr("__stop___jump_table"); err2 == nil && stop > start && stop-start < 64<<20 {
			// the vmlinux's own table as the file holds it: relative
			// entries, so the runtime address is all they need
			// (jump_label_init() sorts it in place: the same entries)
			if b, err := readFile(f, p.LinkAddr(start), int(stop-start)); err == nil {
				img.Sections = append(img.Sections, &ImageSection{Index: -1, Name: "__jump_table", Addr: start, Orig: b, Want: b, Skip: skipTable})
			} else {
				r.Incomplete = append(r.Incomplete, "__jump_table: "+err.Error())
			}
		}
	}
	if _, err := a64RelocateKernel(f, img, off); err != nil {
		r.Problems = append(r.Problems, "relocate_kernel(): "+err.Error())
	}
	if e.Ftrace == nil {
		// arm64Ftrace's fallback reads the call sites from a
		// __patchable_function_entries section: the vmlinux keeps them
		// in __start_mcount_loc..__stop_mcount_loc (link-time addresses,
		// RELR-relocated by the KASLR offset)
		start, err1 := p.SymbolAddr("__start_mcount_loc")
		stop, err2 := p.SymbolAddr("__stop_mcount_loc")
		if err1 == nil && err2 == nil && stop > start && stop-start < 64<<20 {
			if b, err := readFile(f, p.LinkAddr(start), int(stop-start)); err == nil {
				o := f.ByteOrder
				for k := 0; k+8 <= len(b); k += 8 {
					if v := o.Uint64(b[k:]); v != 0 {
						o.PutUint64(b[k:], v+off)
					}
				}
				img.Sections = append(img.Sections, &ImageSection{Index: -1, Name: "__patchable_function_entries", Addr: start, Orig: b, Want: b, Skip: skipTable})
			} else {
				r.Incomplete = append(r.Incomplete, "__mcount_loc: "+err.Error())
			}
		} else {
			r.Incomplete = append(r.Incomplete, "no ftrace state and no __start_mcount_loc..__stop_mcount_loc: ftrace sites not modelled")
		}
	}
	cs := newCandidates()
	inText := func(addr uint64) bool {
		s := img.SectionAt(addr)
		return s != nil && s.Compare
	}
	arm64Alternatives(e, img, cs, r)
	arm64Ftrace(e, "", img, cs, r)
	arm64JumpLabels(e, img, inText, cs, r)
	arm64Kprobes(e, img, inText, cs, r)
	a64RuntimeConsts(e, f, img, cs, r)
	a64PESignature(img, cs)
	a64HypRelocations(e, f, img, cs, r)
	if addr, err := p.SymbolAddr("dynamic_scs_enabled"); err == nil {
		if ks := e.keyState(addr); ks.Err != nil || ks.Enabled > 0 {
			r.Incomplete = append(r.Incomplete, "dynamic shadow call stack enabled (or its key unreadable): scs_patch() of paciasp/autiasp is not modelled")
		}
	}
	compareExecSections(p, img, r, cs, 4, nil)
	return r
}

// a64RelocateKernel is relocate_kernel() over the image's sections: RELA
// R_AARCH64_RELATIVE places get addend + offset, RELR places their file
// value + offset. It returns how many places in the image it wrote.
func a64RelocateKernel(f *elfobj.File, img *Image, off uint64) (int, error) {
	o := f.ByteOrder
	n := 0
	put := func(link uint64, v func(old uint64) uint64) {
		at := link + off
		s := img.SectionAt(at)
		if s == nil || at+8 > s.Addr+uint64(len(s.Want)) {
			return
		}
		k := at - s.Addr
		o.PutUint64(s.Want[k:], v(o.Uint64(s.Want[k:])))
		n++
	}
	var rela, relr *elfobj.Section
	for _, s := range f.Sections {
		switch s.Type {
		case elfobj.SHT_RELA:
			if s.Flags&elfobj.SHF_ALLOC != 0 {
				rela = s
			}
		case 19: // SHT_RELR
			relr = s
		}
	}
	if rela == nil {
		return 0, fmt.Errorf("no allocated .rela.dyn")
	}
	b, err := rela.Data()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", rela.Name, err)
	}
	for k := 0; k+24 <= len(b); k += 24 {
		if uint32(o.Uint64(b[k+8:])) != rAarch64Relative {
			continue
		}
		add := o.Uint64(b[k+16:])
		put(o.Uint64(b[k:]), func(uint64) uint64 { return add + off })
	}
	if relr != nil {
		b, err := relr.Data()
		if err != nil {
			return n, fmt.Errorf("%s: %w", relr.Name, err)
		}
		var where uint64
		for k := 0; k+8 <= len(b); k += 8 {
			w := o.Uint64(b[k:])
			if w&1 == 0 {
				where = w
				put(where, func(v uint64) uint64 { return v + off })
				where += 8
				continue
			}
			for i, bits := uint64(0), w>>1; bits != 0; i, bits = i+1, bits>>1 {
				if bits&1 != 0 {
					put(where+8*i, func(v uint64) uint64 { return v + off })
				}
			}
			where += 63 * 8
		}
	}
	return n, nil
}

// a64RuntimeConsts is runtime_const_init() (arch/arm64/include/asm/
// runtime-const.h): each runtime_ptr_SYM section lists (s32, relative to
// the entry) the movz/movk x4 sequences __runtime_fixup_ptr() fills with
// SYM's value, each runtime_shift_SYM the lsr whose immr
// __runtime_fixup_shift() sets to SYM & 63. SYM is read from the dump.
func a64RuntimeConsts(e *Env, f *elfobj.File, img *Image, cs *candidates, r *Result) {
	p := e.Prog
	o := img.Order
	reported := map[string]bool{}
	shared := map[string]*a64ConstSeen{}
	for _, s := range f.Sections {
		var kind, sym string
		switch {
		case strings.HasPrefix(s.Name, "runtime_ptr_"):
			kind, sym = "ptr", strings.TrimPrefix(s.Name, "runtime_ptr_")
		case strings.HasPrefix(s.Name, "runtime_shift_"):
			kind, sym = "shift", strings.TrimPrefix(s.Name, "runtime_shift_")
		default:
			continue
		}
		b, err := s.Data()
		if err != nil {
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("%s: %v", s.Name, err))
			continue
		}
		shared[s.Name] = &a64ConstSeen{}
		at, err := p.SymbolAddr(sym)
		var val uint64
		from := sym
		if err == nil {
			if kind == "ptr" {
				val, err = p.ReadU64(at)
			} else {
				var v uint32
				v, err = p.ReadU32(at)
				val = uint64(v)
			}
		} else if name, ok := a64RuntimeCache[sym]; ok && kind == "ptr" {
			// the variable is gone, but the cache it pointed to is in
			// slab_caches under the name it was created with
			v, cerr := e.slabCacheNamed(name)
			if cerr == nil {
				val, err = v, nil
				from = fmt.Sprintf("%s (the kmem_cache named %q in slab_caches)", sym, name)
			} else {
				err = fmt.Errorf("%w; the cache %q it points to: %w", err, name, cerr)
			}
		}
		base := s.Addr + p.KernelOffset
		for k := 0; k+4 <= len(b); k += 4 {
			where := base + uint64(k) + uint64(int64(int32(o.Uint32(b[k:]))))
			sec := img.SectionAt(where)
			n := 1
			if kind == "ptr" {
				n = 4
			}
			if sec == nil || !sec.Compare || where+uint64(4*n) > sec.Addr+uint64(len(sec.Want)) {
				continue
			}
			if err != nil {
				// The variable only the fixups read is dropped by the
				// compiler (runtime_const_ptr() reads no memory): its value
				// is not in the dump. Every site must then carry the same
				// value in the immediates alone.
				why := fmt.Sprintf("%s: %s not readable (%v): the sites agree on one value, not checked against the variable", s.Name, sym, err)
				if !reported[s.Name] {
					reported[s.Name] = true
					r.Incomplete = append(r.Incomplete, why)
				}
				orig := sec.Want[where-sec.Addr : where-sec.Addr+uint64(4*n)]
				cs.add(&Candidate{Addr: where, Len: 4 * n, Loose: true, Mech: MechRuntimeConst, Why: why, Mirrors: "runtime_const_init()",
					Match: a64SameConst(kind, orig, shared[s.Name])})
				continue
			}
			var w []byte
			for i := range n {
				insn := o.Uint32(sec.Want[where-sec.Addr+uint64(4*i):])
				if kind == "ptr" {
					insn = insn&0xffe0001f | uint32(val>>(16*i)&0xffff)<<5
				} else {
					insn = insn&0xffc0ffff | uint32(val&63)<<16
				}
				w = binary.LittleEndian.AppendUint32(w, insn) // arm64 instructions are little-endian
			}
			fn := "__runtime_fixup_ptr()"
			if kind == "shift" {
				fn = "__runtime_fixup_shift()"
			}
			cs.add(&Candidate{Addr: where, Want: w, Mech: MechRuntimeConst, Mirrors: fn,
				Why: fmt.Sprintf("%s: %s = %#x", s.Name, from, val)})
		}
	}
}

// a64PESignature: the arm64 Image is a PE/COFF file (efi-header.S) and a
// distribution signs it for UEFI Secure Boot after the link (sbsign):
// the signer writes the optional header's CheckSum and the Certificate
// Table data directory entry, which the vmlinux leaves zero. The kernel
// never executes them; they may hold anything.
func a64PESignature(img *Image, cs *candidates) {
	s := img.Section(".head.text")
	if s == nil || len(s.Want) < 0x40 || s.Want[0] != 'M' || s.Want[1] != 'Z' {
		return
	}
	o := img.Order
	pe := uint64(o.Uint32(s.Want[0x3c:]))
	opt := pe + 4 + 20
	if opt+0x70+5*8 > uint64(len(s.Want)) || string(s.Want[pe:pe+4]) != "PE\x00\x00" || o.Uint16(s.Want[opt:]) != 0x20b {
		return
	}
	any := func([]byte) bool { return true }
	cs.add(&Candidate{Addr: s.Addr + opt + 0x40, Len: 4, Loose: true, Mech: MechPESign, Match: any, Mirrors: "sbsign (after the link)",
		Why: "PE32+ optional header CheckSum, written when the Image is signed"})
	cs.add(&Candidate{Addr: s.Addr + opt + 0x70 + 4*8, Len: 8, Loose: true, Mech: MechPESign, Match: any, Mirrors: "sbsign (after the link)",
		Why: "PE32+ Certificate Table directory entry, written when the Image is signed"})
}

// a64ConstSeen is the value the first site of a runtime constant showed.
type a64ConstSeen struct {
	seen bool
	val  uint64
}

// a64SameConst accepts found words that differ from the file's only in
// the immediates the fixup writes and carry the value every other site of
// the same constant carries.
func a64SameConst(kind string, orig []byte, seen *a64ConstSeen) func([]byte) bool {
	return func(b []byte) bool {
		var val uint64
		for i := 0; i+4 <= len(orig); i += 4 {
			w, o := binary.LittleEndian.Uint32(b[i:]), binary.LittleEndian.Uint32(orig[i:])
			mask := uint32(0xffe0001f)
			if kind == "shift" {
				mask = 0xffc0ffff
			}
			if w&mask != o&mask {
				return false
			}
			if kind == "shift" {
				val = uint64(w>>16) & 63
			} else {
				val |= uint64(w>>5&0xffff) << (16 * (i / 4))
			}
		}
		if !seen.seen {
			seen.seen, seen.val = true, val
		}
		return seen.val == val
	}
}

// a64HypRelocations is kvm_apply_hyp_relocations() (arch/arm64/kvm/
// va_layout.c), run by hyp_mode_check() when the kernel is not in hyp
// mode: each .hyp.reloc entry (s32 relative to itself) names a 64-bit
// kernel image address in the nVHE hyp objects, rewritten as
// __early_kern_hyp_va(lm_alias(va)): its linear-map alias (va -
// kimage_voffset is the physical address, minus memstart_addr the offset
// in the linear map; PAGE_OFFSET's bits lie above va_mask) masked by
// va_mask, with tag_val << tag_lsb. va_mask, tag_val and tag_lsb are read
// from the dump; va_mask zero means kvm_compute_layout() never ran.
func a64HypRelocations(e *Env, f *elfobj.File, img *Image, cs *candidates, r *Result) {
	p := e.Prog
	begin, err1 := p.SymbolAddr("__hyp_reloc_begin")
	end, err2 := p.SymbolAddr("__hyp_reloc_end")
	if err1 != nil || err2 != nil || end <= begin || end-begin > 1<<20 {
		return
	}
	b, err := readFile(f, p.LinkAddr(begin), int(end-begin))
	if err != nil {
		r.Incomplete = append(r.Incomplete, "__hyp_reloc: "+err.Error())
		return
	}
	l, errs := readHypVALayout(p)
	var bad error
	if len(errs) > 0 {
		bad = errs[0]
	}
	o := img.Order
	for k := 0; k+4 <= len(b); k += 4 {
		at := begin + uint64(k) + uint64(int64(int32(o.Uint32(b[k:]))))
		sec := img.SectionAt(at)
		if sec == nil || !sec.Compare || at+8 > sec.Addr+uint64(len(sec.Want)) {
			continue
		}
		if bad != nil {
			why := fmt.Sprintf("hyp relocation at %#x: the hyp VA layout unreadable (%v): any value", at, bad)
			r.Incomplete = append(r.Incomplete, why)
			cs.add(&Candidate{Addr: at, Len: 8, Loose: true, Mech: MechHypReloc, Why: why, Mirrors: "kvm_apply_hyp_relocations()", Match: func([]byte) bool { return true }})
			continue
		}
		if l.vaMask == 0 {
			continue // not run: the relocated image's value stands
		}
		va := o.Uint64(sec.Want[at-sec.Addr:])
		cs.add(&Candidate{Addr: at, Want: u64Bytes(o, l.hypVA(va)), Mech: MechHypReloc, Mirrors: "kvm_apply_hyp_relocations()",
			Why: fmt.Sprintf("%#x as a hyp VA (va_mask %#x, tag_val %#x << %d)", va, l.vaMask, l.tagVal, l.tagLsb)})
	}
}

// hypVALayout is what __early_kern_hyp_va() computes with (arch/arm64/
// kvm/va_layout.c, kvm_compute_layout()'s va_mask, tag_val and tag_lsb)
// and lm_alias() subtracts (kimage_voffset, memstart_addr).
type hypVALayout struct {
	vaMask, tagVal, tagLsb, voff, memstart uint64
}

// readHypVALayout reads the hyp VA layout from the dump; errs are the
// reads that failed, in that order.
func readHypVALayout(p *kernel.Program) (l hypVALayout, errs []error) {
	read := func(name string, n int) uint64 {
		a, err := p.SymbolAddr(name)
		if err != nil {
			errs = append(errs, err)
			return 0
		}
		if n == 1 {
			v, err := p.Read(a, 1)
			if err != nil {
				errs = append(errs, err)
				return 0
			}
			return uint64(v[0])
		}
		v, err := p.ReadU64(a)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	l.vaMask = read("va_mask", 8)
	l.tagVal = read("tag_val", 8)
	l.tagLsb = read("tag_lsb", 1)
	l.voff = read("kimage_voffset", 8)
	l.memstart = read("memstart_addr", 8)
	return l, errs
}

// hypVA is __early_kern_hyp_va(lm_alias(va)).
func (l hypVALayout) hypVA(va uint64) uint64 {
	return (va-l.voff-l.memstart)&l.vaMask | l.tagVal<<l.tagLsb
}

// a64Callback gives the model of an alternative callback at addr for the
// site at, when
// there is one (arch/arm64/kvm/va_layout.c): it maps the original
// instructions to what the callback writes.
func (e *Env) a64Callback(addr, at uint64) (func(orig []uint32) ([]uint32, error), string, bool) {
	p := e.Prog
	is := func(name string) bool {
		a, err := p.SymbolAddr(name)
		return err == nil && a == addr
	}
	u64 := func(name string) (uint64, error) {
		a, err := p.SymbolAddr(name)
		if err != nil {
			return 0, err
		}
		return p.ReadU64(a)
	}
	switch {
	case is("kvm_get_kimage_voffset"):
		return func(orig []uint32) ([]uint32, error) {
			v, err := u64("kimage_voffset")
			if err != nil {
				return nil, err
			}
			return a64MovQ(v, orig)
		}, "kvm_get_kimage_voffset() (generate_mov_q(kimage_voffset))", true
	case is("kvm_compute_final_ctr_el0"):
		return func(orig []uint32) ([]uint32, error) {
			off, err := typesOf(p).Offsetof("struct arm64_ftr_reg", "sys_val")
			if err != nil {
				return nil, err
			}
			a, err := p.SymbolAddr("arm64_ftr_reg_ctrel0")
			if err != nil {
				return nil, err
			}
			v, err := p.ReadU64(a + uint64(off))
			if err != nil {
				return nil, err
			}
			return a64MovQ(v, orig)
		}, "kvm_compute_final_ctr_el0() (generate_mov_q(read_sanitised_ftr_reg(SYS_CTR_EL0)))", true
	case is("kvm_update_va_mask"):
		return func(orig []uint32) ([]uint32, error) {
			if len(orig) != 5 {
				return nil, fmt.Errorf("%d instructions, not 5", len(orig))
			}
			vaMask, err := u64("va_mask")
			if err != nil {
				return nil, err
			}
			tagVal, err := u64("tag_val")
			if err != nil {
				return nil, err
			}
			a, err := p.SymbolAddr("tag_lsb")
			if err != nil {
				return nil, err
			}
			b, err := p.Read(a, 1)
			if err != nil {
				return nil, err
			}
			tagLsb := uint32(b[0])
			out := make([]uint32, 5)
			for i, o := range orig {
				// va_mask zero: kvm_compute_layout() never ran, which on a
				// KVM kernel means VHE (hyp_mode_check()): all nops
				if vaMask == 0 || tagVal == 0 && i > 0 {
					out[i] = 0xd503201f
					continue
				}
				if tagLsb == 0 || tagLsb >= 64 || vaMask != 1<<tagLsb-1 {
					return nil, fmt.Errorf("va_mask %#x is not GENMASK(tag_lsb %d - 1, 0)", vaMask, tagLsb)
				}
				rd, rn := o&31, o>>5&31
				switch i {
				case 0: // and rd, rn, #va_mask (N=1, immr=0, imms=ones-1)
					out[i] = 0x92400000 | (tagLsb-1)<<10 | rn<<5 | rd
				case 1: // ror rd, rn, #tag_lsb (extr rd, rn, rn, #tag_lsb)
					out[i] = 0x93c00000 | rn<<16 | tagLsb<<10 | rn<<5 | rd
				case 2: // add rd, rn, #(tag_val & GENMASK(11, 0))
					out[i] = 0x91000000 | uint32(tagVal&0xfff)<<10 | rn<<5 | rd
				case 3: // add rd, rn, #(tag_val & GENMASK(23, 12))
					v := uint32(tagVal & 0xfff000)
					if v != 0 {
						out[i] = 0x91400000 | (v>>12)<<10 | rn<<5 | rd
					} else {
						out[i] = 0x91000000 | rn<<5 | rd
					}
				case 4: // ror rd, rn, #(64 - tag_lsb)
					out[i] = 0x93c00000 | rn<<16 | (64-tagLsb)<<10 | rn<<5 | rd
				}
			}
			return out, nil
		}, "kvm_update_va_mask()", true
	case is("spectre_bhb_patch_loop_mitigation_enable"), is("spectre_bhb_patch_clearbhb"), is("spectre_bhb_patch_loop_iter"), is("spectre_bhb_patch_wa3"):
		bit := func(name string) (bool, error) {
			n, err := typesOf(p).EnumConstant(name)
			if err != nil {
				return false, err
			}
			m, err := u64("system_bhb_mitigations")
			if err != nil {
				return false, err
			}
			return n >= 0 && n < 64 && m>>uint(n)&1 != 0, nil
		}
		switch {
		case is("spectre_bhb_patch_loop_mitigation_enable"):
			return func(orig []uint32) ([]uint32, error) {
				on, err := bit("BHB_LOOP")
				if err != nil || !on {
					return orig, err
				}
				return []uint32{0xd503201f}, nil
			}, "spectre_bhb_patch_loop_mitigation_enable() (nop when BHB_LOOP is in system_bhb_mitigations)", true
		case is("spectre_bhb_patch_clearbhb"):
			return func(orig []uint32) ([]uint32, error) {
				on, err := bit("BHB_INSN")
				if err != nil || on {
					return orig, err
				}
				return []uint32{0xd503201f, 0xd503201f}, nil
			}, "spectre_bhb_patch_clearbhb() (nops unless BHB_INSN is in system_bhb_mitigations)", true
		case is("spectre_bhb_patch_loop_iter"):
			return func(orig []uint32) ([]uint32, error) {
				a, err := p.SymbolAddr("max_bhb_k")
				if err != nil {
					return nil, err
				}
				b, err := p.Read(a, 1)
				if err != nil {
					return nil, err
				}
				// movz rd, #max_bhb_k (64-bit)
				return []uint32{0xd2800000 | uint32(b[0])<<5 | orig[0]&31}, nil
			}, "spectre_bhb_patch_loop_iter() (movz rd, #max_bhb_k)", true
		default:
			return func(orig []uint32) ([]uint32, error) {
				on, err := bit("BHB_FW")
				if err != nil || !on {
					return orig, err
				}
				// orr wd, wzr, #ARM_SMCCC_ARCH_WORKAROUND_3 (0x80003fff:
				// 15 ones rotated right by 1: N=0, immr=1, imms=14)
				return []uint32{0x32000000 | 1<<16 | 14<<10 | 31<<5 | orig[0]&31}, nil
			}, "spectre_bhb_patch_wa3() (mov wd, #ARM_SMCCC_ARCH_WORKAROUND_3 when BHB_FW is in system_bhb_mitigations)", true
		}
	case is("spectre_v4_patch_fw_mitigation_enable"):
		return e.a64SpectreV4FwEnable, "spectre_v4_patch_fw_mitigation_enable() (nop when the Spectre-v4 policy is dynamic, mitigations not off, no SSBS)", true
	case is("kvm_patch_vector_branch"):
		return func(orig []uint32) ([]uint32, error) {
			return e.a64PatchVectorBranch(at, orig)
		}, "kvm_patch_vector_branch() (with ARM64_SPECTRE_V3A and no VHE: movz/movk x0 of the hyp vector, br x0)", true
	case is("kvm_compute_ich_hcr_trap_bits"):
		return e.a64IchHcrTrapBits, "kvm_compute_ich_hcr_trap_bits() (movz rd, #ICH_HCR_EL2 trap bits of group0/group1/common/dir_trap)", true
	case is("smccc_patch_fw_mitigation_conduit"):
		return func(orig []uint32) ([]uint32, error) {
			// arm_smccc_1_1_get_conduit(): none before SMCCC 1.1
			va, err := p.SymbolAddr("smccc_version")
			if err != nil {
				return nil, err
			}
			ver, err := p.ReadU32(va)
			if err != nil {
				return nil, err
			}
			ca, err := p.SymbolAddr("smccc_conduit")
			if err != nil {
				return nil, err
			}
			conduit, err := p.ReadU32(ca)
			if err != nil {
				return nil, err
			}
			hvc, err1 := typesOf(p).EnumConstant("SMCCC_CONDUIT_HVC")
			smc, err2 := typesOf(p).EnumConstant("SMCCC_CONDUIT_SMC")
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("enum arm_smccc_conduit not in the types")
			}
			switch {
			case ver < 0x10001: // ARM_SMCCC_VERSION_1_1
				return orig, nil
			case int64(conduit) == hvc:
				return []uint32{0xd4000002}, nil // hvc #0
			case int64(conduit) == smc:
				return []uint32{0xd4000003}, nil // smc #0
			}
			return orig, nil
		}, "smccc_patch_fw_mitigation_conduit() (hvc or smc by arm_smccc_1_1_get_conduit())", true
	}
	return nil, "", false
}

// a64MovQ is generate_mov_q(): movz/movk of val into the first
// instruction's Rd.
func a64MovQ(val uint64, orig []uint32) ([]uint32, error) {
	if len(orig) != 4 {
		return nil, fmt.Errorf("%d instructions, not 4", len(orig))
	}
	rd := orig[0] & 31
	out := []uint32{0xd2800000, 0xf2a00000, 0xf2c00000, 0xf2e00000}
	for i := range out {
		out[i] |= uint32(val>>(16*i)&0xffff)<<5 | rd
	}
	return out, nil
}
