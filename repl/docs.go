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
	fmt.Fprintf(w, "Every command runs in the interactive session, in `-c 'CMD; CMD'`, in `-i FILE` and from stdin. `CMD | shell` pipes the output through a shell command; `help CMD` prints the entry below.\n\n")
	for _, c := range cmds {
		fmt.Fprintf(w, "- [`%s`](#%s) — %s\n", c.Name, c.Name, c.Summary())
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
	}
}
