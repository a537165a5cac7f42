package repl

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestSplitLine: crash's redirections, with C operators left alone.
func TestSplitLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want lineParts
	}{
		{"ps > /tmp/x", lineParts{Cmd: "ps", File: "/tmp/x"}},
		{"ps >> /tmp/x", lineParts{Cmd: "ps", File: "/tmp/x", Append: true}},
		{`sym tgt_secret > "/tmp/a b"`, lineParts{Cmd: "sym tgt_secret", File: "/tmp/a b"}},
		{"log | tail -3", lineParts{Cmd: "log", Pipe: "tail -3"}},
		{"log | grep x > /tmp/y", lineParts{Cmd: "log", Pipe: "grep x > /tmp/y"}},
		{"p init_task->pid", lineParts{Cmd: "p init_task->pid"}},
		{"p (x >> 2) > /tmp/z", lineParts{Cmd: "p (x >> 2)", File: "/tmp/z"}},
		{"p (a | b)", lineParts{Cmd: "p (a | b)"}},
		{"p a >= b", lineParts{Cmd: "p a >= b"}},
		{"p a>b", lineParts{Cmd: "p a>b"}},
		{`p "a > b"`, lineParts{Cmd: `p "a > b"`}},
		{`p arr[i > 1]`, lineParts{Cmd: `p arr[i > 1]`}},
	} {
		got, err := splitLine(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitLine(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"ps > a b", "ps >", "ps |"} {
		if _, err := splitLine(bad); err == nil {
			t.Errorf("splitLine(%q) accepted", bad)
		}
	}
}

func TestNearest(t *testing.T) {
	t.Parallel()
	names := []string{"struct", "stubs", "sym", "sys", "search", "help", "log", "list", "ps", "p"}
	for in, want := range map[string][]string{
		"strcut": {"struct"},
		"serach": {"search"},
		"lgo":    {"log"},
		"zzzzzz": nil,
		"stru":   {"struct"},
	} {
		if got := nearest(in, names, 3); !reflect.DeepEqual(got, want) {
			t.Errorf("nearest(%q) = %q, want %q", in, got, want)
		}
	}
	if d := editDistance("kitten", "sitting", 5); d != 3 {
		t.Errorf("editDistance(kitten, sitting) = %d, want 3", d)
	}
}

// TestRedirectAliasShell: > and >> write files, an alias expands, !cmd
// runs the shell, and a typo gets a suggestion; with no dump open.
func TestRedirectAliasShell(t *testing.T) {
	var out bytes.Buffer
	s := New(nil, Options{Out: &out, Err: &out, PanicLog: t.TempDir()})
	ctx := context.Background()
	f := filepath.Join(t.TempDir(), "help.txt")
	if err := s.Exec(ctx, "help quit > "+f); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(ctx, "help quit >> "+f); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "usage: quit"); n != 2 {
		t.Errorf("file holds %d copies of the help, want 2 (> then >>):\n%s", n, b)
	}
	if out.Len() != 0 {
		t.Errorf("redirected output reached the terminal: %q", out.String())
	}
	if err := s.Exec(ctx, "alias hq help quit"); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(ctx, "hq"); err != nil || !strings.Contains(out.String(), "usage: quit") {
		t.Errorf("alias hq: %v, %q", err, out.String())
	}
	out.Reset()
	if err := s.Exec(ctx, "!echo from-the-shell"); err != nil || out.String() != "from-the-shell\n" {
		t.Errorf("!echo: %v, %q", err, out.String())
	}
	err = s.Exec(ctx, "hlep")
	if err == nil || !strings.Contains(err.Error(), "did you mean help") {
		t.Errorf("hlep: %v, want a suggestion of help", err)
	}
	if err := s.Exec(ctx, "alias help x"); err == nil {
		t.Errorf("an alias may not hide a command")
	}
}

// TestPipeReaderStops: a pipe whose reader stops early (head) ends the
// command without an error, as in a shell, with the reader's output only
// (`log` of the example is far larger than a pipe's 64 KiB buffer, so
// its writes meet EPIPE); a reader killed by SIGINT (Ctrl-C reaches the
// pipe's process too) makes the command "interrupted".
func TestPipeReaderStops(t *testing.T) {
	var out, errb bytes.Buffer
	s := exampleSession(t, "../testdata/example/buggy-radix/vmcore.zst")
	s.Out, s.Err = &out, &errb
	ctx := context.Background()
	if err := s.Exec(ctx, "log"); err != nil {
		t.Fatal(err)
	}
	if out.Len() < 128<<10 {
		t.Fatalf("log is %d bytes: too short to fill a pipe", out.Len())
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	out.Reset()
	if err := s.Exec(ctx, "log | head -1"); err != nil {
		t.Errorf("log | head -1: %v, want no error", err)
	}
	if out.String() != first+"\n" {
		t.Errorf("log | head -1 printed %q, want the log's first line %q", out.String(), first)
	}
	for _, reader := range []string{"kill -INT $$", "sh -c 'kill -INT $$'"} { // killed; its shell saying so (130)
		if err := s.Exec(ctx, "log | "+reader); !errors.Is(err, errInterrupted) {
			t.Errorf("log | %s: %v, want interrupted", reader, err)
		}
	}
}
