package repl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func TestTermWriter(t *testing.T) {
	var b bytes.Buffer
	w := NewTermWriter(&b, 20, true)
	w.Write([]byte("abc   \nx ≠ y — z…\n  name    a summary that is far too long\npartial"))
	w.Flush()
	want := "abc\nx != y -- z...\n  name    a summary\n          that is\n          far too\n          long\npartial"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	if got := ASCII("é"); got != "<U+00E9>" {
		t.Errorf("ASCII(é) = %q", got)
	}
}

func TestTableFits(t *testing.T) {
	rows := [][]string{
		{"c008000000820100", "call", "seq_printf+0x0 [some_module_name]", "a long explanation of what went wrong here, in words"},
		{"c008000000820128", "tramp_regs", "ftrace_regs_caller+0x0", "ok"},
	}
	for _, width := range []int{0, 40, 60, 100} {
		var b bytes.Buffer
		tb := newTable(NewTermWriter(&b, width, false), "ADDR", "KIND", "TARGET", "STATE")
		for _, r := range rows {
			tb.Append(r)
		}
		tb.Render()
		w, trailing := widest(b.String())
		if width > 0 && w > width {
			t.Errorf("width %d: widest line %d\n%s", width, w, b.String())
		}
		if trailing != "" {
			t.Errorf("width %d: trailing blank in %q", width, trailing)
		}
		// nothing is lost: every word's characters are there, in order
		flat := strings.Join(strings.Fields(b.String()), "")
		for _, r := range rows {
			for _, c := range r {
				for _, word := range strings.Fields(c) {
					if width == 0 && !strings.Contains(b.String(), word) {
						t.Errorf("width 0: %q missing", word)
					}
				}
			}
		}
		if width >= 60 && !strings.Contains(b.String(), "c008000000820100") {
			t.Errorf("width %d: the address was split\n%s", width, b.String())
		}
		_ = flat
	}
}

// TestTerminalWidthExample: the width rules on the committed extract (no
// corpus needed): at 80 columns no line of help, mod, stubs, klp, ftrace
// or audit is wider, none ends in a blank, --plain is ASCII.
func TestTerminalWidthExample(t *testing.T) {
	p := exampleSessions(t, "crash-ool-op-over-stub")["crash-ool-op-over-stub"].Prog
	var out, errb bytes.Buffer
	s := New(p, Options{Out: &out, Err: &errb, Width: 80, Plain: true})
	for _, line := range []string{"help", "mod", "stubs --overlay klp_stub_bug", "klp", "ftrace --module klp_stub_bug", "audit"} {
		out.Reset()
		if err := s.Exec(t.Context(), line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		w, trailing := widest(out.String())
		if w > 80 || trailing != "" || out.Len() == 0 {
			t.Errorf("%s: widest %d, trailing %q, %d bytes", line, w, trailing, out.Len())
		}
		if ASCII(out.String()) != out.String() {
			t.Errorf("%s: not ASCII", line)
		}
	}
}

// TestNarrowTerminal: at 80 and 120 columns mod, klp, stubs, ftrace (and
// --enabled), textpoke, audit and help fit, end no line in a blank, and
// keep their key addresses whole (read from the same command's --json):
// each module's struct module, each .stubs slot's address, each klp_func,
// each enabled record's IP, each text-poke site. At 80, mod leaves columns
// out and says which; klp prints as a tree; ftrace --enabled, audit and
// textpoke print a block per row. `set width N` overrides the session's
// width (and `set` lists it).
func TestNarrowTerminal(t *testing.T) {
	ss := exampleSessions(t, "crash-ool-op-over-stub", "x86-inflight-step1", "arm64-ftrace-ops")
	type run struct {
		dump, line, json string
		addrs            func(doc map[string]any) []string // the addresses that must show whole
	}
	field := func(list string, key string) func(doc map[string]any) []string {
		return func(doc map[string]any) []string {
			var out []string
			var items []any
			switch d := doc["data"].(type) {
			case []any:
				items = d
			case map[string]any:
				items, _ = d[list].([]any)
			}
			for _, it := range items {
				if m, ok := it.(map[string]any); ok {
					if a, ok := m[key].(string); ok && a != "0x0" {
						out = append(out, a)
					}
				}
			}
			return out
		}
	}
	pltSlots := func(doc map[string]any) []string {
		var out []string
		d, _ := doc["data"].(map[string]any)
		secs, _ := d["sections"].([]any)
		for _, sec := range secs {
			sm, _ := sec.(map[string]any)
			es, _ := sm["entries"].([]any)
			for _, e := range es {
				if m, ok := e.(map[string]any); ok {
					if a, ok := m["addr"].(string); ok {
						out = append(out, a)
					}
				}
			}
		}
		return out
	}
	klpFuncs := func(doc map[string]any) []string {
		var out []string
		walkJSON(doc["data"], func(v any) {
			if m, ok := v.(map[string]any); ok {
				if _, ok := m["new_func"]; ok {
					if a, ok := m["addr"].(string); ok {
						out = append(out, a)
					}
				}
			}
		})
		return out
	}
	runs := []run{
		{"crash-ool-op-over-stub", "mod", "mod --json", field("", "module")},
		{"crash-ool-op-over-stub", "stubs klp_stub_bug", "stubs --json klp_stub_bug", field("slots", "addr")},
		{"crash-ool-op-over-stub", "stubs --overlay klp_stub_bug", "", nil},
		{"crash-ool-op-over-stub", "klp", "klp --json", klpFuncs},
		{"crash-ool-op-over-stub", "ftrace --module klp_stub_bug", "ftrace --json --module klp_stub_bug", field("", "ip")},
		{"crash-ool-op-over-stub", "ftrace --enabled", "ftrace --enabled --json", field("", "ip")},
		{"crash-ool-op-over-stub", "audit -v", "", nil},
		{"crash-ool-op-over-stub", "help", "", nil},
		{"crash-ool-op-over-stub", "help mod", "", nil},
		{"x86-inflight-step1", "textpoke", "textpoke --json", field("entries", "addr")},
		{"arm64-ftrace-ops", "plt sch_fq_pie", "plt --json sch_fq_pie", pltSlots},
		{"arm64-ftrace-ops", "mod", "mod --json", field("", "module")},
	}
	for _, width := range []int{80, 120} {
		for _, r := range runs {
			t.Run(fmt.Sprintf("%d/%s", width, r.line), func(t *testing.T) {
				var out, errb bytes.Buffer
				s := New(ss[r.dump].Prog, Options{Out: &out, Err: &errb, Width: width})
				if err := s.Exec(t.Context(), r.line); err != nil && !strings.HasPrefix(r.line, "audit") {
					t.Fatalf("%v", err)
				}
				got := out.String()
				w, trailing := widest(got)
				if w > width || trailing != "" || len(got) == 0 {
					t.Errorf("widest %d at %d, trailing %q, %d bytes\n%s", w, width, trailing, len(got), got)
				}
				if r.json == "" {
					return
				}
				js, err := ss[r.dump].capture(t.Context(), r.json)
				if err != nil {
					t.Fatal(err)
				}
				var doc map[string]any
				if err := json.Unmarshal(js, &doc); err != nil {
					t.Fatal(err)
				}
				addrs := r.addrs(doc)
				if len(addrs) == 0 {
					t.Fatalf("%s: no address to look for", r.json)
				}
				for _, a := range addrs {
					n, _ := strconv.ParseUint(a, 0, 64)
					if !strings.Contains(got, fmt.Sprintf("%016x", n)) && !strings.Contains(got, fmt.Sprintf("%x", n)) {
						t.Errorf("address %s not whole at %d columns\n%s", a, width, got)
						break
					}
				}
			})
		}
	}
	t.Run("shapes at 80", func(t *testing.T) {
		var out bytes.Buffer
		s := New(ss["crash-ool-op-over-stub"].Prog, Options{Out: &out, Err: &out, Width: 80})
		for line, want := range map[string]string{
			"mod":              "OBJECT FILE, STUB_COUNT, SIZE, BASE left out at 80 columns",
			"klp":              "     klp_func ",
			"ftrace --enabled": "     HANDLER  ",
		} {
			out.Reset()
			s.Exec(t.Context(), line)
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s at 80: no %q\n%s", line, want, out.String())
			}
		}
	})
	t.Run("set width", func(t *testing.T) {
		var out bytes.Buffer
		s := New(ss["crash-ool-op-over-stub"].Prog, Options{Out: &out, Err: &out, Width: 200})
		for _, line := range []string{"set width 80", "mod", "set"} {
			if err := s.Exec(t.Context(), line); err != nil {
				t.Fatal(err)
			}
		}
		if w, _ := widest(out.String()); w > 80 || !strings.Contains(out.String(), "width: 80\n") {
			t.Errorf("after set width 80: widest %d\n%s", w, out.String())
		}
		js, err := s.capture(t.Context(), "set --json")
		if err != nil || !bytes.Contains(js, []byte(`"width": 80`)) {
			t.Errorf("set --json: %v\n%s", err, js)
		}
		if err := s.Exec(t.Context(), "set width wide"); err == nil {
			t.Errorf("set width wide: no error")
		}
	})
}
