package repl

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// The audit's text and JSON views: one formatter for the `audit`
// subcommand and the REPL's `audit`, so both print (and exit with) the
// same thing.

// AuditFlags are the flags the audit takes in both forms.
type AuditFlags struct {
	JSON, JSONL     bool
	FailOn          string
	Only, Skip      string
	AllowIncomplete bool
	Verbose         bool
}

// Register declares the flags on fs.
func (f *AuditFlags) Register(fs *flag.FlagSet) {
	fs.BoolVar(&f.JSON, "json", false, "print JSON (one object per dump, in an array for several)")
	fs.BoolVar(&f.JSONL, "jsonl", false, "print one JSON object per line, for pipelines and `audit merge`")
	fs.StringVar(&f.FailOn, "fail-on", "error", "lowest severity that makes the exit status 1 (info, warning, error, critical)")
	fs.StringVar(&f.Only, "only", "", "comma-separated rule IDs to run")
	fs.StringVar(&f.Skip, "skip", "", "comma-separated rule IDs to skip")
	fs.BoolVar(&f.AllowIncomplete, "allow-incomplete", false, "exit 0 instead of 3 when no finding but some rule could not check some module")
	fs.BoolVar(&f.Verbose, "v", false, "print every rule's coverage per module")
}

// Options returns the rule selection, checking the IDs.
func (f *AuditFlags) Options() (audit.Options, audit.Severity, error) {
	sev, err := audit.ParseSeverity(f.FailOn)
	if err != nil {
		return audit.Options{}, 0, err
	}
	opts := audit.Options{Only: splitList(f.Only), Skip: splitList(f.Skip)}
	for _, id := range append(append([]string{}, opts.Only...), opts.Skip...) {
		if _, ok := audit.RuleByID(id); !ok {
			return opts, 0, fmt.Errorf("unknown rule %q (see audit --rules)", id)
		}
	}
	return opts, sev, nil
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// WriteAudit prints results as the flags ask and returns the exit status
// (audit.ExitCode).
func WriteAudit(w io.Writer, results []audit.DumpResult, f *AuditFlags, sev audit.Severity) int {
	switch {
	case f.JSONL:
		// One document per line, each a dump's result (audit merge reads
		// them back).
		for i := range results {
			wire.Write(w, wire.New("audit", &results[i], nil), false)
		}
	case f.JSON:
		// One document: the result of the dump, or the array of them
		// when several were audited.
		var data any = results
		if len(results) == 1 {
			data = &results[0]
		}
		wire.Write(w, wire.New("audit", data, nil), true)
	default:
		for i := range results {
			WriteDumpResult(w, &results[i], f.Verbose)
		}
		if len(results) > 1 {
			WriteAuditSummary(w, results)
		}
	}
	return audit.ExitCode(results, sev, f.AllowIncomplete)
}

// WriteRules prints the rule catalogue.
func WriteRules(w io.Writer) {
	t := newTable(w, "RULE", "SEVERITY", "WHAT MUST HOLD", "FIX").Prose("WHAT MUST HOLD", "FIX").Blocks(2)
	for _, r := range audit.Rules {
		t.Append([]string{r.ID, r.Severity.String(), wrap(r.Statement, 60), wrap(r.Fix.String(), 40)})
	}
	t.Render()
}

// WriteDumpResult prints one dump's audit: the findings, their expected
// and found words, and the coverage (every rule per module with verbose).
func WriteDumpResult(w io.Writer, r *audit.DumpResult, verbose bool) {
	fmt.Fprintf(w, "== %s\n", r.Dump)
	if r.Failed() {
		fmt.Fprintf(w, "   cannot analyse: %s\n\n", r.Error)
		return
	}
	fmt.Fprintf(w, "   %s, %s MMU, kernel %s, %d modules, %d findings (%.2fs)\n", r.Format, r.MMU, r.Release, r.Modules, len(r.Findings), r.Seconds)
	if r.Damage != "" {
		fmt.Fprintf(w, "   DAMAGED DUMP: %s\n", r.Damage)
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "   warning: %s\n", wn)
	}
	if len(r.Findings) > 0 {
		t := newTable(w, "SEVERITY", "RULE", "MODULE", "WHERE", "FINDING").Prose("WHERE", "FINDING").Blocks(3)
		for i := range r.Findings {
			f := &r.Findings[i]
			t.Append([]string{f.Severity.String(), f.Rule, f.Module, compactSlots(f.Slots()), wrap(f.Message, 70)})
		}
		t.Render()
		// Expected/found words of the findings that carry them.
		for _, f := range r.Findings {
			if len(f.Words) == 0 || f.Severity < audit.Error {
				continue
			}
			fmt.Fprintf(w, "\n   %s %s:\n", f.Rule, f.Module)
			for _, wd := range f.Words {
				found := fmt.Sprintf("0x%0*x", wd.Size*2, wd.Found)
				if wd.FoundAsm != "" {
					found += "  " + wd.FoundAsm
				}
				exp := ""
				if wd.HasExpected {
					exp = fmt.Sprintf("   expected 0x%0*x", wd.Size*2, wd.Expected)
				}
				if wd.ExpectedAsm != "" {
					exp += "  " + wd.ExpectedAsm
				}
				fmt.Fprintf(w, "     %#x %-42s found %s%s\n", wd.Addr, wd.Label, found, exp)
			}
			if f.Fix != "" {
				fmt.Fprintf(w, "     fixed by: %s\n", f.Fix)
			}
		}
		fmt.Fprintln(w)
	}
	if verbose {
		writeCoverage(w, r)
		for _, c := range r.Coverage {
			if c.Text != nil {
				fmt.Fprintf(w, "   %-24s %s\n", c.Subject, c.Text.TextLine())
			}
		}
	}
	if t := audit.TextTotals(r.Coverage); t != nil {
		fmt.Fprintf(w, "   %s\n", t.TextLine())
	}
	fmt.Fprintf(w, "   coverage: %s\n\n", strings.ReplaceAll(r.CoverageLine(), "\n", "\n   "))
}

func writeCoverage(w io.Writer, r *audit.DumpResult) {
	t := newTable(w, "SUBJECT", "RULE", "STATUS", "WHY").Prose("WHY").Blocks(3)
	for _, c := range r.Coverage {
		for _, rc := range c.Rules {
			t.Append([]string{c.Subject, rc.Rule, rc.Status.String(), wrap(rc.Reason, 70)})
		}
	}
	t.Render()
	fmt.Fprintln(w)
}

// WriteAuditSummary prints the table of several dumps.
func WriteAuditSummary(w io.Writer, rs []audit.DumpResult) {
	t := newTable(w, "DUMP", "RELEASE", "MMU", "MODULES", "CRITICAL", "ERROR", "WARNING", "INFO", "STATUS")
	for i := range rs {
		r := &rs[i]
		n := map[audit.Severity]int{}
		for _, f := range r.Findings {
			n[f.Severity]++
		}
		status := "ok"
		switch {
		case r.Failed():
			status = "cannot analyse"
		case r.Count(audit.Error) > 0:
			status = "FINDINGS"
		case !r.Complete():
			status = "incomplete"
		}
		t.Append([]string{r.Dump, r.Release, r.MMU, strconv.Itoa(r.Modules), strconv.Itoa(n[audit.Critical]), strconv.Itoa(n[audit.Error]), strconv.Itoa(n[audit.Warning]), strconv.Itoa(n[audit.Info]), status})
	}
	t.Render()
	s := audit.Summarize(rs)
	var rules []string
	for k := range s.PerRule {
		rules = append(rules, k)
	}
	sort.Strings(rules)
	var parts []string
	for _, k := range rules {
		parts = append(parts, fmt.Sprintf("%s=%d", k, s.PerRule[k]))
	}
	incomplete := 0
	for i := range rs {
		if !rs[i].Failed() && !rs[i].Complete() {
			incomplete++
		}
	}
	fmt.Fprintf(w, "%d dumps, %d could not be analysed, %d not fully checked; findings by rule: %s\n", s.Dumps, s.Failed, incomplete, strings.Join(parts, " "))
}

// wrap breaks s into lines of at most n runes at spaces.
func wrap(s string, n int) string {
	var out, line []string
	l := 0
	for _, w := range strings.Fields(s) {
		if l+len(w) > n && l > 0 {
			out = append(out, strings.Join(line, " "))
			line, l = nil, 0
		}
		line = append(line, w)
		l += len(w) + 1
	}
	if len(line) > 0 {
		out = append(out, strings.Join(line, " "))
	}
	return strings.Join(out, "\n")
}

// compactSlots shows at most four places, one per line, and counts the rest.
func compactSlots(s []string) string {
	if len(s) <= 4 {
		return strings.Join(s, "\n")
	}
	return strings.Join(s[:3], "\n") + fmt.Sprintf("\n... %d more", len(s)-3)
}

// cmdAudit is the REPL's audit: the same rules, output and exit status as
// the subcommand, over the session's analysis.
func cmdAudit(c *Call) error {
	var f AuditFlags
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.Register(fs)
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	opts, sev, err := f.Options()
	if err != nil {
		return &UsageError{Cmd: "audit", Msg: err.Error()}
	}
	var r *audit.Report
	if len(opts.Only) == 0 && len(opts.Skip) == 0 {
		r = c.S.Report()
	} else {
		r = audit.Run(c.S.A, opts)
	}
	res := audit.NewDumpResult(c.S.Prog, r)
	c.S.SetExitStatus(WriteAudit(c.Out, []audit.DumpResult{res}, &f, sev))
	c.wrote = f.JSON || f.JSONL
	return nil
}
