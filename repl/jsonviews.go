package repl

import (
	"bytes"
	"encoding/binary"
	"flag"
	"strconv"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/wire"
)

// The JSON of the session commands (help, set, alias) and the small
// calculators (eval, ascii, whatis).

// HelpView is one command of `help --json`: the command table as tools
// read it.
type HelpView struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases"`
	Usage   string   `json:"usage"`
	// Summary is the first line of Help.
	Summary string     `json:"summary"`
	Help    string     `json:"help"`
	Flags   []HelpFlag `json:"flags"`
	// Crash is crash's command for the same job ("" when crash has none).
	Crash    string   `json:"crash,omitempty"`
	Examples []string `json:"examples"`
	// JSON: the command takes --json (its schema is
	// docs/schema/NAME.json).
	JSON bool `json:"json"`
}

// HelpFlag is one flag of a command.
type HelpFlag struct {
	// Name is the flag as typed ("-x", "--json").
	Name string `json:"name"`
	// Arg names the flag's argument, "" for a boolean flag.
	Arg     string `json:"arg,omitempty"`
	Usage   string `json:"usage"`
	Default string `json:"default,omitempty"`
}

func helpView(cmd *Command) HelpView {
	v := HelpView{Name: cmd.Name, Aliases: cmd.Aliases, Usage: cmd.Usage, Summary: cmd.Summary(), Help: cmd.Help,
		Crash: cmd.Crash, Examples: cmd.Examples, JSON: len(cmd.JSON) > 0}
	cmd.FlagSet().VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		dash := "-"
		if len(f.Name) > 1 && !isDigits(f.Name) {
			dash = "--"
		}
		hf := HelpFlag{Name: dash + f.Name, Usage: usage}
		if arg != "" {
			hf.Arg = arg
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			hf.Default = f.DefValue
		}
		v.Flags = append(v.Flags, hf)
	})
	return v
}

// SetView is `set --json`: the session settings.
type SetView struct {
	Scroll bool `json:"scroll"`
	// Radix is the default base of integers in struct and p (10 or 16).
	Radix int `json:"radix"`
	// Width is the columns text output fits (0: unlimited): --width,
	// $COLUMNS, the terminal's, or set width.
	Width *int `json:"width,omitempty"`
}

// AliasView is one alias.
type AliasView struct {
	Name    string `json:"name"`
	Command string `json:"command"`
	// Origin is "runtime" (made with alias) or "builtin".
	Origin aliasOrigin `json:"origin"`
}

type aliasOrigin string

func (aliasOrigin) EnumValues() []string { return []string{"runtime", "builtin"} }

func (s *Session) aliasViews() []AliasView {
	var out []AliasView
	for _, n := range sortedKeys(s.aliases) {
		out = append(out, AliasView{Name: n, Command: s.aliases[n], Origin: "runtime"})
	}
	for _, cmd := range s.cmds {
		for _, a := range cmd.Aliases {
			out = append(out, AliasView{Name: a, Command: cmd.Name, Origin: "builtin"})
		}
	}
	return out
}

// EvalView is `eval --json`: the value in every base.
type EvalView struct {
	Expr  string   `json:"expr"`
	Value wire.Hex `json:"value"`
	// Size is the value's size in bytes (8 for an address).
	Size int64 `json:"size"`
	// Decimal is the value as an unsigned decimal, Signed as a signed one
	// when its type is signed and it is negative: strings, since 64-bit
	// values do not fit a JSON number exactly.
	Decimal string `json:"decimal"`
	Signed  string `json:"signed,omitempty"`
	Octal   string `json:"octal"`
	Binary  string `json:"binary"`
	// Unit is the value as a size when it is a multiple of 1 KiB ("64KB").
	Unit string `json:"unit,omitempty"`
}

func evalView(expr string, n uint64, negative bool, size int64) EvalView {
	v := EvalView{Expr: expr, Value: wire.Hex(n), Size: size, Decimal: strconv.FormatUint(n, 10), Octal: strconv.FormatUint(n, 8),
		Binary: strconv.FormatUint(n, 2), Unit: sizeUnit(n)}
	if w := int(size * 8); len(v.Binary) < w {
		v.Binary = strings.Repeat("0", w-len(v.Binary)) + v.Binary
	}
	if negative {
		v.Signed = strconv.FormatInt(int64(extendSigned(n, size)), 10)
	}
	return v
}

// AsciiView is one value of `ascii --json` spelled as text.
type AsciiView struct {
	Value wire.Hex `json:"value"`
	// Text is the value's bytes as they lie in memory, non-printable
	// ones as <xx>.
	Text string `json:"text"`
}

func asciiChart() []AsciiView {
	var out []AsciiView
	for x := 0x20; x < 0x7f; x++ {
		out = append(out, AsciiView{Value: wire.Hex(x), Text: string(rune(x))})
	}
	return out
}

func asciiViews(vals []uint64, order binary.ByteOrder) []AsciiView {
	var out []AsciiView
	for _, v := range vals {
		out = append(out, AsciiView{Value: wire.Hex(v), Text: asciiOf(v, order)})
	}
	return out
}

// WhatisView is `whatis --json`.
type WhatisView struct {
	Name string `json:"name"`
	// Kind is "type" or "variable".
	Kind whatisKind `json:"kind"`
	// Definition is the type's definition or the variable's declaration,
	// as the text prints it.
	Definition string `json:"definition"`
}

type whatisKind string

func (whatisKind) EnumValues() []string { return []string{"type", "variable"} }

// textOf runs print with the call's output captured.
func (c *Call) textOf(print func(c *Call)) string {
	var b bytes.Buffer
	sub := *c
	sub.Out = &b
	print(&sub)
	return strings.TrimRight(b.String(), "\n")
}
