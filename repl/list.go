package repl

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/kernel"

	"github.com/kdump-inspect/kdump-inspect/wire"
)

func listFlags(fs *flag.FlagSet) {
	fs.String("o", "", "the next pointer's place in an entry: `OFFSET`, TYPE.member or, with -s, member")
	fs.String("s", "", "print each entry as `TYPE[.member,...]`")
	fs.String("H", "", "`HEAD` is a standalone struct list_head (not an entry)")
	fs.String("h", "", "`START` is an entry holding the list_head (printed first)")
	fs.String("e", "", "stop at the entry `END`")
	fs.Bool("r", false, "walk backwards (list_head.prev)")
	fs.Bool("x", false, "integers in hexadecimal")
	fs.Bool("d", false, "integers in decimal")
	fs.Int("max", 10000, "stop after `N` entries")
	jsonFlag(fs)
}

// listSpec is a list command taken apart: where the link is and what the
// entries are.
type listSpec struct {
	typ     string   // "struct module", "" for addresses only
	members []string // -s members
	off     uint64   // offset of the link member (list_head or pointer)
}

// parseListSpec reads -o and -s: -o is a number, TYPE.member, or a
// member of -s's TYPE; -s TYPE.m1,m2 names what to print.
func (s *Session) parseListSpec(o, st string) (listSpec, error) {
	var sp listSpec
	if st != "" {
		ss := parseStructSpec("struct", st)
		sp.typ, sp.members = ss.Type, ss.Members
	}
	if o == "" {
		return sp, nil // offset 0
	}
	if n, err := strconv.ParseUint(o, 0, 64); err == nil {
		sp.off = n
		return sp, nil
	}
	typ, member := sp.typ, o
	if t, m, ok := strings.Cut(o, "."); ok && !strings.Contains(t, "[") {
		typ, member = parseStructSpec("struct", t).Type, m
	}
	if typ == "" {
		return sp, fmt.Errorf("-o %s: a member needs its type: -o TYPE.member, or -s TYPE", o)
	}
	off, err := s.Prog.Types.Offsetof(typ, member)
	if err != nil {
		return sp, fmt.Errorf("-o %s: %w", o, err)
	}
	sp.off = uint64(off)
	return sp, nil
}

func cmdList(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	s := c.S
	head, start := stringFlag(fs, "H"), stringFlag(fs, "h")
	// crash's -o is optional: `list task_struct.tasks -h init_task`.
	off := stringFlag(fs, "o")
	if off == "" && (len(pos) == 2 || len(pos) == 1 && (head != "" || start != "")) {
		off, pos = pos[0], pos[1:]
	}
	sp, err := s.parseListSpec(off, stringFlag(fs, "s"))
	if err != nil {
		return &UsageError{Cmd: "list", Msg: err.Error()}
	}
	if len(pos) > 0 && head == "" && start == "" {
		start = pos[0]
		pos = pos[1:]
	}
	if len(pos) > 0 || (head == "") == (start == "") {
		return &UsageError{Cmd: "list", Msg: "want one of -H HEAD, -h START or START"}
	}
	// The link inside a struct list_head: next, or prev with -r.
	dir := uint64(0)
	if boolFlag(fs, "r") {
		o, err := s.Prog.Types.Offsetof("struct list_head", "prev")
		if err != nil {
			return fmt.Errorf("list -r: %w", err)
		}
		dir = uint64(o)
	}
	ch := kernel.Chain{Max: intFlag(fs, "max")}
	switch {
	case head != "":
		h, err := s.ParseAddr(head)
		if err != nil {
			return err
		}
		first, err := s.Prog.ReadU64(h + dir)
		if err != nil {
			return fmt.Errorf("list: head %#x: %w", h, err)
		}
		ch.First, ch.Stop, ch.LinkOff, ch.Adjust = first, h, sp.off+dir, sp.off
	case stringFlag(fs, "h") != "":
		a, err := s.ParseAddr(start)
		if err != nil {
			return err
		}
		ch.First, ch.Stop, ch.FirstIsEntry, ch.LinkOff, ch.Adjust = a+sp.off, a+sp.off, true, sp.off+dir, sp.off
	default:
		// crash's plain form: the pointer at OFFSET is the next entry's
		// address; NULL or START again ends the list.
		a, err := s.ParseAddr(start)
		if err != nil {
			return err
		}
		ch.First, ch.Stop, ch.FirstIsEntry, ch.LinkOff, ch.NullEnds = a, a, true, sp.off, true
	}
	if e := stringFlag(fs, "e"); e != "" {
		if ch.End, err = s.ParseAddr(e); err != nil {
			return err
		}
	}
	var addrs []uint64
	var walkErr error
	pr := s.newPrinterFormat(s.numFormat(fs))
	for a, err := range kernel.WalkChain(s.Prog.Context, ch) {
		if err != nil {
			walkErr = err
			break
		}
		if cerr := c.Ctx.Err(); cerr != nil {
			return cerr
		}
		addrs = append(addrs, a)
		if boolFlag(fs, "json") {
			continue
		}
		c.Printf("%x\n", a)
		if sp.typ == "" {
			continue
		}
		o, err := s.Prog.Object(sp.typ, a)
		if err != nil {
			return err
		}
		o = pr.rebase(o)
		if len(sp.members) == 0 {
			c.Printf("%s %s\n", sp.typ, pr.value(o, 0, 0))
			continue
		}
		for _, m := range sp.members {
			mo, err := o.Member(m)
			if err != nil {
				c.Printf("  %s = <%v>\n", m, err)
				continue
			}
			c.Printf("  %s = %s\n", m, pr.memberValue(lastMember(m), mo, 2, 0))
		}
	}
	if walkErr != nil {
		walkErr = fmt.Errorf("list: %w", walkErr)
	}
	if boolFlag(fs, "json") {
		return c.JSONPartial(wire.Hexes(addrs), walkErr)
	}
	return walkErr
}

// lastMember is the last name of a member path ("mem[0].base" -> base).
func lastMember(path string) string {
	if i := strings.LastIndexAny(path, ".>"); i >= 0 {
		path = path[i+1:]
	}
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	return path
}
