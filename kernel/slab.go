package kernel

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/bits"
)

// SlabCache is one SLUB cache (struct kmem_cache on slab_caches) with its
// object counts, as crash's kmem -s shows them. The model follows
// mm/slub.c and is feature-detected from the types: the per-node
// pointers (kmem_cache.node[] before v7.0, per_node[].node after), the
// node counters nr_slabs and total_objects (CONFIG_SLUB_DEBUG), per-CPU
// slabs (kmem_cache.cpu_slab, kmem_cache_cpu) or per-CPU sheaves and
// node barns (kmem_cache.cpu_sheaves, the 7.x allocator).
type SlabCache struct {
	Addr       uint64
	Name       string
	ObjectSize uint64 // object_size: what kmalloc or the user asked for
	Size       uint64 // size: the stride, with metadata and alignment
	// PerSlab and Order are oo's objects per slab and page order
	// (OO_SHIFT 16).
	PerSlab, Order uint64
	// Slabs and Total sum the nodes' nr_slabs and total_objects
	// (HaveCounts: CONFIG_SLUB_DEBUG).
	Slabs, Total uint64
	HaveCounts   bool
	// Partial counts the slabs on the nodes' partial lists and
	// PartialFree their free objects (objects - inuse).
	Partial, PartialFree uint64
	// CPUFree is the free objects the CPUs hold: in their slabs'
	// freelists and per-CPU partial slabs (cpu_slab), or in their sheaves
	// and the node barns' full sheaves (cpu_sheaves): counted in use by
	// the slabs, free to the cache's users.
	CPUFree uint64
	// Allocated is Total - PartialFree - CPUFree when every part was read.
	Allocated     uint64
	HaveAllocated bool
	// Errs says what could not be read for this cache.
	Errs []error
}

// Bounds on walks over a crashed kernel's slab structures.
const (
	maxSlabCaches  = 1 << 14
	maxPartialSlab = 1 << 20
	maxSheaves     = 1 << 16
)

// SlabCaches walks slab_caches and counts each cache's objects. It stops
// when ctx ends.
func (p *Program) SlabCaches(ctx context.Context) ([]SlabCache, error) {
	head, err := p.SymbolAddr("slab_caches")
	if err != nil {
		return nil, fmt.Errorf("slab_caches: %w (not a SLUB kernel?)", err)
	}
	c := *p.Context
	c.MaxList = maxSlabCaches
	var out []SlabCache
	for o, err := range ListForEachEntry(&c, head, "struct kmem_cache", "list") {
		if err != nil {
			return out, fmt.Errorf("slab_caches: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		out = append(out, p.readSlabCache(ctx, o))
	}
	return out, nil
}

func uintMember(o Object, path string) (uint64, error) {
	m, err := o.Member(path)
	if err != nil {
		return 0, err
	}
	return m.Uint()
}

// readSlabCache reads one struct kmem_cache.
func (p *Program) readSlabCache(ctx context.Context, o Object) SlabCache {
	sc := SlabCache{Addr: o.Addr}
	fail := func(what string, err error) {
		sc.Errs = append(sc.Errs, fmt.Errorf("%s: %w", what, err))
	}
	if n, err := o.Member("name"); err != nil {
		fail("name", err)
	} else if s, err := n.CString(128); err != nil {
		fail("name", err)
	} else {
		sc.Name = s
	}
	var err error
	if sc.ObjectSize, err = uintMember(o, "object_size"); err != nil {
		fail("object_size", err)
	}
	if sc.Size, err = uintMember(o, "size"); err != nil {
		fail("size", err)
	}
	if oo, err := uintMember(o, "oo.x"); err == nil {
		sc.PerSlab, sc.Order = oo&0xffff, oo>>16
	}
	nodes, err := p.slabNodes(o)
	if err != nil {
		fail("nodes", err)
	}
	complete := err == nil
	sc.HaveCounts = len(nodes) > 0
	for _, n := range nodes {
		if s, err := uintMember(n.node, "nr_slabs.counter"); err == nil {
			sc.Slabs += s
		} else {
			sc.HaveCounts = false
		}
		if t, err := uintMember(n.node, "total_objects.counter"); err == nil {
			sc.Total += t
		} else {
			sc.HaveCounts = false
		}
		partial, free, err := p.partialFree(ctx, n.node)
		sc.Partial += partial
		sc.PartialFree += free
		if err != nil {
			fail("partial list", err)
			complete = false
		}
		if n.barn != 0 {
			cached, err := p.barnObjects(n.barn)
			sc.CPUFree += cached
			if err != nil {
				fail("barn", err)
				complete = false
			}
		}
	}
	cpuFree, err := p.cpuCached(o, sc.Size)
	sc.CPUFree += cpuFree
	if err != nil {
		fail("per-CPU", err)
		complete = false
	}
	if complete && sc.HaveCounts && sc.Total >= sc.PartialFree+sc.CPUFree {
		sc.Allocated, sc.HaveAllocated = sc.Total-sc.PartialFree-sc.CPUFree, true
	}
	return sc
}

type slabNode struct {
	node Object // struct kmem_cache_node
	barn uint64 // struct node_barn * (0 without sheaves)
}

// slabNodes reads the cache's struct kmem_cache_node for every node id
// below nr_node_ids: s->node[n] (before v7.0) or s->per_node[n].node
// with the barn beside it.
func (p *Program) slabNodes(o Object) ([]slabNode, error) {
	arr, err := o.Member("per_node")
	perNode := err == nil
	if !perNode {
		if arr, err = o.Member("node"); err != nil {
			return nil, errors.New("struct kmem_cache has neither per_node nor node")
		}
	}
	n := int64(1)
	if v, err := p.Variable("nr_node_ids"); err == nil {
		if x, err := v.Uint(); err == nil && x > 0 && x <= 1<<10 {
			n = int64(x)
		}
	}
	var out []slabNode
	for i := range n {
		e, err := arr.Index(i)
		if err != nil {
			break // the array is shorter (MAX_NUMNODES)
		}
		var sn slabNode
		np := e
		if perNode {
			if np, err = e.Member("node"); err != nil {
				return out, err
			}
			if b, err := e.Member("barn"); err == nil {
				sn.barn, _ = b.Pointer()
			}
		}
		a, err := np.Pointer()
		if err != nil {
			return out, err
		}
		if a == 0 {
			continue
		}
		if sn.node, err = p.Object("struct kmem_cache_node", a); err != nil {
			return out, err
		}
		out = append(out, sn)
	}
	return out, nil
}

// partialFree walks a node's partial list (struct slab.slab_list).
func (p *Program) partialFree(ctx context.Context, node Object) (slabs, free uint64, err error) {
	h, err := node.Member("partial")
	if err != nil {
		return 0, 0, err
	}
	c := *p.Context
	c.MaxList = maxPartialSlab
	for s, err := range ListForEachEntry(&c, h.Addr, "struct slab", "slab_list") {
		if err != nil {
			return slabs, free, err
		}
		if err := ctx.Err(); err != nil {
			return slabs, free, err
		}
		objs, err1 := uintMember(s, "objects")
		inuse, err2 := uintMember(s, "inuse")
		if err := errors.Join(err1, err2); err != nil {
			return slabs, free, err
		}
		slabs++
		if objs >= inuse {
			free += objs - inuse
		}
	}
	return slabs, free, nil
}

// barnObjects counts the objects in a node barn's full sheaves.
func (p *Program) barnObjects(barn uint64) (uint64, error) {
	b, err := p.Object("struct node_barn", barn)
	if err != nil {
		return 0, err
	}
	h, err := b.Member("sheaves_full")
	if err != nil {
		return 0, err
	}
	c := *p.Context
	c.MaxList = maxSheaves
	return sumSheaves(ListForEachEntry(&c, h.Addr, "struct slab_sheaf", "barn_list"))
}

// sumSheaves adds up the objects (size) of the sheaves (struct
// slab_sheaf) sheaves yields; the first error ends it, with the sum so far.
func sumSheaves(sheaves iter.Seq2[Object, error]) (uint64, error) {
	var n uint64
	for sh, err := range sheaves {
		if err != nil {
			return n, err
		}
		sz, err := uintMember(sh, "size")
		if err != nil {
			return n, err
		}
		n += sz
	}
	return n, nil
}

// cpuCached counts the free objects each CPU holds for the cache.
func (p *Program) cpuCached(o Object, size uint64) (uint64, error) {
	if m, err := o.Member("cpu_sheaves"); err == nil {
		ptr, err := m.Pointer()
		if err != nil {
			return 0, err
		}
		return p.sumPerCPU(func(cpu int) (uint64, error) { return p.sheavesObjects(ptr, cpu) })
	}
	if m, err := o.Member("cpu_slab"); err == nil {
		ptr, err := m.Pointer()
		if err != nil {
			return 0, err
		}
		return p.sumPerCPU(func(cpu int) (uint64, error) { return p.cpuSlabFree(o, ptr, cpu, size) })
	}
	return 0, nil // !SMP SLOB-like allocators: nothing per CPU
}

func (p *Program) sumPerCPU(f func(cpu int) (uint64, error)) (uint64, error) {
	var n uint64
	var errs []error
	for cpu := range max(p.NrCPUIDs(), 1) {
		v, err := f(cpu)
		n += v
		if err != nil {
			errs = append(errs, fmt.Errorf("cpu %d: %w", cpu, err))
		}
	}
	return n, errors.Join(errs...)
}

// sheavesObjects is the objects in one CPU's main, spare and rcu_free
// sheaves (struct slub_percpu_sheaves).
func (p *Program) sheavesObjects(ptr uint64, cpu int) (uint64, error) {
	return sumSheaves(func(yield func(Object, error) bool) {
		for sh, err := range p.cpuSheaves(ptr, cpu) {
			if !yield(sh.Object, err) {
				return
			}
		}
	})
}

// cpuSheaf is one of a CPU's sheaves: the struct slab_sheaf and the
// struct slub_percpu_sheaves member pointing at it.
type cpuSheaf struct {
	Object
	which string // "main", "spare" or "rcu_free"
}

// cpuSheaves yields one CPU's sheaves (struct slab_sheaf behind struct
// slub_percpu_sheaves' main, spare and rcu_free), passing over members
// this version lacks and NULL pointers. An error reading one sheaf is
// yielded, and the caller may go on to the next; an error reading the
// per-CPU struct is yielded last.
func (p *Program) cpuSheaves(ptr uint64, cpu int) iter.Seq2[cpuSheaf, error] {
	return func(yield func(cpuSheaf, error) bool) {
		a, err := p.PerCPUPtr(ptr, cpu)
		if err != nil {
			yield(cpuSheaf{}, err)
			return
		}
		pcs, err := p.Object("struct slub_percpu_sheaves", a)
		if err != nil {
			yield(cpuSheaf{}, err)
			return
		}
		for _, which := range []string{"main", "spare", "rcu_free"} {
			m, err := pcs.Member(which)
			if err != nil {
				continue // not in this version
			}
			sa, err := m.Pointer()
			if err == nil && sa == 0 {
				continue
			}
			var sh Object
			if err == nil {
				sh, err = p.Object("struct slab_sheaf", sa)
			}
			if !yield(cpuSheaf{sh, which}, err) {
				return
			}
		}
	}
}

// cpuSlabFree is the free objects of one CPU's struct kmem_cache_cpu
// (SLUB before the sheaves): the lockless freelist, the CPU slab's own
// freelist and the per-CPU partial slabs (objects - inuse each).
func (p *Program) cpuSlabFree(s Object, ptr uint64, cpu int, size uint64) (uint64, error) {
	a, err := p.PerCPUPtr(ptr, cpu)
	if err != nil {
		return 0, err
	}
	c, err := p.Object("struct kmem_cache_cpu", a)
	if err != nil {
		return 0, err
	}
	var n uint64
	fl, err := uintMember(c, "freelist")
	if err != nil {
		return 0, err
	}
	slabAddr, _ := uintMember(c, "slab")
	limit := uint64(1 << 16)
	if slabAddr != 0 {
		sl, err := p.Object("struct slab", slabAddr)
		if err != nil {
			return 0, err
		}
		if objs, err := uintMember(sl, "objects"); err == nil {
			limit = objs
		}
		k, err := p.freelistLen(s, fl, limit)
		if err != nil {
			return n, err
		}
		n += k
		sfl, err := uintMember(sl, "freelist")
		if err != nil {
			return n, err
		}
		k, err = p.freelistLen(s, sfl, limit)
		if err != nil {
			return n, err
		}
		n += k
	}
	part, err := uintMember(c, "partial")
	if err != nil {
		return n, nil // !CONFIG_SLUB_CPU_PARTIAL
	}
	for i := 0; part != 0 && i < maxPartialSlab; i++ {
		sl, err := p.Object("struct slab", part)
		if err != nil {
			return n, err
		}
		objs, err1 := uintMember(sl, "objects")
		inuse, err2 := uintMember(sl, "inuse")
		if err := errors.Join(err1, err2); err != nil {
			return n, err
		}
		if objs >= inuse {
			n += objs - inuse
		}
		if part, err = uintMember(sl, "next"); err != nil {
			return n, err
		}
	}
	return n, nil
}

// walkFreelist follows a SLUB freelist from head, calling visit with each
// free object until it returns false: each free object holds the next at
// object + s->offset, obfuscated with CONFIG_SLAB_FREELIST_HARDENED
// (s->random present) as freelist_ptr_decode() undoes it: stored ^
// random ^ swab(&stored). It visits at most limit objects; a longer
// chain is a corrupt (cyclic) freelist. It returns the objects visited.
func (p *Program) walkFreelist(s Object, head, limit uint64, visit func(obj uint64) bool) (uint64, error) {
	off, err := uintMember(s, "offset")
	if err != nil {
		return 0, err
	}
	random, hardened := uint64(0), false
	if r, err := uintMember(s, "random"); err == nil {
		random, hardened = r, true
	}
	var n uint64
	for obj := head; obj != 0; n++ {
		if n >= limit {
			return n, fmt.Errorf("freelist at %#x longer than the slab's %d objects (corrupt)", head, limit)
		}
		if !visit(obj) {
			return n + 1, nil
		}
		at := obj + off
		v, err := p.ReadU64(at)
		if err != nil {
			return n, err
		}
		if hardened {
			v ^= random ^ bits.ReverseBytes64(at)
		}
		obj = v
	}
	return n, nil
}

// freelistLen is the length of a freelist (walkFreelist).
func (p *Program) freelistLen(s Object, head, limit uint64) (uint64, error) {
	return p.walkFreelist(s, head, limit, func(uint64) bool { return true })
}

// SlabObject says which object of which cache holds addr, for kmem ADDR:
// the slab whose struct slab is at slabAddr (the head page's), starting
// at base.
type SlabObject struct {
	Cache  uint64
	Name   string
	Object uint64 // the object's start
	Index  uint64
	Size   uint64 // the stride
	// Free says the object is on the slab's freelist, or in a CPU's
	// sheaf; FreeWhere says where. Unknown when the freelists could not
	// be read.
	Free      bool
	FreeWhere string
	Known     bool
}

// FindSlabObject places addr in its slab: slab is the struct slab (the
// head page's struct page) and base the slab's first byte.
func (p *Program) FindSlabObject(addr, slab, base uint64) (SlabObject, error) {
	var so SlabObject
	sl, err := p.Object("struct slab", slab)
	if err != nil {
		return so, err
	}
	if so.Cache, err = uintMember(sl, "slab_cache"); err != nil {
		return so, err
	}
	kc, err := p.Object("struct kmem_cache", so.Cache)
	if err != nil {
		return so, err
	}
	if n, err := kc.Member("name"); err == nil {
		so.Name, _ = n.CString(128)
	}
	if so.Size, err = uintMember(kc, "size"); err != nil || so.Size == 0 {
		return so, fmt.Errorf("kmem_cache %#x: size %d: %v", so.Cache, so.Size, err)
	}
	pad, _ := uintMember(kc, "red_left_pad")
	objs, _ := uintMember(sl, "objects")
	so.Index = (addr - base) / so.Size
	so.Object = base + so.Index*so.Size + pad
	if objs != 0 && so.Index >= objs {
		return so, fmt.Errorf("%#x is past the slab's %d objects of %d bytes", addr, objs, so.Size)
	}
	// The slab's freelist.
	fl, err := uintMember(sl, "freelist")
	if err != nil {
		return so, nil
	}
	in, err := p.onFreelist(kc, fl, so.Object, max(objs, 1))
	if err != nil {
		return so, nil
	}
	so.Known = true
	if in {
		so.Free, so.FreeWhere = true, "on the slab's freelist"
		return so, nil
	}
	// The CPUs' sheaves.
	if m, err := kc.Member("cpu_sheaves"); err == nil {
		ptr, _ := m.Pointer()
		for cpu := range max(p.NrCPUIDs(), 1) {
			if w := p.inSheaves(ptr, cpu, so.Object); w != "" {
				so.Free, so.FreeWhere = true, fmt.Sprintf("in CPU %d's %s sheaf", cpu, w)
				return so, nil
			}
		}
	}
	return so, nil
}

func (p *Program) onFreelist(s Object, head, obj, limit uint64) (bool, error) {
	found := false
	_, err := p.walkFreelist(s, head, limit, func(o uint64) bool {
		found = o == obj
		return !found
	})
	return found, err
}

// inSheaves names the sheaf of cpu holding obj ("main", "spare"), or "".
// A sheaf it cannot read is passed over.
func (p *Program) inSheaves(ptr uint64, cpu int, obj uint64) string {
	for sh, err := range p.cpuSheaves(ptr, cpu) {
		if err != nil {
			continue
		}
		size, err := uintMember(sh.Object, "size")
		if err != nil || size > 1<<16 {
			continue
		}
		objs, err := sh.Member("objects")
		if err != nil {
			continue
		}
		b, err := p.Read(objs.Addr, int(size)*8)
		if err != nil {
			continue
		}
		for i := uint64(0); i < size; i++ {
			if p.Order.Uint64(b[8*i:]) == obj {
				return sh.which
			}
		}
	}
	return ""
}
