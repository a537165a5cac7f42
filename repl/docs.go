package repl

import (
	"fmt"
	"io"
	"strings"
)

// WriteDocs writes the command reference (docs/COMMANDS.md) generated
// from the command table.
func WriteDocs(w io.Writer, cmds []Command) {
	fmt.Fprintf(w, "# kdump-inspect commands\n\n")
	fmt.Fprintf(w, "<!-- Generated from the command table (package repl) by `go generate ./cmd/kdump-inspect`; do not edit. -->\n\n")
	fmt.Fprintf(w, "Every command runs in the interactive session, in `-c 'CMD; CMD'`, in `-i FILE` and from stdin. `CMD > FILE` and `CMD >> FILE` write the output to FILE, `CMD | shell` pipes it through a shell command, `!CMD` runs a shell command, `p/x EXPR` is `p -x EXPR`, an unknown command or symbol gets the nearest names; `help CMD` prints the entry below with its examples. The dump and the vmlinux may come in either order (`kdump-inspect vmlinux vmcore`, as crash takes them).\n\nText fits the terminal: `--width N`, else `$COLUMNS`, else the terminal's width (tables wrap their widest cells, long lines fold under their text; output to a pipe or a file is not folded, as crash does not fold it), and no line ends in a blank; `--plain`, the default when stdout is not a terminal, writes ASCII only. `--json` prints one document in the kdump-inspect/1 envelope, described in docs/OUTPUT.md and docs/schema/COMMAND.json.\n\n")
	fmt.Fprintf(w, "| command | crash equivalent | what it does |\n|---|---|---|\n")
	for _, c := range cmds {
		crash := "—"
		if c.Crash != "" {
			crash = "`" + c.Crash + "`"
		}
		fmt.Fprintf(w, "| [`%s`](#%s) | %s | %s |\n", c.Name, c.Name, crash, strings.ReplaceAll(c.Summary(), "|", "\\|"))
	}
	for _, c := range cmds {
		fmt.Fprintf(w, "\n## %s\n\n```\n%s\n```\n\n", c.Name, c.Usage)
		if len(c.Aliases) > 0 {
			fmt.Fprintf(w, "Aliases: %s\n\n", "`"+strings.Join(c.Aliases, "`, `")+"`")
		}
		fmt.Fprintf(w, "%s\n", c.Help)
		if fl := flagLines(&c); len(fl) > 0 {
			fmt.Fprintf(w, "\n| flag | meaning |\n|---|---|\n")
			for _, l := range fl {
				name, usage, _ := strings.Cut(l, "\t")
				fmt.Fprintf(w, "| `%s` | %s |\n", name, strings.ReplaceAll(usage, "|", "\\|"))
			}
		}
		if c.Crash != "" {
			fmt.Fprintf(w, "\ncrash equivalent: `%s`\n", c.Crash)
		} else {
			fmt.Fprintf(w, "\ncrash equivalent: none\n")
		}
		if len(c.Examples) > 0 {
			fmt.Fprintf(w, "\nExamples:\n\n```\n%s\n```\n", strings.Join(c.Examples, "\n"))
		}
	}
}
