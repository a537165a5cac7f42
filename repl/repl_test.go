package repl

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"struct module.arch 0xc0", []string{"struct", "module.arch", "0xc0"}},
		{`p "a b" 'c d'`, []string{"p", "a b", "c d"}},
		{`  rd\ x  `, []string{"rd x"}},
	} {
		got, err := SplitArgs(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitArgs(%q) = %q, %v", tc.in, got, err)
		}
	}
	if _, err := SplitArgs(`p "x`); err == nil {
		t.Errorf("unterminated quote accepted")
	}
	if got := SplitCommands(`mod; log | grep ";"; ; quit`); !reflect.DeepEqual(got, []string{"mod", `log | grep ";"`, "quit"}) {
		t.Errorf("SplitCommands = %q", got)
	}
	if lp, err := splitLine(`log | tail -3`); err != nil || lp.Cmd != "log" || lp.Pipe != "tail -3" {
		t.Errorf("splitLine = %+v, %v", lp, err)
	}
}

// TestPanicBoundary: a panicking command becomes an error naming a log
// file, and the session goes on.
func TestPanicBoundary(t *testing.T) {
	register(Command{Name: "zz-panic", Usage: "zz-panic", Help: "test", Run: func(c *Call) error { panic("boom") }})
	defer func() {
		// Remove only this command: text and textpoke are registered by
		// their files' init and later tests run them.
		extraMu.Lock()
		extra = slices.DeleteFunc(extra, func(c Command) bool { return c.Name == "zz-panic" })
		extraMu.Unlock()
	}()
	var out bytes.Buffer
	s := New(nil, Options{Out: &out, Err: &out, PanicLog: t.TempDir()})
	err := s.Exec(context.Background(), "zz-panic")
	if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "panic-") {
		t.Fatalf("err = %v", err)
	}
	if err := s.Exec(context.Background(), "help"); err != nil || !strings.Contains(out.String(), "zz-panic") {
		t.Fatalf("session did not go on: %v", err)
	}
	var ue *UsageError
	if err := s.Exec(context.Background(), "set scroll maybe"); !errors.As(err, &ue) {
		t.Errorf("set scroll maybe: %v, want a UsageError", err)
	}
	if err := s.Exec(context.Background(), "nosuch"); err == nil {
		t.Errorf("unknown command accepted")
	}
}

func TestParseNum(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint64{"0x10": 16, "10": 10, "c0080000": 0xc0080000, "ff": 255} {
		if got, err := parseNum(in); err != nil || got != want {
			t.Errorf("parseNum(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0x", "zz", "0x12345678901234567"} {
		if _, err := parseNum(in); err == nil {
			t.Errorf("parseNum(%q) accepted", in)
		}
	}
}
