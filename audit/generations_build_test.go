package audit

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// buildTruth is the trimmed truth.json of the bench/ppc64-build examples.
type buildTruth struct {
	Summary []struct {
		Name            string `json:"name"`
		SentinelSlot    int    `json:"sentinel_slot"`
		OOLFirstSlot    *int   `json:"ool_stubs_first_slot"`
		OOLCount        int    `json:"ool_stub_count"`
		MagicInsideOOL  []int  `json:"stub_magic_slots_inside_ool_array"`
		SlotsWithMagic  []int  `json:"slots_with_stub_magic"`
		NotStartingMflr []int  `json:"ool_entries_not_starting_with_mflr_r0"`
	} `json:"summary"`
	Guest struct {
		Blocks map[string][]string `json:"blocks"`
	} `json:"guest"`
}

func openBuildExample(t *testing.T, name string) (*analysis.Analysis, *Report, buildTruth) {
	t.Helper()
	var tr buildTruth
	a := analysis.New(openExample(t, name, nil, &tr))
	return a, Run(a, Options{}), tr
}

// TestGenerationBSeed000: the corpus's 7.2.13 with the stub_count counter
// reverted (generation (b): the sentinel loader with OOL stubs, the
// upstream state between the OOL stubs and the fix) reproduces seed 000
// on its own: klp_stub_bug's livepatch call stub landed in slot 7, inside
// its 4-entry OOL array (truth: stub_magic_slots_inside_ool_array = [7],
// the stub serving OOL entry 3 no longer starts with mflr r0). The audit
// reports that slot as OOL-OVERLAP, the correct loader's placement as
// LOADER-MODEL, and nothing else at error or above: the other modules'
// sentinel slots inside their OOL arrays are harmless, since no stub is
// made after their OOL setup (they have no livepatch relocations against
// a module), and the text is explained but for the call into slot 7.
func TestGenerationBSeed000(t *testing.T) {
	_, r, tr := openBuildExample(t, "genb-7.2")
	var want []int
	for _, s := range tr.Summary {
		if s.Name == "klp_stub_bug" {
			want = s.MagicInsideOOL
		}
	}
	if len(want) != 1 {
		t.Fatalf("truth: klp_stub_bug's stubs inside the OOL array %v, want one", want)
	}
	got := map[string]int{}
	for _, f := range r.Findings {
		if f.Severity < Error {
			continue
		}
		got[f.Rule+"/"+f.Module]++
		switch f.Rule {
		case "OOL-OVERLAP":
			if f.Module != "klp_stub_bug" || len(f.Places) == 0 || f.Places[0].Kind != PlaceSlot || f.Places[0].Index != want[0] {
				t.Errorf("OOL-OVERLAP %s at %v, want klp_stub_bug slot %d", f.Module, f.Slots(), want[0])
			}
		case "LOADER-MODEL":
		default:
			t.Errorf("unexpected %s %s: %s", f.Rule, f.Module, f.Message)
		}
	}
	if got["OOL-OVERLAP/klp_stub_bug"] != 1 || got["LOADER-MODEL/klp_stub_bug"] != 1 {
		t.Errorf("findings %v, want OOL-OVERLAP and LOADER-MODEL on klp_stub_bug", got)
	}
	for _, c := range r.Coverage {
		if c.Subject == "klp_stub_bug" && (c.Text == nil || c.Text.Attributed != 1 || c.Text.Unexplained != 0) {
			t.Errorf("klp_stub_bug text %+v, want the call into slot %d attributed", c.Text, want[0])
		}
	}
}

// TestMprofileLivepatch: 6.12 built with gcc 12 (-mprofile-kernel, no OOL
// stubs, the sentinel loader) with six livepatches enabled audits clean and
// complete; KLP-FUNC checked exactly the functions the guest's
// enabled_functions marks IPMODIFY (the livepatched ones), each record the
// call after its local entry's mflr r0, each site a bl to the module's
// tramp or ftrace_caller.
func TestMprofileLivepatch(t *testing.T) {
	a, r, tr := openBuildExample(t, "mprofile-6.12")
	for _, f := range r.Findings {
		t.Errorf("%s %s %s: %s", f.Severity, f.Rule, f.Module, f.Message)
	}
	// Complete but for the vmlinux's text, which the extract does not keep.
	for _, c := range r.Coverage {
		for _, rc := range c.Rules {
			if rc.Status.Incomplete() && !(c.Subject == "vmlinux" && rc.Rule == "TEXT-UNEXPLAINED") {
				t.Errorf("%s %s: %s (%s)", c.Subject, rc.Rule, rc.Status, rc.Reason)
			}
		}
	}
	var want []string
	for _, l := range tr.Guest.Blocks["enabled_functions"] {
		f := strings.Fields(l)
		for _, x := range f {
			if x == "I" && len(f) > 0 {
				want = append(want, f[0])
				break
			}
		}
	}
	sort.Strings(want)
	st, err := a.Ftrace()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, k := range st.KlpFunc {
		if len(k.Problems) > 0 || len(k.Unchecked) > 0 {
			t.Errorf("%s: problems %v, unchecked %v", k.Func.OldName, k.Problems, k.Unchecked)
		}
		if k.Record == nil || k.Record.IP != k.WantIP || !k.SiteToStub {
			t.Errorf("%s: record %v, want ip %#x, site to tramp %v", k.Func.OldName, k.Record, k.WantIP, k.SiteToStub)
		}
		seen[k.Func.OldName] = true
	}
	var got []string
	for n := range seen {
		got = append(got, n)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("KLP-FUNC checked %v, the guest's IPMODIFY functions are %v", got, want)
	}
}

// TestGenerationBMutations: on the generation-(b) kernel (genb-7.2), each
// rule of that generation fires on a defect planted where the truth says
// the kernel put things (slot addresses are .stubs + 40 * index,
// sizeof(struct ppc64_stub_entry); the sentinel slots from truth.json).
func TestGenerationBMutations(t *testing.T) {
	_, _, tr := openBuildExample(t, "genb-7.2")
	type mod struct {
		stubs                       uint64
		sentinel, oolSlot, oolCount int
	}
	mods := map[string]mod{}
	for _, s := range tr.Summary {
		var m mod
		m.sentinel, m.oolCount = s.SentinelSlot, s.OOLCount
		if s.OOLFirstSlot != nil {
			m.oolSlot = *s.OOLFirstSlot
		}
		mods[s.Name] = m
	}
	// stubs_section_addr is not in the trimmed struct above: read it.
	var raw struct {
		Summary []struct {
			Name  string `json:"name"`
			Stubs string `json:"stubs_section_addr"`
		} `json:"summary"`
	}
	testcorpus.LoadTruthInto(t, filepath.Join("..", "testdata", "example", "genb-7.2"), &raw)
	for _, s := range raw.Summary {
		m := mods[s.Name]
		m.stubs = testcorpus.Hex(t, s.Stubs)
		mods[s.Name] = m
	}
	slot := func(name string, i int) uint64 { return mods[name].stubs + uint64(i)*40 }
	fo := mods["ftrace_ops"]
	kb := mods["klp_stub_bug"]
	te := mods["trace_events_sample"]
	if fo.stubs == 0 || kb.stubs == 0 || kb.oolSlot == 0 || te.stubs == 0 {
		t.Fatalf("truth lacks ftrace_ops, klp_stub_bug or trace_events_sample: %+v %+v %+v", fo, kb, te)
	}
	// The first slot wholly past trace_events_sample's OOL array (24-byte
	// struct ftrace_ool_stub entries from the array's first slot) is free:
	// the sentinel the scan would find outside the array.
	teFree := (te.oolSlot*40 + te.oolCount*24 + 39) / 40
	dir := filepath.Join("..", "testdata", "example", "genb-7.2")
	plain, err := container.Open(filepath.Join(dir, "vmcore.zst"))
	if err != nil {
		t.Fatal(err)
	}
	opts := kernel.Options{Vmlinux: filepath.Join(dir, "vmlinux.zst"), ModuleDirs: []string{filepath.Join(dir, "modules")}}
	cases := []struct {
		rule, module, what string
		patch              func(p *kernel.Program, v *damage.Virt) error
	}{
		{"STUB-PAST-SENTINEL", "trace_events_sample", "a copy of slot 0's call stub written one slot past the first free slot after its OOL array",
			func(p *kernel.Program, v *damage.Virt) error {
				b, err := p.Read(slot("trace_events_sample", 0), 40)
				if err != nil {
					return err
				}
				for k := 0; k < 40; k += 4 {
					if err := v.PatchU32(slot("trace_events_sample", teFree+1)+uint64(k), p.Order.Uint32(b[k:])); err != nil {
						return err
					}
				}
				return nil
			}},
		{"OOL-SENTINEL", "klp_stub_bug", "the funcdata position of the OOL array's first slot zeroed (a free slot to the next klp relocation of this livepatch module)",
			func(p *kernel.Program, v *damage.Virt) error {
				return v.PatchU64(slot("klp_stub_bug", kb.oolSlot)+32, 0)
			}},
		{"FTRACE-TRAMP", "ftrace_ops", "mod->arch.tramp pointed at slot 0 (a call stub)",
			func(p *kernel.Program, v *damage.Virt) error {
				a, err := p.Object("struct module", moduleAddr(t, p, "ftrace_ops"))
				if err != nil {
					return err
				}
				f, err := a.Member("arch.tramp")
				if err != nil {
					return err
				}
				return v.PatchU64(f.Addr, slot("ftrace_ops", 0))
			}},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			p0, err := kernel.Open([]string{plain}, opts)
			if err != nil {
				t.Fatal(err)
			}
			v := damage.NewVirt(p0)
			if err := c.patch(p0, v); err != nil {
				t.Fatal(err)
			}
			p0.Close()
			o := opts
			o.PhysWrap = v.Wrap
			p, err := kernel.Open([]string{plain}, o)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			r := Run(analysis.New(p), Options{})
			for _, f := range r.Findings {
				if f.Rule == c.rule && f.Module == c.module {
					return
				}
			}
			var got []string
			for _, f := range r.Findings {
				got = append(got, f.Rule+"/"+f.Module)
			}
			t.Errorf("%s did not fire on %s after %s; findings %v", c.rule, c.module, c.what, got)
		})
	}
}
