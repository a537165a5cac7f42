package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testprog"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// physOf is the physical address of a kernel virtual address of p.
func physOf(t *testing.T, p *kernel.Program, va uint64) uint64 {
	t.Helper()
	if pa, ok := p.Arch.Linear(va); ok {
		return pa
	}
	if pa, err := p.Arch.Translate(va); err == nil {
		return pa
	}
	if pa, ok := p.VmallocPhys(va); ok {
		return pa
	}
	t.Fatalf("%#x: no physical address", va)
	return 0
}

// guestSymbol finds NAME [MODULE] in the guest's module kallsyms
// (truth.json guest.blocks).
func guestSymbol(t *testing.T, tr testcorpus.Truth, module, name string) uint64 {
	t.Helper()
	for _, x := range tr.GuestBlock(t, "module kallsyms") {
		f := strings.Fields(x)
		if len(f) >= 4 && f[2] == name && f[3] == "["+module+"]" {
			v, err := strconv.ParseUint(f[0], 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("guest kallsyms has no %s [%s]", name, module)
	return 0
}

// TestTextPlantedWord: a copy of the fixed kernel's kdump file with four
// bytes of klp_stub_bug_helper (klp_stub_bug's .text, at the address the
// guest's kallsyms gives) changed — the page rewritten, every other byte
// of the dump as it was — is audited with exactly one new finding,
// TEXT-UNEXPLAINED at that very address, four bytes long, found the
// planted word.
func TestTextPlantedWord(t *testing.T) {
	dir := testcorpus.Dir(t, "fixed-radix")
	tr := testcorpus.LoadTruth(t, dir)
	orig := filepath.Join(dir, "vmcore-vmcoreinfo.kdump")
	p, err := kernel.Open([]string{orig}, kernel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	base := Run(analysis.New(p), Options{})
	at := guestSymbol(t, tr, "klp_stub_bug", "klp_stub_bug_helper") + 0x10
	const planted = 0x0badc0de
	pa := physOf(t, p, at)
	ps := p.PageSize
	buf := make([]byte, ps)
	if _, err := p.Phys.ReadAt(buf, pa/ps*ps); err != nil {
		t.Fatal(err)
	}
	was := p.Order.Uint32(buf[pa%ps:])
	p.Order.PutUint32(buf[pa%ps:], planted)
	raw, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	mut, err := damage.PatchKdumpPage(raw, pa/ps, buf)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "planted.kdump")
	if err := os.WriteFile(path, mut, 0o644); err != nil {
		t.Fatal(err)
	}
	q, err := kernel.Open([]string{path}, kernel.Options{Vmlinux: p.VmlinuxPath(), ModuleDirs: []string{filepath.Join(dir, "modules")}})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	r := Run(analysis.New(q), Options{})
	f := plantedFinding(t, base, r, "klp_stub_bug", at, 4, fmt.Sprintf("planted %#x over %#x at %#x", planted, was, at))
	if len(f.Words) != 1 || f.Words[0].Found != planted || f.Words[0].Expected != uint64(was) {
		t.Errorf("words %+v, want found %#x expected %#x", f.Words, planted, was)
	}
	if ExitCode([]DumpResult{{Findings: r.Findings, Coverage: r.Coverage}}, Error, false) != ExitFindings {
		t.Errorf("exit code not 1 with a critical finding")
	}
}

// TestTextAttributedNotReported: on the buggy loader's dump the call into
// the OOL array (seed 000) is not a second finding: TEXT-UNEXPLAINED
// leaves it to OOL-OVERLAP and counts it as attributed.
func TestTextAttributedNotReported(t *testing.T) {
	p, _ := testprog.OpenCorpus(t, "buggy-radix")
	r := Run(analysis.New(p), Options{})
	for _, f := range r.Findings {
		if f.Rule == "TEXT-UNEXPLAINED" {
			t.Errorf("TEXT-UNEXPLAINED finding on the buggy dump: %s", f.Message)
		}
	}
	for _, c := range r.Coverage {
		if c.Subject != "klp_stub_bug" {
			continue
		}
		if c.Text == nil || c.Text.Attributed != 1 || c.Text.Unexplained != 0 {
			t.Errorf("klp_stub_bug text coverage %+v, want 1 attributed, 0 unexplained", c.Text)
		}
	}
}
