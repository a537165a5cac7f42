package audit

import (
	"testing"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// TestDistroExampleClean: the extracts of two real dumps of Debian's
// distro kernel (testdata/example/distro-4k: a correct kernel, radix and
// hash MMU, its own modules, two of them calling another module's
// exports) hold no finding. Before the loader model resolved other modules' symbols
// through their mod->syms, it reported 25 (LOADER-MODEL and OOL-RESERVE
// in tcp_yeah and sch_fq_pie). The example holds no dyn_ftrace pages, so
// the record-level checks are skipped with a warning.
func TestDistroExampleClean(t *testing.T) {
	t.Parallel()
	for _, mmu := range []string{"radix", "hash"} {
		t.Run(mmu, func(t *testing.T) {
			p, err := kernel.Open([]string{"../testdata/example/distro-4k/vmcore-" + mmu + ".zst"}, kernel.Options{CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			r := Run(p, Options{})
			if r.Fatal != "" || r.Modules != 8 {
				t.Fatalf("fatal %q, %d modules; want 8 (guest /proc/modules)", r.Fatal, r.Modules)
			}
			for _, f := range r.Findings {
				t.Errorf("%s %s %s: %s", f.Severity, f.Rule, f.Module, f.Message)
			}
		})
	}
}
