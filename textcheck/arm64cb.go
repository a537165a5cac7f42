package textcheck

import (
	"errors"
	"fmt"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// The state the three alternative callbacks of arch/arm64/kernel/
// proton-pack.c, arch/arm64/kvm/va_layout.c and arch/arm64/kvm/vgic/
// vgic-v3.c decide by, read from the dump.

// a64Caps finds cpucaps by what the dump records of them: cpucap_ptrs[]
// (arch/arm64/kernel/cpufeature.c, init_cpucap_indirect_list()) holds,
// indexed by cpucap number, the struct arm64_cpu_capabilities of every
// feature and erratum the kernel was built with; each names itself by
// .desc. The number a callback's cpus_have_cap(ARM64_X) inlined is found
// from the capability's .desc, as the kernel source spells it, so no
// cpucap numbering is assumed.
type a64Caps struct {
	once   sync.Once
	byDesc map[string]uint16
	err    error
}

func (e *Env) a64CapNumber(desc string) (uint16, error) {
	c := &e.a64caps
	c.once.Do(func() {
		p := e.Prog
		arr, err := p.Variable("cpucap_ptrs")
		if err != nil {
			c.err = fmt.Errorf("cpucap_ptrs: %w", err)
			return
		}
		es := int64(p.Context.PtrSize)
		if es <= 0 {
			es = 8
		}
		n := arr.Size() / es
		if n <= 0 || n > 4096 {
			c.err = fmt.Errorf("cpucap_ptrs: %d entries", n)
			return
		}
		c.byDesc = map[string]uint16{}
		for i := range n {
			el, err := arr.Index(i)
			if err != nil {
				c.err = err
				return
			}
			ptr, err := el.Uint()
			if err != nil {
				c.err = err
				return
			}
			if ptr == 0 {
				continue // a cpucap this build has no entry for
			}
			cap, err := el.Deref()
			if err != nil {
				c.err = err
				return
			}
			d, err := cap.Member("desc")
			if err != nil {
				c.err = err
				return
			}
			if dp, err := d.Uint(); err == nil && dp == 0 {
				continue // no .desc (a cpucap not described)
			}
			s, err := d.CString(256)
			if err != nil {
				c.err = fmt.Errorf("cpucap_ptrs[%d]->desc: %w", i, err)
				return
			}
			num, err := cap.Member("capability")
			if err != nil {
				c.err = err
				return
			}
			v, err := num.Uint()
			if err != nil {
				c.err = err
				return
			}
			if v != uint64(i) {
				c.err = fmt.Errorf("cpucap_ptrs[%d]->capability is %d", i, v)
				return
			}
			if _, dup := c.byDesc[s]; !dup {
				c.byDesc[s] = uint16(i)
			}
		}
	})
	if c.err != nil {
		return 0, c.err
	}
	n, ok := c.byDesc[desc]
	if !ok {
		return 0, fmt.Errorf("no cpucap_ptrs[] entry has .desc %q", desc)
	}
	return n, nil
}

// a64HaveCap is cpus_have_cap(): the cpucap's bit in system_cpucaps.
func (e *Env) a64HaveCap(desc string) (bool, error) {
	n, err := e.a64CapNumber(desc)
	if err != nil {
		return false, err
	}
	return a64CpusHaveCap(e.Prog, n)
}

// a64CpusHaveCap is cpus_have_cap() by number: cpucap n's bit in
// system_cpucaps.
func a64CpusHaveCap(p *kernel.Program, n uint16) (bool, error) {
	caps, err := p.SymbolAddr("system_cpucaps")
	if err != nil {
		return false, err
	}
	w, err := p.ReadU64(caps + uint64(n/64)*8)
	if err != nil {
		return false, err
	}
	return w>>(n%64)&1 != 0, nil
}

// a64VarInt reads a global (or file-static) variable of integer, enum or
// bool type through its debug type.
func (e *Env) a64VarInt(name string) (int64, error) {
	o, err := e.Prog.Variable(name)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	v, err := o.Int()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}

// The .desc strings of the cpucaps the callbacks test
// (arch/arm64/kernel/cpufeature.c arm64_features[], cpu_errata.c
// arm64_errata[]).
const (
	a64DescSSBS = "Speculative Store Bypassing Safe (SSBS)" // ARM64_SSBS
	a64DescVHE  = "Virtualization Host Extensions"          // ARM64_HAS_VIRT_HOST_EXTN
	a64DescV3A  = "Spectre-v3a"                             // ARM64_SPECTRE_V3A
)

// a64SpectreV4FwEnable is spectre_v4_patch_fw_mitigation_enable(): the
// branch over the firmware call becomes a nop when the mitigation is
// neither off (cpu_mitigations_off() or __spectre_v4_policy
// SPECTRE_V4_POLICY_MITIGATION_DISABLED) nor done by SSBS
// (cpus_have_cap(ARM64_SSBS)) and the policy is dynamic.
func (e *Env) a64SpectreV4FwEnable(orig []uint32) ([]uint32, error) {
	if len(orig) != 1 {
		return nil, fmt.Errorf("%d instructions, not 1", len(orig))
	}
	ts := typesOf(e.Prog)
	off, err1 := ts.EnumConstant("CPU_MITIGATIONS_OFF")
	disabled, err2 := ts.EnumConstant("SPECTRE_V4_POLICY_MITIGATION_DISABLED")
	dynamic, err3 := ts.EnumConstant("SPECTRE_V4_POLICY_MITIGATION_DYNAMIC")
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	mit, err := e.a64VarInt("cpu_mitigations")
	if err != nil {
		return nil, err
	}
	policy, err := e.a64VarInt("__spectre_v4_policy")
	if err != nil {
		return nil, err
	}
	if mit == off || policy == disabled {
		return orig, nil
	}
	ssbs, err := e.a64HaveCap(a64DescSSBS)
	if err != nil {
		return nil, err
	}
	if ssbs || policy != dynamic {
		return orig, nil
	}
	return []uint32{0xd503201f}, nil
}

// a64PatchVectorBranch is kvm_patch_vector_branch(): without
// ARM64_SPECTRE_V3A, or with VHE, the four instructions stay; else
// movz/movk/movk x0 of the hyp VA of __kvm_hyp_vector (nVHE:
// __kvm_nvhe___kvm_hyp_vector, kvm_ksym_ref()'s lm_alias() then
// __early_kern_hyp_va(): & va_mask | tag_val << tag_lsb) with the site's
// PC[10:7], plus KVM_VECTOR_PREAMBLE (8), and br x0.
func (e *Env) a64PatchVectorBranch(at uint64, orig []uint32) ([]uint32, error) {
	if len(orig) != 4 {
		return nil, fmt.Errorf("%d instructions, not 4", len(orig))
	}
	v3a, err := e.a64HaveCap(a64DescV3A)
	if err != nil {
		return nil, err
	}
	if !v3a {
		return orig, nil
	}
	vhe, err := e.a64HaveCap(a64DescVHE)
	if err != nil {
		return nil, err
	}
	if vhe {
		return orig, nil
	}
	hyp, err := e.a64EarlyKernHypVA("__kvm_nvhe___kvm_hyp_vector")
	if err != nil {
		return nil, err
	}
	return a64VectorBranch(hyp, at), nil
}

// a64VectorBranch is the sequence kvm_patch_vector_branch() writes for
// the hyp VA of the vectors at the site at.
func a64VectorBranch(hypVectors, at uint64) []uint32 {
	addr := hypVectors | at&(0xf<<7)
	addr += 8 // KVM_VECTOR_PREAMBLE: 2 * AARCH64_INSN_SIZE
	return []uint32{
		0xd2800000 | uint32(addr&0xffff)<<5,     // movz x0, #addr[15:0]
		0xf2a00000 | uint32(addr>>16&0xffff)<<5, // movk x0, #addr[31:16], lsl #16
		0xf2c00000 | uint32(addr>>32&0xffff)<<5, // movk x0, #addr[47:32], lsl #32
		0xd61f0000,                              // br x0
	}
}

// a64EarlyKernHypVA is __early_kern_hyp_va(lm_alias(sym)) as
// a64HypRelocations computes it.
func (e *Env) a64EarlyKernHypVA(sym string) (uint64, error) {
	p := e.Prog
	va, err := p.SymbolAddr(sym)
	if err != nil {
		return 0, err
	}
	l, errs := readHypVALayout(p)
	if len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	if l.tagLsb >= 64 {
		return 0, fmt.Errorf("tag_lsb %d", l.tagLsb)
	}
	return l.hypVA(va), nil
}

// ICH_HCR_EL2 trap bits (arch/arm64/tools/sysreg, Sysreg ICH_HCR_EL2).
const (
	ichHcrTC    = 1 << 10
	ichHcrTALL0 = 1 << 11
	ichHcrTALL1 = 1 << 12
	ichHcrTDIR  = 1 << 14
)

// a64IchHcrTrapBits is kvm_compute_ich_hcr_trap_bits(): movz rd (the
// original's Rd), #hcr, hcr the trap bits of the four static bools
// group0_trap, group1_trap, common_trap and dir_trap of vgic-v3.c. The
// callback sets them (from ARM64_WORKAROUND_CAVIUM_30115, the broken-SEIS
// check, which reads ICH_VTR_EL2, and ARM64_HAS_ICH_HCR_EL2_TDIR) on top
// of their kvm-arm.vgic_v3_*_trap early parameters and builds hcr from
// them; nothing else writes them, so what the dump holds is what every
// site was built from, the register the CPU knew included.
func (e *Env) a64IchHcrTrapBits(orig []uint32) ([]uint32, error) {
	if len(orig) != 1 {
		return nil, fmt.Errorf("%d instructions, not 1", len(orig))
	}
	var hcr uint32
	for _, b := range []struct {
		name string
		bit  uint32
	}{{"group0_trap", ichHcrTALL0}, {"group1_trap", ichHcrTALL1}, {"common_trap", ichHcrTC}, {"dir_trap", ichHcrTDIR}} {
		v, err := e.a64VarInt(b.name)
		if err != nil {
			return nil, err
		}
		if v != 0 {
			hcr |= b.bit
		}
	}
	return []uint32{0xd2800000 | hcr<<5 | orig[0]&31}, nil
}

// a64RuntimeCache: the runtime_const_ptr() variables whose only readers
// are the fixed-up sites (so the compiler drops the variable itself), each
// set once to the kmem_cache it creates, and that cache's name: fs/
// dcache.c dcache_init() KMEM_CACHE_USERCOPY(dentry, ...), fs/namei.c
// kmem_cache_create_usercopy("names_cache", ...), fs/file_table.c
// files_init() kmem_cache_create("filp", ...) and ("bfilp", ...). The
// value is then found from the dump as the struct kmem_cache of that
// name in slab_caches (a usercopy or SLAB_TYPESAFE_BY_RCU cache is never
// merged into another: kmem_cache_create() returned that very cache).
var a64RuntimeCache = map[string]string{
	"__dentry_cache": "dentry",
	"__names_cache":  "names_cache",
	"__filp_cache":   "filp",
	"__bfilp_cache":  "bfilp",
}

// slabCacheNamed is the address of the one struct kmem_cache in
// slab_caches with the name; none or several is an error.
func (e *Env) slabCacheNamed(name string) (uint64, error) {
	e.slabNamesOnce.Do(func() {
		p := e.Prog
		head, err := p.SymbolAddr("slab_caches")
		if err != nil {
			e.slabNamesErr = err
			return
		}
		c := *p.Context
		c.MaxList = 1 << 14
		e.slabNames = map[string][]uint64{}
		for o, err := range kernel.ListForEachEntry(&c, head, "struct kmem_cache", "list") {
			if err != nil {
				e.slabNamesErr = fmt.Errorf("slab_caches: %w", err)
				return
			}
			n, err := o.Member("name")
			if err != nil {
				e.slabNamesErr = err
				return
			}
			s, err := n.CString(128)
			if err != nil {
				e.slabNamesErr = fmt.Errorf("slab_caches: kmem_cache at %#x: name: %w", o.Addr, err)
				return
			}
			e.slabNames[s] = append(e.slabNames[s], o.Addr)
		}
	})
	if e.slabNamesErr != nil {
		return 0, e.slabNamesErr
	}
	switch a := e.slabNames[name]; len(a) {
	case 1:
		return a[0], nil
	case 0:
		return 0, fmt.Errorf("no kmem_cache named %q in slab_caches", name)
	default:
		return 0, fmt.Errorf("%d kmem_caches named %q in slab_caches", len(a), name)
	}
}
