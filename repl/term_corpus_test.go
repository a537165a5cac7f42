package repl

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// widest is the width of the widest line of out, and the first line that
// ends in a blank.
func widest(out string) (int, string) {
	w, trailing := 0, ""
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		w = max(w, utf8.RuneCountInString(l))
		if trailing == "" && strings.TrimRight(l, " \t") != l {
			trailing = l
		}
	}
	return w, trailing
}

var hex16 = regexp.MustCompile(`\b[0-9a-f]{16}\b`)

// TestTerminalWidthCorpus: at 80 and 120 columns no line of help, klp,
// stubs, dis, ftrace, mod or audit on the corpus dump is wider than the
// width; no line ends in a blank at any width; --plain is ASCII; at 120
// columns every 16-digit address the unlimited output shows is still
// there whole (the tables wrap prose and names before addresses).
func TestTerminalWidthCorpus(t *testing.T) {
	p := corpusSession(t, "buggy-radix").Prog
	lines := []string{"help", "help mod", "klp", "stubs klp_stub_bug", "stubs --overlay klp_stub_bug",
		"dis klp_stub_bug:.stubs 20", "ftrace", "mod", "audit", "why", "sys", "ps"}
	full := map[string]string{}
	for _, width := range []int{0, 120, 80} {
		var out, errb bytes.Buffer
		s := New(p, Options{Out: &out, Err: &errb, Width: width, Plain: width == 80})
		for _, line := range lines {
			out.Reset()
			if err := s.Exec(context.Background(), line); err != nil {
				t.Fatalf("%s at %d: %v", line, width, err)
			}
			got := out.String()
			w, trailing := widest(got)
			t.Logf("%-30s width %3d: widest line %d", line, width, w)
			if width > 0 && w > width {
				t.Errorf("%s: a line of %d columns at width %d", line, w, width)
			}
			if trailing != "" {
				t.Errorf("%s at %d: a line ends in a blank: %q", line, width, trailing)
			}
			switch width {
			case 0:
				full[line] = got
			case 80:
				for i, r := range got {
					if r >= utf8.RuneSelf {
						t.Errorf("%s --plain: non-ASCII %q at byte %d", line, r, i)
						break
					}
				}
			case 120:
				if line == "audit" || line == "help" || line == "help mod" {
					continue // prose
				}
				have := map[string]bool{}
				for _, a := range hex16.FindAllString(got, -1) {
					have[a] = true
				}
				for _, a := range hex16.FindAllString(full[line], -1) {
					if !have[a] {
						t.Errorf("%s at 120: address %s lost or split", line, a)
						break
					}
				}
			}
		}
	}
}
