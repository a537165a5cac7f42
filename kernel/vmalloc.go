package kernel

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/kdump-inspect/kdump-inspect/dump"
)

// vmapIndex maps vmalloc addresses to their pages without page tables:
// every busy struct vmap_area (mm/vmalloc.c) with its struct vm_struct,
// whose pages[] array holds the struct page of every page of the area. The
// pfn of a struct page is its index in the vmemmap array; no struct page
// is read.
type vmapIndex struct {
	areas    []vmapArea // sorted by start
	vmemmap  uint64     // the vmemmap variable: &struct page of pfn 0
	pageSize uint64     // sizeof(struct page)
}

type vmapArea struct {
	start, end uint64 // va_start, va_end
	addr       uint64 // vm->addr
	pages      uint64 // vm->pages
	nrPages    uint64 // vm->nr_pages
}

// maxVmapAreas bounds the areas indexed (a large machine has some 10^5;
// the walk is cycle-checked).
const maxVmapAreas = 1 << 20

// VmallocFallback counts the vmalloc pages read through vm_struct->pages
// because their page-table pages were missing from the dump.
type VmallocFallback struct {
	raw   dump.Memory // the kernel space without the fallback
	mu    sync.Mutex
	built bool
	idx   *vmapIndex
	err   error
	Pages atomic.Int64
}

// Err says why the vmap areas could not be indexed (nil when they were,
// or when nothing asked yet).
func (v *VmallocFallback) Err() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.err
}

func (v *VmallocFallback) index(build func() (*vmapIndex, error)) *vmapIndex {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.built {
		v.built = true
		v.idx, v.err = build()
	}
	return v.idx
}

// installVmallocFallback lets reads of vmalloc addresses (the module area
// among them) go on when makedumpfile left out their page-table pages:
// see dump.WithTranslateFallback for why that happens.
func (p *Program) installVmallocFallback() {
	p.Vmalloc = &VmallocFallback{raw: p.Context.Mem}
	m, ok := dump.WithTranslateFallback(p.Context.Mem, func(va uint64, raw dump.Memory) (uint64, bool) {
		v := p.Vmalloc
		if p.Types == nil {
			return 0, false // too early in Open: not worth a lasting failure
		}
		idx := v.index(func() (*vmapIndex, error) { return p.buildVmapIndex(raw) })
		if idx == nil {
			return 0, false
		}
		pa, ok := p.vmallocPhys(idx, va, raw)
		if ok {
			v.Pages.Add(1)
		}
		return pa, ok
	})
	if ok {
		p.Context.Mem = m
	}
}

// buildVmapIndex walks the busy vmap areas: since Linux v6.9 per node
// (vmap_nodes[0..nr_vmap_nodes), busy.head), before that on the global
// vmap_area_list. Feature-detected by symbol.
func (p *Program) buildVmapIndex(raw dump.Memory) (*vmapIndex, error) {
	ctx := *p.Context
	ctx.Mem = raw
	ctx.MaxList = maxVmapAreas
	heads, err := p.vmapBusyHeads(&ctx)
	if err != nil {
		return nil, err
	}
	ix := &vmapIndex{}
	if vm, err := p.SymbolAddr("vmemmap"); err == nil {
		if ix.vmemmap, err = readPtr(&ctx, vm); err != nil {
			return nil, fmt.Errorf("vmemmap: %w", err)
		}
	} else if b, ok := p.vmemmapFromInfo(); ok {
		ix.vmemmap = b // a macro (arm64, x86_64): VMCOREINFO has its value
	} else {
		return nil, err
	}
	sz, err := p.Types.Sizeof("struct page")
	if err != nil || sz <= 0 {
		return nil, fmt.Errorf("sizeof(struct page): %v", err)
	}
	ix.pageSize = uint64(sz)
	for _, h := range heads {
		for va, err := range ListForEachEntry(&ctx, h, "struct vmap_area", "list") {
			if err != nil {
				return nil, err
			}
			get := func(o Object, path string) uint64 {
				m, err := o.Member(path)
				if err != nil {
					return 0
				}
				v, _ := m.Uint()
				return v
			}
			a := vmapArea{start: get(va, "va_start"), end: get(va, "va_end")}
			vm := get(va, "vm")
			if vm == 0 || a.end <= a.start {
				continue
			}
			vo, err := NewObject(&ctx, "struct vm_struct", vm)
			if err != nil {
				return nil, err
			}
			a.addr, a.pages, a.nrPages = get(vo, "addr"), get(vo, "pages"), get(vo, "nr_pages")
			if a.pages != 0 && a.nrPages != 0 {
				ix.areas = append(ix.areas, a)
			}
		}
	}
	sort.Slice(ix.areas, func(i, j int) bool { return ix.areas[i].start < ix.areas[j].start })
	return ix, nil
}

// vmapBusyHeads returns the list heads of the busy vmap areas: since
// Linux v6.9 one per node (vmap_nodes[0..nr_vmap_nodes), busy.head),
// before that the global vmap_area_list. Feature-detected by symbol.
func (p *Program) vmapBusyHeads(ctx *Context) ([]uint64, error) {
	var heads []uint64
	if a, err := p.SymbolAddr("vmap_nodes"); err == nil {
		nodes, err := readPtr(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("vmap_nodes: %w", err)
		}
		n := uint64(1)
		if na, err := p.SymbolAddr("nr_vmap_nodes"); err == nil {
			var b [4]byte
			if _, err := ctx.Mem.ReadAt(b[:], na); err == nil {
				n = uint64(ctx.Order.Uint32(b[:]))
			}
		}
		if n == 0 || n > 1024 {
			return nil, fmt.Errorf("nr_vmap_nodes %d", n)
		}
		node, err := NewObject(ctx, "struct vmap_node", 0)
		if err != nil {
			return nil, err
		}
		h, err := node.offsetOnly("busy.head")
		if err != nil {
			return nil, err
		}
		for i := range n {
			heads = append(heads, nodes+h.Addr+i*uint64(node.Size()))
		}
		return heads, nil
	}
	if a, err := p.SymbolAddr("vmap_area_list"); err == nil {
		return []uint64{a}, nil
	}
	return nil, fmt.Errorf("neither vmap_nodes nor vmap_area_list")
}

// vmallocPhys is __pa of the vmalloc page at va: page_to_pfn of
// vm->pages[(va - vm->addr) >> PAGE_SHIFT], with vmemmap as the struct
// page array (CONFIG_SPARSEMEM_VMEMMAP: pfn = page - vmemmap).
func (p *Program) vmallocPhys(ix *vmapIndex, va uint64, raw dump.Memory) (uint64, bool) {
	i := sort.Search(len(ix.areas), func(i int) bool { return ix.areas[i].end > va })
	if i == len(ix.areas) || va < ix.areas[i].start || va < ix.areas[i].addr || p.PageSize == 0 {
		return 0, false
	}
	a := ix.areas[i]
	n := (va - a.addr) / p.PageSize
	if n >= a.nrPages {
		return 0, false // the guard page
	}
	var b [8]byte
	if _, err := raw.ReadAt(b[:], a.pages+8*n); err != nil {
		return 0, false
	}
	page := p.Context.Order.Uint64(b[:])
	if page < ix.vmemmap || (page-ix.vmemmap)%ix.pageSize != 0 {
		return 0, false
	}
	return (page - ix.vmemmap) / ix.pageSize * p.PageSize, true
}

// VmallocPhys is the physical address of the vmalloc address va by its
// vm_struct->pages entry, without page tables (vtop shows it beside the
// walk).
func (p *Program) VmallocPhys(va uint64) (uint64, bool) {
	v := p.Vmalloc
	if v == nil || v.raw == nil || p.Types == nil {
		return 0, false
	}
	idx := v.index(func() (*vmapIndex, error) { return p.buildVmapIndex(v.raw) })
	if idx == nil || p.PageSize == 0 {
		return 0, false
	}
	pa, ok := p.vmallocPhys(idx, va&^(p.PageSize-1), v.raw)
	return pa + va&(p.PageSize-1), ok
}
