package audit

import (
	"fmt"
	"strings"
)

// checkExecInFlagged: EXEC-IN-FLAGGED-STUB. Every CPU (from its register
// note) and every switched-out task is unwound (package stack, once per
// analysis); a frame whose PC lies in a .stubs slot or OOL entry another
// rule flagged says the broken stub was, or is about to be, executed: the
// crash that followed is that finding's. Nothing is walked when no such
// finding exists.
func checkExecInFlagged(c *Check) {
	var flagged []*Finding
	for i := range c.r.Findings {
		f := &c.r.Findings[i]
		if f.Rule == c.Rule.ID {
			continue
		}
		for _, p := range f.Places {
			if p.Kind == PlaceSlot || p.Kind == PlaceOOL || p.Kind == PlaceText {
				flagged = append(flagged, f)
				break
			}
		}
	}
	if len(flagged) == 0 {
		return // nothing flagged: no stack can be inside a flagged stub
	}
	ctxs := c.Stacks()
	stale := 0
	for _, u := range ctxs {
		if u.Stale {
			stale++
			continue
		}
		for i, fr := range u.Frames {
			// Places may overlap (a stub over an OOL entry): take every
			// finding holding the PC, and speak with the gravest.
			var in []*Finding
			var names []string
			for _, f := range flagged {
				for _, p := range f.Places {
					if (p.Kind == PlaceSlot || p.Kind == PlaceOOL || p.Kind == PlaceText) && p.Contains(fr.PC) {
						in = append(in, f)
						names = append(names, fmt.Sprintf("%s (%s)", p, f.Rule))
						break
					}
				}
			}
			if len(in) == 0 {
				continue
			}
			top := in[0]
			for _, f := range in {
				if f.Severity > top.Severity {
					top = f
				}
			}
			who := fmt.Sprintf("task %#x", u.Task.Addr)
			if u.HasTask {
				who = fmt.Sprintf("PID %d (%s)", u.Task.PID, u.Task.Comm)
			}
			if u.CPU >= 0 {
				who = fmt.Sprintf("CPU %d, %s,", u.CPU, who)
			}
			var place Place
			for _, p := range top.Places {
				if p.Contains(fr.PC) {
					place = p
					break
				}
			}
			c.Report(Finding{Module: top.Module, Fix: top.Fix,
				Places: []Place{{Kind: PlaceFrame, Owner: place.Owner, Addr: fr.PC, Size: 4, Label: fmt.Sprintf("%s frame #%d in %s", strings.TrimSuffix(who, ","), i, place)}},
				Mark:   fmt.Sprintf("%s frame #%d here (%s)", strings.TrimSuffix(who, ","), i, top.Rule),
				Message: fmt.Sprintf("%s frame #%d (%s) is at %#x in %s, inside %s; %s says: %s",
					who, i, fr.Kind, fr.PC, top.Module, strings.Join(names, ", "), top.Rule, top.Message)})
		}
	}
	if stale > 0 {
		c.Partial("%d tasks run on CPUs whose registers the dump lacks: their stacks were not checked (thread.ksp is stale while a task runs)", stale)
	}
}
