package textcheck

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/elfobj"

	a64 "github.com/kdump-inspect/kdump-inspect/arch/arm64"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// Arm64CorpusDirs are the arm64 corpus dumps the text tests run on, those
// present (bench/arm64-corpus, outside git: t is skipped without the
// corpora, and with -short, why saying what takes the time).
func Arm64CorpusDirs(t *testing.T, why string) []string {
	t.Helper()
	root := testcorpus.Corpora(t, "arm64")
	if testing.Short() {
		t.Skip("-short: " + why)
	}
	var dirs []string
	for _, d := range []string{"distro-kaslr", "distro-nokaslr", "distro-kaslr-sysrq", "distro-ftrace-ops", "distro-ftrace-ops-nokaslr", "distro-a53",
		"distro16k-kaslr", "distro16k-nokaslr", "distro16k-va47"} {
		dir := filepath.Join(root, d)
		if _, err := os.Stat(filepath.Join(dir, "vmcore.elf.zst")); err != nil {
			t.Logf("%s absent: skipped", dir)
			continue
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

// Arm64Kprobe is a kprobe the guest listed (truth.json guest.kprobes):
// Mod is nil for one in the vmlinux.
type Arm64Kprobe struct {
	Addr string  `json:"addr"`
	Sym  string  `json:"sym"`
	Mod  *string `json:"mod"`
}

// LoadArm64Kprobes reads the guest's kprobes from dir's truth.json.
func LoadArm64Kprobes(t *testing.T, dir string) []Arm64Kprobe {
	t.Helper()
	var tr struct {
		Guest struct {
			Kprobes []Arm64Kprobe `json:"kprobes"`
		} `json:"guest"`
	}
	testcorpus.LoadTruthInto(t, dir, &tr)
	return tr.Guest.Kprobes
}

// CheckArm64Kprobe: the guest's kprobe k is a difference of diffs, its
// brk #0x4 explained by the kprobe model.
func CheckArm64Kprobe(t *testing.T, k Arm64Kprobe, diffs []Diff) {
	t.Helper()
	at := testcorpus.Hex(t, k.Addr)
	found := false
	for _, d := range diffs {
		if d.Addr == at {
			found = true
			if d.Explained == nil || d.Explained.Mech != MechKprobe || len(d.Found) != 4 || a64.Order.Uint32(d.Found) != a64.BrkKprobe {
				t.Errorf("kprobe %s at %#x: %+v, want brk #0x4 explained by the kprobe", k.Sym, at, d)
			}
		}
	}
	if !found {
		t.Errorf("kprobe %s at %#x: no difference seen", k.Sym, at)
	}
}

// altInstructions is the vmlinux's .altinstructions section and bytes.
func altInstructions(t *testing.T, p *kernel.Program) (*elfobj.Section, []byte) {
	t.Helper()
	var alt *elfobj.Section
	for _, s := range p.Vmlinux.File.Sections {
		if s.Name == ".altinstructions" {
			alt = s
		}
	}
	if alt == nil {
		t.Fatal("no .altinstructions")
	}
	b, err := alt.Data()
	if err != nil {
		t.Fatal(err)
	}
	return alt, b
}

// checkPlanted: the differences r leaves unexplained are at exactly the
// planted addresses (want, emptied as they are found).
func checkPlanted(t *testing.T, env *Env, r *Result, want map[uint64]bool) {
	t.Helper()
	for _, d := range r.Unexplained() {
		if !want[d.Addr] {
			t.Errorf("unexplained %#x (%s), not planted", d.Addr, env.name(d.Addr))
		}
		delete(want, d.Addr)
	}
	for a := range want {
		t.Errorf("planted %#x (%s): not reported", a, env.name(a))
	}
}
