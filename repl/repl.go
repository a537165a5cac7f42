// Package repl is kdump-inspect's user interface: one command table
// ({Name, Aliases, Usage, Help, Run}, after delve's pkg/terminal), a
// readline session with history and completion, batch execution (-c, -i,
// stdin), and every printed view — `dis` with the .stubs overlay columns,
// crash-shaped `struct`/`p`/`rd`, `mod`, `stubs`, `log`, `info`.
//
// It prints; it does not analyse. The facts come from packages kernel,
// modules and (when present) ftrace; a view that cannot read something says
// so on the line where the value would be, never prints zeros instead.
// It never calls os.Exit: package main does.
//
// Layer: views (docs/ARCHITECTURE.md).
package repl

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// Command is one entry of the command table.
type Command struct {
	Name    string
	Aliases []string
	// Usage is the synopsis line ("dis [-r] [-l] ADDR|SYMBOL [COUNT]").
	Usage string
	// Help is the description; its first line is the summary that `help`
	// lists. The flags each command defines are appended by `help CMD` and
	// the generated docs.
	Help string
	// Flags, when set, declares the command's flags on fs (so that help
	// and docs can list them); Run parses with Call.Parse.
	Flags func(fs *flag.FlagSet)
	Run   func(c *Call) error
	// Complete says what the positional arguments complete to.
	Complete CompleteKind
	// Crash is crash's command for the same job ("kmem -s"), "" when
	// crash has none; Examples are command lines `help CMD` and the docs
	// show (crashdocs.go fills both for the older entries).
	Crash    string
	Examples []string
	// JSON lists the shapes of the command's --json data, one wire.Form
	// per flag combination that changes it (docs/schema/NAME.json is made
	// from it); nil for a command without --json.
	JSON []wire.Form
}

// CompleteKind selects tab completion for a command's arguments.
type CompleteKind int

const (
	CompleteNone CompleteKind = iota
	CompleteSymbol
	CompleteType // type names and member paths (struct module.ar<TAB>)
	CompleteModule
	CompleteCommand
	CompleteDis // symbols, modules as MODULE:.stubs
)

// Summary is the first line of the help text.
func (c *Command) Summary() string {
	s, _, _ := strings.Cut(c.Help, "\n")
	return s
}

// FlagSet returns a fresh flag set with the command's flags declared.
func (c *Command) FlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.Flags != nil {
		c.Flags(fs)
	}
	return fs
}

var (
	extraMu sync.Mutex
	extra   []Command
)

// register adds a command to the table for the running process, after
// builtinCommands (the one table every command is declared in); only
// tests use it, for commands that exist to fail. A later registration of
// the same name replaces the earlier one.
func register(c Command) {
	extraMu.Lock()
	defer extraMu.Unlock()
	for i := range extra {
		if extra[i].Name == c.Name {
			extra[i] = c
			return
		}
	}
	extra = append(extra, c)
}

// Commands returns the full command table, sorted by name.
func Commands() []Command {
	cmds := builtinCommands()
	extraMu.Lock()
	for _, e := range extra {
		replaced := false
		for i := range cmds {
			if cmds[i].Name == e.Name {
				cmds[i], replaced = e, true
			}
		}
		if !replaced {
			cmds = append(cmds, e)
		}
	}
	extraMu.Unlock()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	return withJSONForms(cmds)
}

// Options configure a Session.
type Options struct {
	Out, Err io.Writer
	// TTY says the output is a terminal: long output then goes through
	// $PAGER while `set scroll` is on.
	TTY bool
	// PanicLog is the directory for stacks of recovered panics; "" means
	// the user's cache directory.
	PanicLog string
	// Width is the width text fits (tables wrap their widest cells, long
	// lines fold); 0 is unlimited. WidthFromTerminal says it is the
	// terminal's: `> file` and `| cmd` are then unlimited (an explicit
	// --width or $COLUMNS holds for them too).
	Width             int
	WidthFromTerminal bool
	// Plain writes ASCII only (--plain).
	Plain bool
}

// Session is one open dump and the state of the command loop.
type Session struct {
	Prog *kernel.Program
	Out  io.Writer
	Err  io.Writer

	tty      bool
	scroll   bool
	width    int
	ttyWidth bool
	plain    bool
	radix    int
	panicDir string
	cmds     []Command
	byName   map[string]*Command

	// A is the analysis every view reads: the module set, the ftrace
	// state, the stacks (package analysis).
	A *analysis.Analysis

	intMu         sync.Mutex
	cancelRunning context.CancelFunc // the running command's (interactive)

	derivedMu sync.Mutex
	reportGen uint64
	report    *audit.Report // the audit with every rule, for the marks
	modRepGen uint64
	modReport *audit.Report // the audit without the vmlinux subject (ModulesReport)

	// status is the exit status a command asked for (the audit's).
	status int

	quit bool

	aliases map[string]string // alias NAME COMMAND...
}

// New makes a session over an opened program.
func New(p *kernel.Program, opts Options) *Session {
	s := &Session{Prog: p, A: analysis.New(p), Out: opts.Out, Err: opts.Err, tty: opts.TTY, scroll: opts.TTY, radix: 10, panicDir: opts.PanicLog,
		width: max(opts.Width, 0), ttyWidth: opts.WidthFromTerminal, plain: opts.Plain}
	if s.Out == nil {
		s.Out = os.Stdout
	}
	if s.Err == nil {
		s.Err = os.Stderr
	}
	s.cmds = Commands()
	s.byName = map[string]*Command{}
	for i := range s.cmds {
		c := &s.cmds[i]
		s.byName[c.Name] = c
		for _, a := range c.Aliases {
			s.byName[a] = c
		}
	}
	return s
}

// Modules returns every module analysed (once, on first use).
func (s *Session) Modules() *modules.Set { return s.A.Modules() }

// Report is the audit of the session's dump with every rule (once per
// generation of the analysis): the one judge whose findings `dis`,
// `stubs`, `bt` and `mod` mark.
func (s *Session) Report() *audit.Report {
	gen := s.A.Generation()
	s.derivedMu.Lock()
	defer s.derivedMu.Unlock()
	if s.report == nil || s.reportGen != gen {
		s.report = audit.Run(s.A, audit.Options{})
		s.reportGen = gen
	}
	return s.report
}

// ModulesReport is the audit of every module and of the system, without
// the vmlinux's own subject (its text held against the file, its ftrace
// sites and OOL stubs: work proportional to the whole vmlinux), for the
// views that show findings in modules alone (`mod`, `stubs`). A finding
// of the vmlinux subject is about the vmlinux (its Module is "vmlinux"),
// and the system rules that name modules read the module rules'
// findings, so every module's findings are those of Report. It is Report
// itself once that has been computed.
func (s *Session) ModulesReport() *audit.Report {
	gen := s.A.Generation()
	s.derivedMu.Lock()
	if s.report != nil && s.reportGen == gen {
		defer s.derivedMu.Unlock()
		return s.report
	}
	s.derivedMu.Unlock()
	set := s.A.Modules()
	subjects := make([]string, 0, len(set.Modules)+1)
	for _, m := range set.Modules {
		if m.Module.Name != "vmlinux" && m.Module.Name != "system" {
			subjects = append(subjects, m.Module.Name)
		}
	}
	subjects = append(subjects, "system")
	s.derivedMu.Lock()
	defer s.derivedMu.Unlock()
	if s.modReport == nil || s.modRepGen != gen {
		s.modReport = audit.Run(s.A, audit.Options{Subjects: subjects})
		s.modRepGen = gen
	}
	return s.modReport
}

// SetExitStatus records an exit status for the batch run (the audit's):
// the gravest one asked for wins, cannot-analyse above findings above
// incomplete.
func (s *Session) SetExitStatus(code int) {
	rank := map[int]int{0: 0, 3: 1, 1: 2, 2: 3}
	if rank[code] > rank[s.status] {
		s.status = code
	}
}

// ExitStatus is the status commands asked for (0 when none did).
func (s *Session) ExitStatus() int { return s.status }

// Quit reports whether `quit` ran.
func (s *Session) Quit() bool { return s.quit }

// Lookup finds a command by name or alias.
func (s *Session) Lookup(name string) (*Command, bool) {
	c, ok := s.byName[name]
	return c, ok
}

// Call is one invocation of a command.
type Call struct {
	S    *Session
	Ctx  context.Context
	Out  io.Writer
	Cmd  *Command
	Args []string

	// jsonMode: the command line asked for --json (or --jsonl); wrote: a
	// document was written (Exec writes one for an error otherwise).
	jsonMode, wrote bool
	warnings        []string
}

// UsageError is a command line a command cannot parse.
type UsageError struct {
	Cmd string
	Msg string
}

func (e *UsageError) Error() string { return fmt.Sprintf("%s: %s (see: help %s)", e.Cmd, e.Msg, e.Cmd) }

// errHelp asks Exec to print the command's help.
var errHelp = errors.New("help requested")

// Parse parses the call's arguments against fs, allowing flags after
// positional arguments (crash users type `struct module.arch ADDR -x`).
func (c *Call) Parse(fs *flag.FlagSet) ([]string, error) {
	var pos []string
	args := c.Args
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, &UsageError{Cmd: c.Cmd.Name, Msg: err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// Flags is c.Cmd.FlagSet() parsed: the common case of a command.
func (c *Call) Flags() *flag.FlagSet { return c.Cmd.FlagSet() }

// Warn records a warning for the command's JSON document (what makes its
// data incomplete or doubtful); text views print their own.
func (c *Call) Warn(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

// JSON writes v as the command's document (docs/OUTPUT.md): {"schema":
// "kdump-inspect/1", "command": NAME, "data": v, "warnings": [...]}.
func (c *Call) JSON(v any) error { return c.writeDoc(v, nil) }

// jsonWithWarnings prints v as the command's JSON document with the
// view's warnings in the envelope.
func jsonWithWarnings(c *Call, v any, warnings []string) error {
	for _, w := range warnings {
		c.Warn("%s", w)
	}
	return c.JSON(v)
}

// JSONPartial writes v as the command's document with err as its error
// (the data is what the command had when it failed), and returns err.
func (c *Call) JSONPartial(v any, err error) error {
	if werr := c.writeDoc(v, err); werr != nil {
		return werr
	}
	return err
}

func (c *Call) writeDoc(v any, err error) error {
	d := wire.New(c.Cmd.Name, v, c.warnings)
	if err != nil {
		d.Error = err.Error()
	}
	c.wrote = true
	return wire.Write(c.Out, d, true)
}

// wantsJSON says whether a command line asks for JSON.
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--json", "-json", "--json=true", "-json=true", "--jsonl", "-jsonl":
			return true
		}
	}
	return false
}

// Printf writes to the command's output.
func (c *Call) Printf(format string, args ...any) {
	fmt.Fprintf(c.Out, format, args...)
}

// Exec runs one command line: `cmd args`, optionally `cmd args | shell
// command` (the output piped through sh, as crash does). Errors are
// returned, not printed; a panic inside a command is recovered and
// returned as an error naming the log file that holds its stack.
func (s *Session) Exec(ctx context.Context, line string) (err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return nil
	}
	if line, err = s.expandAlias(line); err != nil {
		return err
	}
	if sh, ok := strings.CutPrefix(line, "!"); ok {
		return s.runShell(ctx, sh)
	}
	lp, err := splitLine(line)
	if err != nil {
		return err
	}
	args, err := SplitArgs(lp.Cmd)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return nil
	}
	args = formatSuffix(args)
	cmd, ok := s.byName[args[0]]
	if !ok {
		return s.unknownCommand(args[0])
	}
	out := s.Out
	var finish func() error
	switch {
	case lp.File != "" || lp.Pipe != "":
		if out, finish, err = s.redirect(ctx, lp); err != nil {
			return err
		}
	case s.tty && s.scroll && cmd.Name != "quit" && cmd.Name != "set":
		out, finish = s.pager(ctx)
	}
	jsonMode := wantsJSON(args[1:])
	var term *TermWriter
	if !jsonMode {
		width := s.width
		if s.ttyWidth && (lp.File != "" || lp.Pipe != "") {
			width = 0
		}
		term = NewTermWriter(out, width, s.plain)
		out = term
	}
	call := &Call{S: s, Ctx: ctx, Out: out, Cmd: cmd, Args: args[1:], jsonMode: jsonMode}
	err = s.run(call)
	if term != nil {
		if ferr := term.Flush(); ferr != nil && err == nil {
			err = ferr
		}
	}
	if call.jsonMode && !call.wrote && err != nil && !errors.Is(err, errHelp) {
		// A failed command still writes its one document: data null, the
		// error said (and returned, for stderr and the exit status).
		if werr := call.writeDoc(nil, err); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	if finish != nil {
		ferr := finish()
		switch {
		case errors.Is(ferr, errInterrupted):
			// Ctrl-C stopped the pipe's reader (it shares the terminal)
			// before the session's own cancellation came: the command was
			// interrupted, whatever its writes then met.
			err = ferr
		case lp.Pipe != "" && errors.Is(err, syscall.EPIPE):
			// The reader stopped reading (head, grep -m, less's q): as in
			// a shell, the rest of the output is dropped without an error.
			err = ferr
		case ferr != nil && err == nil:
			err = ferr
		}
	}
	if errors.Is(err, errHelp) {
		tw := NewTermWriter(s.Out, s.width, s.plain)
		writeCommandHelp(tw, cmd)
		return tw.Flush()
	}
	return err
}

// run calls the command with the panic boundary.
func (s *Session) run(c *Call) (err error) {
	defer func() {
		if r := recover(); r != nil {
			path := s.writePanic(c, r, debug.Stack())
			err = fmt.Errorf("%s: internal error: %v (stack written to %s)", c.Cmd.Name, r, path)
		}
	}()
	if err := c.Ctx.Err(); err != nil {
		return err
	}
	return c.Cmd.Run(c)
}

func (s *Session) writePanic(c *Call, r any, stack []byte) string {
	dir := s.panicDir
	if dir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(d, "kdump-inspect")
		} else {
			dir = os.TempDir()
		}
	}
	_ = os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, fmt.Sprintf("panic-%s.log", time.Now().Format("20060102-150405.000000")))
	text := fmt.Sprintf("command: %s %s\npanic: %v\n\n%s", c.Cmd.Name, strings.Join(c.Args, " "), r, stack)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return "(could not write log: " + err.Error() + ")"
	}
	return path
}

// SplitArgs splits a command line into words: whitespace separates,
// single and double quotes group, backslash escapes the next character
// outside single quotes.
func SplitArgs(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var q rune
	esc := false
	for _, r := range line {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && q != '\'':
			esc, inWord = true, true
		case q != 0:
			if r == q {
				q = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			q, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if q != 0 {
		return nil, fmt.Errorf("unterminated %c quote", q)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// SplitCommands splits a -c argument at ';' outside quotes.
func SplitCommands(s string) []string {
	var out []string
	var q rune
	start := 0
	for i, r := range s {
		switch {
		case q != 0:
			if r == q {
				q = 0
			}
		case r == '\'' || r == '"':
			q = r
		case r == ';':
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	out = append(out, strings.TrimSpace(s[start:]))
	var nonEmpty []string
	for _, c := range out {
		if c != "" {
			nonEmpty = append(nonEmpty, c)
		}
	}
	return nonEmpty
}

// RunBatch runs commands one after another, printing each error to Err
// and going on; it stops early on `quit` or when ctx ends. It returns the
// number of commands that failed.
func (s *Session) RunBatch(ctx context.Context, cmds []string) int {
	failed := 0
	for _, line := range cmds {
		if ctx.Err() != nil || s.quit {
			break
		}
		if err := s.Exec(ctx, line); err != nil {
			fmt.Fprintf(s.Err, "%v\n", err)
			failed++
		}
	}
	return failed
}

// RunReader runs the commands read line by line from r (a script for -i,
// or stdin when it is not a terminal), echoing nothing, as crash -i does.
func (s *Session) RunReader(ctx context.Context, r io.Reader) int {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	failed := 0
	for sc.Scan() {
		if ctx.Err() != nil || s.quit {
			break
		}
		failed += s.RunBatch(ctx, SplitCommands(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(s.Err, "reading commands: %v\n", err)
		failed++
	}
	return failed
}

// errInterrupted ends a command Ctrl-C stopped.
var errInterrupted = errors.New("interrupted")

// pipeTo starts `sh -c pipe` with its stdout on out and returns the writer
// feeding it and a function that waits for it.
func pipeTo(ctx context.Context, pipe string, out, errw io.Writer) (io.Writer, func() error, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", pipe)
	cmd.Stdout, cmd.Stderr = out, errw
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("pipe %q: %w", pipe, err)
	}
	return w, func() error {
		w.Close()
		if err := cmd.Wait(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				// Killed by SIGINT, or a shell reporting that its child
				// was (exit status 128+SIGINT).
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && (ws.Signaled() && ws.Signal() == syscall.SIGINT || ws.ExitStatus() == 128+int(syscall.SIGINT)) {
					return errInterrupted
				}
				return nil // head/grep ending early is normal
			}
			return fmt.Errorf("pipe %q: %w", pipe, err)
		}
		return nil
	}, nil
}

// pagerLines is the output length above which output goes through the
// pager on a terminal.
const pagerLines = 40

// pager buffers a command's output and, when it is long, shows it through
// $PAGER (default "less -FRX").
func (s *Session) pager(ctx context.Context) (io.Writer, func() error) {
	var buf strings.Builder
	return &buf, func() error {
		text := buf.String()
		if strings.Count(text, "\n") <= pagerLines {
			_, err := io.WriteString(s.Out, text)
			return err
		}
		p := os.Getenv("PAGER")
		if p == "" {
			p = "less -FRX"
		}
		cmd := exec.CommandContext(ctx, "sh", "-c", p)
		cmd.Stdin = strings.NewReader(text)
		cmd.Stdout, cmd.Stderr = s.Out, s.Err
		if err := cmd.Run(); err != nil {
			_, werr := io.WriteString(s.Out, text)
			return werr
		}
		return nil
	}
}
