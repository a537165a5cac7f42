package modules

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// ppc64DistroDir is bench/distro-dump/old-kernels.sh's output: real dumps
// of Debian's 6.1 and 6.12 ppc64el kernels with drgn's truth.json
// (testcorpus.Corpora); t skips without it.
func ppc64DistroDir(t *testing.T) string {
	return testcorpus.Corpora(t, "ppc64-distro")
}

// noDebuginfoTruth is the part of a ppc64-distro truth.json (drgn 0.3.0
// with the DWARF vmlinux) this test holds the dump-only analysis against.
type noDebuginfoTruth struct {
	Modules []struct {
		Name         string            `json:"name"`
		StructModule string            `json:"struct_module"`
		State        string            `json:"state"`
		Mem          []truthMem        `json:"mem"`
		Sections     map[string]string `json:"sections"`
		Arch         map[string]any    `json:"arch"`
		ArchLayout   []struct {
			Name   string `json:"name"`
			Offset int64  `json:"offset"`
		} `json:"arch_type_layout"`
	} `json:"modules"`
}

type truthMem struct {
	Type int    `json:"type"`
	Base string `json:"base"`
	Size uint64 `json:"size"`
}

// openDumpOnly opens a dump with nothing but the dump: no vmlinux, no
// module files, no debug roots.
func openDumpOnly(t *testing.T, path string) (*kernel.Program, error) {
	t.Helper()
	p, err := kernel.Open([]string{path}, kernel.Options{DumpOnly: true, CacheDir: t.TempDir()})
	if err == nil {
		t.Cleanup(func() { p.Close() })
	}
	return p, err
}

// TestNoDebuginfoPPC64Distro opens each real Debian dump of
// ../corpora/ppc64-distro with no vmlinux and no modules anywhere: the
// kernels built with CONFIG_DEBUG_INFO_BTF (Debian 13's 6.12, 4K and 64K
// pages) are typed by the BTF in their own memory and named by their
// kallsyms, and every module — name, struct module, state, memory
// regions, section addresses, each mod->arch member's offset and value —
// is what drgn read with the DWARF vmlinux (truth.json); the kernel built
// without it (Debian 12's 6.1) is refused with ErrNoMemoryBTF.
func TestNoDebuginfoPPC64Distro(t *testing.T) {
	dir := ppc64DistroDir(t)
	ents, _ := os.ReadDir(dir)
	ran := 0
	for _, e := range ents {
		d := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(d, "truth.json")); err != nil || !e.IsDir() {
			continue
		}
		ran++
		t.Run(e.Name(), func(t *testing.T) {
			cfg, err := os.ReadFile(filepath.Join(d, "config"))
			if err != nil {
				t.Fatal(err)
			}
			hasBTF := strings.Contains(string(cfg), "\nCONFIG_DEBUG_INFO_BTF=y\n")
			p, err := openDumpOnly(t, filepath.Join(d, "vmcore.elf"))
			if !hasBTF {
				if !errors.Is(err, kernel.ErrNoMemoryBTF) {
					t.Fatalf("a kernel without CONFIG_DEBUG_INFO_BTF opened alone: %v", err)
				}
				t.Logf("refused as it must be: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !p.NoVmlinux() || p.Types.Source() != "BTF" || p.DebuginfoSource() != kernel.NoVmlinuxReason {
				t.Fatalf("opened with vmlinux %q, types from %s", p.VmlinuxPath(), p.Types.Source())
			}
			var tr noDebuginfoTruth
			b, err := os.ReadFile(filepath.Join(d, "truth.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &tr); err != nil {
				t.Fatal(err)
			}
			set := Analyze(p)
			if set.ListErr != nil {
				t.Fatal(set.ListErr)
			}
			if len(set.Modules) != len(tr.Modules) {
				t.Fatalf("%d modules, truth has %d", len(set.Modules), len(tr.Modules))
			}
			members := 0
			for i, w := range tr.Modules {
				a := set.Modules[i]
				m := a.Module
				if m.Name != w.Name || m.Addr != hexS(t, w.StructModule) || m.State != w.State {
					t.Errorf("module %d: %s %#x %s; truth %s %s %s", i, m.Name, m.Addr, m.State, w.Name, w.StructModule, w.State)
					continue
				}
				var regions []truthMem
				for _, r := range m.Regions {
					if r.Size > 0 {
						regions = append(regions, truthMem{Type: r.Type, Base: fmt.Sprintf("%#x", r.Base), Size: r.Size})
					}
				}
				var want []truthMem
				for _, r := range w.Mem {
					if r.Size > 0 {
						want = append(want, r)
					}
				}
				if fmt.Sprint(regions) != fmt.Sprint(want) {
					t.Errorf("%s: regions %v, truth %v", m.Name, regions, want)
				}
				secs := m.SectionMap()
				if len(secs) != len(w.Sections) {
					t.Errorf("%s: %d sections, truth %d", m.Name, len(secs), len(w.Sections))
				}
				for n, a := range w.Sections {
					if secs[n] != hexS(t, a) {
						t.Errorf("%s: section %s at %#x, truth %s", m.Name, n, secs[n], a)
					}
				}
				if len(m.Arch.Members) != len(w.ArchLayout) {
					t.Errorf("%s: mod->arch has %d members, truth %d", m.Name, len(m.Arch.Members), len(w.ArchLayout))
				}
				for j, l := range w.ArchLayout {
					if j >= len(m.Arch.Members) {
						break
					}
					got := m.Arch.Members[j]
					if got.Name != l.Name || got.Offset != l.Offset {
						t.Errorf("%s: mod->arch member %d is %s at %d, truth %s at %d", m.Name, j, got.Name, got.Offset, l.Name, l.Offset)
					}
					if v, ok := w.Arch[l.Name]; ok && !got.Aggregate && got.Value != testcorpus.Hex(t, v) {
						t.Errorf("%s: mod->arch.%s = %#x, truth %v", m.Name, l.Name, got.Value, v)
					}
					members++
				}
				if a.Debuginfo != nil {
					t.Errorf("%s: a .ko was found (%s) with no module directory given", m.Name, a.Debuginfo.Path)
				}
			}
			t.Logf("%s: %d modules, %d mod->arch members as drgn read them with the DWARF vmlinux", p.DebuginfoSource(), len(set.Modules), members)
		})
	}
	if ran == 0 {
		t.Skipf("no dump with truth.json under %s", dir)
	}
}

// TestNoDebuginfoDistroDump: the dump of Debian's 7.2.13 kernel
// (bench/distro-dump) opened with nothing but itself: the module list,
// bases and sizes are the guest's /proc/modules, the section addresses
// its sysfs; and when drgn's reading of the same dump with the DWARF
// vmlinux is beside it (truth-drgn-modarch.txt, written by
// bench/vs-drgn/run.sh), every mod->arch member and the SHA-256 of each
// .stubs and OOL array are drgn's.
func TestNoDebuginfoDistroDump(t *testing.T) {
	dir := testcorpus.DistroDump()
	if _, err := os.Stat(filepath.Join(dir, "truth-proc-modules.txt")); err != nil {
		t.Skipf("no distro dump in %s (bench/distro-dump/make.sh)", dir)
	}
	p, err := openDumpOnly(t, filepath.Join(dir, "vmcore.elf"))
	if err != nil {
		t.Fatal(err)
	}
	set := Analyze(p)
	if set.ListErr != nil {
		t.Fatal(set.ListErr)
	}
	// /proc/modules: "name size refs deps state addr".
	var got, want []string
	for _, a := range set.Modules {
		var size, base uint64
		for _, r := range a.Module.Regions {
			size += r.Size
			if r.Type == 0 && r.Size > 0 {
				base = r.Base
			}
		}
		got = append(got, fmt.Sprintf("%s %d %#x", a.Module.Name, size, base))
	}
	for _, l := range readLines(t, filepath.Join(dir, "truth-proc-modules.txt")) {
		f := strings.Fields(l)
		if len(f) >= 6 {
			want = append(want, fmt.Sprintf("%s %s %s", f[0], f[1], f[len(f)-1]))
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("modules:\n%s\nthe guest's /proc/modules:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// sysfs sections the guest printed: "module section addr".
	nsec := 0
	for _, l := range readLines(t, filepath.Join(dir, "truth-sections.txt")) {
		f := strings.Fields(l)
		a := set.Find(f[0])
		if len(f) != 3 || a == nil {
			t.Errorf("truth-sections.txt: %q: no such module", l)
			continue
		}
		if got, ok := a.Module.SectionAddr(f[1]); !ok || got != hexS(t, f[2]) {
			t.Errorf("%s %s: %#x (%v), sysfs says %s", f[0], f[1], got, ok, f[2])
		}
		nsec++
	}
	drgn := filepath.Join(dir, "truth-drgn-modarch.txt")
	if _, err := os.Stat(drgn); err != nil {
		t.Logf("%d modules and %d sections as the guest printed them; no %s (bench/vs-drgn/run.sh writes it) to hold mod->arch and the OOL arrays against", len(got), nsec, drgn)
		return
	}
	stubSize, err := p.Types.Sizeof("struct ppc64_stub_entry")
	if err != nil {
		t.Fatal(err)
	}
	oolSize, err := p.Types.Sizeof("struct ftrace_ool_stub")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, a := range set.Modules {
		lines = append(lines, modarchLine(t, p, a, stubSize, oolSize))
	}
	wantD := readLines(t, drgn)
	if strings.Join(lines, "\n") != strings.Join(wantD, "\n") {
		t.Errorf("mod->arch, .stubs and OOL arrays from the dump alone:\n%s\ndrgn with the DWARF vmlinux:\n%s", strings.Join(lines, "\n"), strings.Join(wantD, "\n"))
	}
	t.Logf("%d modules, sections, mod->arch, .stubs and OOL arrays from the dump alone, as the guest and drgn saw them", len(lines))
}

// modarchLine is bench/vs-drgn's canonical line (bench/cmd/modarch,
// bench/vs-drgn/modarch.py): name, &struct module, every mod->arch
// member, SHA-256 of stub_count stubs at .stubs and of ool_stub_count
// OOL stubs at arch.ool_stubs.
func modarchLine(t *testing.T, p *kernel.Program, a *Analysis, stubSize, oolSize int64) string {
	t.Helper()
	m := a.Module
	var members []string
	for _, am := range m.Arch.Members {
		members = append(members, fmt.Sprintf("%s=%#x", am.Name, am.Value))
	}
	hash := func(base, n uint64) string {
		if n > 1<<20 {
			return fmt.Sprintf("%#x+%d:too-large", base, n)
		}
		b, err := p.Read(base, int(n))
		if err != nil {
			return fmt.Sprintf("%#x+%d:fault", base, n)
		}
		h := sha256.Sum256(b)
		return fmt.Sprintf("%#x+%d:%s", base, n, hex.EncodeToString(h[:]))
	}
	stubs := "none"
	if s, ok := m.SectionAddr(".stubs"); ok {
		stubs = hash(s, m.Arch.StubCount*uint64(stubSize))
	}
	ool := "none"
	if m.Arch.HasOOL {
		ool = hash(m.Arch.OOLStubs, m.Arch.OOLStubCount*uint64(oolSize))
	}
	return fmt.Sprintf("%s %#x arch{%s} stubs=%s ool=%s", m.Name, m.Addr, strings.Join(members, ","), stubs, ool)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
