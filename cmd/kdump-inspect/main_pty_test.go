package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/repl"
)

// ptyOutput collects what the program writes to the terminal.
type ptyOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
	eof chan struct{}
}

func (o *ptyOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until s appears in the output after position from, and
// returns the position after it.
func (o *ptyOutput) waitFor(t *testing.T, from int, s string, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		out := o.String()
		if from > len(out) {
			from = len(out)
		}
		if i := strings.Index(out[from:], s); i >= 0 {
			return from + i + len(s)
		}
		select {
		case <-o.eof:
			t.Fatalf("program ended before %q appeared; output after %d:\n%s", s, from, o.String()[from:])
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%q did not appear within %v; output after %d:\n%s", s, d, from, o.String()[from:])
	return 0
}

// TestPTYSession runs the built binary in a pseudo-terminal, as a user
// would in a real one, with the script: mod, stubs --overlay, dis
// of .stubs, struct module.arch (typed with Tab completion), audit, log |
// tail; a Tab listing of struct names; Ctrl-C while a command runs (the
// session must go on); the history file written.
func TestPTYSession(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("pseudo-terminal test runs on Linux")
	}
	dir := testcorpus.Dir(t, "buggy-radix")
	tr := testcorpus.LoadTruth(t, dir)
	mod := tr.DumpModule(t, "klp_stub_bug")
	arch := mod["arch"].(map[string]any)

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "kdump-inspect")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go") //lint:ignore SA1019 the toolchain running this test builds the binary
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	hist := filepath.Join(tmp, "history")
	cmd := exec.Command(bin, filepath.Join(dir, "vmcore-vmcoreinfo.kdump"))
	cmd.Env = append(os.Environ(), repl.HistoryEnv+"="+hist, "PAGER=cat", "TERM=xterm", "HOME="+tmp)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 60, Cols: 300})
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer f.Close()
	done := make(chan error, 1)
	out := &ptyOutput{eof: make(chan struct{})}
	go func() {
		b := make([]byte, 64<<10)
		for {
			n, err := f.Read(b)
			out.mu.Lock()
			out.buf.Write(b[:n])
			out.mu.Unlock()
			if err != nil {
				close(out.eof)
				return
			}
		}
	}()
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	}()
	send := func(s string) {
		t.Helper()
		if _, err := io.WriteString(f, s); err != nil {
			t.Fatalf("writing %q: %v", s, err)
		}
	}
	const wait = 30 * time.Second
	pos := out.waitFor(t, 0, "type help for the commands", wait)
	pos = out.waitFor(t, pos, "kdump> ", wait)

	send("mod\r")
	pos = out.waitFor(t, pos, "klp_stub_bug [K]", wait)
	pos = out.waitFor(t, pos, "kdump> ", wait)

	// Seed 000 for real: the call stub to tgt_secret on ool_stubs[0].
	send("stubs klp_stub_bug --overlay\r")
	pos = out.waitFor(t, pos, "tgt_secret", wait)
	pos = out.waitFor(t, pos, "kdump> ", wait)

	// 40 words: slots 0-3, the last being arch.tramp (ftrace_caller).
	send("dis klp_stub_bug:.stubs 40\r")
	pos = out.waitFor(t, pos, "ppc64[3]", wait)
	pos = out.waitFor(t, pos, arch["tramp"].(string), wait)
	pos = out.waitFor(t, pos, "ftrace_caller", wait)
	pos = out.waitFor(t, pos, "kdump> ", wait)

	// Tab completes the member path: "module.arc" -> "module.arch".
	send("struct module.arc\t")
	pos = out.waitFor(t, pos, "module.arch", wait)
	send(" " + mod["struct_module"].(string) + "\r")
	pos = out.waitFor(t, pos, fmt.Sprintf("ool_stub_count = %v", arch["ool_stub_count"]), wait)
	pos = out.waitFor(t, pos, "kdump> ", wait)

	// Tab twice on an ambiguous prefix lists the struct names from DWARF.
	send("struct mod\t\t")
	pos = out.waitFor(t, pos, "mod_arch_specific", wait)
	// Ctrl-C leaves the candidate list, a second drops the line (readline
	// shows its InterruptPrompt "^C").
	send("\x03")
	time.Sleep(200 * time.Millisecond)
	send("\x03")
	pos = out.waitFor(t, pos, "^C", wait)
	pos = out.waitFor(t, pos, "kdump> ", wait)

	send("audit\r")
	pos = out.waitFor(t, pos, "findings", wait)
	pos = out.waitFor(t, pos, "kdump> ", wait)

	send("log | tail -3\r")
	pos = out.waitFor(t, pos, "kdump> ", wait)

	// A command still running (ftrace's output into a pipe nobody reads)
	// is cancelled by Ctrl-C; the session prints why and goes on.
	send("ftrace | sleep 30\r")
	time.Sleep(700 * time.Millisecond)
	start := time.Now()
	send("\x03")
	pos = out.waitFor(t, pos, "interrupted", wait)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Ctrl-C took %v to end the command", d)
	}
	pos = out.waitFor(t, pos, "kdump> ", wait)
	// The next command runs: tgt_show's address from the guest's kallsyms.
	send("sym tgt_show\r")
	pos = out.waitFor(t, pos, "c008000000840028", wait)
	out.waitFor(t, pos, "kdump> ", wait)

	send("quit\r")
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v\n%s", err, out.String())
		}
	case <-time.After(wait):
		t.Fatalf("quit did not end the session")
	}
	h, err := os.ReadFile(hist)
	if err != nil {
		t.Fatalf("history not written: %v", err)
	}
	for _, want := range []string{"mod", "stubs klp_stub_bug --overlay", "dis klp_stub_bug:.stubs 40", "audit", "sym tgt_show"} {
		if !strings.Contains(string(h), want+"\n") {
			t.Errorf("history lacks %q:\n%s", want, h)
		}
	}
}
