package modules

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// genTruth is the subset of an example's truth.json these tests read.
type genTruth struct {
	Modules []struct {
		Name       string `json:"name"`
		CoreLayout *struct {
			Base string `json:"base"`
			Size uint64 `json:"size"`
		} `json:"core_layout"`
		Mem []struct {
			Type int    `json:"type"`
			Base string `json:"base"`
			Size uint64 `json:"size"`
		} `json:"mem"`
		StubsAddr string `json:"stubs_section_addr"`
		StubsSize struct {
			Size       uint64 `json:"size"`
			TotalSlots int    `json:"total_slots"`
		} `json:"stubs_size_from_ko"`
		Slots []struct {
			Index    int    `json:"index"`
			Kind     string `json:"kind"`
			Funcdata string `json:"funcdata"`
			Sym      string `json:"funcdata_sym"`
		} `json:"stub_slots"`
	} `json:"modules"`
}

func hexS(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
}

func openGen(t *testing.T, dir string) (*Set, genTruth) {
	t.Helper()
	p, err := kernel.Open([]string{dir + "/vmcore.zst"}, kernel.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	var tr genTruth
	b, err := os.ReadFile(dir + "/truth.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	return Analyze(p), tr
}

// slotKind is truth.json's slot kind in this package's words.
var slotKind = map[string]string{"call": "call", "ftrace": "ftrace|tramp|tramp_regs", "zero": "free"}

// TestGenerationASentinel61: Debian 12's 6.1 kernel (struct module_layout,
// the sentinel-scanning loader with its zero terminator, recordmcount's
// _mcount stub made by create_ftrace_stub()): module bases and sizes from
// core_layout, .stubs sizes as that get_stubs_size() computes them, every
// slot's kind and target, and the loader model reproducing .stubs word
// for word (no slot mismatches) — all against the dump's truth.json.
func TestGenerationASentinel61(t *testing.T) { checkGenerationA(t, "../testdata/example/deb12-6.1", true) }

// TestGenerationASentinel612: Debian 13's 6.12 kernel, the same loader
// generation with mem[] (6.4+) and patchable function entries (no _mcount
// relocations, so no _mcount stub).
func TestGenerationASentinel612(t *testing.T) {
	checkGenerationA(t, "../testdata/example/deb13-6.12", false)
}

func checkGenerationA(t *testing.T, dir string, mcount bool) {
	set, tr := openGen(t, dir)
	if set.Features.StubCount || set.Features.OutOfLine || !set.Features.DynamicFtrace || set.Features.NoTerminator {
		t.Errorf("features %+v: want the sentinel loader without OOL stubs", set.Features)
	}
	checked := 0
	for _, m := range tr.Modules {
		a := set.Find(m.Name)
		if a == nil {
			t.Errorf("%s: not listed", m.Name)
			continue
		}
		var size uint64
		for _, r := range a.Module.Regions {
			size += r.Size
		}
		wantBase, wantSize := uint64(0), uint64(0)
		if m.CoreLayout != nil {
			wantBase, wantSize = hexS(t, m.CoreLayout.Base), m.CoreLayout.Size
		}
		for _, r := range m.Mem {
			if r.Type == 0 {
				wantBase = hexS(t, r.Base)
			}
			wantSize += r.Size
		}
		if a.Module.Regions[0].Base != wantBase || size != wantSize {
			t.Errorf("%s: base %#x size %d; truth %#x %d", m.Name, a.Module.Regions[0].Base, size, wantBase, wantSize)
		}
		if m.Slots == nil {
			continue // not a subject of the extract: no .ko here
		}
		if a.Model == nil || a.Stubs == nil {
			t.Errorf("%s: model %v (%v, %s), stubs %v", m.Name, a.Model != nil, a.ModelErr, a.ModelSkipped, a.StubsErr)
			continue
		}
		if a.Model.Size.Size != m.StubsSize.Size || a.Stubs.Base != hexS(t, m.StubsAddr) {
			t.Errorf("%s: .stubs %#x size %d (%d slots); truth %s %d (%d)", m.Name, a.Stubs.Base, a.Model.Size.Size, a.Model.Size.TotalSlots, m.StubsAddr, m.StubsSize.Size, m.StubsSize.TotalSlots)
		}
		for _, ts := range m.Slots {
			if ts.Index >= len(a.Stubs.Slots) {
				t.Errorf("%s: slot %d beyond %d", m.Name, ts.Index, len(a.Stubs.Slots))
				continue
			}
			sl := a.Stubs.Slots[ts.Index]
			if !strings.Contains("|"+slotKind[ts.Kind]+"|", "|"+sl.Kind.String()+"|") {
				t.Errorf("%s slot %d: %s, truth %s", m.Name, ts.Index, sl.Kind, ts.Kind)
			}
			if ts.Funcdata != "" && sl.Funcdata != hexS(t, ts.Funcdata) {
				t.Errorf("%s slot %d: funcdata %#x, truth %s (%s)", m.Name, ts.Index, sl.Funcdata, ts.Funcdata, ts.Sym)
			}
			if len(sl.Mismatch) > 0 {
				t.Errorf("%s slot %d (%s -> %s): the loader model differs in words %v", m.Name, ts.Index, ts.Kind, ts.Sym, sl.Mismatch)
			}
			if ts.Kind == "ftrace" && ts.Sym == "_mcount" {
				if !mcount {
					t.Errorf("%s slot %d: an _mcount stub on a patchable-entry kernel", m.Name, ts.Index)
				}
				if sl.Kind != SlotFtrace {
					t.Errorf("%s slot %d: the _mcount stub is %s", m.Name, ts.Index, sl.Kind)
				}
			}
			checked++
		}
	}
	if checked < 50 {
		t.Errorf("only %d slots checked", checked)
	}
}
