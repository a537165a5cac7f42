package audit

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/textpoke"
)

// x86Examples holds example findings of the x86 rules for docs/RULES.md.
var x86Examples sync.Map

// inflightExampleTruth is testdata/example/x86-inflight-step1/truth.json:
// drgn's text_poke_array of the dump (each entry with the bytes at its
// site, "now") and where the batch stood.
type inflightExampleTruth struct {
	TextPokeArray struct {
		NrEntries int `json:"nr_entries"`
		Vec       []struct {
			Addr   string `json:"addr"`
			Disp   int32  `json:"disp"`
			Len    int    `json:"len"`
			Opcode string `json:"opcode"`
			Text   string `json:"text"`
			Now    string `json:"now"`
		} `json:"vec"`
		Refs map[string]int32 `json:"refs"`
	} `json:"text_poke_array"`
	Summary struct {
		Kind         string         `json:"kind"`
		FirstByteNow map[string]int `json:"first_byte_now"`
	} `json:"inflight_summary"`
}

func openInflight(t *testing.T, wrap *damage.Virt) (*kernel.Program, inflightExampleTruth) {
	t.Helper()
	var tr inflightExampleTruth
	p := openExample(t, "x86-inflight-step1", wrap, &tr)
	return p, tr
}

func textPokeFindings(t *testing.T, p *kernel.Program) ([]Finding, Status) {
	t.Helper()
	r := Run(analysis.New(p), Options{Subjects: []string{"system"}})
	var out []Finding
	for _, f := range r.Findings {
		if f.Rule == "TEXT-POKE" {
			out = append(out, f)
		}
	}
	for _, c := range r.Coverage {
		for _, rc := range c.Rules {
			if rc.Rule == "TEXT-POKE" {
				return out, rc.Status
			}
		}
	}
	t.Fatal("TEXT-POKE not in the coverage")
	return nil, 0
}

// TestTextPokeInflightExample: the 7.2.13 livepatch build stopped by QMP
// while smp_text_poke_batch_finish() was writing int3 over 256 ftrace
// sites (step 1). The batch reads as drgn read it, the step and its
// progress are the truth's (155 sites with int3, 101 still old), and the
// audit, which ran, finds nothing: a correct kernel mid-patch. Planting
// the defects the rule exists for makes it speak: an entry whose disp
// emulates a call elsewhere than its text (seed 004's class), and an int3
// past step 1's progress (a site no step leaves so).
func TestTextPokeInflightExample(t *testing.T) {
	p, tr := openInflight(t, nil)
	b, err := textpoke.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	want := tr.TextPokeArray
	if b.NrEntries != want.NrEntries || len(b.Entries) != len(want.Vec) {
		t.Fatalf("nr_entries %d, drgn %d", b.NrEntries, want.NrEntries)
	}
	for i, w := range want.Vec {
		e := b.Entries[i]
		a, _ := strconv.ParseUint(strings.TrimPrefix(w.Addr, "0x"), 16, 64)
		op, _ := strconv.ParseUint(strings.TrimPrefix(w.Opcode, "0x"), 16, 8)
		text, _ := hex.DecodeString(w.Text)
		now, _ := hex.DecodeString(w.Now)
		if e.Addr != a || e.Disp != w.Disp || e.Len != w.Len || uint64(e.Opcode) != op || string(e.New) != string(text[:e.Len]) || string(e.Found) != string(now[:e.Len]) {
			t.Errorf("entry %d: %#x disp %d len %d op %#x new % x found % x; drgn %+v", i, e.Addr, e.Disp, e.Len, e.Opcode, e.New, e.Found, w)
		}
	}
	for cpu, r := range b.Refs {
		if r != want.Refs[strconv.Itoa(cpu)] {
			t.Errorf("CPU %d refs %d, drgn %v", cpu, r, want.Refs)
		}
	}
	if b.Step != textpoke.Step1 || b.Progress != tr.Summary.FirstByteNow["int3"] {
		t.Errorf("%s progress %d; truth %s with %v", b.Step, b.Progress, tr.Summary.Kind, tr.Summary.FirstByteNow)
	}
	if fs, st := textPokeFindings(t, p); len(fs) != 0 || st != Ran {
		t.Errorf("clean batch: %d findings, %s", len(fs), st)
	}

	// Seed 004: entry 10 emulates a jmp 16 bytes further than its text.
	v := damage.NewVirt(p)
	vec, err := p.SymbolAddr("text_poke_array")
	if err != nil {
		t.Fatal(err)
	}
	e10 := b.Entries[10]
	disp := make([]byte, 4)
	binary.LittleEndian.PutUint32(disp, uint32(e10.Disp+16))
	if err := v.Patch(vec+10*16+4, disp); err != nil { // struct smp_text_poke_loc: 16 bytes, disp at 4
		t.Fatal(err)
	}
	// An int3 at entry 200's site: step 1 has reached entry 155 only.
	e200 := b.Entries[200]
	if err := v.Patch(e200.Addr, []byte{0xcc}); err != nil {
		t.Fatal(err)
	}
	p2, _ := openInflight(t, v)
	fs, st := textPokeFindings(t, p2)
	var emul, state bool
	for _, f := range fs {
		emul = emul || strings.Contains(f.Message, "vec[10]") && strings.Contains(f.Message, "the int3 handler emulates")
		state = state || strings.Contains(f.Message, "vec[200]") && strings.Contains(f.Message, "no step of smp_text_poke_batch_finish()")
	}
	for _, f := range fs {
		if strings.Contains(f.Message, "vec[10]") {
			x86Examples.Store("TEXT-POKE", "Example (the committed extract of the x86_64 7.2.13 livepatch build stopped in step 1 of a 256-site batch, testdata/example/x86-inflight-step1, with text_poke_array.vec[10].disp raised by 16, so that the int3 handler would emulate a jump past the site's new instruction — seed 004's class):\n\n    "+f.Severity.String()+" "+f.Rule+": "+f.Message)
		}
	}
	if !emul || !state || st != Ran {
		for _, f := range fs {
			t.Log(f.Message)
		}
		t.Errorf("planted emulation mismatch found %v, planted int3 found %v (%s)", emul, state, st)
	}
}

// TestTextPokeUnreadableSite: a site the dump does not hold (a hole laid
// over entry 3's page) is not a clean verdict: TEXT-POKE is partial and
// names it, and reports no finding for it.
func TestTextPokeUnreadableSite(t *testing.T) {
	p, _ := openInflight(t, nil)
	b, err := textpoke.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	v := damage.NewVirt(p)
	e3 := b.Entries[3]
	pa, ok := p.Arch.Linear(e3.Addr &^ 0xfff) // the kernel image's fixed mapping
	if !ok {
		t.Fatalf("%#x: not in the kernel image mapping", e3.Addr)
	}
	v.Mem.Hole(pa, pa+0x1000)
	p2, _ := openInflight(t, v)
	fs, st := textPokeFindings(t, p2)
	if len(fs) != 0 || st != Partial {
		t.Errorf("unreadable site: %d findings, status %s; want none and partial", len(fs), st)
	}
}
