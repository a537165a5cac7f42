package audit

import (
	"strings"
	"sync"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

const deb61 = "../testdata/example/deb12-6.1"

// deb61Examples holds the findings the 6.1 mutations produced, for
// docs/RULES.md (TestRuleMutations reads them).
var deb61Examples sync.Map

// deb61Subjects are the modules the 6.1 extract keeps .ko files and
// pages for (its README, cmd/mkexample -subjects).
var deb61Subjects = []string{"tcp_vegas", "tcp_yeah", "sch_pie", "sch_fq_pie", "dummy", "brd", "md4", "ttyprintk", "crc16", "libcrc32c", "crc32c_generic", "mbcache", "system"}

type deb61Truth struct {
	Modules []struct {
		Name    string `json:"name"`
		Records []struct {
			IP    string   `json:"ip"`
			Sym   string   `json:"sym"`
			Flags []string `json:"flag_names"`
		} `json:"ftrace_records"`
		Slots []struct {
			Index int    `json:"index"`
			Addr  string `json:"addr"`
			Kind  string `json:"kind"`
			Sym   string `json:"funcdata_sym"`
		} `json:"stub_slots"`
	} `json:"modules"`
}

func loadDeb61Truth(t *testing.T) deb61Truth {
	t.Helper()
	var tr deb61Truth
	testcorpus.LoadJSON(t, deb61+"/truth.json", &tr)
	return tr
}

func auditDeb61(t *testing.T, wrap func(*kernel.Program) func(dump.Memory) dump.Memory) *Report {
	t.Helper()
	opts := kernel.Options{CacheDir: t.TempDir()}
	if wrap != nil {
		p0, err := kernel.Open([]string{deb61 + "/vmcore.zst"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer p0.Close()
		opts.PhysWrap = wrap(p0)
	}
	p, err := kernel.Open([]string{deb61 + "/vmcore.zst"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return Run(analysis.New(p), Options{Subjects: deb61Subjects})
}

// TestGenerationAClean: Debian 12's 6.1 kernel as dumped (a correct
// sentinel-era loader, mprofile call sites): no finding, and every rule
// that applies ran on every subject module — the loader model of that
// generation and the call sites of the enabled records (truth: ENABLED in
// tcp_vegas, ENABLED|REGS in tcp_yeah and sch_pie) included.
func TestGenerationAClean(t *testing.T) {
	r := auditDeb61(t, nil)
	for _, f := range r.Findings {
		t.Errorf("%s %s: %s", f.Rule, f.Module, f.Message)
	}
	if !r.Complete() {
		t.Errorf("not complete: %s", r.CoverageLine())
	}
	ran := map[string]bool{}
	for _, c := range r.Coverage {
		for _, rc := range c.Rules {
			if rc.Status == Ran {
				ran[c.Subject+" "+rc.Rule] = true
			}
		}
	}
	for _, want := range []string{"tcp_vegas FTRACE-SITE", "tcp_yeah FTRACE-SITE", "sch_pie FTRACE-SITE", "tcp_yeah LOADER-MODEL", "tcp_yeah STUB-PAST-SENTINEL", "tcp_yeah FTRACE-TRAMP"} {
		if !ran[want] {
			t.Errorf("%s did not run", want)
		}
	}
}

// TestGenerationAMutations: each rule of this generation fires on a
// defect planted in the 6.1 dump.
func TestGenerationAMutations(t *testing.T) {
	tr := loadDeb61Truth(t)
	mod := func(name string) (recs map[string]string, slots map[int]uint64, kinds map[int]string) {
		recs, slots, kinds = map[string]string{}, map[int]uint64{}, map[int]string{}
		for _, m := range tr.Modules {
			if m.Name != name {
				continue
			}
			for _, r := range m.Records {
				recs[strings.SplitN(r.Sym, "+", 2)[0]] = r.IP
			}
			for _, s := range m.Slots {
				slots[s.Index] = testcorpus.Hex(t, s.Addr)
				kinds[s.Index] = s.Kind + " " + s.Sym
			}
		}
		return
	}
	vegasRecs, _, _ := mod("tcp_vegas")
	_, yeahSlots, yeahKinds := mod("tcp_yeah")
	if !strings.HasPrefix(yeahKinds[8], "zero") || !strings.HasPrefix(yeahKinds[6], "ftrace ftrace_caller") || !strings.HasPrefix(yeahKinds[1], "call") {
		t.Fatalf("truth's tcp_yeah slots changed: %v", yeahKinds)
	}
	cases := []struct {
		rule, module, what string
		patch              func(p *kernel.Program, v *damage.Virt) error
	}{
		{"FTRACE-SITE", "tcp_vegas", "tcp_vegas_init's enabled call site (truth: ENABLED) put back to a nop",
			func(p *kernel.Program, v *damage.Virt) error {
				return v.PatchU32(testcorpus.Hex(t, vegasRecs["tcp_vegas_init"]), 0x60000000)
			}},
		{"STUB-PAST-SENTINEL", "tcp_yeah", "a copy of slot 1's call stub written into slot 9, past the free slot 8",
			func(p *kernel.Program, v *damage.Virt) error {
				b, err := p.Read(yeahSlots[1], modules.StubEntrySize)
				if err != nil {
					return err
				}
				for k := 0; k < len(b); k += 4 {
					if err := v.PatchU32(yeahSlots[8]+modules.StubEntrySize+uint64(k), p.Order.Uint32(b[k:])); err != nil {
						return err
					}
				}
				return nil
			}},
		{"FTRACE-TRAMP", "tcp_yeah", "mod->arch.tramp pointed at slot 1 (a call stub)",
			func(p *kernel.Program, v *damage.Virt) error {
				a, err := p.Object("struct module", moduleAddr(t, p, "tcp_yeah"))
				if err != nil {
					return err
				}
				f, err := a.Member("arch.tramp")
				if err != nil {
					return err
				}
				return v.PatchU64(f.Addr, yeahSlots[1])
			}},
		{"LOADER-MODEL", "tcp_yeah", "slot 2's funcdata pointed at slot 3's target",
			func(p *kernel.Program, v *damage.Virt) error {
				f3, err := p.ReadU64(yeahSlots[3] + 32)
				if err != nil {
					return err
				}
				return v.PatchU64(yeahSlots[2]+32, f3)
			}},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			r := auditDeb61(t, func(p *kernel.Program) func(dump.Memory) dump.Memory {
				v := damage.NewVirt(p)
				if err := c.patch(p, v); err != nil {
					t.Fatal(err)
				}
				return v.Wrap
			})
			for _, f := range r.Findings {
				if f.Rule == c.rule && f.Module == c.module {
					deb61Examples.Store(c.rule, "Example (the committed extract of Debian 12's 6.1 kernel, testdata/example/deb12-6.1, with "+c.what+"):\n\n    "+f.Severity.String()+" "+f.Rule+": "+f.Message)
					return
				}
			}
			var got []string
			for _, f := range r.Findings {
				got = append(got, f.Rule+"/"+f.Module)
			}
			t.Errorf("%s did not fire after: %s; findings %v", c.rule, c.what, got)
		})
	}
}

func moduleAddr(t *testing.T, p *kernel.Program, name string) uint64 {
	t.Helper()
	mods, err := modules.List(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		if m.Name == name {
			return m.Addr
		}
	}
	t.Fatalf("no module %s", name)
	return 0
}
