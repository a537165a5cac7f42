package ftrace

import (
	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// SiteWant is what one record's call site may hold in the record's
// current state: the word the models above expect (Expect for OOL
// kernels, SiteChecks without OOL). Text comparison (package textcheck)
// uses it to explain a site that differs from the module's or vmlinux's
// ELF file.
type SiteWant struct {
	Record *Record
	Words  []uint32
	Why    string
	// Unmodelled: the record's state is not modelled (a direct call, an
	// ops trampoline): any branch is what ftrace may have written, and
	// Words is empty.
	Unmodelled string
}

// SiteWants returns, for every record of owner (a module's name, "" for
// the vmlinux), the words its site may hold.
func (s *State) SiteWants(set *modules.Set, owner string) []SiteWant {
	var out []SiteWant
	if s.RecordLayout.HasOOL {
		for _, arr := range s.OOLArrays(owner) {
			for i := range arr.Stubs {
				c := &arr.Stubs[i]
				if c.Record == nil {
					continue
				}
				w := SiteWant{Record: c.Record}
				f := c.Record.Flags
				// Enabled, the site branches to its OOL stub whatever the
				// stub calls (direct calls included): ftrace_make_call().
				if f.Has(FL_ENABLED) {
					w.Words, w.Why = []uint32{c.Expected.Site}, "b to the OOL stub (ftrace_make_call)"
				} else {
					w.Words, w.Why = []uint32{ppc64.PPC_RAW_NOP}, "nop (ftrace_init_nop, ftrace_make_nop)"
				}
				out = append(out, w)
			}
		}
		return out
	}
	for _, c := range s.SiteChecks(set, owner) {
		w := SiteWant{Record: c.Record, Words: c.Want, Why: c.WantWhy}
		if c.Unchecked != "" && len(c.Want) == 0 {
			w.Unmodelled = c.Unchecked
		}
		out = append(out, w)
	}
	return out
}
