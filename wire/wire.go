// Package wire is kdump-inspect's output contract: the envelope every
// --json/--jsonl document is written in, and the value types the views'
// wire structs are made of (docs/OUTPUT.md).
//
//	{"schema": "kdump-inspect/1", "command": "mod", "data": ..., "warnings": [...]}
//
// Addresses and words are Hex ("0x…" strings, exact in jq and JavaScript),
// flag words are Flags (the raw value and the names of the bits set),
// enumerations are their names, keys are snake_case, and nothing is
// HTML-escaped. The views own their wire structs; the models never carry
// json tags for the output's sake.
//
// Layer: views (docs/ARCHITECTURE.md).
package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// Schema is the version of the contract every document names.
const Schema = "kdump-inspect/1"

// Hex is a 64-bit value (an address, a word, an instruction) written as a
// "0x…" string: lowercase, no leading zeros, "0x0" for zero. It has no
// String method on purpose: fmt's %x and %d format it as the integer.
type Hex uint64

// MarshalText writes "0x…".
func (h Hex) MarshalText() ([]byte, error) { return []byte(fmt.Sprintf("%#x", uint64(h))), nil }

// UnmarshalText reads "0x…" (or any base strconv.ParseUint accepts with
// base 0).
func (h *Hex) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 0, 64)
	*h = Hex(v)
	return err
}

// Hexes converts a slice of words.
func Hexes[T ~uint64 | ~uint32 | ~uint16 | ~uint8](ws []T) []Hex {
	if ws == nil {
		return nil
	}
	out := make([]Hex, len(ws))
	for i, w := range ws {
		out[i] = Hex(w)
	}
	return out
}

// Flags is a flag word: its raw value and the names of the bits set
// (highest first; unknown bits as "0x…" names).
type Flags struct {
	Raw   Hex      `json:"raw"`
	Names []string `json:"names"`
}

// NewFlags makes Flags, with an empty (not null) list of names.
func NewFlags(raw uint64, names []string) Flags {
	if names == nil {
		names = []string{}
	}
	return Flags{Raw: Hex(raw), Names: names}
}

// Doc is one --json document (or one --jsonl line).
type Doc struct {
	Schema  string `json:"schema"`
	Command string `json:"command"`
	// Data is the command's result (its schema is docs/schema/COMMAND.json);
	// null when the command failed before it had any.
	Data any `json:"data"`
	// Warnings are what makes Data incomplete or doubtful: memory the dump
	// lacks, walks cut short, the errors a partial result was printed
	// with. Never null.
	Warnings []string `json:"warnings"`
	// Error is the command's error when it failed (Data then holds what
	// it had, often null); absent on success.
	Error string `json:"error,omitempty"`
}

// RawDoc is a Doc read back, its data left undecoded.
type RawDoc struct {
	Schema   string          `json:"schema"`
	Command  string          `json:"command"`
	Data     json.RawMessage `json:"data"`
	Warnings []string        `json:"warnings"`
	Error    string          `json:"error,omitempty"`
}

// New makes a document of command's data (Normalize'd: lists are [],
// never null).
func New(command string, data any, warnings []string) Doc {
	if warnings == nil {
		warnings = []string{}
	}
	return Doc{Schema: Schema, Command: command, Data: Normalize(data), Warnings: warnings}
}

// Marshal encodes v without HTML escaping, indented or on one line,
// without the trailing newline.
func Marshal(v any, indent bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Write writes v as Marshal does, followed by a newline.
func Write(w io.Writer, v any, indent bool) error {
	b, err := Marshal(v, indent)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Unwrap reads a document and checks its schema version; data is left
// raw.
func Unwrap(b []byte) (RawDoc, error) {
	var d RawDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return d, err
	}
	if d.Schema != Schema {
		return d, fmt.Errorf("not a %s document (schema %q)", Schema, d.Schema)
	}
	return d, nil
}

// DecodeData reads a document and decodes its data into v.
func DecodeData(b []byte, v any) (RawDoc, error) {
	d, err := Unwrap(b)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(d.Data, v); err != nil {
		return d, fmt.Errorf("%s data: %w", d.Command, err)
	}
	return d, nil
}
