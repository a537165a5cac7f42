package audit

import (
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

var itsSubjects = []string{"geneve", "sch_pie", "udp_tunnel"}

func openITS(t *testing.T, v *damage.Virt) *kernel.Program {
	t.Helper()
	return openExample(t, "x86-its", v, nil)
}

func itsFindings(t *testing.T, p *kernel.Program) []Finding {
	t.Helper()
	r := Run(analysis.New(p), Options{Subjects: itsSubjects, Only: []string{"ITS-THUNK"}})
	if ran := ranOn(r)["ITS-THUNK"]; ran != len(itsSubjects) {
		t.Errorf("ITS-THUNK ran on %d of %d subjects", ran, len(itsSubjects))
	}
	return r.Findings
}

// TestITSExample: the ITS thunk pages of geneve, sch_pie and udp_tunnel
// read as drgn read them (addresses and every byte), and the rule, which
// ran on all three, finds nothing in a correct kernel. Then the defects
// it exists for, planted: a byte in the int3 fill before offset 32, a
// thunk in the lower half of a cache line, and a rewritten indirect call
// of geneve's .retpoline_sites sent one byte into its thunk.
func TestITSExample(t *testing.T) {
	p := openITS(t, nil)
	var tr struct {
		Modules map[string]struct {
			Num       int      `json:"num"`
			PageAddrs []string `json:"page_addrs"`
			PageBytes []string `json:"page_bytes"`
		} `json:"modules"`
	}
	testcorpus.LoadTruthInto(t, filepath.Join("..", "testdata", "example", "x86-its"), &tr)
	a := analysis.New(p)
	set := a.Modules()
	pages := map[string]*modules.ITSPages{}
	for _, name := range itsSubjects {
		want := tr.Modules[name]
		m := set.Find(name)
		if m == nil {
			t.Fatalf("no module %s", name)
		}
		its, err := modules.ReadITSPages(p, m.Module)
		if err != nil {
			t.Fatal(err)
		}
		pages[name] = its
		if len(its.Pages) != want.Num {
			t.Fatalf("%s: %d pages, drgn %d", name, len(its.Pages), want.Num)
		}
		for i, pa := range its.Pages {
			raw, err := p.Read(pa, 4096)
			wb, _ := hex.DecodeString(want.PageBytes[i])
			if pa != testcorpus.Hex(t, want.PageAddrs[i]) || err != nil || string(raw) != string(wb) {
				t.Errorf("%s page %d: %#x (%v); drgn %s, bytes equal %v", name, i, pa, err, want.PageAddrs[i], string(raw) == string(wb))
			}
		}
		if len(its.Thunks) == 0 || len(its.Strays) != 0 {
			t.Errorf("%s: %d thunks, %d strays", name, len(its.Thunks), len(its.Strays))
		}
	}
	if fs := itsFindings(t, p); len(fs) != 0 {
		for _, f := range fs {
			t.Errorf("clean: %s %s: %s", f.Rule, f.Module, f.Message)
		}
	}
	// The site in geneve whose call goes to its first thunk.
	g := set.Find("geneve")
	th := pages["geneve"].Thunks[0]
	rs, _ := g.Module.SectionAddr(".retpoline_sites")
	var size uint64
	for _, s := range g.Debuginfo.ELF.Sections {
		if s.Name == ".retpoline_sites" {
			size = s.Size
		}
	}
	raw, err := p.Read(rs, int(size))
	if err != nil || size == 0 {
		t.Fatalf(".retpoline_sites %#x+%d: %v", rs, size, err)
	}
	var site uint64
	relOff := 0
	for i := 0; i+4 <= len(raw); i += 4 {
		s := rs + uint64(i) + uint64(int64(int32(p.Order.Uint32(raw[i:]))))
		if bb, err := p.Read(s, 7); err == nil {
			if tgt, off, ok := modules.RetpolineSiteTarget(bb, s); ok && tgt == th.Addr {
				site, relOff = s, off
			}
		}
	}
	if site == 0 {
		t.Fatalf("no .retpoline_sites entry of geneve branches to its thunk at %#x", th.Addr)
	}
	v := damage.NewVirt(p)
	sp := pages["sch_pie"].Pages[0]
	must(t, v.Patch(sp+8, []byte{0x90}))                                        // in the fill before offset 32
	must(t, v.Patch(pages["udp_tunnel"].Pages[0]+64, []byte{0xff, 0xe0, 0xcc})) // jmp *%rax; int3 ending at 66: lower half
	rel := int32(th.Addr + 1 - (site + uint64(relOff) + 4))
	must(t, v.PatchU32(site+uint64(relOff), uint32(rel)))
	p2 := openITS(t, v)
	var stray, low, mid bool
	for _, f := range itsFindings(t, p2) {
		stray = stray || f.Module == "sch_pie" && strings.Contains(f.Message, "neither the int3 fill")
		low = low || f.Module == "udp_tunnel" && strings.Contains(f.Message, "lower half")
		mid = mid || f.Module == "geneve" && strings.Contains(f.Message, "where no thunk starts")
		if f.Module == "geneve" {
			x86Examples.Store("ITS-THUNK", "Example (the committed extract of Debian's amd64 kernel with ITS thunks, testdata/example/x86-its, with the rel32 of a rewritten indirect call in geneve's .retpoline_sites moved one byte into its thunk):\n\n    "+f.Severity.String()+" "+f.Rule+": "+f.Message)
		}
	}
	if !stray || !low || !mid {
		t.Errorf("planted stray byte found %v, lower-half thunk %v, call into the middle of a thunk %v", stray, low, mid)
	}
}
