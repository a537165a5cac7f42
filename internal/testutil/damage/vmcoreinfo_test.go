package damage

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// vmcoreinfoText returns the offset and length of the VMCOREINFO text a
// kdump-compressed file holds (kdump_sub_header offset_vmcoreinfo and
// size_vmcoreinfo, header version 3 and later).
func vmcoreinfoText(t *testing.T, b []byte) (int64, int64) {
	t.Helper()
	l, err := ParseKdumpLayout(b)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(l.Order.Uint64(b[l.SubHdrOff+32:]))
	size := int64(l.Order.Uint64(b[l.SubHdrOff+40:]))
	if off <= 0 || size <= 0 || off+size > int64(len(b)) {
		t.Fatalf("no VMCOREINFO in the file (offset %#x size %#x)", off, size)
	}
	return off, size
}

// damagedNote writes a copy of the corpus dump whose VMCOREINFO note has
// old replaced by new (same length) and returns its path.
func damagedNote(t *testing.T, good []byte, old, new string) string {
	t.Helper()
	off, size := vmcoreinfoText(t, good)
	text := good[off : off+size]
	i := bytes.Index(text, []byte(old))
	if i < 0 || len(old) != len(new) {
		t.Fatalf("%q not in the VMCOREINFO note", old)
	}
	b := bytes.Clone(good)
	copy(b[off+int64(i):], new)
	path := filepath.Join(t.TempDir(), "vmcore-vmcoreinfo.kdump")
	if err := os.WriteFile(path, b, 0o444); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestVMCOREINFODisagrees: a damaged VMCOREINFO note (OSRELEASE=6.1.99,
// or one digit of BUILD-ID changed) against memory and the vmlinux that
// say 7.2.13 and the real build-id: memory and the vmlinux are believed,
// and the disagreement is a warning and a damage entry naming both
// values. Before, the release was reported as 6.1.99 silently and the
// right vmlinux was refused as not belonging to the dump.
func TestVMCOREINFODisagrees(t *testing.T) {
	path, opts := corpusJob(t, "fixed-radix")
	dir := filepath.Dir(path)
	truth := testcorpus.LoadTruth(t, dir)
	release, _ := truth["dump"].(map[string]any)["uts_release"].(string)
	if release == "" {
		t.Fatal("truth.json has no dump.uts_release")
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off, size := vmcoreinfoText(t, good)
	text := string(good[off : off+size])
	if !strings.Contains(text, "OSRELEASE="+release+"\n") {
		t.Fatalf("the good note does not say OSRELEASE=%s", release)
	}
	var buildID string
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "BUILD-ID="); ok {
			buildID = v
		}
	}
	if _, err := hex.DecodeString(buildID); err != nil || buildID == "" {
		t.Fatalf("the good note's BUILD-ID %q", buildID)
	}
	fake := "6.1.99"
	if len(fake) != len(release) {
		t.Fatalf("release %q: pick a fake release of the same length", release)
	}
	flipped := []byte(buildID)
	flipped[0] = "01"[map[bool]int{true: 1}[flipped[0] == '0']]
	cases := []struct {
		name, old, new string
		wantWarn       []string
	}{
		{"OSRELEASE", "OSRELEASE=" + release + "\n", "OSRELEASE=" + fake + "\n", []string{"OSRELEASE=" + fake, release, "init_uts_ns"}},
		{"BUILD-ID", "BUILD-ID=" + buildID, "BUILD-ID=" + string(flipped), []string{string(flipped), buildID, "memory"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := damagedNote(t, good, c.old, c.new)
			p, err := kernel.Open([]string{bad}, opts)
			if err != nil {
				t.Fatalf("kernel.Open: %v", err)
			}
			defer p.Close()
			if p.InfoSource != "dump note" {
				t.Fatalf("VMCOREINFO from %q, want the damaged note", p.InfoSource)
			}
			if p.Release != release {
				t.Errorf("Release %q, want %q (memory and vmlinux)", p.Release, release)
			}
			if !containsAll(p.Warnings, c.wantWarn...) {
				t.Errorf("no warning naming %q: %q", c.wantWarn, p.Warnings)
			}
			dmg := p.Dump.Damage()
			if len(dmg.VMCOREINFO) != 1 || !strings.Contains(dmg.VMCOREINFO[0], c.wantWarn[0]) || !strings.Contains(dmg.VMCOREINFO[0], c.wantWarn[1]) {
				t.Errorf("damage %q, want the disagreement with both values", dmg.VMCOREINFO)
			}
		})
	}
	// The good note: no warning, no damage.
	p, err := kernel.Open([]string{path}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Release != release || !p.Dump.Damage().Empty() || containsAll(p.Warnings, "VMCOREINFO") {
		t.Errorf("good dump: release %q, damage %v, warnings %q", p.Release, p.Dump.Damage(), p.Warnings)
	}
}
