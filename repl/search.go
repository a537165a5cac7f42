package repl

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// defaultSearchLen is how far -s START searches without -e or -l when
// START lies in no module region and not in the vmlinux image.
const defaultSearchLen = 16 << 20

func searchFlags(fs *flag.FlagSet) {
	fs.String("s", "", "start at `ADDR` (an address or expression)")
	fs.String("e", "", "end before `ADDR`")
	fs.String("l", "", "search `LEN` bytes from the start")
	fs.String("m", "", "ignore the bits set in `MASK` (crash's -m)")
	fs.Bool("w", false, "32-bit words")
	fs.Bool("h", false, "16-bit words")
	fs.Bool("k", false, "all kernel memory: every page of RAM through the linear map, and the modules")
	fs.Bool("p", false, "physical memory (the dump's ranges)")
	fs.String("module", "", "only the memory of `MODULE`")
	fs.Bool("branch", false, "instructions (b, bl, bc) whose branch target is VALUE, not words equal to it")
	fs.String("within", "", "match VALUE up to VALUE+`LEN` (a pointer into a stub slot: --within 40)")
	fs.Int("max", kernel.DefaultSearchHits, "stop after `N` hits")
	jsonFlag(fs)
}

// SearchView is what search prints (--json).
type SearchView struct {
	Ranges     []kernel.SearchRange `json:"ranges"`
	Hits       []SearchHitView      `json:"hits"`
	Searched   uint64               `json:"bytes_searched"`
	Unreadable uint64               `json:"bytes_unreadable"`
	Truncated  bool                 `json:"truncated,omitempty"`
}

// SearchHitView is one hit with its location.
type SearchHitView struct {
	Addr     uint64 `json:"addr"`
	Word     uint64 `json:"word"`
	Location string `json:"location"`
	Target   uint64 `json:"target,omitempty"`
	TargetAt string `json:"target_location,omitempty"`
	Insn     string `json:"insn,omitempty"`
}

// searchRanges is the default: every module's memory (mod->mem[]) and
// the vmlinux image from _stext to _end; with -k every page of RAM
// through the linear map instead of the image; with --module that
// module's memory only.
func (s *Session) searchRanges(module string, all bool) ([]kernel.SearchRange, error) {
	var out []kernel.SearchRange
	set := s.Modules()
	for _, a := range set.Modules {
		if module != "" && a.Module.Name != module {
			continue
		}
		for _, r := range a.Module.Regions {
			if r.Size > 0 && r.Base != 0 {
				out = append(out, kernel.SearchRange{Start: r.Base, End: r.Base + r.Size, Name: a.Module.Name + " " + r.Name})
			}
		}
	}
	if module != "" {
		if len(out) == 0 {
			return nil, fmt.Errorf("no module %q with memory", module)
		}
		return out, nil
	}
	if all {
		for _, r := range s.Prog.Dump.Ranges {
			out = append(out, kernel.SearchRange{Start: s.Prog.Arch.DirectMap() + r.Start, End: s.Prog.Arch.DirectMap() + r.End, Name: "direct map"})
		}
		return out, nil
	}
	start, err1 := s.Prog.SymbolAddr("_stext")
	end, err2 := s.Prog.SymbolAddr("_end")
	if err := errors.Join(err1, err2); err != nil {
		return out, fmt.Errorf("vmlinux image: %w", err)
	}
	return append(out, kernel.SearchRange{Start: start, End: end, Name: "vmlinux"}), nil
}

func cmdSearch(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return &UsageError{Cmd: "search", Msg: "want a VALUE"}
	}
	s := c.S
	q := kernel.SearchQuery{Unit: 8, Branch: boolFlag(fs, "branch"), Max: intFlag(fs, "max")}
	switch {
	case boolFlag(fs, "w"):
		q.Unit = 4
	case boolFlag(fs, "h"):
		q.Unit = 2
	}
	for _, a := range pos {
		v, err := s.ParseAddr(a)
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		q.Values = append(q.Values, v)
	}
	num := func(name string) (uint64, bool, error) {
		v := stringFlag(fs, name)
		if v == "" {
			return 0, false, nil
		}
		n, err := s.ParseAddr(v)
		return n, true, err
	}
	var errs []error
	var ok bool
	if q.Mask, ok, err = num("m"); err != nil {
		errs = append(errs, err)
	} else if ok && q.Branch {
		errs = append(errs, errors.New("-m does not apply to --branch"))
	}
	if q.Within, _, err = num("within"); err != nil {
		errs = append(errs, err)
	}
	start, hasStart, err := num("s")
	errs = append(errs, err)
	end, hasEnd, err := num("e")
	errs = append(errs, err)
	length, hasLen, err := num("l")
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return &UsageError{Cmd: "search", Msg: err.Error()}
	}
	var mem kernel.Reader = s.Prog.Context.Mem
	var ranges []kernel.SearchRange
	switch {
	case boolFlag(fs, "p") && !hasStart:
		mem = s.Prog.Phys
		for _, r := range s.Prog.Dump.Ranges {
			ranges = append(ranges, kernel.SearchRange{Start: r.Start, End: r.End, Name: "physical"})
		}
	case hasStart:
		if boolFlag(fs, "p") {
			mem = s.Prog.Phys
		}
		switch {
		case hasEnd && hasLen:
			return &UsageError{Cmd: "search", Msg: "-e and -l exclude each other"}
		case hasEnd:
		case hasLen:
			end = start + length
		default:
			end = start + defaultSearchLen
			if !boolFlag(fs, "p") {
				if rs, err := s.searchRanges("", false); err == nil {
					for _, r := range rs {
						if start >= r.Start && start < r.End {
							end = r.End
						}
					}
				}
			}
		}
		if end <= start {
			return &UsageError{Cmd: "search", Msg: fmt.Sprintf("end %#x is not after start %#x", end, start)}
		}
		ranges = []kernel.SearchRange{{Start: start, End: end, Name: "-s"}}
	default:
		if ranges, err = s.searchRanges(stringFlag(fs, "module"), boolFlag(fs, "k")); err != nil {
			return fmt.Errorf("search: %w", err)
		}
	}
	res, serr := kernel.Search(c.Ctx, mem, s.Prog.Order, ranges, q)
	v := SearchView{Ranges: ranges, Searched: res.Searched, Unreadable: res.Unreadable, Truncated: res.Truncated}
	for _, h := range res.Hits {
		hv := SearchHitView{Addr: h.Addr, Word: h.Word}
		if mem == s.Prog.Context.Mem {
			hv.Location = s.resolve(h.Addr).String()
		}
		if q.Branch {
			hv.Target, hv.TargetAt = h.Target, s.resolve(h.Target).String()
			hv.Insn = ppc64.Disasm(uint32(h.Word), h.Addr)
		}
		v.Hits = append(v.Hits, hv)
	}
	if serr != nil && len(v.Hits) == 0 && !errors.Is(serr, c.Ctx.Err()) {
		return fmt.Errorf("search: %w", serr)
	}
	if boolFlag(fs, "json") {
		return errors.Join(c.JSON(v), serr)
	}
	width := 2 * q.Unit
	if q.Branch {
		width = 8
	}
	for _, h := range v.Hits {
		line := fmt.Sprintf("%016x: %0*x", h.Addr, width, h.Word)
		if h.Insn != "" {
			line += fmt.Sprintf("  %s <%s>", h.Insn, h.TargetAt)
		}
		if h.Location != "" {
			line += "  in " + h.Location
		}
		c.Printf("%s\n", line)
	}
	var notes []string
	if len(v.Hits) == 0 {
		notes = append(notes, "no match")
	}
	if v.Unreadable > 0 {
		notes = append(notes, fmt.Sprintf("%d bytes unreadable (not in the dump) were skipped", v.Unreadable))
	}
	if v.Truncated {
		notes = append(notes, fmt.Sprintf("stopped after %d hits (--max)", len(v.Hits)))
	}
	if len(notes) > 0 {
		fmt.Fprintf(c.S.Err, "search: %s (%d bytes searched in %d ranges)\n", strings.Join(notes, "; "), v.Searched, len(ranges))
	}
	return serr
}
