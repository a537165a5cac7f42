package audit

import (
	"fmt"
	"slices"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/kernel"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/stack"
)

// Options select rules and subjects.
type Options struct {
	Only []string
	Skip []string
	// Subjects, when set, limits the audit to these modules (and
	// "vmlinux", "system" when named): the others are not checked and
	// have no coverage entry.
	Subjects []string
}

func (o Options) subject(name string) bool { return allOrIn(o.Subjects, name) }

func (o Options) enabled(id string) bool {
	return !slices.Contains(o.Skip, id) && allOrIn(o.Only, id)
}

// allOrIn: an empty selection takes everything, else only what it names.
func allOrIn(sel []string, x string) bool {
	return len(sel) == 0 || slices.Contains(sel, x)
}

// Check is one run of one rule on one subject: what the check reads (the
// analysis; the module for PerModule rules) and how it reports (findings,
// or why it could not check).
type Check struct {
	Rule *Rule
	A    *analysis.Analysis
	Set  *modules.Set
	// Mod is the module, for a PerModule run; nil for the vmlinux and the
	// system.
	Mod *modules.Analysis
	// Subject is the module's name, "vmlinux" or "system".
	Subject string

	r   *Report
	cov *RuleCoverage
}

// Report adds a finding (the rule, severity, subject and fix filled in
// from the rule where unset).
func (c *Check) Report(f Finding) {
	if f.Rule == "" {
		f.Rule = c.Rule.ID
	}
	if f.Severity == 0 {
		f.Severity = c.Rule.Severity
	}
	if f.Module == "" {
		f.Module = c.Subject
	}
	if f.Fix == "" {
		f.Fix = c.Rule.Fix.String()
	}
	c.r.Findings = append(c.r.Findings, f)
}

// setStatus keeps the gravest status reported (Status orders them).
func (c *Check) setStatus(s Status, reason string) {
	if s > c.cov.Status {
		c.cov.Status, c.cov.Reason = s, reason
	}
}

// withCapability returns the program when its architecture declares
// capability f, else says the rule does not apply (why) and returns false.
func (c *Check) withCapability(f arch.Feature, why string) (*kernel.Program, bool) {
	p := c.A.Prog
	if p == nil || !arch.Has(p.Arch, f) {
		c.NotApplicable("%s", why)
		return nil, false
	}
	return p, true
}

// NotApplicable says the rule does not apply to the subject.
func (c *Check) NotApplicable(format string, args ...any) {
	c.setStatus(NotApplicable, fmt.Sprintf(format, args...))
}

// CannotCheck says the rule applies but its inputs are missing or damaged.
func (c *Check) CannotCheck(format string, args ...any) {
	c.setStatus(CannotCheck, fmt.Sprintf(format, args...))
}

// Partial says the rule checked part of what it applies to.
func (c *Check) Partial(format string, args ...any) {
	c.setStatus(Partial, fmt.Sprintf(format, args...))
}

// Findings are the findings reported so far (for rules that run After).
func (c *Check) Findings() []Finding { return c.r.Findings }

// Stubs returns the module's .stubs as read, or records why the rule
// cannot check.
func (c *Check) Stubs() (*modules.Stubs, bool) {
	if c.Mod.Stubs != nil {
		return c.Mod.Stubs, true
	}
	if !c.hasStubsSection() {
		c.NotApplicable("this kernel's modules have no .stubs (struct mod_arch_specific has no stubs_section)")
		return nil, false
	}
	if c.Mod.StubsErr != nil {
		c.CannotCheck(".stubs unreadable: %v", c.Mod.StubsErr)
	} else {
		c.CannotCheck(".stubs not read")
	}
	return nil, false
}

// hasStubsSection says whether the module's struct mod_arch_specific has
// ppc64's stubs_section (as DWARF or BTF describe it): the .stubs rules
// apply only there.
func (c *Check) hasStubsSection() bool {
	m := c.Mod.Module
	if len(m.Arch.Members) == 0 {
		return true // mod->arch not read: let the rule say why
	}
	_, ok := m.Arch.Member("stubs_section")
	return ok
}

// OOL returns the module's .stubs when it holds an out-of-line ftrace stub
// array; a kernel or module without one makes the rule not applicable.
func (c *Check) OOL() (*modules.Stubs, bool) {
	m := c.Mod.Module
	if !c.Set.Features.OutOfLine && !m.Arch.HasOOL {
		c.NotApplicable("no out-of-line ftrace stubs on this kernel")
		return nil, false
	}
	if !m.Arch.HasOOL || m.Arch.OOLStubCount == 0 {
		c.NotApplicable("the module has no ftrace_ool_stub array")
		return nil, false
	}
	s, ok := c.Stubs()
	if !ok {
		return nil, false
	}
	if len(s.OOL) == 0 {
		c.CannotCheck("ool_stubs %#x not inside .stubs as read (%s)", m.Arch.OOLStubs, s.SizeSource)
		return nil, false
	}
	return s, true
}

// Debuginfo returns the module's .ko, or records why the rule cannot check.
func (c *Check) Debuginfo() (*modules.Debuginfo, bool) {
	if c.Mod.Debuginfo != nil {
		return c.Mod.Debuginfo, true
	}
	if c.Mod.DebuginfoErr != nil {
		c.CannotCheck("%v", c.Mod.DebuginfoErr)
	} else {
		c.CannotCheck("no .ko")
	}
	return nil, false
}

// Model returns the loader model's result for the module, or records why
// the rule cannot check (no .ko, a model error, a loader generation not
// modelled).
func (c *Check) Model() (*modules.LoaderModel, bool) {
	if c.Mod.Stubs == nil && !c.hasStubsSection() {
		c.NotApplicable("no loader model for this kernel's modules: mod_arch_specific has no stubs_section (the model is ppc64's module_64.c)")
		return nil, false
	}
	m, why := c.model()
	switch {
	case m == nil:
		c.CannotCheck("%s", why)
		return nil, false
	case why != "":
		c.Partial("%s", why)
	}
	return m, true
}

// model is Model without recording: the model (nil when none) and what
// limits it.
func (c *Check) model() (*modules.LoaderModel, string) {
	a := c.Mod
	switch {
	case a.Debuginfo == nil && a.DebuginfoErr != nil:
		return nil, a.DebuginfoErr.Error()
	case a.Debuginfo == nil:
		return nil, "no .ko"
	case a.ModelErr != nil && a.Model == nil:
		return nil, fmt.Sprintf("loader model: %v", a.ModelErr)
	case a.Model == nil:
		return nil, "loader model not run: " + a.ModelSkipped
	case a.ModelErr != nil:
		return a.Model, fmt.Sprintf("loader model: %v", a.ModelErr)
	}
	return a.Model, ""
}

// Ftrace returns the ftrace state, or records why the rule cannot check.
func (c *Check) Ftrace() (*ftrace.State, bool) {
	if c.A.Prog == nil {
		c.CannotCheck("no ftrace records: a module set without a dump")
		return nil, false
	}
	st, err := c.A.Ftrace()
	if st == nil {
		c.CannotCheck("ftrace records unreadable: %v", err)
		return nil, false
	}
	return st, true
}

// Stacks returns every context's unwound stack; what could not be walked
// makes the rule partial.
func (c *Check) Stacks() []stack.Unwound {
	ctxs, err := c.A.Stacks()
	if err != nil {
		if len(ctxs) == 0 {
			c.CannotCheck("no stack could be walked: %v", err)
		} else {
			c.Partial("stacks of %d contexts checked; %v", len(ctxs), err)
		}
	}
	return ctxs
}

// Run audits one dump: every rule of the catalogue on every subject of its
// scope (each module, the vmlinux, the system), recording for each which
// rules ran and which could not, and why. It is the one judge: the audit
// subcommand, the REPL's audit and the views' marks all read its Report.
func Run(a *analysis.Analysis, opts Options) *Report {
	set := a.Modules()
	r := &Report{opts: opts, Modules: len(set.Modules)}
	if set.ListErr != nil {
		if len(set.Modules) == 0 {
			r.Fatal = fmt.Sprintf("no module could be read: %v", set.ListErr)
			return r
		}
		r.Warnings = append(r.Warnings, fmt.Sprintf("module list incomplete after %d modules: %v", len(set.Modules), set.ListErr))
	}
	for _, m := range set.Modules {
		for _, w := range m.Module.Warnings {
			r.Warnings = append(r.Warnings, m.Module.Name+": "+w)
		}
		for _, w := range m.Warnings {
			r.Warnings = append(r.Warnings, m.Module.Name+": "+w)
		}
		if m.Stubs != nil {
			for _, w := range m.Stubs.Warnings {
				r.Warnings = append(r.Warnings, m.Module.Name+": "+w)
			}
		}
	}
	if st, err := a.Ftrace(); st != nil {
		r.Warnings = append(r.Warnings, st.Warnings...)
	} else if err != nil {
		r.Warnings = append(r.Warnings, fmt.Sprintf("ftrace records not read, record-level checks skipped: %v", err))
	}
	cov := map[string]*SubjectCoverage{}
	subject := func(name, di string) *SubjectCoverage {
		if c, ok := cov[name]; ok {
			return c
		}
		r.Coverage = append(r.Coverage, SubjectCoverage{Subject: name, Debuginfo: di})
		c := &r.Coverage[len(r.Coverage)-1]
		cov[name] = c
		return c
	}
	// Coverage entries are appended while pointers into the slice are
	// held: reserve first.
	r.Coverage = make([]SubjectCoverage, 0, len(set.Modules)+3)
	for _, m := range set.Modules {
		if !opts.subject(m.Module.Name) {
			continue
		}
		di := ""
		switch {
		case m.Debuginfo != nil:
			di = m.Debuginfo.Path
		case m.DebuginfoErr != nil:
			di = m.DebuginfoErr.Error()
		}
		subject(m.Module.Name, di)
	}
	if a.Prog == nil {
		// A synthetic module set (tests, fuzzing): the module rules only.
		runModules(r, a, set, opts, subject)
		return r
	}
	if opts.subject("vmlinux") {
		di := a.Prog.VmlinuxPath()
		if a.Prog.NoVmlinux() {
			di = kernel.NoVmlinuxReason
		}
		subject("vmlinux", di)
	}
	sys := subject("system", "")
	if set.ListErr != nil {
		// Modules past the break in the list were checked by no rule.
		sys.Rules = append(sys.Rules, RuleCoverage{Rule: "module list", Status: Partial, Reason: set.ListErr.Error()})
	}
	runRules(r, a, set, opts, subject, PerModule|Vmlinux|System)
	// The damage the dump's reader met, up to now: pages are decoded (and
	// their integrity checked) as the rules read them.
	if d := a.Prog.Dump; d != nil {
		if dm := d.Damage(); !dm.Empty() {
			r.Damage = dm.String()
		}
	}
	if v := a.Prog.Vmalloc; v != nil {
		if n := v.Pages.Load(); n > 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%d vmalloc pages (the module area) read through vm_struct->pages: the dump lacks their page-table pages (makedumpfile 1.7.8 takes the tail pages of slab folios, page-table caches among them, for anonymous memory)", n))
		} else if err := v.Err(); err != nil {
			r.Warnings = append(r.Warnings, fmt.Sprintf("vmalloc pages without page tables cannot be found either: %v", err))
		}
	}
	return r
}

type subjectFunc func(name, debuginfo string) *SubjectCoverage

// runRules runs every rule whose scope is in scopes, those that read the
// others' findings last.
func runRules(r *Report, a *analysis.Analysis, set *modules.Set, opts Options, subject subjectFunc, scopes Scope) {
	runOne := func(rule *Rule, name string, mod *modules.Analysis) {
		if !opts.subject(name) {
			return
		}
		sc := subject(name, "")
		sc.Rules = append(sc.Rules, RuleCoverage{Rule: rule.ID, Status: Ran})
		c := &Check{Rule: rule, A: a, Set: set, Mod: mod, Subject: name, r: r, cov: &sc.Rules[len(sc.Rules)-1]}
		if !opts.enabled(rule.ID) {
			c.cov.Status = NotSelected
			return
		}
		rule.Check(c)
	}
	for _, after := range []bool{false, true} {
		for i := range Rules {
			rule := &Rules[i]
			if rule.After != after {
				continue
			}
			if rule.Scope&scopes&PerModule != 0 {
				for _, m := range set.Modules {
					runOne(rule, m.Module.Name, m)
				}
			}
			if rule.Scope&scopes&Vmlinux != 0 {
				runOne(rule, "vmlinux", nil)
			}
			if rule.Scope&scopes&System != 0 {
				runOne(rule, "system", nil)
			}
		}
		r.sort()
	}
}

func runModules(r *Report, a *analysis.Analysis, set *modules.Set, opts Options, subject subjectFunc) {
	runRules(r, a, set, opts, subject, PerModule)
}

// RunModules audits a module set made without a dump (synthetic .stubs:
// seed 000's listing, fuzzing): the module rules, with what needs the
// program (ftrace records, stacks) recorded as not checked.
func RunModules(set *modules.Set, opts Options) *Report {
	return Run(analysis.FromSet(set), opts)
}
