package textcheck_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
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
	root := os.Getenv("KDUMP_INSPECT_ARM64_CORPUS")
	if root == "" {
		root = "/work/corpora/arm64"
	}
	if _, err := os.Stat(root); err != nil {
		t.Skipf("arm64 corpus %s absent (set KDUMP_INSPECT_ARM64_CORPUS): %v", root, err)
	}
	if testing.Short() {
		t.Skip("-short: the arm64 corpus dumps take tens of seconds each")
	}
	for _, d := range []string{"distro-kaslr", "distro-nokaslr", "distro-kaslr-sysrq", "distro-ftrace-ops", "distro-ftrace-ops-nokaslr", "distro-a53",
		"distro16k-kaslr", "distro16k-nokaslr", "distro16k-va47"} {
		dir := filepath.Join(root, d)
		if _, err := os.Stat(filepath.Join(dir, "vmcore.elf.zst")); err != nil {
			t.Logf("%s absent: skipped", dir)
			continue
		}
		t.Run(d, func(t *testing.T) {
			var tr struct {
				Guest struct {
					Kprobes []struct {
						Addr string  `json:"addr"`
						Sym  string  `json:"sym"`
						Mod  *string `json:"mod"`
					} `json:"kprobes"`
				} `json:"guest"`
			}
			b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &tr); err != nil {
				t.Fatal(err)
			}
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
				if r.Compared == 0 {
					t.Errorf("%s: no text compared", m.Module.Name)
				}
				for _, d := range r.Unexplained() {
					t.Errorf("%s: unexplained %d bytes at %#x: expected % x, found % x", m.Module.Name, len(d.Found), d.Addr, d.Expected, d.Found)
				}
				for _, s := range r.Incomplete {
					t.Errorf("%s: incomplete: %s", m.Module.Name, s)
				}
				for _, s := range r.Problems {
					t.Errorf("%s: problem: %s", m.Module.Name, s)
				}
			}
			if n < 14 {
				t.Errorf("%d modules with a .ko, want the 14 Debian ones at least", n)
			}
			t.Logf("%d modules, %d bytes compared, %d differ, all explained", n, total, differing)
			for _, k := range tr.Guest.Kprobes {
				if k.Mod == nil {
					continue
				}
				at, err := strconv.ParseUint(k.Addr, 0, 64)
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, d := range a.Text(set.Find(*k.Mod)).Diffs {
					if d.Addr == at {
						found = true
						if d.Explained == nil || d.Explained.Mech != textcheck.MechKprobe || len(d.Found) != 4 || d.Found[0] != 0x80 || d.Found[3] != 0xd4 {
							t.Errorf("kprobe %s at %#x: %+v, want brk #0x4 explained by the kprobe", k.Sym, at, d)
						}
					}
				}
				if !found {
					t.Errorf("kprobe %s at %#x: no difference seen", k.Sym, at)
				}
			}
		})
	}
}
