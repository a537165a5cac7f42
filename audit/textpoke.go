package audit

import (
	"errors"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/textpoke"
)

// checkTextPoke: TEXT-POKE. On x86_64, a batch of live text patches in
// flight (text_poke_array) must be one smp_text_poke_batch_finish() can
// be in: every site in a state its current step passes through, the
// vector sorted for the int3 handler's binary search, and every entry
// emulating what its text encodes (seed 004: the int3 handler must
// emulate exactly what the site is becoming). Sites the batch explains
// are not ftrace findings (FTRACE-SITE asks the same model).
func checkTextPoke(c *Check) {
	p, ok := c.withCapability(arch.TextPokeBatch, "int3 text patching through text_poke_array is x86's")
	if !ok {
		return
	}
	b, err := textpoke.Read(p)
	if errors.Is(err, textpoke.ErrNotModelled) {
		c.CannotCheck("%v", err)
		return
	}
	if err != nil {
		c.CannotCheck("%v", err)
		return
	}
	if b.NrEntries == 0 {
		return
	}
	// A site that cannot be read is neither judged nor fits a step: the
	// rule did not check it.
	unread, first := 0, ""
	for i := range b.Entries {
		if e := &b.Entries[i]; e.FoundErr != nil {
			if unread == 0 {
				first = fmt.Sprintf("vec[%d] at %#x: %v", i, e.Addr, e.FoundErr)
			}
			unread++
		}
	}
	if unread > 0 {
		c.Partial("%d of the %d sites unreadable (first: %s)", unread, len(b.Entries), first)
	}
	if !b.RefsKnown() {
		c.Partial("text_poke_array_refs unreadable on some CPU: whether smp_text_poke_batch_finish() runs is unknown, so emulations were not judged")
	}
	site := func(e *textpoke.Entry) []Place {
		return []Place{{Kind: PlaceText, Addr: e.Addr, Size: uint64(e.Len), Label: fmt.Sprintf("text_poke_array.vec[%d]", e.Index)}}
	}
	for _, e := range b.WrongEmulations() {
		c.Report(Finding{Places: site(e), Mark: "int3 emulation differs from the new instruction",
			Message: fmt.Sprintf("text_poke_array.vec[%d] at %#x (%s): %s; a CPU that hits the int3 runs something the site never holds", e.Index, e.Addr, b.Summary(), e.EmulationProblem)})
	}
	if b.Step == textpoke.Inconsistent {
		for _, i := range b.Broken {
			e := &b.Entries[i]
			c.Report(Finding{Places: site(e), Mark: "text-poke site in no state of the batch",
				Message: fmt.Sprintf("text_poke_array.vec[%d] at %#x holds % x (%s), becoming % x: no step of smp_text_poke_batch_finish() leaves the batch's sites as the dump shows them (%s)", i, e.Addr, e.Found, e.State, e.New, b.Summary())})
		}
	}
	// Only while finish runs does the handler search the vector. A
	// queued vector out of order was seen on a real, correct kernel
	// (bench/x86-corpus distro-inflight/inflight-02: four entries, the
	// last below the third, refs 0), so a queued one is not judged.
	if b.Unsorted > 0 && b.Step != textpoke.Queued {
		e := &b.Entries[b.Unsorted]
		c.Report(Finding{Places: site(e), Mark: "text_poke_array not sorted",
			Message: fmt.Sprintf("text_poke_array.vec[%d] at %#x is not above vec[%d] at %#x: smp_text_poke_int3_handler()'s bsearch can miss entries, leaving their int3 unhandled (smp_text_poke_batch_add() keeps the vector ordered)", b.Unsorted, e.Addr, b.Unsorted-1, b.Entries[b.Unsorted-1].Addr)})
	}
}
