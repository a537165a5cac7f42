package repl

import (
	"errors"
	"flag"
	"fmt"
	"strconv"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/textpoke"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// textPokeCommands are the commands of this file, in the one command table
// (builtinCommands).
func textPokeCommands() []Command {
	return []Command{{Name: "textpoke", Usage: "textpoke [--all] [--json]",
		Examples: []string{"textpoke", "textpoke --all"},
		Help:     "The x86_64 kernel's batch of live text patches (text_poke_array): which step of smp_text_poke_batch_finish() the dump caught it in, each CPU's text_poke_array_refs, and per entry its site, what the site holds now (old, int3 + old tail, int3 + new tail, new), what it is becoming, and what a CPU that hits the int3 executes as smp_text_poke_int3_handler() emulates it. Entries no step explains and emulations that are not the new instruction are marked (the TEXT-POKE rule's findings).\n--all lists every entry (else the first 16 and every marked one).",
		Flags: func(fs *flag.FlagSet) {
			fs.Bool("all", false, "list every entry")
			jsonFlag(fs)
		}, Run: cmdTextPoke}}
}

// TextPokeView is the textpoke command's output.
type TextPokeView struct {
	Addr      wire.Hex `json:"addr"`
	NrEntries int      `json:"nr_entries"`
	Step      string   `json:"step"`
	Progress  int      `json:"progress"`
	// Refs is each CPU's text_poke_array_refs (-1: unreadable).
	Refs     []int64             `json:"refs"`
	Summary  string              `json:"summary"`
	Entries  []TextPokeEntryView `json:"entries"`
	Omitted  int                 `json:"omitted,omitempty"`
	Unsorted int                 `json:"unsorted_at,omitempty"`
}

// TextPokeEntryView is one struct smp_text_poke_loc.
type TextPokeEntryView struct {
	Index    int      `json:"index"`
	Addr     wire.Hex `json:"addr"`
	Location string   `json:"location"`
	Len      int      `json:"len"`
	State    string   `json:"state"`
	Found    string   `json:"found"`
	New      string   `json:"new"`
	Becoming string   `json:"becoming"`
	Emulates string   `json:"emulates"`
	// Problem says why the entry is marked ("" when it is not).
	Problem string `json:"problem,omitempty"`
}

func cmdTextPoke(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	p := c.S.Prog
	if !arch.Has(p.Arch, arch.TextPokeBatch) {
		// Not an error: a ppc64 or arm64 kernel patches text without an
		// int3 batch.
		v := TextPokeView{Step: "not applicable", Summary: fmt.Sprintf("no int3 text-poke batch on %s (text_poke_array is x86's)", p.Arch.Name()), Entries: []TextPokeEntryView{}, Refs: []int64{}}
		if boolFlag(fs, "json") {
			return c.JSON(v)
		}
		c.Printf("%s\n", v.Summary)
		return nil
	}
	b, err := textpoke.Read(p)
	if errors.Is(err, textpoke.ErrNotModelled) {
		return fmt.Errorf("textpoke: %v", err)
	}
	if err != nil {
		return fmt.Errorf("textpoke: %w", err)
	}
	v := TextPokeView{Addr: wire.Hex(b.Addr), NrEntries: b.NrEntries, Step: b.Step.String(), Progress: b.Progress, Summary: b.Summary(), Entries: []TextPokeEntryView{}, Refs: []int64{}}
	if b.Unsorted > 0 {
		v.Unsorted = b.Unsorted
	}
	for i, r := range b.Refs {
		if b.RefErrs[i] != nil {
			v.Refs = append(v.Refs, -1)
		} else {
			v.Refs = append(v.Refs, int64(r))
		}
	}
	marked := map[int]string{}
	for _, i := range b.Broken {
		marked[i] = "no step of smp_text_poke_batch_finish() leaves the site so"
	}
	for _, e := range b.WrongEmulations() {
		marked[e.Index] = e.EmulationProblem
	}
	d, _ := p.Arch.(arch.Disassembler)
	all := boolFlag(fs, "all")
	for i := range b.Entries {
		e := &b.Entries[i]
		if !all && i >= 16 && marked[i] == "" {
			v.Omitted++
			continue
		}
		ev := TextPokeEntryView{Index: i, Addr: wire.Hex(e.Addr), Location: c.S.resolve(e.Addr).String(), Len: e.Len, State: e.State,
			Found: fmt.Sprintf("%x", e.Found), New: fmt.Sprintf("%x", e.New), Emulates: e.Emulation, Problem: marked[i]}
		if d != nil {
			ev.Becoming, _ = d.Disasm(e.New, e.Addr)
		}
		v.Entries = append(v.Entries, ev)
	}
	if boolFlag(fs, "json") {
		return c.JSON(v)
	}
	c.Printf("%s\n", v.Summary)
	if len(v.Entries) == 0 {
		return nil
	}
	tw := newTable(c.Out, "#", "SITE", "LOCATION", "NOW", "STATE", "BECOMING", "INT3 EMULATES", "!").
		Prose("LOCATION", "NOW", "STATE", "BECOMING", "INT3 EMULATES").Blocks(3)
	for _, e := range v.Entries {
		tw.Append([]string{strconv.Itoa(e.Index), fmt.Sprintf("%016x", uint64(e.Addr)), e.Location, e.Found, e.State, e.Becoming, e.Emulates, e.Problem})
	}
	if err := tw.Render(); err != nil {
		return err
	}
	if v.Omitted > 0 {
		c.Printf("(%d more entries: textpoke --all)\n", v.Omitted)
	}
	return nil
}
