package modules

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// kernelDir returns the kernels/7.2.13-* directory a dump directory links to.
func kernelDir(t *testing.T, dir string) string {
	t.Helper()
	return filepath.Dir(container.FollowLinkFile(filepath.Join(dir, "modules")))
}

// systemMap reads System.map: the build's own symbol list, ground truth
// independent of our ELF reader.
func systemMap(t *testing.T, kdir string) map[string]uint64 {
	t.Helper()
	f, err := os.Open(filepath.Join(kdir, "System.map"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue
		}
		a, err := strconv.ParseUint(fs[0], 16, 64)
		if err != nil {
			continue
		}
		if _, dup := m[fs[2]]; !dup {
			m[fs[2]] = a
		}
	}
	return m
}

// moduleKallsyms parses truth.json guest.blocks["module kallsyms"]: what the
// guest's /proc/kallsyms said about module symbols.
func moduleKallsyms(tr testcorpus.Truth) map[string]map[string]uint64 {
	out := map[string]map[string]uint64{}
	g := tr["guest"].(map[string]any)["blocks"].(map[string]any)
	for _, l := range g["module kallsyms"].([]any) {
		line := l.(string)
		tab := strings.IndexByte(line, '\t')
		if tab < 0 {
			continue
		}
		fs := strings.Fields(line[:tab])
		mod := strings.Trim(line[tab+1:], "[] ")
		if len(fs) != 3 {
			continue
		}
		a, _ := strconv.ParseUint(fs[0], 16, 64)
		if out[mod] == nil {
			out[mod] = map[string]uint64{}
		}
		out[mod][fs[2]] = a
	}
	return out
}

// corpusFeatures are the loader features of the corpus kernel as its
// config says (ground truth for the pure model; the dump path detects them
// from DWARF). PACATOC is 16: the tramp stubs in truth.json begin with
// e98d0010, ld r12,16(r13).
var corpusFeatures = LoaderFeatures{DynamicFtrace: true, WithRegs: true, OutOfLine: true, StubCount: true, NoTerminator: true, PacaKernelTOC: 16}

func openKo(t *testing.T, kdir, file string) *KoImage {
	t.Helper()
	f, err := symbols.OpenELF(filepath.Join(kdir, "modules", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ko, err := ReadKo(file, f)
	if err != nil {
		t.Fatal(err)
	}
	return ko
}

func TestStubsSizeCorpus(t *testing.T) {
	for _, d := range testcorpus.Dirs {
		t.Run(d, func(t *testing.T) {
			dir := testcorpus.Dir(t, d)
			kdir := kernelDir(t, dir)
			tr := testcorpus.LoadTruth(t, dir)
			for _, m := range tr.DumpModules() {
				want := m["stubs_size_from_ko"].(map[string]any)
				ko := openKo(t, kdir, m["ko_file"].(string))
				if len(ko.Warnings) > 0 {
					// The corpus keeps klp_stub_bug.ko as built, before its
					// .rela.klptext became .klp.rela.klp_tgt..klptext: the
					// loaded module's relocations come from the dump instead
					// (klp_info), tested in the dump-based tests.
					t.Logf("%s: %v", m["name"], ko.Warnings)
					continue
				}
				got := ComputeStubsSize(ko, corpusFeatures)
				if int(want["size"].(float64)) != int(got.Size) ||
					int(want["rel24_stub_candidates"].(float64)) != got.Rel24Candidates ||
					int(want["ool_slots"].(float64)) != got.OOLSlots ||
					int(want["patchable_function_entries"].(float64)) != got.Patchable ||
					int(want["ftrace_tramp_slots"].(float64)) != got.TrampSlots {
					t.Errorf("%s: get_stubs_size model %+v, truth %v", m["name"], got, want)
				}
				for sec, n := range want["rel24_per_rela_section"].(map[string]any) {
					if got.PerRelaSection[sec] != int(n.(float64)) {
						t.Errorf("%s: %s: %d REL24 candidates, truth %v", m["name"], sec, got.PerRelaSection[sec], n)
					}
				}
			}
		})
	}
}

// TestLoaderModelFixedCorpus: on the fixed kernel the model's stubs equal,
// word for word, what the kernel wrote (truth.json stub_slots), and its
// stub_count / ool_stubs equal mod->arch.
func TestLoaderModelFixedCorpus(t *testing.T) {
	for _, d := range []string{"fixed-radix", "fixed-hash"} {
		t.Run(d, func(t *testing.T) {
			dir := testcorpus.Dir(t, d)
			kdir := kernelDir(t, dir)
			tr := testcorpus.LoadTruth(t, dir)
			smap := systemMap(t, kdir)
			modsyms := moduleKallsyms(tr)
			var loaded []string
			for _, m := range tr.DumpModules() {
				loaded = append(loaded, m["name"].(string))
			}
			for _, m := range tr.DumpModules() {
				name := m["name"].(string)
				ko := openKo(t, kdir, m["ko_file"].(string))
				if len(ko.Warnings) > 0 {
					t.Logf("%s: .ko predates klp-convert; checked through the dump instead", name)
					continue
				}
				secs := map[string]uint64{}
				for k, v := range m["sections"].(map[string]any) {
					secs[k] = testcorpus.Hex(t, v)
				}
				in := LoaderInput{
					Ko: ko, Features: corpusFeatures, Sections: secs,
					Resolve: func(n string) (uint64, bool) {
						if a, ok := smap[n]; ok {
							return a, true
						}
						for mod, syms := range modsyms {
							if mod == name {
								continue
							}
							if a, ok := syms[n]; ok {
								return a, true
							}
						}
						return 0, false
					},
					ResolveKlp: func(obj, n string, pos uint64) (uint64, bool) {
						if obj == "vmlinux" {
							a, ok := smap[n]
							return a, ok
						}
						a, ok := modsyms[obj][n]
						return a, ok
					},
					KlpObjectsApplied: loaded,
					FtraceCaller:      smap["ftrace_caller"],
					FtraceRegsCaller:  smap["ftrace_regs_caller"],
					KernelTOC:         smap[".TOC."],
				}
				model, err := ModelLoader(in)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				arch := m["arch"].(map[string]any)
				if int(arch["stub_count"].(float64)) != model.StubCount {
					t.Errorf("%s: model stub_count %d, dump %v", name, model.StubCount, arch["stub_count"])
				}
				if testcorpus.Hex(t, arch["ool_stubs"]) != model.OOLStart {
					t.Errorf("%s: model ool_stubs %#x, dump %v", name, model.OOLStart, arch["ool_stubs"])
				}
				if testcorpus.Hex(t, arch["tramp"]) != model.Base+uint64(slotOf(model, SlotTramp))*40 {
					t.Errorf("%s: tramp slot mismatch", name)
				}
				slots := m["stub_slots"].([]any)
				for _, es := range model.Stubs {
					if es.Slot >= len(slots) {
						t.Errorf("%s: model stub at slot %d beyond the %d slots of .stubs", name, es.Slot, len(slots))
						continue
					}
					s := slots[es.Slot].(map[string]any)
					if got := testcorpus.Hex(t, s["funcdata"]); got != es.Target {
						t.Errorf("%s: slot %d funcdata %#x, model %#x (%s)", name, es.Slot, got, es.Target, es.TargetName)
					}
					if testcorpus.Hex(t, s["magic"]) != STUB_MAGIC {
						t.Errorf("%s: slot %d magic %v", name, es.Slot, s["magic"])
					}
					for i, w := range es.Words {
						got := uint32(testcorpus.Hex(t, s["jump"].([]any)[i]))
						if es.WordMask[i] && got != w {
							t.Errorf("%s: slot %d jump[%d] = %#08x, model %#08x (%s)", name, es.Slot, i, got, w, es.TargetName)
						}
					}
				}
				// Every slot with stub magic in the dump is one the model made.
				for _, sv := range slots {
					s := sv.(map[string]any)
					idx := int(s["index"].(float64))
					if testcorpus.Hex(t, s["magic"]) == STUB_MAGIC && idx < model.StubCountAtOOL && slotOf(model, -1, idx) < 0 {
						t.Errorf("%s: dump has a stub at slot %d the model does not make", name, idx)
					}
				}
			}
		})
	}
}

// slotOf finds the slot of the first stub of kind k, or with kind -1 the
// stub at slot idx[0]; -1 if none.
func slotOf(m *LoaderModel, k SlotKind, idx ...int) int {
	for _, s := range m.Stubs {
		if k >= 0 && s.Kind == k {
			return s.Slot
		}
		if k < 0 && len(idx) > 0 && s.Slot == idx[0] {
			return s.Slot
		}
	}
	return -1
}

func TestCountRelocsKernelQuirks(t *testing.T) {
	// count_relocs() keeps unsigned int state starting at 0: symbol 0 with
	// addend 0 is never counted; a negative addend never compares equal.
	mk := func(sym uint32, add int64) Rela { return Rela{Info: uint64(sym)<<32 | R_PPC_REL24, Addend: add} }
	cases := []struct {
		name string
		r    []Rela
		want int
	}{
		{"distinct", []Rela{mk(3, 0), mk(2, 0), mk(1, 0)}, 3},
		{"duplicates", []Rela{mk(3, 0), mk(3, 0), mk(2, 0)}, 2},
		{"sym0 addend0", []Rela{mk(0, 0)}, 0},
		{"negative addend twice", []Rela{mk(4, -8), mk(4, -8)}, 2},
		{"other types ignored", []Rela{{Info: 5<<32 | 26}, mk(5, 0)}, 1},
	}
	for _, c := range cases {
		if got := countRelocs(c.r, R_PPC_REL24); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestParseKlpSym(t *testing.T) {
	o, n, p, ok := ParseKlpSym(".klp.sym.klp_tgt.tgt_secret,0")
	if !ok || o != "klp_tgt" || n != "tgt_secret" || p != 0 {
		t.Fatalf("got %q %q %d %v", o, n, p, ok)
	}
	if _, _, _, ok := ParseKlpSym(".klp.sym.novalue"); ok {
		t.Fatal("accepted a malformed name")
	}
	_ = fmt.Sprint()
}
