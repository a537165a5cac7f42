// Command kdump-inspect analyses ppc64 Linux kernel crash dumps (kdump
// ELF, kdump-compressed, flattened, QEMU dump-guest-memory) with their
// vmlinux and module debuginfo, as crash and drgn do, with views built for
// the ppc64 module loader's .stubs and out-of-line ftrace stubs.
//
//	kdump-inspect [-s VMLINUX] [--modules DIR] [--force] DUMP [-c 'CMD; CMD' | -i FILE]
//	kdump-inspect [flags] VMLINUX DUMP   (crash's order; either order works)
//	kdump-inspect info [--json] [-s VMLINUX] DUMP
//	kdump-inspect read [-s VMLINUX] [--phys] DUMP ADDR LEN
//
// Exit status: 0 success; 1 some commands of -c/-i/stdin failed; 2 the
// dump cannot be analysed (bad input, unreadable address for read, bad
// usage). An `audit` among the commands sets the status as the audit
// subcommand does (1 findings, 3 incomplete). This is the only package
// that calls os.Exit.
//
// Layer: command (docs/ARCHITECTURE.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"

	"github.com/chzyer/readline"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/repl"

	// The readers of debug information the models ask for through
	// symbols' registries (the views build without them).
	_ "github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
)

//go:generate go test -run TestCommandsDoc|TestSchemaFiles -update .

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // some batch commands failed
	exitBad    = 2 // cannot analyse
)

// subcommand is a one-shot command: `kdump-inspect NAME ARGS`.
type subcommand struct {
	Name  string
	Usage string
	Help  string
	Run   func(args []string, stdout, stderr io.Writer) int
}

// subcommands is the one-shot command table; each file adds its entries
// from init (audit.go adds "audit" with one assignment).
var subcommands = map[string]subcommand{}

func init() {
	subcommands["info"] = subcommand{Name: "info", Usage: "info [--json] [-s VMLINUX] [--modules DIR] [--force] DUMP",
		Help: "describe the dump (format, MMU, release, CPUs, memory)", Run: runInfo}
	subcommands["read"] = subcommand{Name: "read", Usage: "read [-s VMLINUX] [--phys] DUMP ADDR LEN",
		Help: "write LEN raw bytes at ADDR (kernel virtual, or physical with --phys) to stdout", Run: runRead}
}

func main() {
	// KDUMP_INSPECT_CPUPROFILE=FILE writes a CPU profile of the whole run
	// (docs/PERFORMANCE.md: where start-up time goes).
	if path := os.Getenv("KDUMP_INSPECT_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
				pprof.StopCPUProfile()
				f.Close()
				os.Exit(code)
			}
		}
	}
	// KDUMP_INSPECT_MEMPROFILE=FILE writes a heap profile (every
	// allocation made, by bytes: -sample_index=alloc_space) at the end.
	if path := os.Getenv("KDUMP_INSPECT_MEMPROFILE"); path != "" {
		runtime.MemProfileRate = 4096
		code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		runtime.GC() // the profile is as of the last collection
		if f, err := os.Create(path); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without os.Exit, for tests.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "kdump-inspect: internal error: %v\n%s", r, debug.Stack())
			code = exitBad
		}
	}()
	if len(args) > 0 {
		if sc, ok := subcommands[args[0]]; ok {
			if st, err := os.Stat(args[0]); err != nil || !st.Mode().IsRegular() { // a dump file named "info" wins
				return sc.Run(args[1:], stdout, stderr)
			}
		}
	}
	if name, ok := oneShotCommand(args); ok {
		return runOneShot(name, args[1:], stdout, stderr)
	}
	return runSession(args, stdin, stdout, stderr)
}

// openFlags are the flags every form shares.
type openFlags struct {
	term      termFlags
	vmlinux   string
	modules   stringList
	force     bool
	debugRoot string
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func (o *openFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.vmlinux, "s", "", "the vmlinux (default: vmlinux[.zst] beside the dump)")
	fs.Var(&o.modules, "modules", "directory searched for module .ko files (repeatable; default: modules/ beside the dump)")
	fs.BoolVar(&o.force, "force", false, "accept a vmlinux whose build-id or release does not match the dump")
	fs.StringVar(&o.debugRoot, "debug-root", "", "system root whose usr/lib/debug and lib/modules layouts are searched for module debuginfo (default /)")
	o.term.register(fs)
}

// kernelOptions are the options kernel.Open takes from the flags. The
// distribution debuginfo layouts under / are searched after --modules and
// the directory beside the dump; --debug-root names another root.
func (o *openFlags) kernelOptions() kernel.Options {
	roots := []string{"/"}
	if o.debugRoot != "" {
		roots = []string{o.debugRoot}
	}
	// KDUMP_INSPECT_IGNORE_VMCOREINFO=1 (a test hook, not a flag): open the
	// dump as if it had no VMCOREINFO note.
	return kernel.Options{Vmlinux: o.vmlinux, ModuleDirs: o.modules, Force: o.force, DebugRoots: roots,
		IgnoreVMCOREINFONote: os.Getenv("KDUMP_INSPECT_IGNORE_VMCOREINFO") == "1"}
}

// openPositional opens the dump the positional arguments name, the
// vmlinux among them taken out first (splitPositional).
func (o *openFlags) openPositional(pos []string, stderr io.Writer) (*kernel.Program, error) {
	pos, err := o.splitPositional(pos)
	if err != nil {
		return nil, err
	}
	return o.open(pos, stderr)
}

func (o *openFlags) open(paths []string, stderr io.Writer) (*kernel.Program, error) {
	setupProgress(stderr)
	defer quietGC()()
	p, err := kernel.Open(paths, o.kernelOptions())
	if err != nil {
		return nil, err
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	return p, nil
}

// startupMemLimit is the heap size at which the collector runs anyway
// while quietGC has it off.
const startupMemLimit = 512 << 20

// quietGC turns the garbage collector off, with startupMemLimit as the
// backstop, for kernel.Open's burst of allocations that all stay live
// (the vmlinux symbol table, the DWARF name index, page-table state): on
// the Debian distro vmlinux about 40 ms of a 180 ms start-up went to
// marking them (docs/PERFORMANCE.md, section 8). It returns the function
// that restores the settings; a GOGC or GOMEMLIMIT the user set is left
// alone.
func quietGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	pct := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(startupMemLimit)
	return func() {
		debug.SetMemoryLimit(limit)
		debug.SetGCPercent(pct)
	}
}

// setupProgress shows the first-run decompression progress on a terminal.
func setupProgress(stderr io.Writer) {
	f, ok := stderr.(*os.File)
	if !ok || !readline.IsTerminal(int(f.Fd())) {
		return
	}
	container.Progress = func(name string, written int64, done bool) {
		if done {
			fmt.Fprintf(stderr, "\rdecompressed %s: %d MiB\n", name, written>>20)
			return
		}
		fmt.Fprintf(stderr, "\rdecompressing %s: %d MiB", name, written>>20)
	}
}

// parseInterspersed parses flags anywhere among the arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage:\n  kdump-inspect [-s VMLINUX] [--modules DIR] [--force] [--width N] [--plain] DUMP [-c 'CMD; CMD' | -i FILE]\n  kdump-inspect [flags] VMLINUX DUMP (or DUMP VMLINUX: told apart by their first bytes)\n")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  kdump-inspect %s\n      %s\n", subcommands[n].Usage, subcommands[n].Help)
	}
	fmt.Fprintf(w, "exit status: 0 ok, 1 some commands failed, 2 cannot analyse\n")
}

func runSession(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kdump-inspect", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o openFlags
	o.register(fs)
	cmds := fs.String("c", "", "run `COMMANDS` (separated by ;) and exit")
	script := fs.String("i", "", "run the commands in `FILE` and exit")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) == 0 {
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "kdump-inspect: %v\n", err)
		}
		usage(stderr)
		return exitBad
	}
	p, err := o.openPositional(pos, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "kdump-inspect: %v\n", err)
		return exitBad
	}
	defer p.Close()

	tty := isTTY(stdout) && isTTY(stdin)
	s := repl.New(p, o.term.options(repl.Options{Out: stdout, Err: stderr, TTY: tty}, stdout))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	failed := 0
	interactive := false
	switch {
	case *cmds != "":
		failed = s.RunBatch(ctx, repl.SplitCommands(*cmds))
	case *script != "":
		f, err := os.Open(*script)
		if err != nil {
			fmt.Fprintf(stderr, "kdump-inspect: %v\n", err)
			return exitBad
		}
		defer f.Close()
		failed = s.RunReader(ctx, f)
	case tty:
		interactive = true
		stop() // the session handles Ctrl-C per command
		if err := s.Interactive(context.Background(), nil, repl.HistoryFile()); err != nil {
			fmt.Fprintf(stderr, "kdump-inspect: %v\n", err)
			return exitBad
		}
	default:
		failed = s.RunReader(ctx, stdin)
	}
	// In batch runs a command that asked for a status (the audit's: 1
	// findings, 3 incomplete) decides it; else failed commands make it 1.
	// An interactive session ends 0 whatever it audited.
	if st := s.ExitStatus(); st != exitOK && !interactive {
		return st
	}
	if failed > 0 {
		return exitFailed
	}
	return exitOK
}

func isTTY(v any) bool {
	f, ok := v.(*os.File)
	return ok && readline.IsTerminal(int(f.Fd()))
}

func runInfo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o openFlags
	o.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) == 0 {
		fmt.Fprintf(stderr, "usage: kdump-inspect %s\n", subcommands["info"].Usage)
		return exitBad
	}
	p, err := o.openPositional(pos, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "kdump-inspect: %v\n", err)
		return exitBad
	}
	defer p.Close()
	s := repl.New(p, repl.Options{Out: stdout, Err: stderr})
	cmd := "info"
	if *asJSON {
		cmd += " --json"
	}
	if err := s.Exec(context.Background(), cmd); err != nil {
		fmt.Fprintf(stderr, "kdump-inspect: %v\n", err)
		return exitBad
	}
	return exitOK
}

// maxReadLen bounds `read`.
const maxReadLen = 1 << 30

func runRead(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("read", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o openFlags
	o.register(fs)
	phys := fs.Bool("phys", false, "ADDR is a physical address")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 3 {
		fmt.Fprintf(stderr, "usage: kdump-inspect %s\n", subcommands["read"].Usage)
		return exitBad
	}
	addr, err1 := strconv.ParseUint(pos[1], 0, 64)
	n, err2 := strconv.ParseUint(pos[2], 0, 64)
	if err1 != nil || err2 != nil || n > maxReadLen {
		fmt.Fprintf(stderr, "kdump-inspect read: bad ADDR %q or LEN %q (LEN at most %d)\n", pos[1], pos[2], maxReadLen)
		return exitBad
	}
	var mem dump.Memory
	if *phys {
		setupProgress(stderr)
		d, err := dump.Open([]string{pos[0]}, dump.Options{})
		if err != nil {
			fmt.Fprintf(stderr, "kdump-inspect: %v\n", err)
			return exitBad
		}
		defer d.Close()
		if d.Phys == nil {
			fmt.Fprintf(stderr, "kdump-inspect: %s holds no physical memory\n", pos[0])
			return exitBad
		}
		mem = d.Phys
	} else {
		p, err := o.open(pos[:1], stderr)
		if err != nil {
			fmt.Fprintf(stderr, "kdump-inspect: %v\n", err)
			return exitBad
		}
		defer p.Close()
		mem = p.Context.Mem
	}
	return streamRead(mem, addr, n, stdout, stderr)
}
