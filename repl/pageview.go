package repl

import (
	"fmt"
	"github.com/kdump-inspect/kdump-inspect/arch"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

func cmdPage(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return &UsageError{Cmd: "page", Msg: "want a physical address, pfn:N, or with -v a kernel virtual address"}
	}
	p := c.S.Prog
	var out []PageView
	for _, arg := range pos {
		var pfn uint64
		switch {
		case strings.HasPrefix(arg, "pfn:"):
			n, err := parseNum(strings.TrimPrefix(arg, "pfn:"))
			if err != nil {
				return &UsageError{Cmd: "page", Msg: fmt.Sprintf("bad pfn %q", arg)}
			}
			pfn = n
		case boolFlag(fs, "v"):
			va, err := c.S.ParseAddr(arg)
			if err != nil {
				return err
			}
			pa, err := c.S.physOf(va)
			if err != nil {
				return fmt.Errorf("page: %w", err)
			}
			pfn = pa / p.PageSize
		default:
			pa, err := parseNum(arg)
			if err != nil {
				return &UsageError{Cmd: "page", Msg: fmt.Sprintf("bad physical address %q", arg)}
			}
			pfn = pa / p.PageSize
		}
		pi, err := p.DescribePage(pfn)
		if err != nil {
			return fmt.Errorf("page: pfn %#x: %w", pfn, err)
		}
		if boolFlag(fs, "json") {
			out = append(out, pageView(pi))
			continue
		}
		state := "in the dump"
		if !pi.InDump {
			state = "NOT in the dump: " + pi.Fault
		}
		c.Printf("PFN %#x  PHYS %#x  PAGE %#x  %s\n", pi.PFN, pi.Phys, pi.Page, state)
		c.Printf("  flags %#x [%s]  refcount %d  mapping %#x  private %#x\n", pi.Flags, strings.Join(pi.FlagSet, " "), pi.Refcount, pi.Mapping, pi.Private)
		pt := fmt.Sprintf("%#x", pi.PageType)
		if pi.Type != "" {
			pt += " (" + pi.Type + ")"
		}
		c.Printf("  page_type %s", pt)
		if pi.Tail {
			c.Printf("  tail page of pfn %#x", pi.Head)
		}
		c.Printf("\n  use: %s", pi.Class)
		if pi.Detail != "" {
			c.Printf(" (%s)", pi.Detail)
		}
		c.Printf("\n")
		if n := pi.ExclusionNote(); n != "" {
			c.Printf("  why it is missing: %s\n", n)
		}
	}
	if boolFlag(fs, "json") {
		return c.JSON(out)
	}
	return nil
}

// PageView is one page frame of `page --json` (kernel.PageInfo).
type PageView struct {
	PFN  wire.Hex `json:"pfn"`
	Phys wire.Hex `json:"phys"`
	// Page is &vmemmap[pfn], the struct page.
	Page wire.Hex `json:"page"`
	// Flags is page->flags with its PG_* names (enum pageflags).
	Flags    wire.Flags `json:"flags"`
	Mapping  wire.Hex   `json:"mapping"`
	Private  wire.Hex   `json:"private"`
	Refcount int64      `json:"refcount"`
	// PageType is the page_type word (_mapcount when the page has no
	// type), Type its PGTY_* name ("" without a type).
	PageType wire.Hex `json:"page_type"`
	Type     string   `json:"type,omitempty"`
	// Head is the head page's pfn of a tail page of a compound page or
	// folio.
	Tail bool      `json:"tail"`
	Head *wire.Hex `json:"head,omitempty"`
	// Class is what the page is used for in makedumpfile's terms: free,
	// slab, anon, file, page table, reserved, kernel; Detail adds to it.
	Class  string `json:"class"`
	Detail string `json:"detail,omitempty"`
	// InDump is false when the dump lacks the frame; Fault says why,
	// Missing why makedumpfile left it out when that is known.
	InDump  bool   `json:"in_dump"`
	Fault   string `json:"fault,omitempty"`
	Missing string `json:"why_missing,omitempty"`
}

func pageView(pi kernel.PageInfo) PageView {
	v := PageView{PFN: wire.Hex(pi.PFN), Phys: wire.Hex(pi.Phys), Page: wire.Hex(pi.Page), Flags: wire.NewFlags(pi.Flags, pi.FlagSet),
		Mapping: wire.Hex(pi.Mapping), Private: wire.Hex(pi.Private), Refcount: pi.Refcount, PageType: wire.Hex(pi.PageType), Type: pi.Type,
		Tail: pi.Tail, Class: pi.Class, Detail: pi.Detail, InDump: pi.InDump, Fault: pi.Fault, Missing: pi.ExclusionNote()}
	if pi.Tail {
		h := wire.Hex(pi.Head)
		v.Head = &h
	}
	return v
}

// physOf translates a kernel virtual address: the linear map by
// arithmetic, else the page tables, else (when their pages are not in the
// dump) vm_struct->pages.
func (s *Session) physOf(va uint64) (uint64, error) {
	t := s.Prog.Arch
	if t == nil {
		return 0, fmt.Errorf("no page tables known")
	}
	if pa, ok := t.Linear(va); ok {
		return pa, nil
	}
	pa, err := t.Translate(va)
	if err == nil {
		return pa, nil
	}
	if pa, ok := s.Prog.VmallocPhys(va); ok {
		return pa, nil
	}
	return 0, err
}

// VtopView is one vtop answer.
type VtopView struct {
	VA wire.Hex `json:"va"`
	PA wire.Hex `json:"pa"`
	// OK: PA is known (by How).
	OK bool `json:"ok"`
	// How the address translated: "linear map", "page tables",
	// "vm_struct->pages".
	How   string     `json:"how"`
	Steps []VtopStep `json:"steps,omitempty"`
	// Error is why the page-table walk failed.
	Error string `json:"error,omitempty"`
}

// VtopStep is one level of the walk.
type VtopStep struct {
	Level string `json:"level"`
	Index int64  `json:"index"`
	// EntryAddr is the entry's physical address, Entry its value.
	EntryAddr wire.Hex `json:"entry_pa"`
	Entry     wire.Hex `json:"entry"`
}

func cmdVtop(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return &UsageError{Cmd: "vtop", Msg: "want a kernel virtual address"}
	}
	t := c.S.Prog.Arch
	if t == nil {
		return fmt.Errorf("vtop: no page tables known")
	}
	walker, _ := t.(arch.Walker)
	var views []VtopView
	for _, arg := range pos {
		va, err := c.S.ParseAddr(arg)
		if err != nil {
			return err
		}
		v := VtopView{VA: wire.Hex(va)}
		if pa, ok := t.Linear(va); ok {
			v.PA, v.OK, v.How = wire.Hex(pa), true, "linear map (no page tables)"
		} else if walker == nil {
			pa, err := t.Translate(va)
			if err == nil {
				v.PA, v.OK, v.How = wire.Hex(pa), true, "page tables"
			} else {
				v.Error = err.Error()
			}
		} else {
			w, err := walker.Walk(va)
			for _, st := range w.Steps {
				v.Steps = append(v.Steps, VtopStep{st.Level, int64(st.Index), wire.Hex(st.EntryAddr), wire.Hex(st.Entry)})
			}
			if err == nil {
				v.PA, v.OK, v.How = wire.Hex(w.PA), true, "page tables"
			} else {
				v.Error = err.Error()
				if pa, ok := c.S.Prog.VmallocPhys(va); ok {
					v.PA, v.OK, v.How = wire.Hex(pa), true, "vm_struct->pages (the page-table walk failed)"
				}
			}
		}
		views = append(views, v)
	}
	if boolFlag(fs, "json") {
		return c.JSON(views)
	}
	for _, v := range views {
		c.Printf("VIRTUAL %#x\n", v.VA)
		for _, st := range v.Steps {
			c.Printf("  %-4s index %-5d entry at physical %#x: %#018x\n", st.Level, st.Index, st.EntryAddr, st.Entry)
		}
		if v.Error != "" {
			c.Printf("  walk: %s\n", v.Error)
		}
		if v.OK {
			c.Printf("  PHYSICAL %#x  (%s)\n", v.PA, v.How)
		}
	}
	return nil
}
