package textcheck_test

import (
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/textcheck"
)

// TestArm64TextCorpus: on every arm64 corpus dump (bench/arm64-corpus,
// outside git; skipped when absent) every module with its .ko has its text
// rebuilt and compared with nothing unexplained, nothing incomplete and no
// model problem; each kprobe the guest listed in a module (truth.json
// guest.kprobes, its brk #0x4 seen by the guest in guest.kprobe_words) is
// a difference the kprobe model explains.
func TestArm64TextCorpus(t *testing.T) {
	for _, dir := range textcheck.Arm64CorpusDirs(t, "the arm64 corpus dumps take tens of seconds each") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			p, err := kernel.Open([]string{filepath.Join(dir, "vmcore.elf.zst")}, kernel.Options{Vmlinux: filepath.Join(dir, "vmlinux.zst"), ModuleDirs: []string{filepath.Join(dir, "modules")}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			a := analysis.New(p)
			set := a.Modules()
			var total, differing uint64
			n := 0
			for _, m := range set.Modules {
				if m.Debuginfo == nil {
					continue
				}
				n++
				r := a.Text(m)
				total += r.Compared
				differing += r.Differing
				t.Logf("%s: %s", m.Module.Name, r.Summary())
				checkModuleText(t, m.Module.Name, r)
			}
			if n < 14 {
				t.Errorf("%d modules with a .ko, want the 14 Debian ones at least", n)
			}
			t.Logf("%d modules, %d bytes compared, %d differ, all explained", n, total, differing)
			for _, k := range textcheck.LoadArm64Kprobes(t, dir) {
				if k.Mod != nil {
					textcheck.CheckArm64Kprobe(t, k, a.Text(set.Find(*k.Mod)).Diffs)
				}
			}
		})
	}
}
