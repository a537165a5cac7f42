package damage

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/debuginfo"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// TestWrongVmlinuxRefused: the buggy kernel's vmlinux against the
// fixed-radix dump. Both are 7.2.13, so OSRELEASE agrees and the build-id
// (VMCOREINFO BUILD-ID against the file's NT_GNU_BUILD_ID) is what
// differs. --force accepts it with a warning.
func TestWrongVmlinuxRefused(t *testing.T) {
	root := testcorpus.Require(t)
	dumpPath := filepath.Join(testcorpus.Dir(t, "fixed-radix"), "vmcore-vmcoreinfo.kdump")
	wrong := filepath.Join(root, "kernels", "7.2.13-buggy", "vmlinux.zst")
	if _, err := os.Stat(wrong); err != nil {
		t.Skipf("%s absent", wrong)
	}
	_, err := kernel.Open([]string{dumpPath}, kernel.Options{Vmlinux: wrong})
	var mm *kernel.MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("kernel.Open with the wrong vmlinux: %v, want *kernel.MismatchError", err)
	}
	if mm.File != wrong || mm.What != "build-id" || mm.Dump == mm.File2 || mm.Dump == "" || mm.File2 == "" {
		t.Errorf("MismatchError %+v: want build-id of %s", mm, wrong)
	}
	// The file's side of the error is the vmlinux's own build-id.
	f, err := symbols.OpenELF(wrong)
	if err != nil {
		t.Fatal(err)
	}
	if id := hex.EncodeToString(f.BuildID); mm.File2 != id {
		t.Errorf("MismatchError says the file's build-id is %s; the file's note says %s", mm.File2, id)
	}
	f.Close()
	for _, s := range []string{wrong, "build-id", mm.Dump, mm.File2} {
		if !strings.Contains(mm.Error(), s) {
			t.Errorf("message %q does not name %q", mm.Error(), s)
		}
	}

	p, err := kernel.Open([]string{dumpPath}, kernel.Options{Vmlinux: wrong, Force: true})
	if err != nil {
		t.Fatalf("--force: %v", err)
	}
	defer p.Close()
	if !containsAll(p.Warnings, "build-id", "forced", wrong) {
		t.Errorf("--force: no warning naming the mismatch: %q", p.Warnings)
	}
}

// TestWrongKoSkipped: a .ko of another module copied under the loaded
// module's name is refused by the debuginfo index and OpenDebuginfo, with a note
// naming the file and both build-ids.
func TestWrongKoSkipped(t *testing.T) {
	p0, mods, _, opts := goodProgram(t)
	m := mods[0]
	want, err := m.BuildID(p0)
	if err != nil || len(want) == 0 {
		t.Fatalf("%s: build-id in memory: %x, %v", m.Name, want, err)
	}
	// Any other module's .ko.
	var other string
	kos, _ := filepath.Glob(filepath.Join(opts.ModuleDirs[0], "*.ko"))
	for _, k := range kos {
		base := strings.TrimSuffix(filepath.Base(k), ".ko")
		if strings.ReplaceAll(base, "-", "_") != m.Name {
			other = k
			break
		}
	}
	if other == "" {
		t.Skip("no other .ko")
	}
	of, err := symbols.OpenELF(other)
	if err != nil {
		t.Fatal(err)
	}
	otherID := of.BuildID
	of.Close()
	dir := t.TempDir()
	fake := filepath.Join(dir, m.Name+".ko")
	b, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fake, b, 0o444); err != nil {
		t.Fatal(err)
	}

	ix := debuginfo.New(debuginfo.Options{Dirs: []debuginfo.Dir{{Path: dir, Origin: debuginfo.FromOption}}})
	match := ix.Find(m.Name, want)
	if match.Path != "" {
		t.Errorf("the index took %s (build-id %x) for %s (build-id %x)", match.Path, otherID, m.Name, want)
	}
	if len(match.Refused) != 1 || !containsAll([]string{match.Refused[0].Path + ": " + match.Refused[0].Reason}, fake, hex.EncodeToString(otherID), hex.EncodeToString(want)) {
		t.Errorf("refusals %+v do not name %s and both build-ids", match.Refused, fake)
	}

	p0.Debuginfo = ix
	di, err := modules.OpenDebuginfo(p0, m)
	if err == nil {
		t.Fatalf("OpenDebuginfo took %s", di.Path)
	}
	for _, s := range []string{m.Name, fake, hex.EncodeToString(otherID)} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("OpenDebuginfo error %q does not name %q", err, s)
		}
	}
}
