package damage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/batch"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// auditFile audits one dump file with the corpus's vmlinux and .ko files
// (modDir, when set, instead of the corpus's modules) and returns the
// result and the exit status the audit subcommand would give.
func auditFile(t *testing.T, path, corpusDir, modDir string) (audit.DumpResult, int) {
	t.Helper()
	vm := container.FollowLinkFile(filepath.Join(corpusDir, "vmlinux.zst"))
	if modDir == "" {
		modDir = container.FollowLinkFile(filepath.Join(corpusDir, "modules"))
	}
	job := audit.Job{Paths: []string{path}, Options: kernel.Options{Vmlinux: vm, ModuleDirs: []string{modDir}}}
	r := audit.AuditDump(job, audit.Options{})
	return r, audit.ExitCode([]audit.DumpResult{r}, audit.Error, false)
}

// TestAuditCorruptZlibPage (issue 15, class 1): one flipped byte in the
// compressed page that holds cmdline_proc_show (a livepatched vmlinux
// function, an enabled ftrace site) of the fixed kernel's zlib dump. Before
// the adler-32 check this page decoded to garbage and made 75
// FTRACE-SITE errors with exit 1. Now: no finding, the damage named with
// the page, exit 3.
func TestAuditCorruptZlibPage(t *testing.T) {
	dir := testcorpus.Dir(t, "fixed-radix")
	src := filepath.Join(dir, "vmcore-vmcoreinfo.kdump")
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p, err := kernel.Open([]string{src}, kernel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at, err := p.SymbolAddr("cmdline_proc_show")
	if err != nil {
		t.Fatal(err)
	}
	pfn := (at - 0xc000000000000000) / p.PageSize
	p.Close()
	off, size, flags, err := KdumpPageData(raw, pfn)
	if err != nil {
		t.Fatal(err)
	}
	if flags&dump.DumpDHCompressedZlib == 0 {
		t.Fatalf("pfn %#x is stored with flags %#x, not zlib", pfn, flags)
	}
	raw[off+size/2] ^= 0x10
	path := filepath.Join(t.TempDir(), "corrupt.kdump")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	r, code := auditFile(t, path, dir, "")
	if len(r.Findings) != 0 {
		t.Errorf("%d findings from a dump with one corrupt page, first %s %s: %s", len(r.Findings), r.Findings[0].Rule, r.Findings[0].Module, r.Findings[0].Message)
	}
	if !strings.Contains(r.Damage, "corrupt") {
		t.Errorf("damage %q does not name the corrupt page", r.Damage)
	}
	if code != audit.ExitIncomplete {
		t.Errorf("exit %d, want %d (incomplete)", code, audit.ExitIncomplete)
	}
}

// TestAuditTruncatedDump (class 3): the fixed kernel's kdump file cut at
// 99 %: never exit 0; the truncation named; no finding.
func TestAuditTruncatedDump(t *testing.T) {
	dir := testcorpus.Dir(t, "fixed-radix")
	raw, err := os.ReadFile(filepath.Join(dir, "vmcore-vmcoreinfo.kdump"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cut.kdump")
	if err := os.WriteFile(path, raw[:len(raw)*99/100], 0o644); err != nil {
		t.Fatal(err)
	}
	r, code := auditFile(t, path, dir, "")
	if len(r.Findings) != 0 {
		t.Errorf("%d findings from a truncated dump, first %s: %s", len(r.Findings), r.Findings[0].Rule, r.Findings[0].Message)
	}
	switch {
	case code == audit.ExitCannot:
		if r.Error == "" {
			t.Errorf("exit 2 without a reason")
		}
	case code == audit.ExitIncomplete:
		if !strings.Contains(r.Damage, "truncated") {
			t.Errorf("damage %q does not say truncated", r.Damage)
		}
	default:
		t.Errorf("exit %d on a truncated dump, want 2 or 3", code)
	}
}

// TestAuditCorruptKo (class 5): klp_stub_bug.ko cut in half in a copy of
// the corpus's modules: the module's model-based rules cannot check, and
// say the file is unusable (not "no .ko"); no finding; exit 3.
func TestAuditCorruptKo(t *testing.T) {
	dir := testcorpus.Dir(t, "fixed-radix")
	mods := container.FollowLinkFile(filepath.Join(dir, "modules"))
	tmp := t.TempDir()
	ents, err := os.ReadDir(mods)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(container.FollowLinkFile(filepath.Join(mods, e.Name())))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "klp_stub_bug.ko" {
			b = b[:len(b)/2]
		}
		if err := os.WriteFile(filepath.Join(tmp, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A copy of the dump alone in a directory: the cut .ko is the only
	// candidate (beside the corpus's dump, the good one would be found).
	raw, err := os.ReadFile(filepath.Join(dir, "vmcore-vmcoreinfo.kdump"))
	if err != nil {
		t.Fatal(err)
	}
	alone := filepath.Join(t.TempDir(), "vmcore.kdump")
	if err := os.WriteFile(alone, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	r, code := auditFile(t, alone, dir, tmp)
	if len(r.Findings) != 0 {
		t.Errorf("%d findings, first %s %s: %s", len(r.Findings), r.Findings[0].Rule, r.Findings[0].Module, r.Findings[0].Message)
	}
	if code != audit.ExitIncomplete {
		t.Errorf("exit %d, want 3", code)
	}
	found := false
	for _, c := range r.Coverage {
		if c.Subject != "klp_stub_bug" {
			continue
		}
		for _, rc := range c.Rules {
			if rc.Rule == "LOADER-MODEL" {
				found = true
				if rc.Status != audit.CannotCheck || !strings.Contains(rc.Reason, "unusable") {
					t.Errorf("LOADER-MODEL on the cut .ko: %s (%s), want cannot check naming the unusable file", rc.Status, rc.Reason)
				}
			}
		}
	}
	if !found {
		t.Error("no LOADER-MODEL coverage for klp_stub_bug")
	}
}

// TestFindDumpsThroughLinks (class 8, `audit --corpus` over symlinked
// dumps): a corpus directory of real symlinks — to a dump file, to a
// dump directory — and of link files (as ../shared stores links) is
// walked, each dump once, and audits with the vmlinux found beside the
// link's target.
func TestFindDumpsThroughLinks(t *testing.T) {
	dir := testcorpus.Dir(t, "fixed-radix")
	hash := testcorpus.Dir(t, "fixed-hash")
	tmp := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	real, err := filepath.Abs(filepath.Join(dir, "vmcore-vmcoreinfo.kdump"))
	must(err)
	hashAbs, err := filepath.Abs(hash)
	must(err)
	must(os.Symlink(real, filepath.Join(tmp, "radix.kdump")))
	must(os.Symlink(real, filepath.Join(tmp, "again.kdump"))) // the same dump twice
	must(os.Symlink(hashAbs, filepath.Join(tmp, "hashdir")))
	must(os.Symlink(tmp, filepath.Join(tmp, "loop"))) // a loop
	jobs, err := batch.FindDumps(tmp)
	must(err)
	if len(jobs) != 2 {
		var got []string
		for _, j := range jobs {
			got = append(got, j.Paths[0])
		}
		t.Fatalf("found %v, want the radix dump once and the hash directory's dump", got)
	}
	for _, j := range jobs {
		r := audit.AuditDump(j, audit.Options{})
		if r.Failed() || r.Release != "7.2.13" {
			t.Errorf("%s: release %q, error %q", j.Paths[0], r.Release, r.Error)
		}
	}
}
