package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/chzyer/readline"
)

// HistoryEnv names the environment variable that overrides the history
// file's path (tests point it at a temporary file).
const HistoryEnv = "KDUMP_INSPECT_HISTORY"

// HistoryFile is the persistent history: $KDUMP_INSPECT_HISTORY when set,
// else ~/.kdump-inspect_history.
func HistoryFile() string {
	if p := os.Getenv(HistoryEnv); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".kdump-inspect_history")
}

// Interactive runs the readline loop until `quit` or end of input. Ctrl-C
// at the prompt clears the line; Ctrl-C while a command runs cancels that
// command's context and the session goes on.
func (s *Session) Interactive(ctx context.Context, in io.ReadCloser, historyFile string) error {
	cfg := &readline.Config{
		Prompt:          "kdump> ",
		HistoryFile:     historyFile,
		AutoComplete:    &completer{s: s},
		InterruptPrompt: "^C",
		EOFPrompt:       "quit",
		Stdout:          s.Out,
		Stderr:          s.Err,
	}
	if in != nil {
		cfg.Stdin = in
	}
	rl, err := readline.NewEx(cfg)
	if err != nil {
		return fmt.Errorf("readline: %w", err)
	}
	defer rl.Close()
	fmt.Fprintf(s.Out, "%s\ntype help for the commands, quit to leave\n", s.banner())

	// SIGINT is caught for the whole session, not only while a command
	// runs: one arriving between two commands (before readline has the
	// terminal in raw mode again) must not end the process.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGINT)
	defer signal.Stop(sig)
	stopSig := make(chan struct{})
	defer close(stopSig)
	go func() {
		for {
			select {
			case <-sig:
				s.interrupt()
			case <-stopSig:
				return
			}
		}
	}()

	for !s.quit {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		line, err := rl.Readline()
		switch {
		case errors.Is(err, readline.ErrInterrupt):
			continue
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
		for _, c := range SplitCommands(line) {
			if err := s.execInterruptible(ctx, c); err != nil {
				fmt.Fprintf(s.Err, "%v\n", err)
			}
			if s.quit {
				break
			}
		}
	}
	return nil
}

// execInterruptible runs one command with a context that SIGINT (caught
// by Interactive) cancels: the command ends, the session goes on.
func (s *Session) execInterruptible(parent context.Context, line string) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	s.intMu.Lock()
	s.cancelRunning = cancel
	s.intMu.Unlock()
	defer func() {
		s.intMu.Lock()
		s.cancelRunning = nil
		s.intMu.Unlock()
	}()
	err := s.Exec(ctx, line)
	if ctx.Err() != nil && parent.Err() == nil {
		return errInterrupted
	}
	return err
}

// interrupt cancels the running command, if any.
func (s *Session) interrupt() {
	s.intMu.Lock()
	defer s.intMu.Unlock()
	if s.cancelRunning != nil {
		s.cancelRunning()
	}
}

func (s *Session) banner() string {
	p := s.Prog
	return fmt.Sprintf("%s: %s, %s, %s MMU, %dK pages", strings.Join(p.Dump.Paths, ","), p.Release, p.Dump.Format, p.Arch.MMU(), p.PageSize/1024)
}

// completer completes commands, then per command kind: symbols, type names
// and member paths, module names.
type completer struct{ s *Session }

func (c *completer) Do(line []rune, pos int) ([][]rune, int) {
	text := string(line[:pos])
	words := strings.Fields(text)
	cur := ""
	if len(text) > 0 && !strings.HasSuffix(text, " ") && len(words) > 0 {
		cur = words[len(words)-1]
		words = words[:len(words)-1]
	}
	var cands []string
	if len(words) == 0 {
		for _, cmd := range c.s.cmds {
			cands = append(cands, cmd.Name)
		}
	} else {
		cmd, ok := c.s.Lookup(words[0])
		if !ok || strings.HasPrefix(cur, "-") {
			return nil, 0
		}
		cands = c.s.candidates(cmd.Name, cmd.Complete, cur)
	}
	var out [][]rune
	for _, k := range cands {
		if strings.HasPrefix(k, cur) {
			out = append(out, []rune(k[len(cur):]))
		}
		if len(out) >= 200 {
			break
		}
	}
	return out, len([]rune(cur))
}
