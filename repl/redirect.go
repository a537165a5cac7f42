package repl

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// lineParts is one command line taken apart as crash takes it: the
// command, then `> FILE` or `>> FILE`, then `| SHELL COMMAND`.
type lineParts struct {
	Cmd    string
	File   string // "" without redirection
	Append bool   // >> rather than >
	Pipe   string // "" without a pipe
}

// splitLine splits a command line at the first `|` and the first `>` or
// `>>` that are outside quotes and outside parentheses and brackets (so
// `p (a | b)`, `p (x >> 2)` and `p init_task->pid` keep their operators).
// A `>` is a redirection only where a word starts: after a blank, not in
// `->`, `>=` or `a>b`. Quote an expression to keep a blank `>` in it
// (`p "a > b"`), as crash asks.
func splitLine(line string) (lineParts, error) {
	var lp lineParts
	cmdEnd, pipeAt := len(line), -1
	redirAt, redirLen := -1, 0
	depth := 0
	var q byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case q != 0:
			if c == '\\' && q == '"' && i+1 < len(line) {
				i++
			} else if c == q {
				q = 0
			}
			continue
		case c == '\\' && i+1 < len(line):
			i++
			continue
		case c == '\'' || c == '"':
			q = c
			continue
		case c == '(' || c == '[':
			depth++
			continue
		case (c == ')' || c == ']') && depth > 0:
			depth--
			continue
		}
		if depth > 0 {
			continue
		}
		if c == '|' {
			pipeAt = i
			break
		}
		if c == '>' && redirAt < 0 && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			n := 1
			if i+1 < len(line) && line[i+1] == '>' {
				n = 2
			}
			if i+n < len(line) && line[i+n] == '=' { // >= and >>=: operators
				continue
			}
			redirAt, redirLen = i, n
			i += n - 1
		}
	}
	if pipeAt >= 0 {
		lp.Pipe = strings.TrimSpace(line[pipeAt+1:])
		cmdEnd = pipeAt
		if lp.Pipe == "" {
			return lp, fmt.Errorf("nothing after |")
		}
	}
	if redirAt >= 0 && redirAt < cmdEnd {
		words, err := SplitArgs(line[redirAt+redirLen : cmdEnd])
		if err != nil {
			return lp, err
		}
		if len(words) != 1 {
			return lp, fmt.Errorf("%s wants one file name, got %d words (quote an expression holding %q)", line[redirAt:redirAt+redirLen], len(words), line[redirAt:redirAt+redirLen])
		}
		lp.File, lp.Append = words[0], redirLen == 2
		cmdEnd = redirAt
	}
	lp.Cmd = strings.TrimSpace(line[:cmdEnd])
	return lp, nil
}

// openRedirect opens the file of `> FILE` (truncated) or `>> FILE`.
func openRedirect(lp lineParts) (io.Writer, func() error, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if lp.Append {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(lp.File, flags, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

// runShell runs `!COMMAND` through sh, as crash does; a bare `!` starts
// an interactive shell on a terminal.
func (s *Session) runShell(ctx context.Context, command string) error {
	command = strings.TrimSpace(command)
	if command == "" {
		if !s.tty {
			return fmt.Errorf("!: want a shell command")
		}
		command = os.Getenv("SHELL")
		if command == "" {
			command = "sh"
		}
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Stdout, cmd.Stderr = s.Out, s.Err
	if s.tty {
		cmd.Stdin = os.Stdin
	}
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); ok {
			return nil // the command's own status, as crash ignores it
		}
		return fmt.Errorf("!%s: %w", command, err)
	}
	return nil
}

// maxAliasDepth bounds alias expansion (an alias may name another).
const maxAliasDepth = 10

// expandAlias replaces the first word of line by its alias, repeatedly;
// an alias that comes back to itself stops the expansion.
func (s *Session) expandAlias(line string) (string, error) {
	seen := map[string]bool{}
	for range maxAliasDepth {
		first, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		a, ok := s.aliases[first]
		if !ok || seen[first] {
			return line, nil
		}
		seen[first] = true
		line = a
		if rest != "" {
			line += " " + rest
		}
	}
	return "", fmt.Errorf("alias expansion deeper than %d", maxAliasDepth)
}

// cmdAlias lists the aliases or defines one (crash's alias).
func cmdAlias(c *Call) error {
	if len(c.Args) == 1 && (c.Args[0] == "--json" || c.Args[0] == "-json") {
		return c.JSON(c.S.aliasViews())
	}
	if len(c.Args) == 0 {
		names := make([]string, 0, len(c.S.aliases))
		for n := range c.S.aliases {
			names = append(names, n)
		}
		sort.Strings(names)
		c.Printf("ORIGIN   ALIAS    COMMAND\n")
		for _, n := range names {
			c.Printf("runtime  %-8s %s\n", n, c.S.aliases[n])
		}
		for _, cmd := range c.S.cmds {
			for _, a := range cmd.Aliases {
				c.Printf("builtin  %-8s %s\n", a, cmd.Name)
			}
		}
		return nil
	}
	name := c.Args[0]
	if len(c.Args) == 1 {
		if a, ok := c.S.aliases[name]; ok {
			c.Printf("runtime  %-8s %s\n", name, a)
			return nil
		}
		return fmt.Errorf("alias: %s is not an alias", name)
	}
	if _, ok := c.S.byName[name]; ok {
		return fmt.Errorf("alias: %s is a command", name)
	}
	if c.S.aliases == nil {
		c.S.aliases = map[string]string{}
	}
	c.S.aliases[name] = strings.Join(c.Args[1:], " ")
	return nil
}

// unknownCommand is the error for a command name that is in no table,
// with the nearest names ("did you mean").
func (s *Session) unknownCommand(name string) error {
	var names []string
	for n := range s.byName {
		names = append(names, n)
	}
	for n := range s.aliases {
		names = append(names, n)
	}
	if near := nearest(name, names, 3); len(near) > 0 {
		return fmt.Errorf("%s: unknown command; did you mean %s? (type help)", name, strings.Join(near, " or "))
	}
	return fmt.Errorf("%s: unknown command (type help)", name)
}

// nearest returns up to max candidates within a small edit distance of s
// (at most 1 for names of up to 4 letters, 2 up to 8, else 3), closest
// first; a candidate that s is a prefix of counts as distance 1.
func nearest(s string, candidates []string, max int) []string {
	limit := 3
	switch {
	case len(s) <= 4:
		limit = 1
	case len(s) <= 8:
		limit = 2
	}
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	seen := map[string]bool{}
	for _, c := range candidates {
		if seen[c] || c == s {
			continue
		}
		seen[c] = true
		if abs(len(c)-len(s)) > limit && !strings.HasPrefix(c, s) {
			continue
		}
		d := editDistance(s, c, limit)
		if strings.HasPrefix(c, s) && len(s) >= 2 {
			d = min(d, 1)
		}
		if d <= limit {
			cs = append(cs, cand{c, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].name < cs[j].name
	})
	var out []string
	for i := 0; i < len(cs) && i < max; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// editDistance is the Damerau-Levenshtein distance (adjacent
// transpositions count 1) of a and b, or limit+1 once it must exceed
// limit.
func editDistance(a, b string, limit int) int {
	if abs(len(a)-len(b)) > limit {
		return limit + 1
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// redirect sends a command's output to `> FILE`, `>> FILE` or `| SHELL`.
func (s *Session) redirect(ctx context.Context, lp lineParts) (io.Writer, func() error, error) {
	if lp.File != "" && lp.Pipe != "" {
		return nil, nil, fmt.Errorf("both > and |: redirect inside the shell command instead (cmd | sh-cmd > FILE)")
	}
	if lp.Pipe != "" {
		return pipeTo(ctx, lp.Pipe, s.Out, s.Err)
	}
	return openRedirect(lp)
}

// formatSuffix turns gdb's `p/x EXPR` into `p -x EXPR`: each letter after
// the slash becomes a flag (x hexadecimal, d decimal, and any other the
// command defines).
func formatSuffix(args []string) []string {
	name, letters, ok := strings.Cut(args[0], "/")
	if !ok || name == "" || letters == "" {
		return args
	}
	out := []string{name}
	for _, l := range letters {
		out = append(out, "-"+string(l))
	}
	return append(out, args[1:]...)
}
