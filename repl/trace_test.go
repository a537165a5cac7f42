package repl

import (
	"os"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

func exampleSession(t *testing.T, dump string) *Session {
	t.Helper()
	p, err := kernel.Open([]string{dump}, kernel.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return New(p, Options{Out: os.Stdout, Err: os.Stderr})
}

func fields(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestTraceGuestLines: every line of the trace file the guest printed
// before the crash (guest-trace-tail.txt: task-pid, CPU, latency flags,
// timestamp, function <-caller) is a line of `trace` on the dump, in the
// same order.
func TestTraceGuestLines(t *testing.T) {
	const dir = "../testdata/example/crash-sysrq-c/"
	b, err := os.ReadFile(dir + "guest-trace-tail.txt")
	if err != nil {
		t.Fatal(err)
	}
	s := exampleSession(t, dir+"vmcore.zst")
	v, err := s.traceView(0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if v.Tracer != "function" {
		t.Errorf("tracer %q, the guest's current_tracer is function", v.Tracer)
	}
	var got []string
	for _, e := range v.Events {
		got = append(got, fields(e.Line))
	}
	i := 0
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		want := fields(l)
		for i < len(got) && got[i] != want {
			i++
		}
		if i == len(got) {
			t.Fatalf("guest line %q not in the dump's trace (in order)", want)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d guest lines", n)
	}
}
