package repl

import (
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/textcheck"
)

// textCommands are the commands of this file, in the one command table
// (builtinCommands).
func textCommands() []Command {
	return []Command{{Name: "text", Usage: "text MODULE|vmlinux [--explained] [--max N] [--json]", Complete: CompleteModule,
		Examples: []string{"text klp_stub_bug", "text --explained --max 5 vmlinux"},
		Help:     "The object's text held against its ELF file (a module's .ko with its relocations applied at this dump's addresses, the vmlinux's image): what was compared, every difference the kernel's mechanisms explain, counted by mechanism, and every one they do not, expected and found side by side.\n--explained lists the explained differences too, each with the model that explains it (ftrace, jump labels, feature fixups, kprobes, ...).",
		Flags: func(fs *flag.FlagSet) {
			fs.Bool("explained", false, "list the explained differences too")
			fs.Int("max", 200, "list at most `N` differences")
			jsonFlag(fs)
		}, Run: cmdText}}
}

// TextView is the `text` command's output.
type TextView struct {
	Object     string         `json:"object"`
	Compared   int64          `json:"bytes_compared"`
	Differing  int64          `json:"bytes_differing"`
	Explained  int64          `json:"bytes_explained"`
	ByMech     map[string]int `json:"explained_by_mechanism"`
	Sections   []TextSection  `json:"sections"`
	Incomplete []string       `json:"incomplete,omitempty"`
	Problems   []string       `json:"problems,omitempty"`
	Diffs      []TextDiffView `json:"diffs"`
	Omitted    int            `json:"omitted,omitempty"`
}

// TextSection is one section: compared or why not.
type TextSection struct {
	Name     string    `json:"name"`
	Addr     audit.Hex `json:"addr"`
	Size     int64     `json:"size"`
	Compared bool      `json:"compared"`
	Skip     string    `json:"skip,omitempty"`
}

// TextDiffView is one run of differing bytes.
type TextDiffView struct {
	Addr      audit.Hex `json:"addr"`
	Where     string    `json:"where"`
	Section   string    `json:"section"`
	Size      int       `json:"size"`
	Expected  []string  `json:"expected"`
	Found     []string  `json:"found"`
	Mechanism string    `json:"mechanism,omitempty"`
	Why       string    `json:"why,omitempty"`
	Mirrors   string    `json:"mirrors,omitempty"`
	// AttributedTo names another rule's finding that holds an unexplained
	// difference; Nearest the explanation that almost matched.
	AttributedTo string `json:"attributed_to,omitempty"`
	Nearest      string `json:"nearest,omitempty"`
}

func cmdText(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &UsageError{Cmd: "text", Msg: "want one MODULE or vmlinux"}
	}
	set := c.S.Modules()
	var res *textcheck.Result
	if pos[0] == "vmlinux" {
		res = c.S.A.Text(nil)
	} else {
		a := set.Find(pos[0])
		if a == nil {
			return fmt.Errorf("text: no module %q (see mod)", pos[0])
		}
		if a.Debuginfo == nil {
			return fmt.Errorf("text: %s: no .ko to compare with: %v", pos[0], a.DebuginfoErr)
		}
		res = c.S.A.Text(a)
	}
	v := c.S.textView(res, boolFlag(fs, "explained"), intFlag(fs, "max"))
	if boolFlag(fs, "json") {
		return c.JSON(v)
	}
	writeText(c, v)
	return nil
}

func (s *Session) textView(res *textcheck.Result, explained bool, maxN int) TextView {
	v := TextView{Object: res.Owner, Compared: int64(res.Compared), Differing: int64(res.Differing), Explained: int64(res.Explained),
		ByMech: map[string]int{}, Incomplete: res.Incomplete, Problems: res.Problems, Diffs: []TextDiffView{}}
	for m, n := range res.ByMech {
		v.ByMech[string(m)] = n
	}
	for _, sec := range res.Sections {
		v.Sections = append(v.Sections, TextSection{Name: sec.Name, Addr: audit.Hex(sec.Addr), Size: int64(sec.Size), Compared: sec.Compared, Skip: sec.Skip})
	}
	rep := s.Report()
	o := s.Prog.Order
	for _, d := range res.Diffs {
		if d.Explained != nil && !explained {
			continue
		}
		if maxN > 0 && len(v.Diffs) >= maxN {
			v.Omitted++
			continue
		}
		dv := TextDiffView{Addr: audit.Hex(d.Addr), Where: s.resolve(d.Addr).String(), Section: d.Section, Size: len(d.Found)}
		if iw, ok := s.Prog.Arch.(arch.InsnWords); ok {
			for off := 0; off+4 <= len(d.Found); off += 4 {
				pc := d.Addr + uint64(off)
				ea, fa := iw.DisasmWord(d.Expected[off:off+4], pc), iw.DisasmWord(d.Found[off:off+4], pc)
				dv.Expected = append(dv.Expected, fmt.Sprintf("%08x %s", o.Uint32(d.Expected[off:]), ea))
				dv.Found = append(dv.Found, fmt.Sprintf("%08x %s", o.Uint32(d.Found[off:]), fa))
				if len(dv.Found) >= 8 {
					break
				}
			}
		} else if dis, ok := s.Prog.Arch.(arch.Disassembler); ok {
			// variable-length instructions: each side's bytes, decoded
			// from the run's first byte
			ea, _ := dis.Disasm(d.Expected, d.Addr)
			fa, _ := dis.Disasm(d.Found, d.Addr)
			dv.Expected = append(dv.Expected, fmt.Sprintf("% x  %s", d.Expected, ea))
			dv.Found = append(dv.Found, fmt.Sprintf("% x  %s", d.Found, fa))
		}
		if e := d.Explained; e != nil {
			dv.Mechanism, dv.Why, dv.Mirrors = string(e.Mech), e.Why, e.Mirrors
		} else {
			dv.AttributedTo = rep.TextAttributedTo(d.Addr)
			if n := d.Nearest; n != nil {
				dv.Nearest = fmt.Sprintf("%s at %#x: %s (%s)", n.Mech, n.Addr, n.Why, n.Mirrors)
			}
		}
		v.Diffs = append(v.Diffs, dv)
	}
	return v
}

func writeText(c *Call, v TextView) {
	c.Printf("%s: %d bytes compared, %d differ from the ELF file, %d of them explained\n", v.Object, v.Compared, v.Differing, v.Explained)
	var mech []string
	for m, n := range v.ByMech {
		mech = append(mech, fmt.Sprintf("%s %d", m, n))
	}
	sort.Strings(mech)
	if len(mech) > 0 {
		c.Printf("  explained differences by mechanism: %s\n", strings.Join(mech, ", "))
	}
	for _, sec := range v.Sections {
		if sec.Compared {
			c.Printf("  compared %-24s %#x, %d bytes\n", sec.Name, uint64(sec.Addr), sec.Size)
		} else {
			c.Printf("  skipped  %-24s %s\n", sec.Name, sec.Skip)
		}
	}
	for _, s := range v.Incomplete {
		c.Printf("  not compared: %s\n", s)
	}
	for _, s := range v.Problems {
		c.Printf("  problem: %s\n", s)
	}
	un := 0
	for _, d := range v.Diffs {
		if d.Mechanism == "" {
			un++
		}
	}
	if len(v.Diffs) == 0 {
		c.Printf("\nno unexplained difference\n")
		return
	}
	for _, d := range v.Diffs {
		c.Printf("\n%#x %s (%s, %d bytes)", uint64(d.Addr), d.Where, d.Section, d.Size)
		switch {
		case d.Mechanism != "":
			c.Printf(": %s — %s [%s]\n", d.Mechanism, d.Why, d.Mirrors)
		case d.AttributedTo != "":
			c.Printf(": UNEXPLAINED, part of the %s finding\n", d.AttributedTo)
		default:
			c.Printf(": UNEXPLAINED\n")
		}
		if d.Nearest != "" {
			c.Printf("    nearest explanation: %s\n", d.Nearest)
		}
		for i := range d.Found {
			c.Printf("    expected %-40s found %s\n", d.Expected[i], d.Found[i])
		}
	}
	if v.Omitted > 0 {
		c.Printf("\n(%d more differences; --max N)\n", v.Omitted)
	}
}
