package ppc64

import (
	"encoding/binary"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/dump"
)

func init() {
	arch.Register(dump.MachinePPC64, arch.Registration{Setup: Setup, Early: func(va uint64) (uint64, bool) {
		if va < PageOffset || va >= Hash4KVmallocStart {
			return 0, false
		}
		return va - PageOffset, true
	}})
}

// Kernel is a ppc64 (Book3S-64) kernel set up: its MMU, page-table
// geometry and translator.
type Kernel struct {
	T        *Translator
	Mmu      MMU
	Geom     Geometry
	Pagesize uint64
	order    binary.ByteOrder
}

func (k *Kernel) Name() string                        { return "ppc64" }
func (k *Kernel) PageSize() uint64                    { return k.Pagesize }
func (k *Kernel) MMU() string                         { return k.Mmu.String() }
func (k *Kernel) Geometry() string                    { return k.Geom.String() }
func (k *Kernel) DirectMap() uint64                   { return k.T.pageOffset() }
func (k *Kernel) VmallocStart() uint64                { return k.T.vmallocStart() }
func (k *Kernel) KernelOffset() uint64                { return 0 }
func (k *Kernel) PageShift() uint                     { return k.T.PageShift() }
func (k *Kernel) Linear(va uint64) (uint64, bool)     { return k.T.Linear(va) }
func (k *Kernel) Translate(va uint64) (uint64, error) { return k.T.Translate(va) }
func (k *Kernel) Walk(va uint64) (arch.Walk, error)   { return walkOf(k.T.Walk(va)) }
func walkOf(w *WalkResult, err error) (arch.Walk, error) {
	out := arch.Walk{}
	if w != nil {
		out = arch.Walk{VA: w.VA, PA: w.PA, LeafSize: w.LeafSize}
		for _, s := range w.Steps {
			out.Steps = append(out.Steps, arch.WalkStep{Level: s.Level, Index: s.Index, EntryAddr: s.EntryAddr, Entry: s.Entry})
		}
	}
	return out, err
}

// MMU_FTR_TYPE_RADIX is asm/mmu.h's radix MMU feature bit (also in
// geometry.go as a constant of the same name for MMUFromFeatures).

// linear reads through the linear map, before the page tables are known.
func linear(env arch.Env, va uint64, n int) ([]byte, error) {
	if va < PageOffset {
		return nil, &dump.Fault{Addr: va, Reason: dump.Unmapped, Detail: "below PAGE_OFFSET"}
	}
	b := make([]byte, n)
	if err := dump.ReadFull(env.Phys(), b, va-PageOffset); err != nil {
		return nil, err
	}
	return b, nil
}

func linearU64(env arch.Env, va uint64) (uint64, error) {
	b, err := linear(env, va, 8)
	if err != nil {
		return 0, err
	}
	return env.Order().Uint64(b), nil
}

func linearU32(env arch.Env, va uint64) (uint32, error) {
	b, err := linear(env, va, 4)
	if err != nil {
		return 0, err
	}
	return env.Order().Uint32(b), nil
}

// Setup decides MMU and geometry and builds the translator: radix or
// hash from VMCOREINFO NUMBER(RADIX_MMU), else from
// cur_cpu_spec->mmu_features; index sizes from the kernel's own
// __pte_index_size.. variables, cross-checked with the known geometries;
// VMALLOC_START from VMCOREINFO, else __vmalloc_start.
func Setup(env arch.Env) (arch.Kernel, error) {
	k := &Kernel{order: env.Order()}
	info := env.Info()
	var mmuKnown bool
	if info != nil {
		if v, ok := info.Number("RADIX_MMU"); ok {
			k.Mmu, mmuKnown = Hash, true
			if v != 0 {
				k.Mmu = Radix
			}
		}
		if ps, ok := info.PageSize(); ok {
			k.Pagesize = ps
		}
	}
	if !mmuKnown {
		f, err := mmuFeatures(env)
		if err != nil {
			return nil, fmt.Errorf("cannot tell radix from hash: %w", err)
		}
		k.Mmu = Hash
		if f&MMU_FTR_TYPE_RADIX != 0 {
			k.Mmu = Radix
		}
	}
	var idx [4]uint64
	for i, n := range []string{"__pte_index_size", "__pmd_index_size", "__pud_index_size", "__pgd_index_size"} {
		a, err := env.Symbol(n)
		if err != nil {
			return nil, err
		}
		v, err := linearU64(env, a)
		if err != nil {
			return nil, fmt.Errorf("reading %s at %#x: %w", n, a, err)
		}
		idx[i] = v
	}
	if k.Pagesize == 0 {
		k.Pagesize = PageSizeFromKernel(env)
	}
	if k.Pagesize == 0 {
		return nil, fmt.Errorf("page size unknown: no VMCOREINFO PAGESIZE and none derivable from the kernel's mmu_psize_defs")
	}
	g, err := GeometryFromIndexSizes(k.Pagesize, idx[0], idx[1], idx[2], idx[3])
	if err != nil {
		return nil, err
	}
	if g.MMU != k.Mmu {
		return nil, fmt.Errorf("index sizes %v say %s but the MMU is %s", idx, g.MMU, k.Mmu)
	}
	k.Geom = g
	pgd, err := env.Symbol("swapper_pg_dir")
	if err != nil {
		return nil, err
	}
	vs := uint64(0)
	if info != nil {
		if v, ok := info.Number("VMALLOC_START"); ok {
			vs = uint64(v)
		}
	}
	if vs == 0 {
		if a, err := env.Symbol("__vmalloc_start"); err == nil {
			if v, err := linearU64(env, a); err == nil {
				vs = v
			}
		}
	}
	if vs == 0 {
		vs = DefaultVmallocStart(g)
		env.Warnf("VMALLOC_START unknown: assuming %#x for %s", vs, g)
	}
	k.T = &Translator{Phys: env.Phys(), PGD: pgd - PageOffset, Geom: g, VmallocStart: vs}
	return k, nil
}

// mmuFeatures reads cur_cpu_spec->mmu_features (cur_cpu_spec is a
// pointer).
func mmuFeatures(env arch.Env) (uint64, error) {
	a, err := env.Symbol("cur_cpu_spec")
	if err != nil {
		return 0, err
	}
	spec, err := linearU64(env, a)
	if err != nil {
		return 0, err
	}
	off, err := env.Offsetof("struct cpu_spec", "mmu_features")
	if err != nil {
		return 0, err
	}
	return linearU64(env, spec+uint64(off))
}

// PageSizeFromKernel derives PAGE_SIZE when VMCOREINFO does not give it:
// the kernel's own mmu_psize_defs[mmu_virtual_psize].shift
// (asm/book3s/64/mmu.h; both are variables when the hash MMU is built in),
// read through the linear map; 0 when that cannot be read or is neither
// 4K nor 64K.
func PageSizeFromKernel(env arch.Env) uint64 {
	defs, err1 := env.Symbol("mmu_psize_defs")
	vp, err2 := env.Symbol("mmu_virtual_psize")
	size, err3 := env.Sizeof("struct mmu_psize_def")
	off, err4 := env.Offsetof("struct mmu_psize_def", "shift")
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || size <= 0 {
		return 0
	}
	idx, err := linearU32(env, vp)
	if err != nil || idx > 64 {
		return 0
	}
	shift, err := linearU32(env, defs+uint64(idx)*uint64(size)+uint64(off))
	if err != nil || (shift != 12 && shift != 16) {
		return 0
	}
	return 1 << shift
}

// Disasm decodes one instruction (prefixed ones 8 bytes).
func (k *Kernel) Disasm(b []byte, pc uint64) (string, int) {
	if len(b) < 4 {
		return "(short)", max(len(b), 1)
	}
	t, n := DisasmBytes(b, pc, k.order)
	return t, max(n, 4)
}

// BranchTarget decodes b, bl, bc and their forms.
func (k *Kernel) BranchTarget(b []byte, pc uint64) (uint64, bool, bool) {
	if len(b) < 4 {
		return 0, false, false
	}
	return BranchTarget(k.order.Uint32(b), pc)
}

// DisasmWord decodes one word alone (arch.InsnWords).
func (k *Kernel) DisasmWord(b []byte, pc uint64) string {
	if len(b) < 4 {
		return "(short)"
	}
	return Disasm(k.order.Uint32(b), pc)
}

// Has: ppc64 module code goes through the TOC and the loader's .stubs.
func (k *Kernel) Has(f arch.Feature) bool { return f == arch.TOCStubs }

// Unwind: the back chain (show_stack()).
func (k *Kernel) Unwind() arch.Unwind { return arch.UnwindBackChain }

var (
	_ arch.InsnWords = (*Kernel)(nil)
	_ arch.Features  = (*Kernel)(nil)
	_ arch.Unwinding = (*Kernel)(nil)
)
