package repl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/arch"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/symbols"
	"github.com/kdump-inspect/kdump-inspect/textcheck"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// maxDisInsns bounds one dis command.
const maxDisInsns = 1 << 16

// DisLine is one disassembled word (or prefixed instruction) with its
// annotations; `dis --json` prints these.
type DisLine struct {
	Addr     wire.Hex `json:"addr"`
	Location string   `json:"location"`
	// Words are the instruction's words (two for a prefixed one).
	Words []wire.Hex `json:"words"`
	// Text is the instruction in GNU syntax.
	Text string `json:"text"`
	// Comment holds resolved targets: "<sym>" of a branch, "r11 = 0x… <…>"
	// of an addis/addi pair.
	Comment string `json:"comment,omitempty"`
	// Overlay columns inside a module's .stubs.
	Stub      string `json:"stub,omitempty"`       // "ppc64[5]" at a 40-byte boundary, else ""
	StubField string `json:"stub_field,omitempty"` // jump[3], magic, funcdata
	OOL       string `json:"ool,omitempty"`        // "ftrace[1]" at a 24-byte boundary
	OOLField  string `json:"ool_field,omitempty"`  // ftrace_op, insn[1]
	InStubs   bool   `json:"in_stubs,omitempty"`
	Mark      string `json:"mark,omitempty"` // "<< reason" where the words contradict the model
	// ELFDiff, where the word differs from the ELF file (package
	// textcheck), says which mechanism explains it, or "unexplained".
	ELFDiff string `json:"elf_diff,omitempty"`
	// Bytes are the instruction's bytes (architectures whose instructions
	// are not 4-byte words).
	Bytes string `json:"bytes,omitempty"`
	// File and Line: the source position (dis -l), from the DWARF line
	// table of the vmlinux or the module's .ko.
	File  string `json:"file,omitempty"`
	Line  int    `json:"line,omitempty"`
	Fault string `json:"fault,omitempty"`
}

// resolve names an address with the module-aware resolver.
func (s *Session) resolve(addr uint64) symbols.Location {
	if set := s.Modules(); set != nil && set.Resolver != nil {
		return set.Resolver.Lookup(addr)
	}
	return s.Prog.Resolver.Lookup(addr)
}

// ParseAddr parses an address: a symbol (vmlinux, module, "MODULE:NAME",
// "MODULE:.stubs"), optionally +OFFSET, or a number (hex with or without
// 0x, as crash reads addresses).
func (s *Session) ParseAddr(arg string) (uint64, error) {
	base, off := arg, uint64(0)
	if i := strings.LastIndexAny(arg, "+-"); i > 0 {
		o, err := parseNum(arg[i+1:])
		if err == nil {
			base = arg[:i]
			off = o
			if arg[i] == '-' {
				off = -o
			}
		}
	}
	if v, err := parseNum(base); err == nil {
		return v + off, nil
	}
	if set := s.Modules(); set != nil && set.Resolver != nil {
		if a, ok := set.Resolver.Address(base); ok {
			return a + off, nil
		}
	} else if a, ok := s.Prog.Resolver.Address(base); ok {
		return a + off, nil
	}
	return s.exprAddr(arg) // a C expression, or did-you-mean
}

// parseNum reads 0x-prefixed hex, or bare hex when it has hex letters or
// is 8+ digits long (an address), else decimal.
func parseNum(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	var v uint64
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		_, err := fmt.Sscanf(s[2:], "%x", &v)
		if err != nil || !isHex(s[2:]) {
			return 0, fmt.Errorf("bad number %q", s)
		}
		return v, nil
	}
	if !isHex(s) {
		return 0, fmt.Errorf("bad number %q", s)
	}
	if len(s) >= 8 || strings.ContainsAny(strings.ToLower(s), "abcdef") {
		fmt.Sscanf(s, "%x", &v)
		return v, nil
	}
	_, err := fmt.Sscanf(s, "%d", &v)
	return v, err
}

func isHex(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// stubsAt returns the analysed module whose .stubs holds addr.
func (s *Session) stubsAt(addr uint64) *modules.Analysis { return s.Modules().StubsAt(addr) }

// marks returns the `<<` marks of the 4-byte words in [lo, hi) from the
// audit's findings (the one judge): a finding marks each word it names
// (Words) and the first address of each of its places; its first mark says
// the rule and why, the first address of each further place the rule, the
// others are a bare "<<".
func marks(rep *audit.Report, lo, hi uint64) map[uint64]string {
	out := map[uint64]string{}
	add := func(addr uint64, first bool, f *audit.Finding) {
		addr &^= 3
		if addr < lo || addr >= hi {
			return
		}
		text := ""
		if first {
			text = f.Rule
			if f.Mark != "" {
				text += ": " + f.Mark
			}
		}
		switch old, ok := out[addr]; {
		case !ok || old == "<<":
			if text == "" {
				out[addr] = "<<"
			} else {
				out[addr] = "<< " + text
			}
		case text != "":
			out[addr] = old + "; " + text
		}
	}
	for _, f := range rep.In(lo, hi) {
		first := true
		for _, w := range f.Words {
			for a := w.Addr; a < w.Addr+uint64(max(w.Size, 4)); a += 4 {
				add(a, first, f)
				first = false
			}
		}
		// Every further place of the finding starts with the rule's name
		// (ftrace[3] of a NULL-ftrace_op finding that began at ftrace[2]).
		for _, p := range f.Places {
			a := p.Addr &^ 3
			switch old, ok := out[a]; {
			case first:
				add(a, true, f)
				first = false
			case (!ok || old == "<<") && a >= lo && a < hi:
				out[a] = "<< " + f.Rule
			}
		}
	}
	return out
}

// disassemble produces n lines from addr. The words come from the dump;
// inside .stubs each word is decoded on its own (the overlay view), else
// prefixed instructions take 8 bytes.
func (s *Session) disassemble(c *Call, addr uint64, n int) ([]DisLine, error) {
	if n > maxDisInsns {
		n = maxDisInsns
	}
	if s.Prog.Arch != nil && !arch.Has(s.Prog.Arch, arch.TOCStubs) {
		return s.disassembleGeneric(c, addr, n)
	}
	var out []DisLine
	var sa *modules.Analysis
	var rep *audit.Report
	var mk map[uint64]string
	// r11/r12 tracking for addis/addi pairs and ld through them.
	var regs [32]regVal
	pc := addr
	for i := 0; i < n; i++ {
		if err := c.Ctx.Err(); err != nil {
			return out, err
		}
		if a := s.stubsAt(pc); a != sa {
			sa = a
			regs = [32]regVal{}
		}
		if mk == nil {
			// Once per call: the marks of every word it may show (the
			// audit runs once per session).
			rep = s.Report()
			mk = marks(rep, addr, addr+uint64(n)*8)
		}
		l := DisLine{Addr: wire.Hex(pc), Location: s.resolve(pc).String()}
		var buf [8]byte
		nread, err := s.Prog.Context.Mem.ReadAt(buf[:], pc)
		if nread < 4 {
			if err == nil {
				err = &dump.Fault{Addr: pc, Reason: dump.Unmapped}
			}
			l.Fault = err.Error()
			out = append(out, l)
			return out, nil
		}
		w := s.Prog.Order.Uint32(buf[:])
		size := uint64(4)
		if sa == nil && w>>26 == 1 && nread >= 8 {
			w2 := s.Prog.Order.Uint32(buf[4:])
			l.Words = []wire.Hex{wire.Hex(w), wire.Hex(w2)}
			l.Text = ppc64.DisasmPrefixed(w, w2, pc)
			size = 8
		} else {
			l.Words = []wire.Hex{wire.Hex(w)}
			l.Text = ppc64.Disasm(w, pc)
		}
		if t, _, ok := ppc64.BranchTarget(w, pc); ok {
			l.Comment = "<" + s.resolve(t).String() + ">"
		}
		if site := s.ftraceSite(pc); site != "" {
			l.Comment = strings.TrimSpace(l.Comment + " " + site)
		}
		s.noteELFDiff(&l, pc)
		s.followTOC(&l, w, pc, sa, &regs)
		if sa != nil {
			stubOverlay(&l, sa, pc)
		}
		l.Mark = mk[pc]
		out = append(out, l)
		pc += size
	}
	return out, nil
}

// regVal is a register's value as dis follows it (unknown when !ok).
type regVal struct {
	v  uint64
	ok bool
}

// noteELFDiff marks a word that differs from the ELF file: the mechanism
// that explains it, the finding it belongs to, or unexplained.
func (s *Session) noteELFDiff(l *DisLine, pc uint64) {
	d, ok := s.elfDiff(pc)
	if !ok {
		return
	}
	l.ELFDiff = "unexplained"
	if d.Explained != nil {
		l.ELFDiff = fmt.Sprintf("%s: %s (%s)", d.Explained.Mech, d.Explained.Why, d.Explained.Mirrors)
		l.Comment = strings.TrimSpace(l.Comment + " [≠ELF: " + string(d.Explained.Mech) + "]")
	} else if by := s.Report().TextAttributedTo(d.Addr); by != "" {
		l.ELFDiff = "unexplained by any text mechanism; part of the " + by + " finding"
		l.Comment = strings.TrimSpace(l.Comment + " [≠ELF: see " + by + "]")
	} else {
		l.Comment = strings.TrimSpace(l.Comment + " [≠ELF: unexplained]")
	}
}

// followTOC follows the TOC arithmetic of the word w at pc: addis/addi
// pairs (the value named), ld through a known register or PACATOC(r13),
// registers that other instructions overwrite forgotten.
func (s *Session) followTOC(l *DisLine, w uint32, pc uint64, sa *modules.Analysis, regs *[32]regVal) {
	// addis rt,ra,HI: remember rt = base(ra) + HI<<16 when base known.
	op := w >> 26
	rt, ra := int(w>>21&31), int(w>>16&31)
	imm := int64(int16(uint16(w)))
	switch op {
	case 15: // addis
		base, ok := s.regBase(ra, pc, sa, regs[ra].v, regs[ra].ok)
		regs[rt] = regVal{base + uint64(imm<<16), ok}
	case 14: // addi
		if ra != 0 && regs[ra].ok {
			v := regs[ra].v + uint64(imm)
			regs[rt] = regVal{v, true}
			l.Comment = fmt.Sprintf("r%d = %#x <%s>", rt, v, s.resolve(v).String())
		} else {
			regs[rt] = regVal{}
		}
	case 58: // ld rt,DS(ra)
		if w&3 == 0 && ra == 13 && s.Modules().Features.PacaKernelTOC != 0 && imm == int64(s.Modules().Features.PacaKernelTOC) {
			// ld rX,PACATOC(r13): the kernel TOC (create_ftrace_stub()).
			if t, err := s.Prog.SymbolAddr(".TOC."); err == nil {
				regs[rt] = regVal{t, true}
				l.Comment = fmt.Sprintf("r%d = paca->kernel_toc = %#x", rt, t)
				break
			}
		}
		if w&3 == 0 && ra != 0 && regs[ra].ok {
			ea := regs[ra].v + uint64(imm&^3)
			if v, err := s.Prog.ReadU64(ea); err == nil {
				l.Comment = fmt.Sprintf("r%d = *%#x = %#x", rt, ea, v)
				if loc := s.resolve(v); loc.Symbol != nil || loc.Section != "" {
					l.Comment += " <" + loc.String() + ">"
				}
			}
		}
		regs[rt] = regVal{}
	default:
		if op != 62 && op != 31 { // std, mtctr/mflr: leave registers
			regs[rt] = regVal{}
		}
	}
}

// stubOverlay labels a word inside .stubs as ppc64_stub_entry[] and
// ftrace_ool_stub[] (the model's labels, as stubs --overlay shows them).
func stubOverlay(l *DisLine, sa *modules.Analysis, pc uint64) {
	o, _ := sa.Stubs.OverlayAt(pc)
	l.InStubs = true
	if o.SlotStart {
		l.Stub = fmt.Sprintf("ppc64[%d]", o.StubIndex)
	}
	l.StubField = o.StubField
	if o.OOLIndex >= 0 {
		if o.OOLStart {
			l.OOL = fmt.Sprintf("ftrace[%d]", o.OOLIndex)
		}
		l.OOLField = o.OOLField
	}
}

// regBase is the value of ra before an addis: r2 is the module's TOC
// pointer (my_r2) inside a module, the kernel TOC in vmlinux; r12 at a
// function's global entry is the entry address.
func (s *Session) regBase(ra int, pc uint64, sa *modules.Analysis, v uint64, known bool) (uint64, bool) {
	if known {
		return v, true
	}
	switch ra {
	case 2:
		if sa != nil && sa.Stubs.R2 != 0 {
			return sa.Stubs.R2, true
		}
		if a := s.Modules().ByAddr(pc); a != nil {
			if a.Stubs != nil && a.Stubs.R2 != 0 {
				return a.Stubs.R2, true
			}
			return 0, false
		}
		if t, err := s.Prog.SymbolAddr(".TOC."); err == nil {
			return t, true
		}
	case 12:
		if loc := s.resolve(pc); loc.Symbol != nil && loc.Off == 0 {
			return pc, true
		}
	}
	return 0, false
}

// writeDis prints lines crash-style, with the overlay columns first when
// any line lies in .stubs.
func writeDis(c *Call, lines []DisLine) {
	stubs := false
	for _, l := range lines {
		stubs = stubs || l.InStubs
	}
	locW := 0
	for _, l := range lines {
		locW = max(locW, len(l.Location))
	}
	var lastFile string
	lastLine := -1
	for _, l := range lines {
		if l.Line != 0 && (l.File != lastFile || l.Line != lastLine) {
			// crash's dis -l: the position above the instructions it covers.
			c.Printf("%s: %d\n", l.File, l.Line)
			lastFile, lastLine = l.File, l.Line
		}
		var b strings.Builder
		if stubs {
			fmt.Fprintf(&b, "%-10s %-10s ", l.Stub, l.OOL)
		}
		fmt.Fprintf(&b, "%#x <%s>:%s ", l.Addr, l.Location, strings.Repeat(" ", locW-len(l.Location)))
		if l.Fault != "" {
			fmt.Fprintf(&b, "<unreadable: %s>", l.Fault)
			c.Printf("%s\n", b.String())
			continue
		}
		if stubs {
			fmt.Fprintf(&b, "%-9s %-9s ", l.StubField, l.OOLField)
		}
		if l.Bytes != "" {
			fmt.Fprintf(&b, "%-21s %-36s", l.Bytes, l.Text)
		} else {
			fmt.Fprintf(&b, "%08x  %-32s", l.Words[0], l.Text)
		}
		if l.Comment != "" {
			fmt.Fprintf(&b, " %s", l.Comment)
		}
		if l.Mark != "" {
			fmt.Fprintf(&b, "  %s", l.Mark)
		}
		c.Printf("%s\n", strings.TrimRight(b.String(), " "))
	}
}

// addSourceLines fills File and Line of each disassembled line (dis -l).
// A table that cannot be read is said once on stderr; the disassembly goes
// on without lines there.
func (s *Session) addSourceLines(c *Call, lines []DisLine) {
	said := map[string]bool{}
	for i := range lines {
		l := &lines[i]
		if l.InStubs || l.Fault != "" {
			continue // .stubs is written by the loader: no source
		}
		fn, pc := uint64(0), uint64(l.Addr)
		if loc := s.resolve(pc); loc.Symbol != nil && loc.Off <= pc {
			fn = pc - loc.Off
		}
		sl, ok, err := s.sourceLine(pc, fn)
		if err != nil {
			if !said[err.Error()] {
				fmt.Fprintf(s.Err, "dis -l: %v\n", err)
				said[err.Error()] = true
			}
			continue
		}
		if ok {
			l.File, l.Line = sl.File, sl.Line
		}
	}
}

// sourceLine returns pc's source position (analysis.SourceLine), printing
// what loading a module's line table noted.
func (s *Session) sourceLine(pc, fn uint64) (symbols.SourceLine, bool, error) {
	sl, ok, notes, err := s.A.SourceLine(pc, fn)
	for _, n := range notes {
		fmt.Fprintf(s.Err, "dis -l: %s\n", n)
	}
	return sl, ok, err
}

// elfDiff returns the text difference (package textcheck, through the
// analysis: computed once, by the audit the marks come from) holding pc.
func (s *Session) elfDiff(pc uint64) (textcheck.Diff, bool) {
	set := s.Modules()
	m := set.ByAddr(pc)
	if m == nil {
		if _, _, ok := s.Prog.Syms.ByAddr(pc); !ok {
			return textcheck.Diff{}, false
		}
	}
	if m != nil && m.Debuginfo == nil {
		return textcheck.Diff{}, false
	}
	r := s.A.Text(m)
	i := sort.Search(len(r.Diffs), func(i int) bool { return r.Diffs[i].Addr+uint64(len(r.Diffs[i].Found)) > pc })
	if i < len(r.Diffs) && r.Diffs[i].Addr <= pc {
		return r.Diffs[i], true
	}
	return textcheck.Diff{}, false
}

// pltAnnotate labels a word inside a module's PLT entries (arm64): the
// entry at its first word ("plt[3]", "ftrace[0]"), the word's place in
// struct plt_entry, and at the br the entry's target, as package modules
// decoded it, with what the slot is to module_emit_plt_entry().
func (s *Session) pltAnnotate(l *DisLine, pc uint64) {
	a, arr, sl, ok := s.Modules().PLTAt(pc)
	if !ok {
		return
	}
	off := pc - sl.Addr
	l.InStubs = true
	if off == 0 {
		l.Stub = fmt.Sprintf("%s[%d]", strings.TrimPrefix(arr, "."), sl.Index)
	}
	l.StubField = [...]string{"adrp", "add", "br"}[min(off/4, 2)]
	if off+4 < uint64(len(sl.Bytes)) {
		return
	}
	var what string
	switch {
	case sl.Zero:
		what = "zero"
	case !sl.Decoded:
		what = "not a PLT entry"
	case sl.Template:
		what = "x16 = " + s.resolve(sl.Target).String()
	default:
		what = fmt.Sprintf("x16 = %s (not get_plt_entry() for this address)", s.resolve(sl.Target))
	}
	if arr != "ftrace" {
		sec := &a.PLT.Core
		if arr == a.PLT.Init.Name {
			sec = &a.PLT.Init
		}
		what += "; " + sec.Use(sl).String()
	}
	l.Comment = strings.TrimSpace(l.Comment + " " + what)
}

// disassembleGeneric is dis on architectures without ppc64's annotated
// view (.stubs overlay, TOC register tracking): the architecture's decoder,
// branch targets named, ftrace sites, differences from the ELF file and
// the audit's marks.
func (s *Session) disassembleGeneric(c *Call, addr uint64, n int) ([]DisLine, error) {
	d, ok := s.Prog.Arch.(arch.Disassembler)
	if !ok {
		return nil, fmt.Errorf("dis: no instruction decoder for %s", s.Prog.Arch.Name())
	}
	mk := marks(s.Report(), addr, addr+uint64(n)*16)
	var out []DisLine
	pc := addr
	for i := 0; i < n; i++ {
		if err := c.Ctx.Err(); err != nil {
			return out, err
		}
		l := DisLine{Addr: wire.Hex(pc), Location: s.resolve(pc).String()}
		var buf [16]byte
		nread, err := s.Prog.Context.Mem.ReadAt(buf[:], pc)
		if nread == 0 {
			if err == nil {
				err = &dump.Fault{Addr: pc, Reason: dump.Unmapped}
			}
			l.Fault = err.Error()
			out = append(out, l)
			return out, nil
		}
		text, size := d.Disasm(buf[:nread], pc)
		size = max(1, min(size, nread))
		l.Text, l.Bytes = text, fmt.Sprintf("% x", buf[:size])
		if t, _, ok := d.BranchTarget(buf[:nread], pc); ok {
			l.Comment = "<" + s.resolve(t).String() + ">"
			// a branch to a PLT entry (arm64): which entry, and where it goes
			if _, arr, sl, ok := s.Modules().PLTAt(t); ok && t == sl.Addr && sl.Decoded {
				l.Comment += fmt.Sprintf(" %s[%d] -> %s", strings.TrimPrefix(arr, "."), sl.Index, s.resolve(sl.Target))
			}
		}
		if site := s.ftraceSite(pc); site != "" {
			l.Comment = strings.TrimSpace(l.Comment + " " + site)
		}
		s.pltAnnotate(&l, pc)
		l.Mark = mk[pc]
		out = append(out, l)
		pc += uint64(size)
	}
	return out, nil
}
