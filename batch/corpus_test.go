package batch

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// TestCorpusBatch: FindDumps takes exactly the corpus's dump files (not
// vmcoreinfo-location.txt, one job for the split pair); every dump of a
// directory gives the same findings; the makedumpfile -d 31 files, whose
// bitmaps exclude the page holding the kernel's vmalloc PUD table (pfn
// 0x211: present in the ELF, excluded in their 2nd bitmap), cannot be
// analysed and say so instead of passing with zero modules; the exit code
// is 2.
func TestCorpusBatch(t *testing.T) {
	root := testcorpus.Require(t)
	jobs, err := FindDumps(root)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, d := range testcorpus.Dirs {
		want += len(testcorpus.DumpFiles(filepath.Join(root, d)))
	}
	if len(jobs) != want {
		t.Fatalf("%d jobs, want %d (one per dump file, split pair as one)", len(jobs), want)
	}
	res := Run(jobs, 2, audit.Options{}, nil)
	counts := map[string]int{}
	for _, r := range res {
		dir := filepath.Base(filepath.Dir(strings.Split(r.Dump, ",")[0]))
		switch {
		case r.Failed():
			t.Errorf("%s: %s", r.Dump, r.Error)
			continue
		}
		if r.Modules != 16 {
			t.Errorf("%s: %d modules", r.Dump, r.Modules)
		}
		n := r.Count(audit.Error)
		if c, ok := counts[dir]; ok && c != n {
			t.Errorf("%s: %d findings, another dump of %s had %d", r.Dump, n, dir, c)
		}
		counts[dir] = n
	}
	if counts["fixed-radix"] != 0 || counts["fixed-hash"] != 0 || counts["buggy-radix"] == 0 {
		t.Errorf("findings per directory: %v", counts)
	}
	// Every dump, the makedumpfile -d 31 ones included (their module area
	// is read through vm_struct->pages), is analysed: exit 1 for the
	// buggy kernel's findings.
	if audit.ExitCode(res, audit.Error, false) != 1 {
		t.Errorf("exit code %d, want 1", audit.ExitCode(res, audit.Error, false))
	}
}
