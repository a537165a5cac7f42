package repl

import (
	"fmt"
	"github.com/kdump-inspect/kdump-inspect/arch"
	"strings"
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
	var out []any
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
			out = append(out, pi)
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
	VA    uint64     `json:"va"`
	PA    uint64     `json:"pa"`
	OK    bool       `json:"ok"`
	How   string     `json:"how"` // "linear map", "page tables", "vm_struct->pages"
	Steps []VtopStep `json:"steps,omitempty"`
	Error string     `json:"error,omitempty"`
}

// VtopStep is one level of the walk.
type VtopStep struct {
	Level     string `json:"level"`
	Index     uint64 `json:"index"`
	EntryAddr uint64 `json:"entry_pa"`
	Entry     uint64 `json:"entry"`
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
		v := VtopView{VA: va}
		if pa, ok := t.Linear(va); ok {
			v.PA, v.OK, v.How = pa, true, "linear map (no page tables)"
		} else if walker == nil {
			pa, err := t.Translate(va)
			if err == nil {
				v.PA, v.OK, v.How = pa, true, "page tables"
			} else {
				v.Error = err.Error()
			}
		} else {
			w, err := walker.Walk(va)
			for _, st := range w.Steps {
				v.Steps = append(v.Steps, VtopStep{st.Level, st.Index, st.EntryAddr, st.Entry})
			}
			if err == nil {
				v.PA, v.OK, v.How = w.PA, true, "page tables"
			} else {
				v.Error = err.Error()
				if pa, ok := c.S.Prog.VmallocPhys(va); ok {
					v.PA, v.OK, v.How = pa, true, "vm_struct->pages (the page-table walk failed)"
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
