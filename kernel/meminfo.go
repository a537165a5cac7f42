package kernel

import (
	"errors"
	"fmt"
)

// MemInfo is the kernel's memory counters as /proc/meminfo and crash's
// kmem -i read them (fs/proc/meminfo.c, mm/show_mem.c si_meminfo), in
// pages unless named otherwise. A counter the kernel lacks (no
// CONFIG_SWAP, an enumerator renamed) is missing from Have.
type MemInfo struct {
	PageSize uint64
	// TotalRAM is totalram_pages(): the pages the buddy allocator manages.
	TotalRAM uint64
	// Free is NR_FREE_PAGES of vm_zone_stat.
	Free uint64
	// Node counters of vm_node_stat, by their enum node_stat_item names.
	FilePages, Shmem, AnonMapped, PageTable, SlabReclaimable, SlabUnreclaimable uint64
	KernelStackKB                                                               uint64
	// TotalSwap and FreeSwap are total_swap_pages and nr_swap_pages
	// (CONFIG_SWAP).
	TotalSwap, FreeSwap uint64
	// Committed is vm_committed_as, summed over its per-CPU counters as
	// percpu_counter_sum() does.
	Committed int64
	// Have names the fields read; Errs says why others were not.
	Have map[string]bool
	Errs []error
}

// ReadMemInfo reads the counters; what one cannot read is recorded in
// Errs and left out of Have, never taken as zero.
func (p *Program) ReadMemInfo() MemInfo {
	mi := MemInfo{PageSize: p.PageSize, Have: map[string]bool{}}
	set := func(name string, dst *uint64, v uint64, err error) {
		if err != nil {
			mi.Errs = append(mi.Errs, fmt.Errorf("%s: %w", name, err))
			return
		}
		*dst = v
		mi.Have[name] = true
	}
	v, err := p.atomicLong("_totalram_pages")
	set("TotalRAM", &mi.TotalRAM, v, err)
	v, err = p.statItem("vm_zone_stat", "NR_FREE_PAGES")
	set("Free", &mi.Free, v, err)
	for _, c := range []struct {
		field string
		enum  string
		dst   *uint64
	}{
		{"FilePages", "NR_FILE_PAGES", &mi.FilePages},
		{"Shmem", "NR_SHMEM", &mi.Shmem},
		{"AnonMapped", "NR_ANON_MAPPED", &mi.AnonMapped},
		{"PageTable", "NR_PAGETABLE", &mi.PageTable},
		{"SlabReclaimable", "NR_SLAB_RECLAIMABLE_B", &mi.SlabReclaimable},
		{"SlabUnreclaimable", "NR_SLAB_UNRECLAIMABLE_B", &mi.SlabUnreclaimable},
		{"KernelStackKB", "NR_KERNEL_STACK_KB", &mi.KernelStackKB},
	} {
		v, err := p.statItem("vm_node_stat", c.enum)
		set(c.field, c.dst, v, err)
	}
	if tv, err := p.Variable("total_swap_pages"); err == nil {
		v, err := tv.Uint()
		set("TotalSwap", &mi.TotalSwap, v, err)
		v, err = p.atomicLong("nr_swap_pages")
		set("FreeSwap", &mi.FreeSwap, v, err)
	}
	if c, err := p.percpuCounterSum("vm_committed_as"); err == nil {
		mi.Committed, mi.Have["Committed"] = c, true
	} else {
		mi.Errs = append(mi.Errs, fmt.Errorf("Committed: %w", err)) //lint:ignore ST1005 a /proc/meminfo field name
	}
	return mi
}

// atomicLong reads an atomic_long_t variable's counter.
func (p *Program) atomicLong(name string) (uint64, error) {
	v, err := p.Variable(name)
	if err != nil {
		return 0, err
	}
	if c, err := v.Member("counter"); err == nil {
		return c.Uint()
	}
	return v.Uint()
}

// statItem is global_*_page_state(item): arr[item].counter, clamped at 0
// as the kernel clamps a transiently negative sum.
func (p *Program) statItem(arr, enum string) (uint64, error) {
	idx, err := p.Types.EnumConstant(enum)
	if err != nil {
		return 0, err
	}
	v, err := p.Variable(arr)
	if err != nil {
		return 0, err
	}
	e, err := v.Index(idx)
	if err != nil {
		return 0, err
	}
	c, err := e.Member("counter")
	if err != nil {
		return 0, err
	}
	n, err := c.Int()
	if err != nil {
		return 0, err
	}
	return uint64(max(n, 0)), nil
}

// percpuCounterSum is percpu_counter_sum() of a struct percpu_counter
// variable: count plus every possible CPU's counters (s32).
func (p *Program) percpuCounterSum(name string) (int64, error) {
	v, err := p.Variable(name)
	if err != nil {
		return 0, err
	}
	cm, err := v.Member("count")
	if err != nil {
		return 0, err
	}
	sum, err := cm.Int()
	if err != nil {
		return 0, err
	}
	pc, err := v.Member("counters")
	if err != nil {
		return sum, nil // !CONFIG_SMP: count is all
	}
	ptr, err := pc.Pointer()
	if err != nil {
		return 0, err
	}
	var errs []error
	for cpu := range max(p.NrCPUIDs(), 1) {
		a, err := p.PerCPUPtr(ptr, cpu)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c, err := p.ReadU32(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("cpu %d: %w", cpu, err))
			continue
		}
		sum += int64(int32(c))
	}
	return sum, errors.Join(errs...)
}
