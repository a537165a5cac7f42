package repl

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// InfoView is what `info` prints (and `kdump-inspect info --json`).
type InfoView struct {
	Files  []string `json:"files"`
	Format string   `json:"format"`
	// Damage is what the dump's files were found to lack or hold corrupt
	// (truncation, pages past the end or failing integrity checks,
	// VMCOREINFO disagreeing with memory); "" when none is known.
	Damage string   `json:"damage,omitempty"`
	Quirks []string `json:"quirks,omitempty"`
	Arch   string   `json:"arch"`
	// ByteOrder is the guest memory's byte order, HeaderOrder the dump
	// file headers' ("LittleEndian", "BigEndian").
	ByteOrder   string `json:"byte_order"`
	HeaderOrder string `json:"header_byte_order"`
	PageSize    int64  `json:"page_size"`
	// BlockSize is a kdump-compressed file's block size.
	BlockSize int64  `json:"block_size,omitempty"`
	MMU       string `json:"mmu"`
	Geometry  string `json:"geometry"`
	// Layout says where the kernel's layout (KASLR offset, physical
	// base, paging mode) came from: VMCOREINFO, or, without it, how it was
	// found (x86_64: the QEMU CPU state); "" when the architecture does
	// not say.
	Layout  string `json:"layout_source,omitempty"`
	Release string `json:"release"`
	BuildID string `json:"build_id,omitempty"`
	// CrashTime is VMCOREINFO's CRASHTIME (seconds since the epoch).
	CrashTime  int64  `json:"crash_time,omitempty"`
	VMCOREINFO string `json:"vmcoreinfo_source"`
	Vmlinux    string `json:"vmlinux"`
	// Debuginfo says where the symbols and types come from (the
	// vmlinux's BTF or DWARF, or the dump's own BTF and kallsyms).
	Debuginfo string    `json:"debuginfo"`
	CPUs      []CPUView `json:"cpus"`
	// Ranges are the physical memory ranges the dump describes.
	Ranges []RangeView `json:"ranges"`
	Pages  PagesView   `json:"pages"`
	// VmallocFallbackPages counts the vmalloc pages read so far through
	// vm_struct->pages because the dump lacks their page-table pages.
	VmallocFallbackPages int64 `json:"vmalloc_fallback_pages,omitempty"`
	// DumpLevel is makedumpfile's -d of a kdump-compressed file (-1 for
	// other formats), Excluded the page classes it leaves out.
	DumpLevel int32    `json:"dump_level"`
	Excluded  []string `json:"excluded_classes,omitempty"`
	// Warnings (the program's, from opening the dump) go in the
	// document's warnings.
	Warnings []string `json:"-"`
}

// CPUView is one NT_PRSTATUS.
type CPUView struct {
	Index  int      `json:"index"`
	PID    int32    `json:"pid"`
	NIP    wire.Hex `json:"nip"`
	LR     wire.Hex `json:"lr"`
	NIPSym string   `json:"nip_sym,omitempty"`
	LRSym  string   `json:"lr_sym,omitempty"`
}

// RangeView is a physical memory range [start, end).
type RangeView struct {
	Start wire.Hex `json:"start"`
	End   wire.Hex `json:"end"`
}

// PagesView counts the dump's pages (dump.PageCounts).
type PagesView struct {
	// Unit is the bytes per counted page.
	Unit int64 `json:"unit"`
	// Total is the pages of memory the dump describes.
	Total int64 `json:"total"`
	// Present is the pages the dump holds.
	Present int64 `json:"present"`
	// Excluded is the pages makedumpfile filtered out.
	Excluded int64 `json:"excluded"`
	// Zero is the present pages stored as the zero page (or beyond an ELF
	// segment's p_filesz).
	Zero int64 `json:"zero"`
}

// layoutFrom is the architecture's arch.LayoutSource, or "".
func layoutFrom(k arch.Kernel) string {
	if ls, ok := k.(arch.LayoutSource); ok {
		return ls.LayoutFrom()
	}
	return ""
}

// Info gathers the info view of a program (resolve may be nil).
func Info(p *kernel.Program, resolve func(uint64) string) InfoView {
	d := p.Dump
	v := InfoView{Files: d.Paths, Format: d.Format.String(), Quirks: d.Quirks, Arch: d.Machine.String(),
		PageSize: int64(p.PageSize), BlockSize: int64(d.BlockSize), MMU: p.Arch.MMU(), Geometry: p.Arch.Geometry(),
		Layout: layoutFrom(p.Arch), Release: p.Release, VMCOREINFO: p.InfoSource, Vmlinux: p.VmlinuxPath(), Debuginfo: p.DebuginfoSource(), Warnings: p.Warnings,
		Pages: PagesView{Unit: int64(d.Pages.Unit), Total: int64(d.Pages.Total), Present: int64(d.Pages.Present), Excluded: int64(d.Pages.Excluded), Zero: int64(d.Pages.Zero)}}
	if p.Vmalloc != nil {
		v.VmallocFallbackPages = p.Vmalloc.Pages.Load()
	}
	if dm := d.Damage(); !dm.Empty() {
		v.Damage = dm.String()
	}
	v.DumpLevel = -1
	if d.Kdump != nil {
		v.DumpLevel = d.Kdump.DumpLevel
		// makedumpfile's dump_level bits (makedumpfile(8), -d).
		for i, c := range []string{"zero (stored once, read back as zeros)", "cache", "cache private", "user", "free"} {
			if v.DumpLevel&(1<<i) != 0 {
				v.Excluded = append(v.Excluded, c)
			}
		}
	}
	v.ByteOrder = fmt.Sprint(p.Order)
	if d.HeaderOrder != nil {
		v.HeaderOrder = fmt.Sprint(d.HeaderOrder)
	}
	if p.Info != nil {
		v.BuildID = hex.EncodeToString(p.Info.BuildID)
		if t, ok := p.Info.CrashTime(); ok {
			v.CrashTime = t
		}
	}
	for i, c := range d.CPUs {
		cv := CPUView{Index: i, PID: c.PID, NIP: wire.Hex(c.PC), LR: wire.Hex(c.Link)}
		if resolve != nil {
			cv.NIPSym = resolve(c.PC)
			if c.Link != 0 {
				cv.LRSym = resolve(c.Link)
			}
		}
		v.CPUs = append(v.CPUs, cv)
	}
	for _, r := range d.Ranges {
		v.Ranges = append(v.Ranges, RangeView{wire.Hex(r.Start), wire.Hex(r.End)})
	}
	return v
}

// WriteInfo prints the info view as text.
func WriteInfo(w io.Writer, v InfoView) {
	fmt.Fprintf(w, "       FILES: %s\n", strings.Join(v.Files, " "))
	if v.Damage != "" {
		fmt.Fprintf(w, "      DAMAGE: %s\n", v.Damage)
	}
	fmt.Fprintf(w, "      FORMAT: %s\n", v.Format)
	for _, q := range v.Quirks {
		fmt.Fprintf(w, "       QUIRK: %s\n", q)
	}
	fmt.Fprintf(w, "        ARCH: %s, %s (file headers %s)\n", v.Arch, v.ByteOrder, v.HeaderOrder)
	fmt.Fprintf(w, "   PAGE SIZE: %d", v.PageSize)
	if v.BlockSize != 0 {
		fmt.Fprintf(w, " (dump block size %d)", v.BlockSize)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "         MMU: %s (%s)\n", v.MMU, v.Geometry)
	if v.Layout != "" {
		fmt.Fprintf(w, "      LAYOUT: %s\n", v.Layout)
	}
	fmt.Fprintf(w, "     RELEASE: %s\n", v.Release)
	fmt.Fprintf(w, "    BUILD-ID: %s\n", v.BuildID)
	if v.CrashTime != 0 {
		fmt.Fprintf(w, "  CRASH TIME: %d\n", v.CrashTime)
	}
	fmt.Fprintf(w, "  VMCOREINFO: %s\n", v.VMCOREINFO)
	vml := v.Vmlinux
	if vml == "" {
		vml = "(none)"
	}
	fmt.Fprintf(w, "     VMLINUX: %s\n", vml)
	if v.Debuginfo != "" {
		fmt.Fprintf(w, "   DEBUGINFO: %s\n", v.Debuginfo)
	}
	fmt.Fprintf(w, "        CPUS: %d\n", len(v.CPUs))
	for _, c := range v.CPUs {
		if c.LR != 0 {
			fmt.Fprintf(w, "              cpu %d pid %d  PC %#x %s  LR %#x %s\n", c.Index, c.PID, c.NIP, angle(c.NIPSym), c.LR, angle(c.LRSym))
		} else {
			fmt.Fprintf(w, "              cpu %d pid %d  PC %#x %s\n", c.Index, c.PID, c.NIP, angle(c.NIPSym))
		}
	}
	fmt.Fprintf(w, "      MEMORY: %d ranges\n", len(v.Ranges))
	for _, r := range v.Ranges {
		fmt.Fprintf(w, "              %#016x-%#016x (%d MiB)\n", r.Start, r.End, (r.End-r.Start)>>20)
	}
	fmt.Fprintf(w, "       PAGES: unit %d, total %d, present %d, excluded %d, zero %d\n", v.Pages.Unit, v.Pages.Total, v.Pages.Present, v.Pages.Excluded, v.Pages.Zero)
	if v.DumpLevel >= 0 {
		ex := "none"
		if len(v.Excluded) > 0 {
			ex = strings.Join(v.Excluded, ", ")
		}
		fmt.Fprintf(w, "  DUMP LEVEL: %d (pages left out: %s)\n", v.DumpLevel, ex)
	}
	if v.VmallocFallbackPages > 0 {
		fmt.Fprintf(w, "     VMALLOC: %d pages read through vm_struct->pages (their page-table pages are not in the dump)\n", v.VmallocFallbackPages)
	}
	for _, wn := range v.Warnings {
		fmt.Fprintf(w, "     WARNING: %s\n", wn)
	}
}

func angle(s string) string {
	if s == "" {
		return ""
	}
	return "<" + s + ">"
}

func cmdInfo(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	v := Info(c.S.Prog, func(a uint64) string { return c.S.resolve(a).String() })
	if boolFlag(fs, "json") {
		return jsonWithWarnings(c, v, v.Warnings)
	}
	WriteInfo(c.Out, v)
	return nil
}

// SymView is one symbol line.
type SymView struct {
	Addr wire.Hex `json:"addr"`
	// Kind is the symbol's nm letter (T, t, D, ...; S for a module
	// section).
	Kind string `json:"kind,omitempty"`
	Name string `json:"name"`
	// Location is the address as SYMBOL+0xOFF [MODULE].
	Location string `json:"location"`
	Module   string `json:"module,omitempty"`
}

func cmdSym(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	var out []SymView
	switch {
	case boolFlag(fs, "l"):
		for _, s := range c.S.Prog.Syms.Symbols() {
			out = append(out, SymView{Addr: wire.Hex(s.Addr), Kind: symKind(s.Kind), Name: s.Name, Location: s.Name})
		}
	case stringFlag(fs, "m") != "":
		a := c.S.Modules().Find(stringFlag(fs, "m"))
		if a == nil {
			return fmt.Errorf("sym: no module %q", stringFlag(fs, "m"))
		}
		for _, sec := range a.Module.Sections {
			out = append(out, SymView{Addr: wire.Hex(sec.Addr), Kind: "S", Name: a.Module.Name + ":" + sec.Name, Location: c.S.resolve(sec.Addr).String(), Module: a.Module.Name})
		}
		if a.Syms != nil {
			for _, s := range a.Syms.Symbols() {
				out = append(out, SymView{Addr: wire.Hex(s.Addr), Kind: symKind(s.Kind), Name: s.Name, Location: c.S.resolve(s.Addr).String(), Module: a.Module.Name})
			}
		}
	default:
		if len(pos) == 0 {
			return &UsageError{Cmd: "sym", Msg: "want ADDR or NAME (or -l, -m MODULE)"}
		}
		for _, arg := range pos {
			if v, err := parseNum(arg); err == nil {
				loc := c.S.resolve(v)
				sv := SymView{Addr: wire.Hex(v), Location: loc.String(), Module: loc.Module}
				if loc.Symbol != nil {
					sv.Name, sv.Kind = loc.Symbol.Name, symKind(loc.Symbol.Kind)
				}
				out = append(out, sv)
				continue
			}
			a, err := c.S.ParseAddr(arg)
			if err != nil {
				return err
			}
			loc := c.S.resolve(a)
			out = append(out, SymView{Addr: wire.Hex(a), Name: arg, Location: loc.String(), Module: loc.Module})
		}
	}
	if boolFlag(fs, "json") {
		return c.JSON(out)
	}
	for _, s := range out {
		if err := c.Ctx.Err(); err != nil {
			return err
		}
		kind := ""
		if s.Kind != "" {
			kind = "(" + s.Kind + ") "
		}
		c.Printf("%016x %s%s\n", s.Addr, kind, s.Location)
	}
	return nil
}

// RdView is `rd --json`: COUNT units read from ADDR.
type RdView struct {
	Addr wire.Hex `json:"addr"`
	// Unit is the bytes per word (1, 2, 4 or 8).
	Unit int `json:"unit"`
	// Physical: ADDR is a physical address (-p).
	Physical bool `json:"physical,omitempty"`
	// Words are the units read, in the dump's byte order.
	Words []wire.Hex `json:"words"`
	// Symbols (-s) name each word that resolves to a symbol or section,
	// "" for the others.
	Symbols []string `json:"symbols,omitempty"`
	// Fault is the read error that ended the words early.
	Fault string `json:"fault,omitempty"`
}

// symKind is a symbol's nm letter, "" when it has none.
func symKind(k byte) string {
	if k == 0 {
		return ""
	}
	return string(k)
}

func cmdRd(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	if len(pos) == 0 || len(pos) > 2 {
		return &UsageError{Cmd: "rd", Msg: "want ADDR [COUNT]"}
	}
	unit := 8
	for _, u := range []int{8, 16, 32} {
		if boolFlag(fs, fmt.Sprint(u)) {
			unit = u / 8
		}
	}
	var addr uint64
	if boolFlag(fs, "p") {
		if addr, err = parseNum(pos[0]); err != nil {
			return err
		}
	} else if addr, err = c.S.ParseAddr(pos[0]); err != nil {
		return err
	}
	count, err := countArg(pos, 1, 1)
	if err != nil {
		return err
	}
	var mem dump.Memory = c.S.Prog.Context.Mem
	if boolFlag(fs, "p") {
		mem = c.S.Prog.Phys
	}
	buf := make([]byte, count*unit)
	n, rerr := mem.ReadAt(buf, addr)
	buf = buf[:n-n%unit]
	words := make([]uint64, len(buf)/unit)
	for i := range words {
		b := buf[i*unit:]
		switch unit {
		case 1:
			words[i] = uint64(b[0])
		case 2:
			words[i] = uint64(c.S.Prog.Order.Uint16(b))
		case 4:
			words[i] = uint64(c.S.Prog.Order.Uint32(b))
		default:
			words[i] = c.S.Prog.Order.Uint64(b)
		}
	}
	if boolFlag(fs, "json") {
		v := RdView{Addr: wire.Hex(addr), Unit: unit, Physical: boolFlag(fs, "p"), Words: wire.Hexes(words)}
		if rerr != nil {
			v.Fault = rerr.Error()
		}
		if boolFlag(fs, "s") {
			for _, w := range words {
				name := ""
				if loc := c.S.resolve(w); w != 0 && unit == 8 && (loc.Symbol != nil || loc.Section != "") {
					name = loc.String()
				}
				v.Symbols = append(v.Symbols, name)
			}
		}
		if rerr != nil && len(words) < count {
			return c.JSONPartial(v, fmt.Errorf("rd: %w", rerr))
		}
		return c.JSON(v)
	}
	perLine := 16 / unit
	if boolFlag(fs, "s") {
		perLine = 2
	}
	for i := 0; i < len(words); i += perLine {
		line := fmt.Sprintf("%016x:  ", addr+uint64(i*unit))
		var ascii []byte
		for j := i; j < i+perLine && j < len(words); j++ {
			if boolFlag(fs, "s") && unit == 8 {
				if loc := c.S.resolve(words[j]); words[j] != 0 && (loc.Symbol != nil || loc.Section != "") {
					line += fmt.Sprintf("%-24s ", loc.String())
					continue
				}
			}
			line += fmt.Sprintf("%0*x ", unit*2, words[j])
			ascii = append(ascii, buf[j*unit:(j+1)*unit]...)
		}
		if !boolFlag(fs, "s") {
			for k, b := range ascii {
				if b < 0x20 || b >= 0x7f {
					ascii[k] = '.'
				}
			}
			line += "  " + string(ascii)
		}
		c.Printf("%s\n", strings.TrimRight(line, " "))
	}
	if rerr != nil && len(words) < count {
		return fmt.Errorf("rd: %w", rerr)
	}
	return nil
}

func cmdDis(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	if len(pos) == 0 || len(pos) > 2 {
		return &UsageError{Cmd: "dis", Msg: "want ADDR|SYMBOL [COUNT]"}
	}
	addr, err := c.S.ParseAddr(pos[0])
	if err != nil {
		return err
	}
	count, err := countArg(pos, 1, 0)
	if err != nil {
		return err
	}
	_, isNum := parseNum(pos[0])
	loc := c.S.resolve(addr)
	switch {
	case boolFlag(fs, "r"):
		start := addr
		if loc.Symbol != nil {
			start = addr - loc.Off
		} else if loc.Section != "" {
			start = addr - loc.SectionOff
		}
		count = int((addr-start)/4) + 1
		addr = start
	case count == 0 && (strings.HasSuffix(pos[0], ":.plt") || strings.HasSuffix(pos[0], ":.text.ftrace_trampoline")):
		if _, arr, _, ok := c.S.Modules().PLTAt(addr); ok {
			a, _, _, _ := c.S.Modules().PLTAt(addr)
			switch arr {
			case ".plt", ".init.plt":
				sec := &a.PLT.Core
				if arr == ".init.plt" {
					sec = &a.PLT.Init
				}
				count = len(sec.Slots) * a.PLT.EntrySize / 4
			default:
				count = len(a.PLT.FtraceTramps) * a.PLT.EntrySize / 4
			}
		}
	case count == 0 && strings.HasSuffix(pos[0], ":.stubs"):
		if a := c.S.stubsAt(addr); a != nil {
			count = int(a.Stubs.Size / 4)
		}
	case count == 0 && isNum != nil && loc.Symbol != nil && loc.Off == 0 && loc.Symbol.Size > 0:
		count = int(loc.Symbol.Size / 4)
	}
	if count <= 0 {
		count = 1
	}
	lines, err := c.S.disassemble(c, addr, count)
	if boolFlag(fs, "l") {
		c.S.addSourceLines(c, lines)
	}
	if boolFlag(fs, "json") {
		return c.JSONPartial(lines, err)
	}
	writeDis(c, lines)
	return err
}

// ModView is one line of `mod`.
type ModView struct {
	// Module is the struct module's address.
	Module wire.Hex `json:"module"`
	Name   string   `json:"name"`
	// Base and Size: the text region's base, the size of all regions.
	Base wire.Hex `json:"base"`
	Size int64    `json:"size"`
	// Object is the .ko file read, "(not loaded)" without one.
	Object string `json:"object_file"`
	// State is the enum module_state name.
	State     string   `json:"state"`
	Livepatch bool     `json:"livepatch"`
	StubsBase wire.Hex `json:"stubs_base,omitempty"`
	StubsSize int64    `json:"stubs_size,omitempty"`
	// StubsSource says where the .stubs size came from.
	StubsSource string `json:"stubs_size_source,omitempty"`
	// StubCount, OOLStubs and OOLStubCount are mod->arch's stub_count,
	// ool_stubs and ool_stub_count.
	StubCount    int64    `json:"stub_count"`
	OOLStubs     wire.Hex `json:"ool_stubs"`
	OOLStubCount int64    `json:"ool_stub_count"`
	// PLT is mod->arch.core's PLT use (arm64: plt_num_entries of
	// plt_max_entries), when the kernel's modules have PLTs.
	PLT *ModPLTView `json:"plt,omitempty"`
	// Findings counts the audit's findings at warning or above for the
	// module (the one judge's, not a verdict of this view).
	Findings int `json:"findings"`
	// TaintLetters are the module's taint letters as /proc/modules shows
	// them ("OK": out-of-tree, livepatch); Taints is mod->taints with
	// the names of its bits, both from the kernel's taint_flags[].
	TaintLetters string     `json:"taint_letters,omitempty"`
	Taints       wire.Flags `json:"taints"`
	// TaintDesc are "LETTER: NAME" lines, for the text.
	TaintDesc []string `json:"-"`
}

// ModPLTView is a module's PLT use in mod.
type ModPLTView struct {
	NumEntries int64 `json:"plt_num_entries"`
	MaxEntries int64 `json:"plt_max_entries"`
	// FtraceTrampolines: mod->arch.ftrace_trampolines is set.
	FtraceTrampolines bool `json:"ftrace_trampolines"`
}

func modView(a *modules.Analysis, rep *audit.Report, taints []kernel.Taint) ModView {
	m := a.Module
	v := ModView{Module: wire.Hex(m.Addr), Name: m.Name, State: m.State, Livepatch: m.Livepatch,
		StubCount: int64(m.Arch.StubCount), OOLStubs: wire.Hex(m.Arch.OOLStubs), OOLStubCount: int64(m.Arch.OOLStubCount), Object: "(not loaded)"}
	for _, r := range m.Regions {
		v.Size += int64(r.Size)
		if r.Type == 0 && r.Size > 0 {
			v.Base = wire.Hex(r.Base)
		}
	}
	if a.Debuginfo != nil {
		v.Object = a.Debuginfo.Path
	}
	if st := a.Stubs; st != nil {
		v.StubsBase, v.StubsSize, v.StubsSource = wire.Hex(st.Base), int64(st.Size), string(st.SizeSource)
	}
	if pl := a.PLT; pl != nil {
		v.PLT = &ModPLTView{NumEntries: pl.Core.Num, MaxEntries: pl.Core.Max, FtraceTrampolines: pl.FtraceTrampsPtr != 0}
	}
	for _, f := range rep.Findings {
		if f.Module == m.Name && f.Severity >= audit.Warning {
			v.Findings++
		}
	}
	v.TaintLetters = kernel.ModuleTaintLetters(taints, m.Taints)
	var names []string
	known := uint64(0)
	for _, t := range taints {
		if t.Bit < 64 {
			known |= 1 << t.Bit
		}
		if t.Bit < 64 && m.Taints&(1<<t.Bit) != 0 {
			names = append(names, t.Desc)
			if t.Module {
				v.TaintDesc = append(v.TaintDesc, fmt.Sprintf("%c: %s", t.True, t.Desc))
			}
		}
	}
	if u := m.Taints &^ known; u != 0 && len(taints) > 0 {
		names = append(names, fmt.Sprintf("%#x", u))
	}
	v.Taints = wire.NewFlags(m.Taints, names)
	return v
}

func cmdMod(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	only := ""
	switch {
	case boolFlag(fs, "s") && boolFlag(fs, "S"):
		return &UsageError{Cmd: "mod", Msg: "-s and -S exclude each other"}
	case boolFlag(fs, "s"):
		if len(pos) < 1 || len(pos) > 2 {
			return &UsageError{Cmd: "mod", Msg: "want -s MODULE [FILE]"}
		}
		file := ""
		if len(pos) == 2 {
			file = pos[1]
		}
		if err := c.S.A.ReloadModule(pos[0], file); err != nil {
			return fmt.Errorf("mod -s: %w", err)
		}
		only = pos[0]
	case boolFlag(fs, "S"):
		if len(pos) > 1 {
			return &UsageError{Cmd: "mod", Msg: "want -S [DIR]"}
		}
		var dirs []string // none: the directories the session was opened with
		if len(pos) == 1 {
			dirs = []string{pos[0]}
		}
		if err := c.S.A.ReloadAll(dirs); err != nil {
			return fmt.Errorf("mod -S: %w", err)
		}
	case len(pos) > 0:
		return &UsageError{Cmd: "mod", Msg: "unexpected argument " + pos[0]}
	}
	set := c.S.Modules()
	rep := c.S.ModulesReport()
	taints, terr := c.S.Prog.Taints()
	var out []ModView
	for _, a := range set.Modules {
		if only == "" || a.Module.Name == only {
			out = append(out, modView(a, rep, taints))
		}
	}
	if boolFlag(fs, "t") {
		if terr != nil {
			return fmt.Errorf("mod -t: taint_flags: %w", terr)
		}
		if boolFlag(fs, "json") {
			return c.JSON(out)
		}
		tw := newTable(c.Out, "NAME", "TAINTS", "WHAT")
		for _, v := range out {
			if v.TaintLetters != "" {
				tw.Append([]string{v.Name, v.TaintLetters, strings.Join(v.TaintDesc, "; ")})
			}
		}
		tw.Render()
		return nil
	}
	if boolFlag(fs, "json") {
		if set.ListErr != nil {
			return c.JSONPartial(out, fmt.Errorf("mod: module list incomplete: %w", set.ListErr))
		}
		return c.JSON(out)
	}
	// The out-of-line code columns of what this kernel's modules have:
	// ppc64's .stubs and OOL arrays, arm64's PLTs (neither: x86_64).
	hasStubs, hasPLT := false, false
	for _, a := range set.Modules {
		hasStubs = hasStubs || a.Stubs != nil || a.Module.Arch.HasOOL
		hasPLT = hasPLT || a.PLT != nil
	}
	cols := []string{"MODULE", "NAME", "BASE", "SIZE", "OBJECT FILE"}
	switch {
	case hasStubs:
		cols = append(cols, "STUBS", "STUB_COUNT", "OOL")
	case hasPLT:
		cols = append(cols, "PLT", "FTRACE PLT")
	}
	tw := newTable(c.Out, append(cols, "!")...).Droppable("OBJECT FILE", "STUB_COUNT", "SIZE", "BASE")
	for _, v := range out {
		name := v.Name
		if v.Livepatch {
			name += " [K]"
		}
		bad := ""
		if v.Findings > 0 {
			bad = fmt.Sprintf("%d <<", v.Findings)
		}
		row := []string{fmt.Sprintf("%x", v.Module), name, fmt.Sprintf("%x", v.Base), fmt.Sprint(v.Size), v.Object}
		switch {
		case hasStubs:
			stubs := "-"
			if v.StubsSize > 0 {
				stubs = fmt.Sprintf("%d slots", v.StubsSize/modules.StubEntrySize)
			}
			row = append(row, stubs, fmt.Sprint(v.StubCount), fmt.Sprint(v.OOLStubCount))
		case hasPLT:
			plt, ft := "-", "-"
			if v.PLT != nil {
				plt = fmt.Sprintf("%d/%d", v.PLT.NumEntries, v.PLT.MaxEntries)
				if v.PLT.FtraceTrampolines {
					ft = "yes"
				}
			}
			row = append(row, plt, ft)
		}
		tw.Append(append(row, bad))
	}
	tw.Render()
	if set.ListErr != nil {
		return fmt.Errorf("mod: module list incomplete: %w", set.ListErr)
	}
	return nil
}
