package textcheck_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// TestX86ModuleTextCorpus: on every x86_64 corpus dump (bench/x86-corpus,
// outside git; skipped when absent) every module with its .ko has its text
// rebuilt and compared with nothing unexplained, nothing incomplete and no
// model problem. distro-kaslr-la57's dummy.ko holds an R_X86_64_32S against
// its empty .bss (sh_size 0: add_sect_attrs() does not list it); the
// address layout_sections() gave it is the end of the data sections laid
// out before it — __patchable_function_entries, MOD_DATA's first section —
// which the guest's own sect_attrs give (truth.json: .data follows at that
// address). The word the loader wrote there must be that address, and the
// module must be fully checked.
func TestX86ModuleTextCorpus(t *testing.T) {
	root := testcorpus.Corpora(t, "x86")
	if testing.Short() {
		t.Skip("-short: the x86 corpus dumps take seconds each")
	}
	for _, d := range []string{"distro-kaslr-la57", "distro-its", "livepatch-kaslr", "livepatch-its", "distro-inflight"} {
		dir := filepath.Join(root, d)
		if _, err := os.Stat(filepath.Join(dir, "vmcore.kdump")); err != nil {
			t.Logf("%s absent: skipped", dir)
			continue
		}
		t.Run(d, func(t *testing.T) {
			p, err := kernel.Open([]string{filepath.Join(dir, "vmcore.kdump")}, kernel.Options{Vmlinux: filepath.Join(dir, "vmlinux"), ModuleDirs: []string{filepath.Join(dir, "modules")}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			a := analysis.New(p)
			n := 0
			for _, m := range a.Modules().Modules {
				if m.Debuginfo == nil {
					continue
				}
				n++
				checkModuleText(t, m.Module.Name, a.Text(m))
			}
			if n == 0 {
				t.Fatal("no module with its .ko")
			}
			if d != "distro-kaslr-la57" {
				return
			}
			var tr struct {
				Dump struct {
					Modules []struct {
						Name     string            `json:"name"`
						Sections map[string]string `json:"sections"`
					} `json:"modules"`
				} `json:"dump"`
			}
			testcorpus.LoadTruthInto(t, dir, &tr)
			for _, m := range tr.Dump.Modules {
				if m.Name != "dummy" {
					continue
				}
				pfe, err1 := strconv.ParseUint(m.Sections["__patchable_function_entries"], 0, 64)
				text, err2 := strconv.ParseUint(m.Sections[".text"], 0, 64)
				if err1 != nil || err2 != nil {
					t.Fatalf("truth: dummy sections %v", m.Sections)
				}
				// readelf: __patchable_function_entries is 0x48 bytes,
				// .bss (index 5, WA, size 0, align 1) the next data section
				// in index order; .text+0x49 holds R_X86_64_32S .bss+0
				want := uint32(pfe + 0x48)
				got, err := p.ReadU32(text + 0x49)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("dummy .text+0x49 = %#x, want .bss = %#x", got, want)
				}
				return
			}
			t.Error("truth: no dummy module")
		})
	}
}
