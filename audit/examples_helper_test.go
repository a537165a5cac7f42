package audit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// openExample opens the committed extract testdata/example/NAME (its
// vmcore.zst, vmlinux.zst and modules/), with v's patches laid over its
// memory when v is not nil, and unmarshals its truth.json into truth when
// truth is not nil.
func openExample(t *testing.T, name string, v *damage.Virt, truth any) *kernel.Program {
	t.Helper()
	dir := filepath.Join("..", "testdata", "example", name)
	plain, err := container.Open(filepath.Join(dir, "vmcore.zst"))
	if err != nil {
		t.Fatal(err)
	}
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
		b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, truth); err != nil {
			t.Fatal(err)
		}
	}
	return p
}
