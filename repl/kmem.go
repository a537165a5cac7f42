package repl

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

func kmemFlags(fs *flag.FlagSet) {
	fs.Bool("i", false, "memory usage from the kernel's counters (as /proc/meminfo)")
	fs.Bool("s", false, "the slab caches: object size, stride, objects allocated and total, slabs")
	fs.Bool("a", false, "with -s: every cache, also the empty ones")
	jsonFlag(fs)
}

func cmdKmem(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	switch {
	case boolFlag(fs, "i"):
		return kmemInfo(c, boolFlag(fs, "json"))
	case boolFlag(fs, "s"):
		return kmemSlabs(c, boolFlag(fs, "json"), boolFlag(fs, "a"), pos)
	case len(pos) > 0:
		return kmemAddrs(c, boolFlag(fs, "json"), pos)
	}
	return &UsageError{Cmd: "kmem", Msg: "want -i, -s or an ADDR"}
}

// MemInfoRow is one line of kmem -i.
type MemInfoRow struct {
	Name    string `json:"name"`
	Pages   uint64 `json:"pages"`
	Bytes   uint64 `json:"bytes"`
	Percent string `json:"percent,omitempty"`
	Source  string `json:"source"`
}

func kmemInfo(c *Call, asJSON bool) error {
	mi := c.S.Prog.ReadMemInfo()
	ps := mi.PageSize
	var rows []MemInfoRow
	add := func(name, field string, pages uint64, of string, total uint64, source string) {
		if !mi.Have[field] {
			return
		}
		r := MemInfoRow{Name: name, Pages: pages, Bytes: pages * ps, Source: source}
		if total > 0 {
			r.Percent = fmt.Sprintf("%d%% of %s", pages*100/total, of)
		}
		rows = append(rows, r)
	}
	add("TOTAL MEM", "TotalRAM", mi.TotalRAM, "", 0, "_totalram_pages")
	add("FREE", "Free", mi.Free, "TOTAL MEM", mi.TotalRAM, "vm_zone_stat[NR_FREE_PAGES]")
	if mi.Have["TotalRAM"] && mi.Have["Free"] && mi.TotalRAM >= mi.Free {
		mi.Have["Used"] = true
		add("USED", "Used", mi.TotalRAM-mi.Free, "TOTAL MEM", mi.TotalRAM, "TOTAL MEM - FREE")
	}
	add("SHARED", "Shmem", mi.Shmem, "TOTAL MEM", mi.TotalRAM, "vm_node_stat[NR_SHMEM]")
	add("CACHED", "FilePages", mi.FilePages, "TOTAL MEM", mi.TotalRAM, "vm_node_stat[NR_FILE_PAGES] (buffers included)")
	if mi.Have["SlabReclaimable"] && mi.Have["SlabUnreclaimable"] {
		mi.Have["Slab"] = true
		add("SLAB", "Slab", mi.SlabReclaimable+mi.SlabUnreclaimable, "TOTAL MEM", mi.TotalRAM, "NR_SLAB_RECLAIMABLE_B + NR_SLAB_UNRECLAIMABLE_B")
	}
	add("ANON", "AnonMapped", mi.AnonMapped, "TOTAL MEM", mi.TotalRAM, "vm_node_stat[NR_ANON_MAPPED]")
	add("PAGE TABLES", "PageTable", mi.PageTable, "TOTAL MEM", mi.TotalRAM, "vm_node_stat[NR_PAGETABLE]")
	if mi.Have["KernelStackKB"] && ps > 0 {
		add("KERNEL STACK", "KernelStackKB", mi.KernelStackKB*1024/ps, "TOTAL MEM", mi.TotalRAM, "vm_node_stat[NR_KERNEL_STACK_KB]")
	}
	add("TOTAL SWAP", "TotalSwap", mi.TotalSwap, "", 0, "total_swap_pages")
	if mi.Have["TotalSwap"] && mi.Have["FreeSwap"] && mi.TotalSwap >= mi.FreeSwap {
		mi.Have["SwapUsed"] = true
		add("SWAP USED", "SwapUsed", mi.TotalSwap-mi.FreeSwap, "TOTAL SWAP", mi.TotalSwap, "total_swap_pages - nr_swap_pages")
		add("SWAP FREE", "FreeSwap", mi.FreeSwap, "TOTAL SWAP", mi.TotalSwap, "nr_swap_pages")
	}
	if mi.Have["Committed"] && mi.Committed >= 0 {
		mi.Have["CommittedU"] = true
		add("COMMITTED", "CommittedU", uint64(mi.Committed), "TOTAL MEM", mi.TotalRAM, "vm_committed_as (summed over CPUs)")
	}
	var notes []string
	for _, e := range mi.Errs {
		notes = append(notes, e.Error())
	}
	if asJSON {
		return c.JSON(map[string]any{"page_size": ps, "rows": rows, "unread": notes})
	}
	c.Printf("%14s %10s %12s  %s\n", "", "PAGES", "TOTAL", "PERCENTAGE")
	for _, r := range rows {
		pct := r.Percent
		if pct == "" {
			pct = "----"
		}
		c.Printf("%14s %10d %12s  %s\n", r.Name, r.Pages, humanBytes(r.Bytes), pct)
	}
	for _, n := range notes {
		c.Printf("(not read: %s)\n", n)
	}
	return nil
}

// humanBytes prints a size as crash does ("921.2 MB").
func humanBytes(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// SlabView is one cache of kmem -s.
type SlabView struct {
	Cache      uint64   `json:"cache"`
	Name       string   `json:"name"`
	ObjectSize uint64   `json:"object_size"`
	Size       uint64   `json:"size"`
	Allocated  *uint64  `json:"allocated,omitempty"`
	Total      *uint64  `json:"total,omitempty"`
	Slabs      *uint64  `json:"slabs,omitempty"`
	SlabSize   uint64   `json:"slab_size"`
	PerSlab    uint64   `json:"objects_per_slab"`
	Errors     []string `json:"errors,omitempty"`
}

func kmemSlabs(c *Call, asJSON, all bool, names []string) error {
	caches, err := c.S.Prog.SlabCaches(c.Ctx)
	var out []SlabView
	for _, sc := range caches {
		if len(names) > 0 && !matchAny(names, sc.Name) {
			continue
		}
		v := SlabView{Cache: sc.Addr, Name: sc.Name, ObjectSize: sc.ObjectSize, Size: sc.Size, PerSlab: sc.PerSlab,
			SlabSize: c.S.Prog.PageSize << sc.Order}
		if sc.HaveCounts {
			total, slabs := sc.Total, sc.Slabs
			v.Total, v.Slabs = &total, &slabs
			if !all && len(names) == 0 && total == 0 {
				continue
			}
		}
		if sc.HaveAllocated {
			a := sc.Allocated
			v.Allocated = &a
		}
		for _, e := range sc.Errs {
			v.Errors = append(v.Errors, e.Error())
		}
		out = append(out, v)
	}
	if err != nil {
		err = fmt.Errorf("kmem -s: %w", err)
	}
	if asJSON {
		return errors.Join(c.JSON(out), err)
	}
	opt := func(p *uint64) string {
		if p == nil {
			return "?"
		}
		return fmt.Sprint(*p)
	}
	c.Printf("%-16s %8s %8s %9s %9s %6s %5s  %s\n", "CACHE", "OBJSIZE", "SIZE", "ALLOCATED", "TOTAL", "SLABS", "SSIZE", "NAME")
	for _, v := range out {
		c.Printf("%016x %8d %8d %9s %9s %6s %4dk  %s\n", v.Cache, v.ObjectSize, v.Size, opt(v.Allocated), opt(v.Total), opt(v.Slabs), v.SlabSize/1024, v.Name)
		for _, e := range v.Errors {
			c.Printf("  (not read: %s)\n", e)
		}
	}
	return err
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if p == s || strings.HasSuffix(p, "*") && strings.HasPrefix(s, strings.TrimSuffix(p, "*")) {
			return true
		}
	}
	return false
}

// KmemAddrView says what owns an address (kmem ADDR).
type KmemAddrView struct {
	Addr  uint64   `json:"addr"`
	Lines []string `json:"owners"`
}

func kmemAddrs(c *Call, asJSON bool, args []string) error {
	var out []KmemAddrView
	for _, a := range args {
		addr, err := c.S.ParseAddr(a)
		if err != nil {
			return fmt.Errorf("kmem: %w", err)
		}
		out = append(out, KmemAddrView{Addr: addr, Lines: c.S.kmemAddr(addr)})
	}
	if asJSON {
		return c.JSON(out)
	}
	for i, v := range out {
		if i > 0 {
			c.Printf("\n")
		}
		c.Printf("%016x:\n", v.Addr)
		for _, l := range v.Lines {
			c.Printf("  %s\n", l)
		}
	}
	return nil
}

// kmemAddr describes an address: the module or vmlinux symbol holding
// it, the vmalloc area, the page frame, the slab object.
func (s *Session) kmemAddr(addr uint64) []string {
	var out []string
	p := s.Prog
	if a := s.Modules().ByAddr(addr); a != nil {
		region := ""
		for _, r := range a.Module.Regions {
			if r.Size > 0 && addr >= r.Base && addr-r.Base < r.Size {
				region = fmt.Sprintf(" %s [%#x-%#x)", r.Name, r.Base, r.Base+r.Size)
			}
		}
		out = append(out, fmt.Sprintf("module %s,%s: %s", a.Module.Name, region, s.resolve(addr)))
	} else if start, err1 := p.SymbolAddr("_stext"); err1 == nil {
		if end, err2 := p.SymbolAddr("_end"); err2 == nil && addr >= start && addr < end {
			out = append(out, fmt.Sprintf("vmlinux image: %s", s.resolve(addr)))
		}
	}
	vs, dm := p.Arch.VmallocStart(), p.Arch.DirectMap()
	switch {
	case addr >= vs:
		va, ok, err := p.FindVmapArea(addr)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("vmalloc area: %v", err))
		case !ok:
			out = append(out, fmt.Sprintf("above VMALLOC_START %#x, in no busy vmap area", vs))
		default:
			l := fmt.Sprintf("vmalloc area [%#x-%#x)", va.Start, va.End)
			if va.VM != 0 {
				l += fmt.Sprintf(" vm_struct %#x, %d pages, flags %#x, caller %s", va.VM, va.NrPages, va.Flags, s.resolve(va.Caller))
			}
			out = append(out, l)
		}
		if pa, ok := p.VmallocPhys(addr); ok {
			out = append(out, s.pageLines(pa/p.PageSize, addr)...)
		}
	case addr >= dm:
		if pa, ok := p.Arch.Linear(addr); ok {
			out = append(out, s.pageLines(pa/p.PageSize, addr)...)
		}
	default:
		out = append(out, "not a kernel address (below PAGE_OFFSET)")
	}
	return out
}

// pageLines describes the page frame pfn holding addr, and its slab
// object when it is a slab page of the linear map.
func (s *Session) pageLines(pfn, addr uint64) []string {
	p := s.Prog
	pi, err := p.DescribePage(pfn)
	if err != nil {
		return []string{fmt.Sprintf("page frame %#x: %v", pfn, err)}
	}
	l := fmt.Sprintf("page %#x (pfn %#x, phys %#x): %s", pi.Page, pi.PFN, pi.Phys, pi.Class)
	if pi.Detail != "" {
		l += ", " + pi.Detail
	}
	if !pi.InDump {
		l += "; not in the dump: " + pi.Fault
	}
	out := []string{l}
	dm := p.Arch.DirectMap()
	if _, linear := p.Arch.Linear(addr); pi.Class == "slab" && linear {
		head := pi.PFN
		if pi.Tail {
			head = pi.Head
		}
		sz, err := p.Types.Sizeof("struct page")
		if err != nil {
			return out
		}
		slab := pi.Page - (pi.PFN-head)*uint64(sz)
		base := dm + head*p.PageSize
		so, err := p.FindSlabObject(addr, slab, base)
		if err != nil {
			return append(out, fmt.Sprintf("slab object: %v", err))
		}
		state := "allocated"
		switch {
		case !so.Known:
			state = "allocated or free: the freelist could not be read"
		case so.Free:
			state = "free, " + so.FreeWhere
		}
		out = append(out, fmt.Sprintf("slab object %#x (+%#x) of kmem_cache %#x %q, object %d of %d bytes: %s", so.Object, addr-so.Object, so.Cache, so.Name, so.Index, so.Size, state))
	}
	return out
}
