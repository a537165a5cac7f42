package audit

import (
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/texttest"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/textcheck"
)

// openExample opens the committed extract testdata/example/NAME (its
// vmcore.zst, vmlinux.zst and modules/), with v's patches laid over its
// memory when v is not nil, and unmarshals its truth.json into truth when
// truth is not nil.
func openExample(t *testing.T, name string, v *damage.Virt, truth any) *kernel.Program {
	t.Helper()
	dir := filepath.Join("..", "testdata", "example", name)
	plain := testcorpus.Decompressed(t, filepath.Join(dir, "vmcore.zst"))
	opts := kernel.Options{Vmlinux: filepath.Join(dir, "vmlinux.zst"), ModuleDirs: []string{filepath.Join(dir, "modules")}}
	if v != nil {
		opts.CacheDir, opts.PhysWrap = t.TempDir(), v.Wrap
	}
	p, err := kernel.Open([]string{plain}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if truth != nil {
		testcorpus.LoadTruthInto(t, dir, truth)
	}
	return p
}

// noFindings: the audit found nothing.
func noFindings(t *testing.T, r *Report) {
	t.Helper()
	for _, f := range r.Findings {
		t.Errorf("finding %s %s %s: %s", f.Severity, f.Rule, f.Module, f.Message)
	}
}

// ranOn counts, for each rule, the subjects it ran on.
func ranOn(r *Report) map[string]int {
	ran := map[string]int{}
	for _, c := range r.Coverage {
		for _, rc := range c.Rules {
			if rc.Status == Ran {
				ran[rc.Rule]++
			}
		}
	}
	return ran
}

// plantedFinding: the audit r of a dump with one change planted in a
// module's text has one finding more than the audit base of the dump
// as it was, a TEXT-UNEXPLAINED one in module at [at, at+size); it is
// returned. what says what was planted.
func plantedFinding(t *testing.T, base, r *Report, module string, at, size uint64, what string) Finding {
	t.Helper()
	var text []Finding
	for _, f := range r.Findings {
		if f.Rule == "TEXT-UNEXPLAINED" {
			text = append(text, f)
		}
	}
	if len(r.Findings) != len(base.Findings)+1 || len(text) != 1 {
		for _, f := range r.Findings {
			t.Logf("finding %s %s: %s", f.Rule, f.Module, f.Message)
		}
		t.Fatalf("%s: %d findings (the original %d), %d TEXT-UNEXPLAINED", what, len(r.Findings), len(base.Findings), len(text))
	}
	f := text[0]
	if f.Module != module || len(f.Places) != 1 || f.Places[0].Addr != at || f.Places[0].Size != size {
		t.Errorf("finding %s at %+v, want %s at %#x, %d bytes", f.Module, f.Places, module, at, size)
	}
	return f
}

// exampleText is the text comparison of an extract's module: text
// compared, the guest's patches seen, every difference explained, nothing
// incomplete and no model problem.
func exampleText(t *testing.T, a *analysis.Analysis, name string) *textcheck.Result {
	t.Helper()
	m := a.Modules().Find(name)
	if m == nil {
		t.Fatalf("%s not loaded", name)
	}
	r := a.Text(m)
	t.Logf("%s: %s", name, r.Summary())
	if r.Compared == 0 || r.Differing == 0 {
		t.Errorf("%s: %d bytes compared, %d differing; want text compared and the guest's patches seen", name, r.Compared, r.Differing)
	}
	texttest.CheckExplained(t, name, r)
	return r
}
