package audit

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/kernel"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/textcheck"
)

// TextCoverage is what the text comparison covered on one subject.
type TextCoverage struct {
	// Bytes compared, differing from the ELF file, and differing but
	// explained by a mechanism.
	Compared, Differing, Explained uint64
	// ByMechanism counts explained differences per mechanism.
	ByMechanism map[string]int
	// Attributed counts unexplained differences that lie in (or branch
	// into) a place another rule flags: reported there, not again.
	Attributed int
	// Unexplained counts the differences reported as TEXT-UNEXPLAINED.
	Unexplained int
	// Skipped names the sections not compared and why.
	Skipped []string
}

// maxTextFindings bounds the findings of one subject (a wholesale
// overwrite would otherwise make thousands).
const maxTextFindings = 32

// checkTextUnexplained: TEXT-UNEXPLAINED. Every executable section of the
// subject is rebuilt from its ELF file (a module's .ko with its
// relocations applied at this dump's addresses; the vmlinux's own bytes)
// and compared with the dump; package textcheck explains each difference
// by a mechanism the kernel uses to change text. A difference no
// mechanism explains, and that no other rule's finding holds (a stub
// written past .stubs, a call into a flagged slot), is a finding.
func checkTextUnexplained(c *Check) {
	if c.A.Prog == nil {
		c.CannotCheck("no dump: text cannot be read")
		return
	}
	if c.Mod != nil {
		if _, ok := c.Debuginfo(); !ok {
			return
		}
	} else if c.A.Prog.NoVmlinux() {
		c.CannotCheck("%s", kernel.NoVmlinuxReason)
		return
	}
	res := c.A.Text(c.Mod)
	tc := &TextCoverage{Compared: res.Compared, Differing: res.Differing, Explained: res.Explained, ByMechanism: map[string]int{}}
	for m, n := range res.ByMech {
		tc.ByMechanism[string(m)] = n
	}
	for _, s := range res.Skipped() {
		tc.Skipped = append(tc.Skipped, fmt.Sprintf("%s (%s)", s.Name, s.Skip))
	}
	c.r.setText(c.Subject, tc)
	switch {
	case res.Compared == 0:
		c.CannotCheck("no text compared: %s", firstOr(res.Incomplete, "no executable section at a known address"))
		return
	case len(res.Incomplete) > 0:
		c.Partial("%d bytes compared; %s", res.Compared, summarize(res.Incomplete))
	}
	reported := 0
	for _, d := range res.Unexplained() {
		if by := attributed(c, d); by != "" {
			tc.Attributed++
			if c.r.attributed == nil {
				c.r.attributed = map[uint64]string{}
			}
			c.r.attributed[d.Addr] = by
			continue
		}
		tc.Unexplained++
		if reported >= maxTextFindings {
			continue
		}
		reported++
		c.Report(textFinding(c, d))
	}
	if tc.Unexplained > maxTextFindings {
		c.Report(Finding{Severity: Critical, Mark: "unexplained text",
			Message: fmt.Sprintf("%s: %d more runs of unexplained text not listed (see `text %s`)", c.Subject, tc.Unexplained-maxTextFindings, c.Subject)})
	}
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// summarize joins reasons, at most three, with a count of the rest.
func summarize(s []string) string {
	if len(s) <= 3 {
		return strings.Join(s, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(s[:3], "; "), len(s)-3)
}

// attributed names the other rule whose finding holds the difference: its
// bytes lie in a flagged place, or a branch found there goes into one.
func attributed(c *Check, d textcheck.Diff) string {
	end := d.Addr + uint64(len(d.Found))
	for _, f := range c.r.In(d.Addr, end) {
		if f.Rule != c.Rule.ID {
			return f.Rule
		}
	}
	if words, ok := c.A.Prog.Arch.(arch.InsnWords); ok {
		for off := 0; off+4 <= len(d.Found); off += 4 {
			if t, _, ok := words.BranchTarget(d.Found[off:off+4], d.Addr+uint64(off)); ok {
				for _, f := range c.r.At(t) {
					if f.Rule != c.Rule.ID {
						return f.Rule
					}
				}
			}
		}
		return ""
	}
	if dis, ok := c.A.Prog.Arch.(arch.Disassembler); ok {
		if t, _, ok := dis.BranchTarget(d.Found, d.Addr); ok {
			for _, f := range c.r.At(t) {
				if f.Rule != c.Rule.ID {
					return f.Rule
				}
			}
		}
	}
	return ""
}

// maxTextWords bounds the expected/found words shown per finding.
const maxTextWords = 8

func textFinding(c *Check, d textcheck.Diff) Finding {
	o := c.A.Prog.Order
	loc := c.Set.Resolver.Lookup(d.Addr)
	where := loc.String()
	if where == "" {
		where = fmt.Sprintf("%#x", d.Addr)
	}
	var words []Word
	if iw, ok := c.A.Prog.Arch.(arch.InsnWords); ok {
		for off := 0; off+4 <= len(d.Found) && len(words) < maxTextWords; off += 4 {
			pc := d.Addr + uint64(off)
			e, f := o.Uint32(d.Expected[off:]), o.Uint32(d.Found[off:])
			words = append(words, Word{Addr: pc, Size: 4, Label: fmt.Sprintf("%s+%#x", where, off),
				Found: uint64(f), FoundAsm: iw.DisasmWord(d.Found[off:off+4], pc), HasExpected: true,
				Expected: uint64(e), ExpectedAsm: iw.DisasmWord(d.Expected[off:off+4], pc)})
		}
	} else if dis, ok := c.A.Prog.Arch.(arch.Disassembler); ok {
		// variable-length instructions: the run's bytes (at most 8 in
		// one word), each side decoded from the run's first byte
		n := min(len(d.Found), 8)
		le := func(b []byte) uint64 {
			var v uint64
			for i := n - 1; i >= 0; i-- {
				v = v<<8 | uint64(b[i])
			}
			return v
		}
		fa, _ := dis.Disasm(d.Found, d.Addr)
		ea, _ := dis.Disasm(d.Expected, d.Addr)
		words = append(words, Word{Addr: d.Addr, Size: n, Label: where, Found: le(d.Found), FoundAsm: fa,
			HasExpected: true, Expected: le(d.Expected), ExpectedAsm: ea})
	}
	msg := fmt.Sprintf("%s: %d bytes of %s at %s (%#x) differ from the ELF file and no mechanism explains them", c.Subject, len(d.Found), d.Section, where, d.Addr)
	if n := d.Nearest; n != nil {
		size := uint64(max(len(n.Want), n.Len))
		end := d.Addr + uint64(len(d.Found))
		switch {
		case n.Anywhere || n.Addr < end && d.Addr < n.Addr+size:
			msg += fmt.Sprintf("; nearest explanation: %s (%s, %s) at %#x, which did not match", n.Mech, n.Why, n.Mirrors, n.Addr)
		case n.Addr < d.Addr:
			msg += fmt.Sprintf("; no mechanism claims these bytes (the closest claim, %d bytes before: %s at %#x)", d.Addr-n.Addr, n.Mech, n.Addr)
		default:
			msg += fmt.Sprintf("; no mechanism claims these bytes (the closest claim, %d bytes after: %s at %#x)", n.Addr-end, n.Mech, n.Addr)
		}
	}
	owner := c.Subject
	if owner == "vmlinux" {
		owner = ""
	}
	return Finding{Places: []Place{{Kind: PlaceText, Owner: owner, Addr: d.Addr, Size: uint64(len(d.Found)), Label: where}},
		Words: words, Mark: "unexplained text (differs from the ELF file)", Message: msg}
}

// setText records a subject's text coverage.
func (r *Report) setText(subject string, tc *TextCoverage) {
	for i := range r.Coverage {
		if r.Coverage[i].Subject == subject {
			r.Coverage[i].Text = tc
			return
		}
	}
}

// TextLine is the one-line text summary of a subject's coverage.
func (tc *TextCoverage) TextLine() string {
	var mech []string
	for m, n := range tc.ByMechanism {
		mech = append(mech, fmt.Sprintf("%d %s", n, m))
	}
	sort.Strings(mech)
	s := fmt.Sprintf("text: %d bytes compared, %d differ", tc.Compared, tc.Differing)
	if len(mech) > 0 {
		s += ", explained: " + strings.Join(mech, ", ")
	}
	if tc.Attributed > 0 {
		s += fmt.Sprintf("; %d attributed to other findings", tc.Attributed)
	}
	s += fmt.Sprintf("; %d unexplained", tc.Unexplained)
	if len(tc.Skipped) > 0 {
		s += "; not compared: " + strings.Join(tc.Skipped, ", ")
	}
	return s
}

// TextTotals sums the text coverage of every subject (nil when the rule
// ran on none); Skipped is left out of the total.
func TextTotals(cov []SubjectCoverage) *TextCoverage {
	var t *TextCoverage
	for _, c := range cov {
		x := c.Text
		if x == nil {
			continue
		}
		if t == nil {
			t = &TextCoverage{ByMechanism: map[string]int{}}
		}
		t.Compared += x.Compared
		t.Differing += x.Differing
		t.Explained += x.Explained
		t.Attributed += x.Attributed
		t.Unexplained += x.Unexplained
		for m, n := range x.ByMechanism {
			t.ByMechanism[m] += n
		}
	}
	return t
}
