package repl

import (
	"bytes"
	"fmt"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"io"
	"slices"
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
	// drop are the columns (by header) that may be left out, first to
	// last, when the table cannot fit the width with its words whole
	// (addresses, names); a line under the table says which were left out.
	drop []string
	// prose are the columns of text that wrap well (findings, states,
	// symbol+offset [module]): when deciding to leave columns out they
	// count at 20 columns at most, the others at their natural width.
	prose []string
	// fold maps a droppable column to the column its cells join (" [v]")
	// when it is dropped: MODULE into FUNCTION, as crash writes
	// "func [module]".
	fold map[string]string
	// blockKeys > 0: when the table still does not fit, each row prints as
	// a block: its first blockKeys cells on one line, then each other cell
	// under it as "HEADER  value".
	blockKeys int
}

// FoldInto makes a dropped column's cells join another column's.
func (t *table) FoldInto(col, into string) *table {
	if t.fold == nil {
		t.fold = map[string]string{}
	}
	t.fold[col] = into
	return t
}

// Blocks lets the table print as blocks of its rows (see blockKeys) when
// it cannot fit its width as a table.
func (t *table) Blocks(keys int) *table {
	t.blockKeys = keys
	return t
}

// Prose names the columns of wrapping text.
func (t *table) Prose(cols ...string) *table {
	t.prose = append(t.prose, cols...)
	return t
}

// fitsNarrow says the table fits its width with every column but the
// prose ones at its natural width.
func (t *table) fitsNarrow(width int) bool {
	_, natural, _ := t.measure()
	total := 1 + 2*(len(natural)-1)
	for i := range natural {
		if i < len(t.header) && slices.Contains(t.prose, t.header[i]) {
			total += min(natural[i], 20)
		} else {
			total += natural[i]
		}
	}
	return total <= width
}

// Droppable names the columns that may be left out at narrow widths, in
// the order they go.
func (t *table) Droppable(cols ...string) *table {
	t.drop = append(t.drop, cols...)
	return t
}

func newTable(w io.Writer, header ...string) *table {
	return &table{w: w, header: header}
}

// Append adds a row (a cell may hold several lines).
func (t *table) Append(row []string) error {
	t.rows = append(t.rows, row)
	return nil
}

// measure is each column's natural width and its longest word.
func (t *table) measure() (n int, natural, words []int) {
	n = len(t.header)
	for _, r := range t.rows {
		n = max(n, len(r))
	}
	natural = make([]int, n)
	words = make([]int, n)
	m := func(r []string) {
		for i, c := range r {
			for _, l := range strings.Split(c, "\n") {
				natural[i] = max(natural[i], textWidth(l))
				for _, w := range strings.Fields(l) {
					words[i] = max(words[i], textWidth(w))
				}
			}
		}
	}
	m(t.header)
	for _, r := range t.rows {
		m(r)
	}
	return n, natural, words
}

// wholeWidth is the narrowest the columns can be with every word of up to
// 18 columns (addresses, numbers, names) whole: fitColumns' second floor.
func wholeWidth(natural, words []int) int {
	total := 1 + 2*(len(natural)-1)
	for i := range natural {
		total += min(natural[i], words[i], max(18, min(words[i], 24)/2))
	}
	return total
}

// FitsWhole says the table fits its writer's width without splitting a
// word of up to 18 columns (always true when the width is unlimited).
func (t *table) FitsWhole() bool {
	width := termWidth(t.w)
	if width <= 0 {
		return true
	}
	_, natural, words := t.measure()
	return wholeWidth(natural, words) <= width
}

// dropColumns leaves out the droppable columns, in order, until the table
// fits its width (fitsNarrow); it returns the headers left out.
func (t *table) dropColumns() []string {
	width := termWidth(t.w)
	if width <= 0 {
		return nil
	}
	var left []string
	for _, name := range t.drop {
		if t.fitsNarrow(width) {
			break
		}
		col := slices.Index(t.header, name)
		if col < 0 {
			continue
		}
		into := slices.Index(t.header, t.fold[name])
		t.header = slices.Delete(slices.Clone(t.header), col, col+1)
		for i, r := range t.rows {
			if col >= len(r) {
				continue
			}
			r = slices.Clone(r)
			if into >= 0 && into < len(r) && r[col] != "" {
				r[into] += " [" + r[col] + "]"
			}
			t.rows[i] = slices.Delete(r, col, col+1)
		}
		if into < 0 {
			left = append(left, name)
		}
	}
	return left
}

// Render writes the table.
func (t *table) Render() error {
	left := t.dropColumns()
	n, natural, words := t.measure()
	if n == 0 {
		return nil
	}
	if width := termWidth(t.w); t.blockKeys > 0 && width > 0 && !t.fitsNarrow(width) {
		return t.renderBlocks(width, left)
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
	if len(left) > 0 {
		fmt.Fprintf(&b, "(%s left out at %d columns; --width 0 shows them)\n", strings.Join(left, ", "), termWidth(t.w))
	}
	_, err := io.WriteString(t.w, b.String())
	return err
}

// renderBlocks prints each row as a block: its first blockKeys cells on
// one line, then every other non-empty cell as "HEADER  value", wrapped
// under its value.
func (t *table) renderBlocks(width int, left []string) error {
	var b strings.Builder
	hw := 0
	for _, h := range t.header[min(t.blockKeys, len(t.header)):] {
		hw = max(hw, textWidth(h))
	}
	// The key cells are aligned in columns (up to 24 wide).
	kw := make([]int, t.blockKeys)
	for _, r := range t.rows {
		for i := 0; i < t.blockKeys && i < len(r); i++ {
			kw[i] = max(kw[i], min(24, textWidth(strings.ReplaceAll(r[i], "\n", " "))))
		}
	}
	for _, r := range t.rows {
		var keys []string
		for i := 0; i < t.blockKeys && i < len(r); i++ {
			k := strings.ReplaceAll(r[i], "\n", " ")
			if pad := kw[i] - textWidth(k); pad > 0 {
				k += strings.Repeat(" ", pad)
			}
			keys = append(keys, k)
		}
		if line := strings.TrimRight(strings.Join(keys, "  "), " "); line != "" {
			b.WriteString(" " + line + "\n")
		}
		indent := 5 + hw + 2
		for i := t.blockKeys; i < len(r); i++ {
			if r[i] == "" {
				continue
			}
			h := ""
			if i < len(t.header) {
				h = t.header[i]
			}
			for j, l := range wrapCell(strings.ReplaceAll(r[i], "\n", " "), max(width-indent, 20)) {
				if j == 0 {
					fmt.Fprintf(&b, "     %-*s  %s\n", hw, h, l)
				} else {
					b.WriteString(strings.Repeat(" ", indent) + l + "\n")
				}
			}
		}
	}
	if len(left) > 0 {
		fmt.Fprintf(&b, "(%s left out at %d columns; --width 0 shows them)\n", strings.Join(left, ", "), width)
	}
	var out strings.Builder
	for _, l := range strings.SplitAfter(b.String(), "\n") {
		if l != "" {
			out.WriteString(strings.TrimRight(l, " \n") + "\n")
		}
	}
	_, err := io.WriteString(t.w, out.String())
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
					if strings.ContainsRune("/_+,;:.-[(<|", wr[j-1]) {
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
