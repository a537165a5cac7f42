package textpoke

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testprog"
)

// inflightTruth is the part of a bench/x86-corpus in-flight dump's
// truth.json this package is held against: drgn's text_poke_array (with
// the bytes at each site, "now") and the summary of where the batch stood.
type inflightTruth struct {
	Dump struct {
		TextPokeArray struct {
			NrEntries int `json:"nr_entries"`
			Vec       []struct {
				I      int    `json:"i"`
				Addr   string `json:"addr"`
				Disp   int32  `json:"disp"`
				Len    int    `json:"len"`
				Opcode string `json:"opcode"`
				Text   string `json:"text"`
				Now    string `json:"now"`
			} `json:"vec"`
			Refs map[string]int32 `json:"refs"`
		} `json:"text_poke_array"`
	} `json:"dump"`
	Summary struct {
		Kind         string         `json:"kind"`
		FirstByteNow map[string]int `json:"first_byte_now"`
		TailsNew     int            `json:"tails_equal_new_text"`
	} `json:"inflight_summary"`
}

// TestInflightCorpus: the eight dumps bench/x86-corpus caught with a
// text-poke batch in flight (a Debian 7.2.22 kernel and the 7.2.13
// livepatch build, function tracing being switched on or off across
// hundreds of functions). Every entry is read as drgn read it, every site
// holds the bytes drgn found, every CPU's refs is drgn's, and the step is
// the one the truth's summary implies: refs 0 → queued; an int3 window
// with old first bytes left → step 1 with as many int3 as the truth
// counts; with new first bytes → step 3 with as many new; else step 2 with
// as many tails written. No batch is inconsistent and every emulation
// matches its text (the guests' kernels are correct).
func TestInflightCorpus(t *testing.T) {
	root := testcorpus.Corpora(t, "x86")
	dirs, _ := filepath.Glob(filepath.Join(root, "*", "inflight-*"))
	if len(dirs) == 0 {
		t.Skipf("no in-flight dumps under %s", root)
	}
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		t.Run(filepath.Base(filepath.Dir(dir))+"/"+filepath.Base(dir), func(t *testing.T) {
			var tr inflightTruth
			testcorpus.LoadTruthInto(t, dir, &tr)
			p := testprog.OpenWithVmlinux(t, dir, "vmcore.elf.zst")
			batch, err := Read(p)
			if err != nil {
				t.Fatal(err)
			}
			want := tr.Dump.TextPokeArray
			if batch.NrEntries != want.NrEntries || len(batch.Entries) != len(want.Vec) {
				t.Fatalf("nr_entries %d (%d read), drgn %d", batch.NrEntries, len(batch.Entries), want.NrEntries)
			}
			for i, w := range want.Vec {
				e := batch.Entries[i]
				text, _ := hex.DecodeString(w.Text)
				now, _ := hex.DecodeString(w.Now)
				if e.Addr != testcorpus.Hex(t, w.Addr) || e.Disp != w.Disp || e.Len != w.Len || uint64(e.Opcode) != testcorpus.Hex(t, w.Opcode) ||
					string(e.Text[:len(text)]) != string(text) || string(e.Found) != string(now[:e.Len]) {
					t.Errorf("entry %d: %#x disp %d len %d opcode %#x text % x found % x; drgn %+v", i, e.Addr, e.Disp, e.Len, e.Opcode, e.Text, e.Found, w)
				}
			}
			for _, e := range batch.WrongEmulations() {
				t.Errorf("entry %d: %s", e.Index, e.EmulationProblem)
			}
			for cpu, r := range batch.Refs {
				if w, ok := want.Refs[strconv.Itoa(cpu)]; !ok || r != w || batch.RefErrs[cpu] != nil {
					t.Errorf("CPU %d refs %d (%v), drgn %d", cpu, r, batch.RefErrs[cpu], w)
				}
			}
			fb := tr.Summary.FirstByteNow
			var step Step
			progress := -1
			switch {
			case tr.Summary.Kind == "queued":
				step = Queued
			case fb["old"] > 0:
				step, progress = Step1, fb["int3"]
			case fb["new"] > 0:
				step, progress = Step3, fb["new"]
			default:
				step, progress = Step2, tr.Summary.TailsNew
			}
			if batch.Step != step || progress >= 0 && batch.Progress != progress {
				t.Errorf("%s, progress %d; the truth (%s, first bytes %v, %d tails new) says %s, %d", batch.Step, batch.Progress, tr.Summary.Kind, fb, tr.Summary.TailsNew, step, progress)
			}
			for i := range batch.Entries {
				if _, ok := batch.Explains(&batch.Entries[i]); !ok {
					t.Errorf("entry %d (%s) not explained", i, batch.Entries[i].State)
				}
			}
			t.Log(batch.Summary())
		})
	}
}
