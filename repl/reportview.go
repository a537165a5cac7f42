package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/kdump-inspect/kdump-inspect/stack"
	"github.com/kdump-inspect/kdump-inspect/wire"
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

// ReportDoc is the data of `report --json` (and report.json): every
// part's own document by its command.
type ReportDoc struct {
	Dump    string `json:"dump"`
	Release string `json:"release"`
	// Made is when the report was made (RFC 3339, UTC).
	Made string `json:"made"`
	// Parts are the parts' documents ({"schema", "command", "data",
	// "warnings"}), by command line.
	Parts reportPartDocs `json:"parts"`
	// Errors are the parts' errors, by command line.
	Errors map[string]string `json:"errors,omitempty"`
}

// reportPartDocs maps a part's command line to its document.
type reportPartDocs map[string]json.RawMessage

// JSONSchema is the parts' schema: each the document of its command
// (docs/schema/COMMAND.json).
func (reportPartDocs) JSONSchema() map[string]any {
	props := map[string]any{}
	for _, p := range reportParts {
		name, _, _ := strings.Cut(p.cmd, " ")
		props[p.cmd] = map[string]any{"$ref": name + ".json"}
	}
	return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
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
	// States counts the tasks by ps's ST column.
	States map[string]int `json:"states"`
	// Blocked are the backtraces of the tasks in D state (UN).
	Blocked []BtView `json:"blocked"`
}

func cmdTasks(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	rows, err := c.S.allTasks()
	if err != nil {
		err = fmt.Errorf("tasks: %w", err)
	}
	v := TaskSummaryView{States: map[string]int{}}
	layout, lerr := stack.LayoutFor(c.S.Prog.Context, c.S.Prog.ELFv1())
	for _, r := range rows {
		p := psView(r)
		v.States[p.State]++
		if p.State != "UN" {
			continue
		}
		if lerr != nil {
			err = errors.Join(err, fmt.Errorf("tasks: bt: %w", lerr))
			lerr = nil
			continue
		}
		if bv, berr := c.S.btTaskArg(layout, fmt.Sprintf("%#x", r.Addr)); berr == nil {
			v.Blocked = append(v.Blocked, bv)
		} else {
			err = errors.Join(err, fmt.Errorf("tasks: PID %d: %w", r.PID, berr))
		}
	}
	if boolFlag(fs, "json") {
		return c.JSONPartial(v, err)
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
	doc := ReportDoc{Dump: strings.Join(s.Prog.Dump.Paths, ","), Release: s.Prog.Release,
		Made: time.Now().UTC().Format(time.RFC3339), Parts: reportPartDocs{}, Errors: map[string]string{}}
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
		js, _ := s.capture(c.Ctx, p.cmd+" --json")
		if _, jerr := wire.Unwrap(js); jerr == nil {
			compact, _ := wire.Marshal(json.RawMessage(js), false)
			doc.Parts[p.cmd] = json.RawMessage(compact)
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
	switch {
	case dir != "":
		fmt.Fprintf(&index, "report.json  every part's JSON in one document\n")
		var js bytes.Buffer
		if err := wire.Write(&js, wire.New("report", doc, nil), true); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "report.json"), js.Bytes(), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "index.txt"), []byte(index.String()), 0o644); err != nil {
			return err
		}
		c.Printf("%s", index.String())
	case boolFlag(fs, "json"):
		return c.JSON(doc)
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
		if doc, err := wire.DecodeData(b, &d); err != nil || doc.Command != "report" {
			return nil, fmt.Errorf("%s: not a report.json (%v)", p, err)
		}
		var w WhyView
		if raw, ok := d.Parts["why"]; ok {
			if _, err := wire.DecodeData(raw, &w); err != nil {
				return nil, fmt.Errorf("%s: why: %w", p, err)
			}
		}
		var audit json.RawMessage
		if raw, ok := d.Parts["audit -v"]; ok {
			if doc, err := wire.Unwrap(raw); err == nil {
				audit = doc.Data
			}
		}
		g := CompareGroup{Crash: crashSignature(&w), Findings: findingsSignature(audit)}
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
