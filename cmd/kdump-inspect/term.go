package main

import (
	"flag"
	"io"
	"os"
	"strconv"

	"github.com/chzyer/readline"

	"github.com/kdump-inspect/kdump-inspect/repl"
)

// termFlags are the text-output flags every command line takes.
type termFlags struct {
	width int
	plain bool
}

func (t *termFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&t.width, "width", -1, "fit text to `N` columns (0: unlimited; default $COLUMNS, else the terminal's width, else unlimited)")
	fs.BoolVar(&t.plain, "plain", false, "ASCII-only text (the default when stdout is not a terminal)")
}

// resolve says the width text fits, whether it is the terminal's (then
// `> file` and `| cmd` are not fitted), and whether to write ASCII only:
// --width, else $COLUMNS, else the terminal's width when stdout is one,
// else unlimited (as crash, which does not fold what goes to a pipe).
func (t *termFlags) resolve(stdout io.Writer) (width int, fromTerminal, plain bool) {
	tty := isTTY(stdout)
	plain = t.plain || !tty
	switch {
	case t.width >= 0:
		return t.width, false, plain
	case os.Getenv("COLUMNS") != "":
		if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
			return n, false, plain
		}
	}
	if tty {
		if f, ok := stdout.(*os.File); ok && f == os.Stdout {
			if n := readline.GetScreenWidth(); n > 0 {
				return n, true, plain
			}
		}
	}
	return 0, false, plain
}

// options fills a session's text options.
func (t *termFlags) options(o repl.Options, stdout io.Writer) repl.Options {
	o.Width, o.WidthFromTerminal, o.Plain = t.resolve(stdout)
	return o
}
