package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/olekukonko/tablewriter"

	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/repl"
)

const auditUsage = `usage: kdump-inspect audit [-s VMLINUX] [--modules DIR] [flags] DUMP...
       kdump-inspect audit --corpus DIR [--shard K/N] [flags]
       kdump-inspect audit merge FILE.jsonl...
       kdump-inspect audit --rules

Audits every module of each dump against the models of the correct ppc64
loader and out-of-line ftrace stubs. Exit status: 0 clean, 1 findings at or
above --fail-on, 2 a dump could not be analysed (the others still are).
`

// runAudit is the `audit` subcommand; it returns the exit status.
func runAudit(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "merge" {
		return runAuditMerge(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, auditUsage); fs.PrintDefaults() }
	vmlinux := fs.String("s", "", "vmlinux with DWARF (default: beside the dump)")
	var modDirs multiFlag
	fs.Var(&modDirs, "modules", "directory searched for module .ko files (repeatable; default: modules/ beside the dump)")
	force := fs.Bool("force", false, "accept a vmlinux whose build-id or release does not match")
	corpus := fs.String("corpus", "", "audit every dump found under this directory")
	shard := fs.String("shard", "", "with --corpus: audit only shard K of N (K/N, 1-based)")
	jsonOut := fs.Bool("json", false, "print one JSON object per dump (a JSON array)")
	jsonl := fs.Bool("jsonl", false, "print one JSON object per line, for pipelines and `audit merge`")
	jobs := fs.Int("jobs", 0, "dumps audited in parallel (default: number of CPUs)")
	failOn := fs.String("fail-on", "error", "lowest severity that makes the exit status 1 (info, warning, error, critical)")
	rules := fs.Bool("rules", false, "list the rule catalogue and exit")
	only := fs.String("only", "", "comma-separated rule IDs to run")
	skip := fs.String("skip", "", "comma-separated rule IDs to skip")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *rules {
		printRules(stdout)
		return 0
	}
	sev, err := audit.ParseSeverity(*failOn)
	if err != nil {
		fmt.Fprintln(stderr, "kdump-inspect audit:", err)
		return 2
	}
	opts := audit.Options{Only: splitList(*only), Skip: splitList(*skip)}
	for _, id := range append(append([]string{}, opts.Only...), opts.Skip...) {
		if _, ok := audit.RuleByID(id); !ok {
			fmt.Fprintf(stderr, "kdump-inspect audit: unknown rule %q (see --rules)\n", id)
			return 2
		}
	}
	kopts := kernel.Options{Vmlinux: *vmlinux, ModuleDirs: modDirs, Force: *force}
	var jobList []audit.Job
	if *corpus != "" {
		jobList, err = audit.FindDumps(*corpus)
		if err != nil {
			fmt.Fprintln(stderr, "kdump-inspect audit:", err)
			return 2
		}
		if *shard != "" {
			k, n, err := parseShard(*shard)
			if err == nil {
				jobList, err = audit.Shard(jobList, *corpus, k, n)
			}
			if err != nil {
				fmt.Fprintln(stderr, "kdump-inspect audit:", err)
				return 2
			}
		}
		for i := range jobList {
			jobList[i].Options = kopts
		}
	}
	for _, d := range fs.Args() {
		jobList = append(jobList, audit.Job{Paths: strings.Split(d, ","), Options: kopts})
	}
	if len(jobList) == 0 {
		fs.Usage()
		return 2
	}
	var progress func(done, total int, r *audit.DumpResult)
	if f, ok := stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) && len(jobList) > 1 {
		progress = func(done, total int, r *audit.DumpResult) {
			fmt.Fprintf(stderr, "\r[%d/%d] %-60.60s", done, total, r.Dump)
			if done == total {
				fmt.Fprintln(stderr)
			}
		}
	}
	results := audit.RunBatch(jobList, *jobs, opts, progress)
	switch {
	case *jsonl:
		enc := json.NewEncoder(stdout)
		for i := range results {
			enc.Encode(&results[i])
		}
	case *jsonOut:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(results)
	default:
		for i := range results {
			printDumpResult(stdout, &results[i])
		}
		if len(results) > 1 {
			printSummary(stdout, results)
		}
	}
	for _, r := range results {
		if r.Failed() {
			fmt.Fprintf(stderr, "kdump-inspect audit: %s: %s\n", r.Dump, r.Error)
		}
	}
	return audit.ExitCode(results, sev)
}

func runAuditMerge(files []string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	var all []audit.DumpResult
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			fmt.Fprintln(stderr, "kdump-inspect audit merge:", err)
			return 2
		}
		rs, err := audit.ReadJSONL(fh)
		fh.Close()
		if err != nil {
			fmt.Fprintf(stderr, "kdump-inspect audit merge: %s: %v\n", f, err)
			return 2
		}
		all = append(all, rs...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Dump < all[j].Dump })
	printSummary(stdout, all)
	return audit.ExitCode(all, audit.Error)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func parseShard(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("--shard %q: want K/N", s)
	}
	return k, n, nil
}

func newTable(w io.Writer, header ...string) *tablewriter.Table {
	t := tablewriter.NewTable(w)
	t.Header(header)
	return t
}

func printRules(w io.Writer) {
	t := newTable(w, "RULE", "SEVERITY", "WHAT MUST HOLD", "FIX")
	for _, r := range audit.Rules {
		t.Append([]string{r.ID, r.Severity.String(), r.Statement, r.Fix.String()})
	}
	t.Render()
}

func printDumpResult(w io.Writer, r *audit.DumpResult) {
	fmt.Fprintf(w, "== %s\n", r.Dump)
	if r.Failed() {
		fmt.Fprintf(w, "   cannot analyse: %s\n\n", r.Error)
		return
	}
	fmt.Fprintf(w, "   %s, %s MMU, kernel %s, %d modules, %d findings (%.2fs)\n", r.Format, r.MMU, r.Release, r.Modules, len(r.Findings), r.Seconds)
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "   warning: %s\n", wn)
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(w)
		return
	}
	t := newTable(w, "SEVERITY", "RULE", "MODULE", "WHERE", "FINDING")
	for _, f := range r.Findings {
		where := compactSlots(f.Slots)
		t.Append([]string{f.Severity.String(), f.Rule, f.Module, where, wrap(f.Message, 70)})
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

func printSummary(w io.Writer, rs []audit.DumpResult) {
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
	fmt.Fprintf(w, "%d dumps, %d could not be analysed; findings by rule: %s\n", s.Dumps, s.Failed, strings.Join(parts, " "))
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

func init() {
	subcommands["audit"] = subcommand{Name: "audit", Usage: "audit [-s VMLINUX] [--modules DIR] [--json|--jsonl] [--fail-on SEV] DUMP... | --corpus DIR | merge FILE.jsonl... | --rules",
		Help: "audit every module against the models of the correct loader and OOL ftrace stubs (exit 0 clean, 1 findings, 2 cannot analyse)", Run: runAudit}
}

// compactSlots shows at most four places, one per line, and counts the rest.
func compactSlots(s []string) string {
	if len(s) <= 4 {
		return strings.Join(s, "\n")
	}
	return strings.Join(s[:3], "\n") + fmt.Sprintf("\n... %d more", len(s)-3)
}

// The audit as a REPL command: the session's module set, the same rules.
func init() {
	var jsonOut *bool
	var only, skip *string
	repl.Register(repl.Command{
		Name:  "audit",
		Usage: "audit [--json] [--only RULE,..] [--skip RULE,..]",
		Help:  "hold every module (and the ftrace records) against the models of the correct loader and OOL stubs; print the findings",
		Flags: func(fs *flag.FlagSet) {
			jsonOut = fs.Bool("json", false, "print the findings as JSON")
			only = fs.String("only", "", "comma-separated rule IDs to run")
			skip = fs.String("skip", "", "comma-separated rule IDs to skip")
		},
		Run: func(c *repl.Call) error {
			if _, err := c.Parse(c.Flags()); err != nil {
				return err
			}
			opts := audit.Options{Only: splitList(*only), Skip: splitList(*skip)}
			set := c.S.Modules()
			st, stErr := c.S.Ftrace()
			r := audit.Audit(set, st, stErr, opts)
			res := audit.DumpResult{Dump: strings.Join(set.Prog.Dump.Paths, ","), Release: set.Prog.Release, Format: set.Prog.Dump.Format.String(),
				MMU: set.Prog.MMU.String(), Modules: r.Modules, Findings: r.Findings, Warnings: r.Warnings}
			if *jsonOut {
				return c.JSON(res)
			}
			printDumpResult(c.Out, &res)
			return nil
		},
	})
}
