package audit

import (
	"fmt"
	"sort"
	"strings"
)

// PlaceKind says what a Place is.
type PlaceKind int

const (
	// PlaceSlot is a ppc64_stub_entry of a module's .stubs (Index: slot).
	PlaceSlot PlaceKind = iota + 1
	// PlaceOOL is a struct ftrace_ool_stub of an OOL array (Index: entry).
	PlaceOOL
	// PlaceSite is an ftrace call site (rec->ip).
	PlaceSite
	// PlaceFunc is a (patched) function, at its address.
	PlaceFunc
	// PlaceFrame is a stack frame's PC.
	PlaceFrame
	// PlaceObject is a kernel object (a klp_patch, a task).
	PlaceObject
	// PlaceText is a run of text bytes (Label: symbol+offset).
	PlaceText
)

// Place is where a finding is: a typed, addressed stretch of memory.
type Place struct {
	Kind PlaceKind
	// Owner is the module the place belongs to; "" for the vmlinux.
	Owner string
	// Array names the array Index counts in: ".stubs", "ool_stubs",
	// "ftrace_ool_stub_text", ...
	Array string
	Index int
	// Addr and Size bound the place: [Addr, Addr+Size). Size 0 is one
	// address.
	Addr, Size uint64
	// Part, when set, names the members concerned ("ftrace_op+insn[0..1]
	// (16 of 24 bytes)").
	Part string
	// Label is a name for what is not a slot or an entry (a function, a
	// task).
	Label string
}

// Contains says whether addr lies in the place.
func (p Place) Contains(addr uint64) bool {
	if p.Size == 0 {
		return addr == p.Addr
	}
	return addr >= p.Addr && addr < p.Addr+p.Size
}

// String names the place as the views do: ppc64[5], ftrace[1].ftrace_op,
// ftrace_ool_stub_text[12], site 0xc...
func (p Place) String() string {
	var s string
	switch p.Kind {
	case PlaceSlot:
		s = fmt.Sprintf("ppc64[%d]", p.Index)
	case PlaceOOL:
		if p.Array == "ool_stubs" || p.Array == "" {
			s = fmt.Sprintf("ftrace[%d]", p.Index)
		} else {
			s = fmt.Sprintf("%s[%d]", p.Array, p.Index)
		}
	case PlaceSite:
		s = fmt.Sprintf("site %#x", p.Addr)
	default:
		s = p.Label
		if s == "" {
			s = fmt.Sprintf("%#x", p.Addr)
		}
	}
	if p.Part != "" {
		if p.Kind == PlaceOOL && !strings.HasPrefix(p.Part, "(") {
			s += "." + p.Part
		} else {
			s += " " + p.Part
		}
	}
	return s
}

// Word is one word a finding is about: where, as what, expected and found.
type Word struct {
	Addr        uint64
	Label       string // "ppc64[5].jump[0] = ftrace[0].ftrace_op"
	Size        int    // 4 or 8
	Found       uint64
	FoundAsm    string
	HasExpected bool
	Expected    uint64
	ExpectedAsm string
}

// Finding is one failed rule at one place.
type Finding struct {
	Rule     string
	Severity Severity
	// Module is the subject: a module name, "vmlinux", or a livepatch
	// module for the system-wide livepatch rules.
	Module string
	Places []Place
	Words  []Word
	// Mark is the few words a view puts beside the place ("call stub
	// (slot 5 -> tgt_secret) inside ool_stubs").
	Mark    string
	Message string
	Fix     string
}

// Slots names the finding's places, in order.
func (f *Finding) Slots() []string {
	out := make([]string, len(f.Places))
	for i, p := range f.Places {
		out[i] = p.String()
	}
	return out
}

// Addrs are the places' start addresses.
func (f *Finding) Addrs() []uint64 {
	out := make([]uint64, 0, len(f.Places))
	for _, p := range f.Places {
		if p.Addr != 0 {
			out = append(out, p.Addr)
		}
	}
	return out
}

// At says whether the finding concerns addr: one of its places or words
// holds it.
func (f *Finding) At(addr uint64) bool {
	for _, p := range f.Places {
		if p.Contains(addr) {
			return true
		}
	}
	for _, w := range f.Words {
		if addr >= w.Addr && addr < w.Addr+uint64(max(w.Size, 1)) {
			return true
		}
	}
	return false
}

// Report is the audit of one dump: findings, and for every subject (each
// module, the vmlinux, the system) which rules ran and which could not.
type Report struct {
	Findings []Finding
	Modules  int
	Coverage []SubjectCoverage
	Warnings []string
	// Fatal says why nothing could be audited (the module list could not
	// be read at all): the report then means nothing.
	Fatal string
	// Damage, when set, is what the dump itself reported as damaged
	// (truncation, pages failing integrity checks).
	Damage string
	opts   Options
	// attributed: the text differences TEXT-UNEXPLAINED left to another
	// rule's finding, by their first address.
	attributed map[uint64]string
}

// TextAttributedTo names the rule whose finding holds the unexplained text
// difference starting at addr ("" when none does).
func (r *Report) TextAttributedTo(addr uint64) string { return r.attributed[addr] }

// Max returns the highest severity found, and false when there is none.
func (r *Report) Max() (Severity, bool) {
	var m Severity
	for i, f := range r.Findings {
		if i == 0 || f.Severity > m {
			m = f.Severity
		}
	}
	return m, len(r.Findings) > 0
}

// Count returns how many findings are at or above sev.
func (r *Report) Count(sev Severity) int { return countAtLeast(r.Findings, sev) }

// countAtLeast counts the findings at or above sev.
func countAtLeast(fs []Finding, sev Severity) int {
	n := 0
	for _, f := range fs {
		if f.Severity >= sev {
			n++
		}
	}
	return n
}

// At returns the findings that concern addr, gravest first: what `dis`
// marks with <<, what `bt` notes beside a frame, the `stubs` state column.
func (r *Report) At(addr uint64) []*Finding {
	var out []*Finding
	for i := range r.Findings {
		if r.Findings[i].At(addr) {
			out = append(out, &r.Findings[i])
		}
	}
	return out
}

// In returns the findings that concern any address of [lo, hi).
func (r *Report) In(lo, hi uint64) []*Finding {
	var out []*Finding
	for i := range r.Findings {
		f := &r.Findings[i]
		hit := false
		for _, p := range f.Places {
			end := p.Addr + max(p.Size, 1)
			if p.Addr < hi && lo < end {
				hit = true
			}
		}
		for _, w := range f.Words {
			if w.Addr < hi && lo < w.Addr+uint64(max(w.Size, 1)) {
				hit = true
			}
		}
		if hit {
			out = append(out, f)
		}
	}
	return out
}

// Complete says whether every selected rule that applies ran on every
// subject.
func (r *Report) Complete() bool {
	if r.Fatal != "" || r.Damage != "" {
		return false
	}
	for _, c := range r.Coverage {
		if !c.Complete() {
			return false
		}
	}
	return true
}

func (r *Report) sort() {
	sort.SliceStable(r.Findings, func(i, j int) bool {
		if r.Findings[i].Severity != r.Findings[j].Severity {
			return r.Findings[i].Severity > r.Findings[j].Severity
		}
		return r.Findings[i].Module < r.Findings[j].Module
	})
}

// Status is what happened to one rule on one subject.
type Status int

// The statuses in order of gravity: a run keeps the gravest it reports.
const (
	// Ran: the rule checked everything it applies to on the subject.
	Ran Status = iota + 1
	// NotApplicable: the rule does not apply to this kernel or module
	// (no out-of-line stubs, not a livepatch module, ...).
	NotApplicable
	// NotSelected: --only/--skip left the rule out.
	NotSelected
	// Partial: the rule checked some of what it applies to; Reason says
	// what it could not.
	Partial
	// CannotCheck: the rule applies but its inputs are missing or
	// damaged (no .ko, the .ko's build-id differs, pages missing from the
	// dump, a layout not understood).
	CannotCheck
)

func (s Status) String() string {
	switch s {
	case Ran:
		return "ran"
	case NotApplicable:
		return "not applicable"
	case NotSelected:
		return "not selected"
	case Partial:
		return "partial"
	case CannotCheck:
		return "cannot check"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Incomplete says whether the status leaves the subject not fully checked.
func (s Status) Incomplete() bool { return s == Partial || s == CannotCheck }

// RuleCoverage is one rule on one subject.
type RuleCoverage struct {
	Rule   string
	Status Status
	Reason string
}

// SubjectCoverage is what was checked on one subject: a module, the
// vmlinux, or "system" (the dump-wide rules).
type SubjectCoverage struct {
	Subject string
	// Debuginfo is the file the loader model used for a module, or why
	// there is none.
	Debuginfo string
	Rules     []RuleCoverage
	// Text is what TEXT-UNEXPLAINED compared, when it ran.
	Text *TextCoverage
}

// Complete says whether no rule was partial or could not check.
func (c *SubjectCoverage) Complete() bool {
	for _, r := range c.Rules {
		if r.Status.Incomplete() {
			return false
		}
	}
	return true
}

// Missing lists the rules that could not run fully, with their reasons.
func (c *SubjectCoverage) Missing() []RuleCoverage {
	var out []RuleCoverage
	for _, r := range c.Rules {
		if r.Status.Incomplete() {
			out = append(out, r)
		}
	}
	return out
}

// CoverageLine is the summary that ends the text report: "16 modules: 16
// fully checked; vmlinux fully checked; system fully checked", then one
// line per reason something could not be checked, with the rules and
// subjects it cost.
func (r *Report) CoverageLine() string {
	mods, full := 0, 0
	others := map[string]bool{}
	type gap struct {
		rules, subjects []string
	}
	gaps := map[string]*gap{}
	var keys []string
	add := func(list []string, x string) []string {
		for _, y := range list {
			if y == x {
				return list
			}
		}
		return append(list, x)
	}
	for i := range r.Coverage {
		c := &r.Coverage[i]
		isMod := c.Subject != "vmlinux" && c.Subject != "system"
		if isMod {
			mods++
		}
		if c.Complete() {
			if isMod {
				full++
			} else {
				others[c.Subject] = true
			}
			continue
		}
		for _, m := range c.Missing() {
			k := m.Status.String() + ": " + m.Reason
			g, ok := gaps[k]
			if !ok {
				g = &gap{}
				gaps[k] = g
				keys = append(keys, k)
			}
			g.rules = add(g.rules, m.Rule)
			g.subjects = add(g.subjects, c.Subject)
		}
	}
	s := fmt.Sprintf("%d modules: %d fully checked", mods, full)
	if mods > full {
		s += fmt.Sprintf(", %d incomplete", mods-full)
	}
	for _, o := range []string{"vmlinux", "system"} {
		for i := range r.Coverage {
			if r.Coverage[i].Subject == o {
				if others[o] {
					s += "; " + o + " fully checked"
				} else {
					s += "; " + o + " incomplete"
				}
			}
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := gaps[k]
		s += fmt.Sprintf("\n  %s\n    [%s] on %s", k, strings.Join(g.rules, " "), list(g.subjects, 8))
	}
	if r.Damage != "" {
		s += "\n  incomplete: the dump is damaged (" + r.Damage + "): what it lost or holds corrupt was checked by no rule"
	}
	return s
}
