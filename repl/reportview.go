package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// A report is the first five minutes of a dump's triage as one bundle:
// the parts below, each the output of one command (so the bundle says
// exactly what the commands say), as text files and one JSON document.

// reportParts are the bundle's parts: file name, command, title.
var reportParts = []struct{ file, cmd, title string }{
	{"01-sys", "sys", "the system"},
	{"02-why", "why", "the crash, explained"},
	{"03-log", "log -n 100", "the last 100 log lines"},
	{"04-bt", "bt -a", "every CPU's backtrace"},
	{"05-tasks", "tasks", "task states and every D-state task's stack"},
	{"06-mod", "mod", "the modules"},
	{"07-taints", "mod -t", "the modules' taints"},
	{"08-klp", "klp", "livepatch state"},
	{"09-ftrace", "ftrace --enabled", "the enabled ftrace records"},
	{"10-audit", "audit -v", "the audit and its coverage"},
}

// ReportDoc is `report --json`: every part's JSON by its command.
type ReportDoc struct {
	Schema  string                     `json:"schema"`
	Command string                     `json:"command"`
	Dump    string                     `json:"dump"`
	Release string                     `json:"release"`
	Made    string                     `json:"made"`
	Parts   map[string]json.RawMessage `json:"data"`
	Errors  map[string]string          `json:"errors,omitempty"`
}

// capture runs a command line and returns its output (the session's
// error stream is left alone).
func (s *Session) capture(ctx context.Context, line string) ([]byte, error) {
	var b bytes.Buffer
	old, oldTTY := s.Out, s.tty
	s.Out, s.tty = &b, false
	defer func() { s.Out, s.tty = old, oldTTY }()
	err := s.Exec(ctx, line)
	return b.Bytes(), err
}

// TaskSummaryView is the `tasks` part: the states counted, and the stack
// of every task in D (uninterruptible) state.
type TaskSummaryView struct {
	States  map[string]int `json:"states"`
	Blocked []BtView       `json:"blocked"`
}

func cmdTasks(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	out, err := c.S.capture(c.Ctx, "ps --json")
	var ps []PsView
	if jerr := json.Unmarshal(out, &ps); jerr != nil && err == nil {
		err = jerr
	}
	v := TaskSummaryView{States: map[string]int{}}
	for _, p := range ps {
		v.States[p.State]++
		if p.State == "UN" {
			b, berr := c.S.capture(c.Ctx, fmt.Sprintf("bt --json %d", p.PID))
			var bv []BtView
			if berr == nil && json.Unmarshal(b, &bv) == nil {
				v.Blocked = append(v.Blocked, bv...)
			}
		}
	}
	if boolFlag(fs, "json") {
		if jerr := c.JSON(v); jerr != nil {
			return jerr
		}
		return err
	}
	var keys []string
	for k := range v.States {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.Printf("%-3s %d\n", k, v.States[k])
	}
	if len(v.Blocked) == 0 {
		c.Printf("no task in D state\n")
	}
	for _, b := range v.Blocked {
		c.Printf("\n")
		writeBt(c.Out, b, c.S.textSym)
	}
	return err
}

func cmdReport(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	dir := stringFlag(fs, "o")
	s := c.S
	doc := ReportDoc{Schema: "kdump-inspect/1", Command: "report", Dump: strings.Join(s.Prog.Dump.Paths, ","), Release: s.Prog.Release,
		Made: time.Now().UTC().Format(time.RFC3339), Parts: map[string]json.RawMessage{}, Errors: map[string]string{}}
	var index strings.Builder
	fmt.Fprintf(&index, "kdump-inspect report of %s (kernel %s)\n\n", doc.Dump, doc.Release)
	var text strings.Builder
	for _, p := range reportParts {
		// The text; then the JSON (the audit's exit status is kept).
		out, err := s.capture(c.Ctx, p.cmd)
		if err != nil {
			doc.Errors[p.cmd] = err.Error()
			out = append(out, []byte("error: "+err.Error()+"\n")...)
		}
		js, jerr := s.capture(c.Ctx, p.cmd+" --json")
		if jerr == nil && json.Valid(js) {
			doc.Parts[p.cmd] = json.RawMessage(bytes.TrimSpace(js))
		}
		fmt.Fprintf(&text, "=== %s (%s)\n\n%s\n", p.title, p.cmd, out)
		if dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, p.file+".txt"), out, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(&index, "%s.txt  %s  (%s)\n", p.file, p.title, p.cmd)
		}
	}
	if len(doc.Errors) == 0 {
		doc.Errors = nil
	}
	js, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	switch {
	case dir != "":
		fmt.Fprintf(&index, "report.json  every part's JSON in one document\n")
		if err := os.WriteFile(filepath.Join(dir, "report.json"), append(js, '\n'), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "index.txt"), []byte(index.String()), 0o644); err != nil {
			return err
		}
		c.Printf("%s", index.String())
	case boolFlag(fs, "json"):
		c.Printf("%s\n", js)
	default:
		c.Printf("%s", text.String())
	}
	return nil
}

// CompareGroup is a set of reports with the same crash and findings.
type CompareGroup struct {
	Crash    string   `json:"crash_signature"`
	Findings []string `json:"findings_signature"`
	Dumps    []string `json:"dumps"`
}

var (
	hexRE   = regexp.MustCompile(`0x[0-9a-f]+|\b[0-9a-f]{12,16}\b`)
	countRE = regexp.MustCompile(`\[#\d+\]`)
)

// crashSignature is what makes two crashes the same crash: the kind, the
// panic, the report's first line and where the PC was, without addresses.
func crashSignature(w *WhyView) string {
	where := ""
	if w.PC != nil {
		where = w.PC.Where
		if where == "" {
			where = w.PC.Location
		}
	}
	main := ""
	for _, f := range w.Related {
		if f.Rule != "EXEC-IN-FLAGGED-STUB" {
			main = f.Rule + " " + f.Module
			break
		}
	}
	norm := func(s string) string { return hexRE.ReplaceAllString(countRE.ReplaceAllString(s, "[#N]"), "ADDR") }
	return strings.Join([]string{w.Category, norm(w.Panic), norm(w.Oops), norm(where), main}, " | ")
}

// findingsSignature is the set of (rule, module, first place) findings.
func findingsSignature(raw json.RawMessage) []string {
	var a struct {
		Findings []struct {
			Rule, Module string
			Places       []struct{ Name string }
		}
	}
	if json.Unmarshal(raw, &a) != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range a.Findings {
		if f.Rule == "EXEC-IN-FLAGGED-STUB" {
			continue // the context that ran into it: this crash's, in the crash signature
		}
		k := f.Rule + " " + f.Module
		if len(f.Places) > 0 {
			k += " " + hexRE.ReplaceAllString(f.Places[0].Name, "ADDR")
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// CompareReports groups report documents (report.json files) by crash
// signature and findings: "the same stub corruption in 300 dumps".
func CompareReports(paths []string) ([]CompareGroup, error) {
	groups := map[string]*CompareGroup{}
	var order []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var d ReportDoc
		if err := json.Unmarshal(b, &d); err != nil || d.Command != "report" {
			return nil, fmt.Errorf("%s: not a report.json (%v)", p, err)
		}
		var w WhyView
		if raw, ok := d.Parts["why"]; ok {
			if err := json.Unmarshal(raw, &w); err != nil {
				return nil, fmt.Errorf("%s: why: %w", p, err)
			}
		}
		g := CompareGroup{Crash: crashSignature(&w), Findings: findingsSignature(d.Parts["audit -v"])}
		key := g.Crash + "\x00" + strings.Join(g.Findings, "\x00")
		if groups[key] == nil {
			groups[key] = &g
			order = append(order, key)
		}
		groups[key].Dumps = append(groups[key].Dumps, d.Dump)
	}
	var out []CompareGroup
	for _, k := range order {
		out = append(out, *groups[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].Dumps) > len(out[j].Dumps) })
	return out, nil
}

// WriteCompare prints the groups.
func WriteCompare(w io.Writer, gs []CompareGroup) {
	total := 0
	for _, g := range gs {
		total += len(g.Dumps)
	}
	fmt.Fprintf(w, "%d reports in %d groups\n", total, len(gs))
	for i, g := range gs {
		fmt.Fprintf(w, "\n#%d  %d dump(s): %s\n", i+1, len(g.Dumps), g.Crash)
		if len(g.Findings) == 0 {
			fmt.Fprintf(w, "    findings: none\n")
		}
		// By rule: "OOL-RESERVE in 15: ftrace_ops ppc64[10..14], ..."
		byRule := map[string][]string{}
		var rules []string
		for _, f := range g.Findings {
			r, rest, _ := strings.Cut(f, " ")
			if byRule[r] == nil {
				rules = append(rules, r)
			}
			byRule[r] = append(byRule[r], rest)
		}
		for _, r := range rules {
			fmt.Fprintf(w, "    %s in %d: %s\n", r, len(byRule[r]), list3(byRule[r]))
		}
		for _, d := range g.Dumps {
			fmt.Fprintf(w, "    %s\n", d)
		}
	}
}

func list3(s []string) string {
	if len(s) <= 3 {
		return strings.Join(s, "; ")
	}
	return strings.Join(s[:3], "; ") + fmt.Sprintf("; and %d more", len(s)-3)
}
