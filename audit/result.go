package audit

// One dump's audit as a result (DumpResult, AuditDump), the summary
// across dumps and the exit contract; package batch runs it over corpora.

import (
	"fmt"
	"strings"
	"time"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// DumpResult is the audit of one dump, as the batch mode reports it (one
// JSON object per dump; one JSONL line each: see wire.go).
type DumpResult struct {
	Dump     string
	Vmlinux  string
	Release  string
	Format   string
	MMU      string
	Modules  int
	Findings []Finding
	Coverage []SubjectCoverage
	Warnings []string
	// Damage is what the dump file itself says is damaged ("" if
	// nothing).
	Damage string
	// Error is set when the dump could not be analysed at all.
	Error   string
	Seconds float64
	// complete is set from the report's coverage; after a JSON round
	// trip from the wire's "complete".
	complete bool
}

// Failed reports whether the dump could not be analysed.
func (d *DumpResult) Failed() bool { return d.Error != "" }

// Complete reports whether every selected, applicable rule ran on every
// module, the vmlinux and the system.
func (d *DumpResult) Complete() bool { return d.complete && !d.Failed() }

// Count returns the findings at or above sev.
func (d *DumpResult) Count(sev Severity) int { return countAtLeast(d.Findings, sev) }

// CoverageLine is the report's one-line coverage summary.
func (d *DumpResult) CoverageLine() string {
	r := Report{Coverage: d.Coverage, Damage: d.Damage}
	return r.CoverageLine()
}

// NewDumpResult describes an audited program.
func NewDumpResult(p *kernel.Program, r *Report) DumpResult {
	res := DumpResult{Dump: strings.Join(p.Dump.Paths, ","), Vmlinux: p.VmlinuxPath(), Release: p.Release,
		Format: p.Dump.Format.String(), MMU: p.Arch.MMU(), Modules: r.Modules, Findings: r.Findings,
		Coverage: r.Coverage, Damage: r.Damage, Error: r.Fatal, complete: r.Complete()}
	res.Warnings = append(append(res.Warnings, p.Warnings...), r.Warnings...)
	if res.Findings == nil {
		res.Findings = []Finding{}
	}
	return res
}

// Job is one dump to audit: its file(s) and debuginfo (empty: beside it).
type Job struct {
	Paths   []string
	Options kernel.Options
}

// AuditDump opens one dump and audits it. It never panics on a bad dump:
// errors become DumpResult.Error.
func AuditDump(job Job, opts Options) (res DumpResult) {
	t0 := time.Now()
	defer func() {
		if r := recover(); r != nil {
			res.Error = fmt.Sprintf("internal error: %v", r)
		}
		res.Dump = strings.Join(job.Paths, ",")
		res.Seconds = time.Since(t0).Seconds()
	}()
	p, err := kernel.Open(job.Paths, job.Options)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer p.Close()
	a := analysis.New(p)
	defer a.Close()
	return NewDumpResult(p, Run(a, opts))
}

// UnmarshalText reads a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// Summary counts findings per rule and severity across dumps.
type Summary struct {
	Dumps, Failed int
	PerRule       map[string]int
	PerSeverity   map[Severity]int
	Seconds       float64
}

// Summarize folds results.
func Summarize(rs []DumpResult) Summary {
	s := Summary{PerRule: map[string]int{}, PerSeverity: map[Severity]int{}}
	for _, r := range rs {
		s.Dumps++
		s.Seconds += r.Seconds
		if r.Failed() {
			s.Failed++
		}
		for _, f := range r.Findings {
			s.PerRule[f.Rule]++
			s.PerSeverity[f.Severity]++
		}
	}
	return s
}

// Exit statuses of the audit (the CI contract).
const (
	ExitClean      = 0 // every applicable rule ran everywhere; no finding at or above --fail-on
	ExitFindings   = 1 // findings at or above --fail-on
	ExitCannot     = 2 // a dump could not be analysed at all
	ExitIncomplete = 3 // no finding at or above --fail-on, but not everything could be checked
)

// ExitCode is the CI contract: 2 when any dump could not be analysed, else
// 1 when any finding is at or above failOn, else 3 when some rule could not
// check some module (unless allowIncomplete), else 0.
func ExitCode(rs []DumpResult, failOn Severity, allowIncomplete bool) int {
	code := ExitClean
	incomplete := false
	for i := range rs {
		r := &rs[i]
		if r.Failed() {
			return ExitCannot
		}
		if r.Count(failOn) > 0 {
			code = ExitFindings
		}
		if !r.Complete() {
			incomplete = true
		}
	}
	if code == ExitClean && incomplete && !allowIncomplete {
		return ExitIncomplete
	}
	return code
}
