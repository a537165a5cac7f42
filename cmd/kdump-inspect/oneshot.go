package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/repl"
)

// Every REPL command is also a one-shot command: `kdump-inspect CMD
// [-s VMLINUX] [--modules DIR] [--force] DUMP [ARGS...]` opens DUMP (split
// files joined by commas) and runs `CMD ARGS` in a session, exiting as -c
// does (the audit's status for audit; 1 when the command fails).
func runOneShot(name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o openFlags
	o.register(fs)
	// The session flags come before DUMP; what follows DUMP is the
	// command's own (`kdump-inspect stubs DUMP klp_stub_bug --overlay`).
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		fmt.Fprintf(stderr, "usage: kdump-inspect %s [-s VMLINUX] [--modules DIR] [--force] DUMP[,PART...] [ARGS...]\n", name)
		return exitBad
	}
	rest := o.takeVmlinux(fs.Args())
	if len(rest) == 0 {
		fmt.Fprintf(stderr, "kdump-inspect %s: no dump, only the vmlinux %s\n", name, o.vmlinux)
		return exitBad
	}
	p, err := o.open(strings.Split(rest[0], ","), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "kdump-inspect: %v\n", err)
		return exitBad
	}
	defer p.Close()
	s := repl.New(p, o.term.options(repl.Options{Out: stdout, Err: stderr}, stdout))
	line := name
	for _, a := range rest[1:] {
		line += " " + quoteArg(a)
	}
	if err := s.Exec(context.Background(), line); err != nil {
		fmt.Fprintf(stderr, "kdump-inspect: %v\n", err)
		return exitFailed
	}
	return s.ExitStatus()
}

// quoteArg quotes an argument for repl.SplitArgs when it needs it.
func quoteArg(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t'\"\\|;") {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// oneShotCommand says whether args[0] names a REPL command to run one-shot
// (not a subcommand, not an existing file: a dump named "why" wins).
func oneShotCommand(args []string) (string, bool) {
	if len(args) < 2 {
		return "", false
	}
	if _, ok := subcommands[args[0]]; ok {
		return "", false
	}
	if st, err := os.Stat(args[0]); err == nil && st.Mode().IsRegular() {
		return "", false
	}
	for _, c := range repl.Commands() {
		if c.Name == args[0] {
			return c.Name, true
		}
	}
	return "", false
}

// runReport is `kdump-inspect report`: `--compare FILE...` groups report
// documents; anything else is the REPL's report on a dump.
func runReport(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "--compare" {
		if len(args) < 2 {
			fmt.Fprintln(stderr, "usage: kdump-inspect report --compare REPORT.json...")
			return exitBad
		}
		gs, err := repl.CompareReports(args[1:])
		if err != nil {
			fmt.Fprintf(stderr, "kdump-inspect report --compare: %v\n", err)
			return exitBad
		}
		repl.WriteCompare(stdout, gs)
		return exitOK
	}
	return runOneShot("report", args, stdout, stderr)
}

func init() {
	subcommands["report"] = subcommand{Name: "report", Usage: "report [-s VMLINUX] [--modules DIR] DUMP [-o DIR] [--json] | report --compare REPORT.json...",
		Help: "the first five minutes as one bundle (sys, why, log, bt -a, tasks, mod, taints, klp, enabled ftrace, audit); --compare groups many reports by crash and findings", Run: runReport}
}
