package audit

import (
	"encoding/json"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/wire"
)

// The audit's JSON output: wire types made for the output contract
// (docs/OUTPUT.md: snake_case keys, addresses and words as "0x…" strings
// that jq and JavaScript keep exact, enums by name), separate from the
// report's Go types. DumpResult marshals to wireResult and reads back from
// it, bare or as the data of a kdump-inspect/1 document (an `audit
// --jsonl` line), so shards merge.

// Hex is a 64-bit value written as a "0x…" string (package wire's, the
// one type every view uses).
type Hex = wire.Hex

// EnumValues are the severities' names, for the schemas (package wire).
func (Severity) EnumValues() []string { return []string{"info", "warning", "error", "critical"} }

// statusName is a Status on the wire.
type statusName string

func (statusName) EnumValues() []string {
	var out []string
	for v := Ran; v <= CannotCheck; v++ {
		out = append(out, v.String())
	}
	return out
}

// placeKind is a PlaceKind on the wire.
type placeKind string

func (placeKind) EnumValues() []string {
	var out []string
	for k := PlaceKind(0); k <= PlaceText; k++ {
		if n, ok := placeKinds[k]; ok {
			out = append(out, n)
		}
	}
	return out
}

type wirePlace struct {
	Kind  placeKind `json:"kind"`
	Name  string    `json:"name"`
	Owner string    `json:"owner,omitempty"`
	Array string    `json:"array,omitempty"`
	Index *int      `json:"index,omitempty"`
	Addr  Hex       `json:"addr"`
	Size  int64     `json:"size,omitempty"`
	Part  string    `json:"part,omitempty"`
	Label string    `json:"label,omitempty"`
}

var placeKinds = map[PlaceKind]string{PlaceSlot: "stub_slot", PlaceOOL: "ool_entry", PlaceSite: "ftrace_site", PlaceFunc: "function", PlaceFrame: "stack_frame", PlaceObject: "object", PlaceText: "text"}

type wireWord struct {
	Addr        Hex    `json:"addr"`
	Label       string `json:"label"`
	Size        int    `json:"size"`
	Found       Hex    `json:"found"`
	FoundAsm    string `json:"found_asm,omitempty"`
	Expected    *Hex   `json:"expected,omitempty"`
	ExpectedAsm string `json:"expected_asm,omitempty"`
}

type wireFinding struct {
	Rule     string      `json:"rule"`
	Severity Severity    `json:"severity"`
	Module   string      `json:"module"`
	Places   []wirePlace `json:"places,omitempty"`
	Words    []wireWord  `json:"words,omitempty"`
	Mark     string      `json:"mark,omitempty"`
	Message  string      `json:"message"`
	Fix      string      `json:"fix,omitempty"`
}

type wireRule struct {
	Rule   string     `json:"rule"`
	Status statusName `json:"status"`
	Reason string     `json:"reason,omitempty"`
}

type wireSubject struct {
	Subject   string     `json:"subject"`
	Complete  bool       `json:"complete"`
	Debuginfo string     `json:"debuginfo,omitempty"`
	Rules     []wireRule `json:"rules"`
	Text      *wireText  `json:"text,omitempty"`
}

type wireText struct {
	Compared    int64          `json:"bytes_compared"`
	Differing   int64          `json:"bytes_differing"`
	Explained   int64          `json:"bytes_explained"`
	ByMechanism map[string]int `json:"explained_by_mechanism"`
	Attributed  int            `json:"attributed_to_other_findings"`
	Unexplained int            `json:"unexplained"`
	Skipped     []string       `json:"sections_skipped,omitempty"`
}

type wireResult struct {
	Dump     string        `json:"dump"`
	Vmlinux  string        `json:"vmlinux,omitempty"`
	Release  string        `json:"release,omitempty"`
	Format   string        `json:"format,omitempty"`
	MMU      string        `json:"mmu,omitempty"`
	Modules  int           `json:"modules"`
	Complete bool          `json:"complete"`
	Findings []wireFinding `json:"findings"`
	Coverage []wireSubject `json:"coverage"`
	Warnings []string      `json:"warnings,omitempty"`
	Damage   string        `json:"damage,omitempty"`
	Error    string        `json:"error,omitempty"`
	Seconds  float64       `json:"seconds"`
}

func toWireFinding(f *Finding) wireFinding {
	w := wireFinding{Rule: f.Rule, Severity: f.Severity, Module: f.Module, Mark: f.Mark, Message: f.Message, Fix: f.Fix}
	for _, p := range f.Places {
		wp := wirePlace{Kind: placeKind(placeKinds[p.Kind]), Name: p.String(), Owner: p.Owner, Array: p.Array, Addr: Hex(p.Addr), Size: int64(p.Size), Part: p.Part, Label: p.Label}
		if p.Kind == PlaceSlot || p.Kind == PlaceOOL {
			i := p.Index
			wp.Index = &i
		}
		w.Places = append(w.Places, wp)
	}
	for _, x := range f.Words {
		ww := wireWord{Addr: Hex(x.Addr), Label: x.Label, Size: x.Size, Found: Hex(x.Found), FoundAsm: x.FoundAsm, ExpectedAsm: x.ExpectedAsm}
		if x.HasExpected {
			e := Hex(x.Expected)
			ww.Expected = &e
		}
		w.Words = append(w.Words, ww)
	}
	return w
}

func fromWireFinding(w *wireFinding) Finding {
	f := Finding{Rule: w.Rule, Severity: w.Severity, Module: w.Module, Mark: w.Mark, Message: w.Message, Fix: w.Fix}
	for _, p := range w.Places {
		var k PlaceKind
		for kk, n := range placeKinds {
			if n == string(p.Kind) {
				k = kk
			}
		}
		fp := Place{Kind: k, Owner: p.Owner, Array: p.Array, Addr: uint64(p.Addr), Size: uint64(p.Size), Part: p.Part, Label: p.Label}
		if p.Index != nil {
			fp.Index = *p.Index
		}
		f.Places = append(f.Places, fp)
	}
	for _, x := range w.Words {
		fw := Word{Addr: uint64(x.Addr), Label: x.Label, Size: x.Size, Found: uint64(x.Found), FoundAsm: x.FoundAsm, ExpectedAsm: x.ExpectedAsm}
		if x.Expected != nil {
			fw.HasExpected, fw.Expected = true, uint64(*x.Expected)
		}
		f.Words = append(f.Words, fw)
	}
	return f
}

// MarshalJSON writes the result in the output contract.
func (d DumpResult) MarshalJSON() ([]byte, error) {
	w := wireResult{Dump: d.Dump, Vmlinux: d.Vmlinux, Release: d.Release, Format: d.Format, MMU: d.MMU, Modules: d.Modules,
		Complete: d.Complete(), Findings: []wireFinding{}, Coverage: []wireSubject{}, Warnings: d.Warnings, Damage: d.Damage, Error: d.Error, Seconds: d.Seconds}
	for i := range d.Findings {
		w.Findings = append(w.Findings, toWireFinding(&d.Findings[i]))
	}
	for i := range d.Coverage {
		c := &d.Coverage[i]
		ws := wireSubject{Subject: c.Subject, Complete: c.Complete(), Debuginfo: c.Debuginfo, Rules: []wireRule{}}
		if t := c.Text; t != nil {
			ws.Text = &wireText{Compared: int64(t.Compared), Differing: int64(t.Differing), Explained: int64(t.Explained), ByMechanism: t.ByMechanism,
				Attributed: t.Attributed, Unexplained: t.Unexplained, Skipped: t.Skipped}
		}
		for _, r := range c.Rules {
			ws.Rules = append(ws.Rules, wireRule{Rule: r.Rule, Status: statusName(r.Status.String()), Reason: r.Reason})
		}
		w.Coverage = append(w.Coverage, ws)
	}
	return wire.Marshal(wire.Normalize(w), false) // "klp_info->sechdrs", not "klp_info-\u003esechdrs"
}

// WireType is the result's wire struct, for the schemas (package wire).
func (DumpResult) WireType() any { return wireResult{} }

// UnmarshalJSON reads a result written by MarshalJSON (audit merge): the
// bare object, or a document ({"schema": "kdump-inspect/1", "command":
// "audit", "data": {...}}) as `audit --jsonl` writes one per line.
func (d *DumpResult) UnmarshalJSON(b []byte) error {
	var probe struct {
		Schema string          `json:"schema"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	if probe.Schema != "" {
		doc, err := wire.Unwrap(b)
		if err != nil {
			return err
		}
		if doc.Command != "audit" {
			return fmt.Errorf("a %q document, not an audit", doc.Command)
		}
		b = doc.Data
	}
	var w wireResult
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*d = DumpResult{Dump: w.Dump, Vmlinux: w.Vmlinux, Release: w.Release, Format: w.Format, MMU: w.MMU, Modules: w.Modules,
		Warnings: w.Warnings, Damage: w.Damage, Error: w.Error, Seconds: w.Seconds, complete: w.Complete}
	for i := range w.Findings {
		d.Findings = append(d.Findings, fromWireFinding(&w.Findings[i]))
	}
	for _, s := range w.Coverage {
		c := SubjectCoverage{Subject: s.Subject, Debuginfo: s.Debuginfo}
		if t := s.Text; t != nil {
			c.Text = &TextCoverage{Compared: uint64(t.Compared), Differing: uint64(t.Differing), Explained: uint64(t.Explained), ByMechanism: t.ByMechanism,
				Attributed: t.Attributed, Unexplained: t.Unexplained, Skipped: t.Skipped}
		}
		for _, r := range s.Rules {
			st := Ran
			for v := Ran; v <= CannotCheck; v++ {
				if v.String() == string(r.Status) {
					st = v
				}
			}
			c.Rules = append(c.Rules, RuleCoverage{Rule: r.Rule, Status: st, Reason: r.Reason})
		}
		d.Coverage = append(d.Coverage, c)
	}
	return nil
}
