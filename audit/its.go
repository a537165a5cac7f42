package audit

import (
	"errors"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// checkITSThunk: ITS-THUNK. A module's ITS thunk pages hold only what
// its_allocate_thunk() writes — int3 fill, "jmp *%reg; int3" thunks from
// offset 32 on, each ending in the upper half of its cache line — and
// every rewritten indirect branch (.retpoline_sites, apply_retpolines())
// that goes into those pages lands on the start of a thunk.
func checkITSThunk(c *Check) {
	p, ok := c.withCapability(arch.ITSThunks, "ITS thunks are x86's")
	if !ok {
		return
	}
	its, err := modules.ReadITSPages(p, c.Mod.Module)
	switch {
	case errors.Is(err, modules.ErrNoITS):
		c.NotApplicable("%v", err)
		return
	case err != nil:
		c.CannotCheck("%v", err)
		return
	case len(its.Pages) == 0:
		c.NotApplicable("no ITS thunk pages: the CPU takes no ITS thunks, or the module has no indirect branch needing one")
		return
	}
	place := func(addr uint64, n int) []Place {
		return []Place{{Kind: PlaceText, Owner: c.Subject, Addr: addr, Size: uint64(n), Label: "ITS thunk page"}}
	}
	for _, s := range its.Strays {
		c.Report(Finding{Places: place(s.Addr, len(s.Bytes)), Mark: "ITS page byte no thunk explains",
			Message: fmt.Sprintf("%s: %d byte(s) at %#x in an ITS thunk page (% x) are neither the int3 fill nor a \"jmp *%%reg; int3\" thunk: its_allocate_thunk() never writes them", c.Subject, len(s.Bytes), s.Addr, s.Bytes[:min(len(s.Bytes), 16)])})
	}
	for _, t := range its.Thunks {
		if t.Misplaced {
			c.Report(Finding{Places: place(t.Addr, t.Size), Mark: "ITS thunk in the lower half of its cache line",
				Message: fmt.Sprintf("%s: the ITS thunk at %#x (jmp *%s) ends in the lower half of its cache line, where its_allocate_thunk() never places one: the indirect branch it exists to move is again ITS-unsafe", c.Subject, t.Addr, x86Reg(t.Reg))})
		}
	}
	if len(its.Unread) > 0 {
		c.Partial("%d ITS page(s) unreadable: %s", len(its.Unread), its.Unread[0])
	}
	// The rewritten sites, from .retpoline_sites (s32 offsets to each
	// site, relative to the entry): its size from the .ko.
	di := c.Mod.Debuginfo
	addr, ok := c.Mod.Module.SectionAddr(".retpoline_sites")
	if di == nil || !ok {
		c.Partial("the call sites into the thunks were not checked: no .ko at hand for the size of .retpoline_sites")
		return
	}
	var size uint64
	for _, s := range di.ELF.Sections {
		if s.Name == ".retpoline_sites" {
			size = s.Size
		}
	}
	if size == 0 || size > 1<<20 {
		return
	}
	raw, err := p.Read(addr, int(size))
	if err != nil {
		c.Partial("the call sites into the thunks were not checked: .retpoline_sites at %#x unreadable: %v", addr, err)
		return
	}
	unread := 0
	var firstUnread error
	defer func() {
		if unread > 0 {
			c.Partial("%d of the %d rewritten branch sites unreadable (first: %v)", unread, len(raw)/4, firstUnread)
		}
	}()
	for i := 0; i+4 <= len(raw); i += 4 {
		site := addr + uint64(i) + uint64(int64(int32(p.Order.Uint32(raw[i:]))))
		b, err := p.Read(site, 7)
		if err != nil {
			if unread == 0 {
				firstUnread = err
			}
			unread++
			continue
		}
		target, off, ok := modules.RetpolineSiteTarget(b, site)
		if !ok || !its.Contains(target) {
			continue
		}
		if _, ok := its.ThunkAt(target); !ok {
			c.Report(Finding{Places: place(site, off+4), Mark: "branch into an ITS page, not at a thunk",
				Message: fmt.Sprintf("%s: the rewritten indirect branch at %#x (% x) goes to %#x in an ITS thunk page, where no thunk starts", c.Subject, site, b[:off+4], target)})
		}
	}
}

func x86Reg(r int) string { return modules.ITSThunk{Reg: r}.RegName() }
