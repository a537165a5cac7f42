package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/mattn/go-isatty"

	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/batch"
	"github.com/kdump-inspect/kdump-inspect/repl"
)

const auditUsage = `usage: kdump-inspect audit [-s VMLINUX] [--modules DIR] [flags] DUMP...
       kdump-inspect audit --corpus DIR [--shard K/N] [flags]
       kdump-inspect audit merge FILE.jsonl...
       kdump-inspect audit --rules

Audits every module, the vmlinux and the system of each dump against the
models of the correct loader, ftrace and livepatch of its kernel (ppc64
.stubs and OOL stubs, arm64 PLTs and ftrace trampolines, x86_64 ftrace
trampolines, ITS thunks and int3 text poking; text integrity on all three),
and says for every module which rules could not check and why.
Exit status: 0 no finding and every applicable rule ran everywhere; 1
findings at or above --fail-on; 2 a dump could not be analysed (the others
still are); 3 no finding, but some rule could not check some module
(--allow-incomplete makes that 0).
`

// runAudit is the `audit` subcommand; it returns the exit status.
func runAudit(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "merge" {
		return runAuditMerge(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, auditUsage); fs.PrintDefaults() }
	var o openFlags
	o.register(fs)
	var af repl.AuditFlags
	af.Register(fs)
	corpus := fs.String("corpus", "", "audit every dump found under this directory")
	shard := fs.String("shard", "", "with --corpus: audit only shard K of N (K/N, 1-based)")
	jobs := fs.Int("jobs", 0, "dumps audited in parallel (default: number of CPUs)")
	rules := fs.Bool("rules", false, "list the rule catalogue and exit")
	if err := fs.Parse(args); err != nil {
		return audit.ExitCannot
	}
	if !af.JSON && !af.JSONL {
		width, _, plain := o.term.resolve(stdout)
		tw := repl.NewTermWriter(stdout, width, plain)
		defer tw.Flush()
		stdout = tw
	}
	if *rules {
		repl.WriteRules(stdout)
		return 0
	}
	opts, sev, err := af.Options()
	if err != nil {
		fmt.Fprintln(stderr, "kdump-inspect audit:", err)
		return audit.ExitCannot
	}
	kopts := o.kernelOptions()
	var jobList []audit.Job
	if *corpus != "" {
		jobList, err = batch.FindDumps(*corpus)
		if err != nil {
			fmt.Fprintln(stderr, "kdump-inspect audit:", err)
			return audit.ExitCannot
		}
		if *shard != "" {
			k, n, err := batch.ParseShard(*shard)
			if err == nil {
				jobList, err = batch.Shard(jobList, *corpus, k, n)
			}
			if err != nil {
				fmt.Fprintln(stderr, "kdump-inspect audit:", err)
				return audit.ExitCannot
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
		if *corpus != "" {
			fmt.Fprintf(stderr, "kdump-inspect audit: no dump found under %s\n", *corpus)
		} else {
			fs.Usage()
		}
		return audit.ExitCannot
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
	results := batch.Run(jobList, *jobs, opts, progress)
	code := repl.WriteAudit(stdout, results, &af, sev)
	for _, r := range results {
		if r.Failed() {
			fmt.Fprintf(stderr, "kdump-inspect audit: %s: %s\n", r.Dump, r.Error)
		}
	}
	return code
}

func runAuditMerge(files []string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return audit.ExitCannot
	}
	var all []audit.DumpResult
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			fmt.Fprintln(stderr, "kdump-inspect audit merge:", err)
			return audit.ExitCannot
		}
		rs, err := batch.ReadJSONL(fh)
		fh.Close()
		if err != nil {
			fmt.Fprintf(stderr, "kdump-inspect audit merge: %s: %v\n", f, err)
			return audit.ExitCannot
		}
		all = append(all, rs...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Dump < all[j].Dump })
	repl.WriteAuditSummary(stdout, all)
	return audit.ExitCode(all, audit.Error, false)
}

func init() {
	subcommands["audit"] = subcommand{Name: "audit", Usage: "audit [-s VMLINUX] [--modules DIR] [--json|--jsonl] [--fail-on SEV] [--allow-incomplete] DUMP... | --corpus DIR | merge FILE.jsonl... | --rules",
		Help: "audit every module against the models of the correct loader and OOL ftrace stubs (exit 0 clean and fully checked, 1 findings, 2 cannot analyse, 3 incomplete)", Run: runAudit}
}
