package repl

import (
	"bytes"
	"fmt"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Terminal-aware text (docs/OUTPUT.md, "Text output"). Every command's
// text goes through a TermWriter: lines end without blanks, a line wider
// than the width is folded (at a blank, continued under its text), --plain
// spells every non-ASCII rune in ASCII; tables (newTable) fit the width by
// wrapping their widest cells. A width of 0 means unlimited: output to a
// pipe or a file is not folded, as crash does not fold it.

// TermWriter is the text filter of a command's output.
type TermWriter struct {
	w     io.Writer
	width int
	plain bool
	line  []byte
	err   error
}

// NewTermWriter filters w: width 0 is unlimited, plain writes ASCII only.
func NewTermWriter(w io.Writer, width int, plain bool) *TermWriter {
	return &TermWriter{w: w, width: width, plain: plain}
}

// TermWidth is the width tables and lines fit (0: unlimited).
func (t *TermWriter) TermWidth() int { return t.width }

// Write buffers p and writes its complete lines.
func (t *TermWriter) Write(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	rest := p
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			t.line = append(t.line, rest...)
			break
		}
		t.line = append(t.line, rest[:i]...)
		if err := t.emit(true); err != nil {
			return 0, err
		}
		rest = rest[i+1:]
	}
	return len(p), nil
}

// Flush writes a last line without its newline.
func (t *TermWriter) Flush() error {
	if len(t.line) == 0 || t.err != nil {
		return t.err
	}
	return t.emit(false)
}

func (t *TermWriter) emit(nl bool) error {
	s := string(t.line)
	t.line = t.line[:0]
	if nl {
		s = strings.TrimRight(s, " \t\r")
	}
	if t.plain {
		s = ASCII(s)
	}
	var out strings.Builder
	if t.width > 0 && textWidth(s) > t.width {
		for i, l := range foldLine(expandTabs(s), t.width) {
			if i > 0 {
				out.WriteByte('\n')
			}
			out.WriteString(l)
		}
	} else {
		out.WriteString(s)
	}
	if nl {
		out.WriteByte('\n')
	}
	_, t.err = io.WriteString(t.w, out.String())
	return t.err
}

// termWidth is the width w's text must fit (0: unlimited).
func termWidth(w io.Writer) int {
	if tw, ok := w.(interface{ TermWidth() int }); ok {
		return tw.TermWidth()
	}
	return 0
}

// textWidth is s's width in columns (tabs to the next multiple of 8).
func textWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case r == '\t':
			n += 8 - n%8
		case unicode.Is(unicode.Mn, r):
		default:
			n++
		}
	}
	return n
}

func expandTabs(s string) string {
	if !strings.Contains(s, "\t") {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == '\t' {
			k := 8 - n%8
			b.WriteString(strings.Repeat(" ", k))
			n += k
			continue
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// foldLine breaks a line wider than width at blanks; the continuation
// lines start under the text after the line's first gap of two blanks
// (a table's second column, a help line's summary, an instruction after
// its address) when that is in the left half, else two further in than
// the line.
func foldLine(s string, width int) []string {
	rs := []rune(s)
	lead := 0
	for lead < len(rs) && rs[lead] == ' ' {
		lead++
	}
	indent := lead + 2
	for i := lead; i+2 < len(rs); i++ {
		if rs[i] == ' ' && rs[i+1] == ' ' {
			j := i
			for j < len(rs) && rs[j] == ' ' {
				j++
			}
			if j <= width/2 {
				indent = j
			}
			break
		}
	}
	if indent > width/2 {
		indent = min(lead, width/4) + 2
	}
	var out []string
	first := true
	for len(rs) > 0 {
		room := width
		prefix := ""
		if !first {
			prefix = strings.Repeat(" ", indent)
			room = width - indent
		}
		if len(rs) <= room {
			out = append(out, prefix+string(rs))
			break
		}
		cut := -1
		for i := room; i > room/3; i-- {
			if rs[i] == ' ' {
				cut = i
				break
			}
		}
		next := 0
		if cut < 0 {
			cut, next = room, room
		} else {
			next = cut
			for next < len(rs) && rs[next] == ' ' {
				next++
			}
		}
		out = append(out, strings.TrimRight(prefix+string(rs[:cut]), " "))
		rs = rs[next:]
		first = false
	}
	return out
}

// asciiFor are the ASCII spellings of the runes kdump-inspect's own text
// uses; any other non-ASCII rune is written <U+XXXX> under --plain.
var asciiFor = map[rune]string{
	'—': "--", '–': "-", '…': "...", '≠': "!=", '→': "->", '←': "<-", '⇔': "<=>",
	'≤': "<=", '≥': ">=", '×': "x", '·': ".", '•': "*", '‘': "'", '’': "'", '“': `"`, '”': `"`,
	'│': "|", '┃': "|", '─': "-", '━': "-", '┌': "+", '┐': "+", '└': "+", '┘': "+",
	'├': "+", '┤': "+", '┬': "+", '┴': "+", '┼': "+", '╭': "+", '╮': "+", '╰': "+", '╯': "+",
	'\u00a0': " ",
}

// ASCII spells s in ASCII (--plain).
func ASCII(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case asciiFor[r] != "":
			b.WriteString(asciiFor[r])
		default:
			fmt.Fprintf(&b, "<U+%04X>", r)
		}
	}
	return b.String()
}

// table is a borderless, left-aligned table of columns separated by two
// blanks (crash's layout) that fits its writer's width: when the natural
// widths exceed it, the widest columns wrap at blanks, then within words.
type table struct {
	w      io.Writer
	header []string
	rows   [][]string
}

func newTable(w io.Writer, header ...string) *table {
	return &table{w: w, header: header}
}

// Append adds a row (a cell may hold several lines).
func (t *table) Append(row []string) error {
	t.rows = append(t.rows, row)
	return nil
}

// Render writes the table.
func (t *table) Render() error {
	n := len(t.header)
	for _, r := range t.rows {
		n = max(n, len(r))
	}
	if n == 0 {
		return nil
	}
	natural := make([]int, n)
	words := make([]int, n) // the longest word of each column
	measure := func(r []string) {
		for i, c := range r {
			for _, l := range strings.Split(c, "\n") {
				natural[i] = max(natural[i], textWidth(l))
				for _, w := range strings.Fields(l) {
					words[i] = max(words[i], textWidth(w))
				}
			}
		}
	}
	measure(t.header)
	for _, r := range t.rows {
		measure(r)
	}
	widths := fitColumns(natural, words, termWidth(t.w))
	// The cells are wrapped here (fitColumns decides the widths); the
	// columns are laid out by tablewriter, borderless as crash's tables,
	// with its own wrapping off; trailing blanks are cut from each line.
	wrap := func(r []string) []any {
		out := make([]any, n)
		for i := range n {
			c := ""
			if i < len(r) {
				c = r[i]
			}
			out[i] = strings.Join(wrapCell(c, widths[i]), "\n")
		}
		return out
	}
	var buf strings.Builder
	tab := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Lines: tw.LinesNone, Separators: tw.SeparatorsNone},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	if len(t.header) > 0 {
		tab.Header(wrap(t.header)...)
	}
	for _, r := range t.rows {
		if err := tab.Append(wrap(r)...); err != nil {
			return err
		}
	}
	if err := tab.Render(); err != nil {
		return err
	}
	var b strings.Builder
	for _, l := range strings.SplitAfter(buf.String(), "\n") {
		if l == "" {
			continue
		}
		b.WriteString(strings.TrimRight(l, " \n"))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(t.w, b.String())
	return err
}

// fitColumns narrows the natural widths to fit width (a leading blank and
// two between columns; 0: unlimited): the widest column first, down to
// its longest word, then below it (words split; columns of words up to 18
// columns, such as addresses, last), down to 8 columns.
func fitColumns(natural, words []int, width int) []int {
	w := append([]int(nil), natural...)
	if width <= 0 {
		return w
	}
	avail := width - 1 - 2*(len(w)-1)
	total := 0
	for _, x := range w {
		total += x
	}
	for _, floor := range []func(i int) int{
		func(i int) int { return min(natural[i], words[i]) },
		// words of up to 18 columns (addresses, numbers, names) stay whole
		// while columns of longer ones (paths, symbols with their module)
		// can give
		func(i int) int { return min(natural[i], words[i], max(18, min(words[i], 24)/2)) },
		func(i int) int { return min(natural[i], 8) },
	} {
		for total > avail {
			best := -1
			for i := range w {
				if w[i] > floor(i) && (best < 0 || w[i] > w[best]) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			w[best]--
			total--
		}
	}
	return w
}

// wrapCell breaks each line of a cell into lines of at most width
// columns, at blanks, splitting words longer than the width.
func wrapCell(c string, width int) []string {
	width = max(width, 1)
	var out []string
	for _, l := range strings.Split(c, "\n") {
		if textWidth(l) <= width {
			out = append(out, l)
			continue
		}
		var cur []rune
		flush := func() {
			out = append(out, strings.TrimRight(string(cur), " "))
			cur = cur[:0]
		}
		for _, word := range strings.Fields(l) {
			wr := []rune(word)
			if len(cur) > 0 && len(cur)+1+len(wr) > width {
				flush()
			}
			if len(cur) > 0 {
				cur = append(cur, ' ')
			}
			for len(cur)+len(wr) > width {
				k := width - len(cur)
				// split after a separator in the last third, if any
				for j := k; j > k*2/3 && j > 1; j-- {
					if strings.ContainsRune("/_+,;:.-[(<", wr[j-1]) {
						k = j
						break
					}
				}
				cur = append(cur, wr[:k]...)
				wr = wr[k:]
				flush()
			}
			cur = append(cur, wr...)
		}
		if len(cur) > 0 {
			flush()
		}
	}
	return out
}
