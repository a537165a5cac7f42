package repl

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// TestPLTExample: on the committed arm64 extract, `plt MODULE --json`
// gives every module's mod->arch.core as the guest's drgn read it
// (truth.json plt_core: plt_shndx, plt_num_entries, plt_max_entries),
// plt_max_entries + 1 entries, and `mod` the same counts; `stubs` on an
// arm64 module points at plt.
func TestPLTExample(t *testing.T) {
	const dir = "../testdata/example/arm64-ftrace-ops"
	var truth struct {
		Modules []struct {
			Name    string `json:"name"`
			PLTCore struct {
				Shndx int64 `json:"plt_shndx"`
				Num   int64 `json:"plt_num_entries"`
				Max   int64 `json:"plt_max_entries"`
			} `json:"plt_core"`
		} `json:"modules"`
	}
	testcorpus.LoadTruthInto(t, dir, &truth)
	if len(truth.Modules) < 10 {
		t.Fatalf("truth.json lists %d modules", len(truth.Modules))
	}
	s := exampleSessions(t, "arm64-ftrace-ops")["arm64-ftrace-ops"]
	var mods []ModView
	jsonData(t, s, "mod", "mod --json", &mods)
	byName := map[string]ModView{}
	for _, m := range mods {
		byName[m.Name] = m
	}
	for _, m := range truth.Modules {
		t.Run(m.Name, func(t *testing.T) {
			var v PLTView
			jsonData(t, s, "plt", "plt --json "+m.Name, &v)
			if len(v.Sections) != 2 || v.Sections[0].Name != ".plt" {
				t.Fatalf("sections %+v", v.Sections)
			}
			core := v.Sections[0]
			if core.Shndx != m.PLTCore.Shndx || core.NumEntries != m.PLTCore.Num || core.MaxEntries != m.PLTCore.Max {
				t.Errorf("core {%d %d %d}, drgn {%d %d %d}", core.Shndx, core.NumEntries, core.MaxEntries, m.PLTCore.Shndx, m.PLTCore.Num, m.PLTCore.Max)
			}
			if core.NotRead == "" && int64(len(core.Entries)) != m.PLTCore.Max+1 {
				t.Errorf("%d entries, want plt_max_entries + 1 = %d", len(core.Entries), m.PLTCore.Max+1)
			}
			mv, ok := byName[m.Name]
			if !ok || mv.PLT == nil || mv.PLT.NumEntries != m.PLTCore.Num || mv.PLT.MaxEntries != m.PLTCore.Max {
				t.Errorf("mod: %+v", mv.PLT)
			}
		})
	}
	// dis MODULE:.plt: the whole section, each entry labelled at its first
	// word, its target named at the br as plt names it
	var pv PLTView
	jsonData(t, s, "plt", "plt --json kdi_ftrace", &pv)
	var lines []DisLine
	jsonData(t, s, "dis", "dis --json kdi_ftrace:.plt", &lines)
	core := pv.Sections[0]
	if len(lines) != 3*len(core.Entries) {
		t.Fatalf("dis kdi_ftrace:.plt: %d lines, want 3 per entry of %d", len(lines), len(core.Entries))
	}
	for i, e := range core.Entries {
		first, br := lines[3*i], lines[3*i+2]
		if first.Stub != fmt.Sprintf("plt[%d]", i) || uint64(first.Addr) != uint64(e.Addr) || br.StubField != "br" {
			t.Errorf("entry %d: %+v / %+v", i, first, br)
		}
		// the resolver knows .plt's size as the loader made it
		// (plt_max_entries + 1 entries), not the .ko's placeholder
		if want := fmt.Sprintf("kdi_ftrace:.plt+%#x", 12*i+8); br.Location != want {
			t.Errorf("entry %d: br at %s, want %s", i, br.Location, want)
		}
		if e.Target != nil && !strings.Contains(br.Comment, "x16 = "+e.TargetSym+"; "+e.Use) {
			t.Errorf("entry %d: br comment %q, plt says %s (%s)", i, br.Comment, e.TargetSym, e.Use)
		}
	}
	out, err := s.capture(t.Context(), "stubs "+truth.Modules[0].Name)
	if err == nil || !strings.Contains(err.Error(), "see plt "+truth.Modules[0].Name) {
		t.Errorf("stubs on an arm64 module: %v\n%s", err, out)
	}
}

// TestPLTCorpus: on the arm64 corpus dump with the most PLT use
// (bench/arm64-corpus distro-ftrace-ops; skipped without it), every PLT
// slot of every module and every ftrace trampoline is what drgn read
// (truth.json dump.modules[].plt, ftrace_trampolines_entries): its address,
// its three words, whether it is zero, where it branches, whether it is
// exactly get_plt_entry() of its target, and whether it is below
// plt_num_entries.
func TestPLTCorpus(t *testing.T) {
	dir := testcorpus.Corpora(t, "arm64", "distro-ftrace-ops")
	if testing.Short() {
		t.Skip("-short: opens a 1 GiB dump")
	}
	p, err := kernel.Open([]string{filepath.Join(dir, "vmcore.kdump")}, kernel.Options{Vmlinux: filepath.Join(dir, "vmlinux.zst"), ModuleDirs: []string{filepath.Join(dir, "modules")}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if slots := checkPLTCorpus(t, dir, New(p, Options{Out: os.Stdout, Err: os.Stderr})); slots < 1000 {
		t.Errorf("%d PLT slots compared, the dump has over a thousand", slots)
	}
}

// checkPLTCorpus holds `plt --json` of every module of the session's
// dump against dir's truth.json (drgn: dump.modules[].plt,
// ftrace_trampolines_entries) and returns how many .plt slots it
// compared.
func checkPLTCorpus(t *testing.T, dir string, s *Session) int {
	t.Helper()
	p := s.Prog
	type slot struct {
		Addr     string `json:"addr"`
		Words    string `json:"words"`
		Kind     string `json:"kind"`
		Target   string `json:"target"`
		Sym      string `json:"target_sym"`
		Template bool   `json:"equals_get_plt_entry_of_target"`
		Index    int    `json:"index"`
		Used     bool   `json:"used"`
	}
	var truth struct {
		Dump struct {
			Modules []struct {
				Name   string `json:"name"`
				PLT    []slot `json:"plt"`
				Tramps []slot `json:"ftrace_trampolines_entries"`
			} `json:"modules"`
		} `json:"dump"`
	}
	testcorpus.LoadTruthInto(t, dir, &truth)
	words := func(ws []uint64) string {
		var o []string
		for _, w := range ws {
			o = append(o, fmt.Sprintf("%08x", w))
		}
		return strings.Join(o, " ")
	}
	check := func(t *testing.T, what string, got PLTEntryView, want slot) {
		var ws []uint64
		for _, w := range got.Words {
			ws = append(ws, uint64(w))
		}
		if fmt.Sprintf("%#x", uint64(got.Addr)) != want.Addr || words(ws) != want.Words {
			t.Errorf("%s: %#x %s, drgn %s %s", what, uint64(got.Addr), words(ws), want.Addr, want.Words)
		}
		switch want.Kind {
		case "zero":
			if got.Target != nil {
				t.Errorf("%s: zero slot with target %v", what, *got.Target)
			}
		case "plt":
			tgt, _ := strconv.ParseUint(want.Target, 0, 64)
			if got.Target == nil || uint64(*got.Target) != tgt || got.Template != want.Template {
				t.Errorf("%s: target %v template %v, drgn %s (%s) template %v", what, got.Target, got.Template, want.Target, want.Sym, want.Template)
			} else if want.Sym != "" && !strings.HasPrefix(got.TargetSym, want.Sym+"+") {
				// an alias at the same address (arm64's __memmove and
				// __memcpy) is the same target under another name
				if a, err := p.SymbolAddr(want.Sym); err != nil || a != tgt || !strings.HasSuffix(got.TargetSym, "+0x0") {
					t.Errorf("%s: target %s, drgn %s", what, got.TargetSym, want.Sym)
				}
			}
		default:
			t.Errorf("%s: drgn kind %q", what, want.Kind)
		}
	}
	slots := 0
	for _, m := range truth.Dump.Modules {
		t.Run(m.Name, func(t *testing.T) {
			var v PLTView
			jsonData(t, s, "plt", "plt --json "+m.Name, &v)
			core := v.Sections[0]
			if len(core.Entries) != len(m.PLT) {
				t.Fatalf("%d entries, drgn %d", len(core.Entries), len(m.PLT))
			}
			for i, w := range m.PLT {
				e := core.Entries[i]
				check(t, fmt.Sprintf(".plt[%d]", i), e, w)
				used := e.Use == "used" || strings.HasPrefix(e.Use, "skipped")
				if used != w.Used {
					t.Errorf(".plt[%d]: %s, drgn used=%v", i, e.Use, w.Used)
				}
				if len(e.Findings) > 0 {
					t.Errorf(".plt[%d]: findings %v on a correct kernel", i, e.Findings)
				}
				slots++
			}
			if len(v.FtraceTrampolines) != len(m.Tramps) {
				t.Fatalf("%d ftrace trampolines, drgn %d", len(v.FtraceTrampolines), len(m.Tramps))
			}
			for i, w := range m.Tramps {
				check(t, fmt.Sprintf("ftrace_trampolines[%d]", i), v.FtraceTrampolines[i], w)
			}
		})
	}
	return slots
}
