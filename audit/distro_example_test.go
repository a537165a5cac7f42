package audit

import (
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// TestDistroExampleClean: the extracts of two real dumps of Debian's
// distro kernel (testdata/example/distro-4k: a correct kernel, radix and
// hash MMU, its own modules, two of them calling another module's
// exports) hold no finding. Before the loader model resolved other modules' symbols
// through their mod->syms, it reported 25 (LOADER-MODEL and OOL-RESERVE
// in tcp_yeah and sch_fq_pie). The example holds no dyn_ftrace pages, so
// the record-level checks cannot check, and the coverage says so: the
// audit of this extract is incomplete, never clean.
func TestDistroExampleClean(t *testing.T) {
	t.Parallel()
	for _, mmu := range []string{"radix", "hash"} {
		t.Run(mmu, func(t *testing.T) {
			p, err := kernel.Open([]string{"../testdata/example/distro-4k/vmcore-" + mmu + ".zst"}, kernel.Options{CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			r := Run(analysis.New(p), Options{})
			if r.Fatal != "" || r.Modules != 8 {
				t.Fatalf("fatal %q, %d modules; want 8 (guest /proc/modules)", r.Fatal, r.Modules)
			}
			for _, f := range r.Findings {
				t.Errorf("%s %s %s: %s", f.Severity, f.Rule, f.Module, f.Message)
			}
			// The extract lacks the dyn_ftrace pages: FTRACE-SITE cannot
			// check, and the audit is not complete (exit 3, not 0).
			if r.Complete() {
				t.Errorf("coverage complete on an extract without ftrace records: %s", r.CoverageLine())
			}
			for _, c := range r.Coverage {
				for _, rc := range c.Rules {
					if rc.Rule == "FTRACE-SITE" && c.Subject == "tcp_vegas" && rc.Status != CannotCheck {
						t.Errorf("tcp_vegas FTRACE-SITE %s (%s), want cannot check", rc.Status, rc.Reason)
					}
				}
			}
		})
	}
}
