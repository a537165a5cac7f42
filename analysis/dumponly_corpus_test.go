package analysis_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/arch"
	_ "github.com/kdump-inspect/kdump-inspect/arch/arm64"
	_ "github.com/kdump-inspect/kdump-inspect/arch/x86"
	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// dumpOnlyTruth is what a built corpus dump's drgn truth (read with the
// DWARF vmlinux: bench/x86-corpus truth-drgn.json, bench/arm64-corpus
// truth.json's "dump") says about the modules, the enabled ftrace records
// and the CPUs' stacks.
type dumpOnlyTruth struct {
	Modules []struct {
		Name         string `json:"name"`
		StructModule string `json:"struct_module"`
		Mem          []struct {
			Type string `json:"type"`
			Base string `json:"base"`
		} `json:"mem"`
	} `json:"modules"`
	VmlinuxRecords []json.RawMessage `json:"vmlinux_records"`
	CPUs           []struct {
		CPU   int    `json:"cpu"`
		Task  string `json:"task"`
		Stack []struct {
			PC string `json:"pc"`
		} `json:"stack"`
	} `json:"cpus"`
	// arm64: the count of enabled records in the dump.
	Enabled *int `json:"ftrace_records_enabled"`
}

// loadDumpOnlyTruth reads dir's drgn truth and the count of enabled
// ftrace records the guest and drgn agreed on.
func loadDumpOnlyTruth(t *testing.T, arch, dir string) (dumpOnlyTruth, int) {
	t.Helper()
	var tr dumpOnlyTruth
	switch arch {
	case "x86":
		testcorpus.LoadJSON(t, filepath.Join(dir, "truth-drgn.json"), &tr)
		var guest struct {
			Checks struct {
				Enabled int `json:"dump_enabled_records"`
			} `json:"checks"`
		}
		testcorpus.LoadTruthInto(t, dir, &guest)
		return tr, guest.Checks.Enabled
	default:
		var whole struct {
			Dump dumpOnlyTruth `json:"dump"`
		}
		testcorpus.LoadTruthInto(t, dir, &whole)
		if whole.Dump.Enabled == nil {
			t.Fatal("truth.json has no dump.ftrace_records_enabled")
		}
		return whole.Dump, *whole.Dump.Enabled
	}
}

// TestDumpOnlyCorpus (issue 20 on x86_64 and arm64) opens real Debian
// 7.2.13 dumps with nothing but the dump — no vmlinux, no modules
// directory — so the kernel image is mapped from VMCOREINFO's numbers
// (phys_base, kimage_voffset), the symbols come from kallsyms and the
// types from the BTF in the dump's memory; x86 distro-nokaslr has no
// VMCOREINFO note (its copy is found in memory). Every module's struct
// module and text base, the number of enabled ftrace records and the
// vmlinux ones' addresses, and each CPU's stack as far as drgn walked it
// with the DWARF vmlinux, are the truth's. The livepatch kernel, built
// without CONFIG_DEBUG_INFO_BTF, is refused with ErrNoMemoryBTF.
func TestDumpOnlyCorpus(t *testing.T) {
	for _, c := range []struct{ arch, name string }{
		{"x86", "distro-kaslr-la57"}, {"x86", "distro-nokaslr"}, {"x86", "distro-its"}, {"x86", "distro-inflight"},
		{"x86", "livepatch-kaslr"}, {"x86", "livepatch-its"},
		{"arm64", "distro-kaslr"}, {"arm64", "distro-a53"}, {"arm64", "distro-nokaslr"},
		{"arm64", "distro-ftrace-ops"}, {"arm64", "distro-ftrace-ops-nokaslr"}, {"arm64", "distro-kaslr-sysrq"},
	} {
		t.Run(c.arch+"/"+c.name, func(t *testing.T) {
			dir := testcorpus.Corpora(t, c.arch, c.name)
			p, err := kernel.Open([]string{filepath.Join(dir, "vmcore.kdump")}, kernel.Options{DumpOnly: true, CacheDir: t.TempDir()})
			if strings.HasPrefix(c.name, "livepatch-") {
				if !errors.Is(err, kernel.ErrNoMemoryBTF) {
					t.Fatalf("a kernel without CONFIG_DEBUG_INFO_BTF opened alone: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if !p.NoVmlinux() || p.Types.Source() != "BTF" {
				t.Fatalf("opened with vmlinux %q, types from %s", p.VmlinuxPath(), p.Types.Source())
			}
			// x86: the layout from VMCOREINFO (the note, or for
			// distro-nokaslr the copy in memory) agrees with the QEMU CPU
			// state's IDT gates and page tables.
			if ls, ok := p.Arch.(arch.LayoutSource); c.arch == "x86" && (!ok || !strings.Contains(ls.LayoutFrom(), "from VMCOREINFO; the QEMU CPU state agrees")) {
				t.Errorf("layout: %v", p.Arch)
			}
			tr, wantEnabled := loadDumpOnlyTruth(t, c.arch, dir)
			a := analysis.New(p)
			defer a.Close()

			set := a.Modules()
			if set.ListErr != nil {
				t.Fatal(set.ListErr)
			}
			if len(set.Modules) != len(tr.Modules) || len(tr.Modules) == 0 {
				t.Fatalf("%d modules, truth %d", len(set.Modules), len(tr.Modules))
			}
			for i, w := range tr.Modules {
				m := set.Modules[i].Module
				var got uint64
				for _, r := range m.Regions {
					if r.Name == "MOD_TEXT" {
						got = r.Base
					}
				}
				var text uint64
				for _, r := range w.Mem {
					if r.Type == "MOD_TEXT" {
						text = testcorpus.Hex(t, r.Base)
					}
				}
				if m.Name != w.Name || m.Addr != testcorpus.Hex(t, w.StructModule) || got != text || text == 0 {
					t.Errorf("module %d: %s %#x text %#x; truth %s %s text %#x", i, m.Name, m.Addr, got, w.Name, w.StructModule, text)
				}
				// Without a .ko, the struct module's section ends where
				// the struct does: its core_kallsyms symtab, after it in
				// the module's data, is not named as inside it.
				if symtab, err := m.Obj.Member("core_kallsyms.symtab"); err == nil {
					if a, err := symtab.Uint(); err == nil {
						if loc := set.Resolver.Lookup(a); loc.Section == ".gnu.linkonce.this_module" {
							t.Errorf("%s: core_kallsyms.symtab %#x named %s+%#x", m.Name, a, loc.Section, loc.SectionOff)
						}
					}
				}
			}

			st, err := a.Ftrace()
			if err != nil {
				t.Fatal(err)
			}
			enabled := 0
			vmlinuxEnabled := map[uint64]bool{}
			for _, r := range st.Records {
				if r.Flags.Has("FTRACE_FL_ENABLED") {
					enabled++
					if r.Module == "" {
						vmlinuxEnabled[r.IP] = true
					}
				}
			}
			if enabled != wantEnabled || wantEnabled == 0 {
				t.Errorf("%d enabled ftrace records, truth %d", enabled, wantEnabled)
			}
			// x86's truth lists vmlinux records with any flag set as
			// [ip, flags, bytes], arm64's as objects with ip and flags.
			wantVmlinux := 0
			for _, raw := range tr.VmlinuxRecords {
				var ip, flags string
				var arr []string
				var obj struct{ IP, Flags string }
				if json.Unmarshal(raw, &arr) == nil && len(arr) >= 2 {
					ip, flags = arr[0], arr[1]
				} else if json.Unmarshal(raw, &obj) == nil {
					ip, flags = obj.IP, obj.Flags
				}
				if testcorpus.Hex(t, flags)&0x80000000 == 0 {
					continue
				}
				wantVmlinux++
				if !vmlinuxEnabled[testcorpus.Hex(t, ip)] {
					t.Errorf("vmlinux record at %s enabled in the truth, not read enabled", ip)
				}
			}
			if wantVmlinux == 0 || len(vmlinuxEnabled) != wantVmlinux {
				t.Errorf("%d enabled vmlinux records, truth %d", len(vmlinuxEnabled), wantVmlinux)
			}

			us, err := a.Stacks()
			if err != nil {
				t.Fatal(err)
			}
			frames := 0
			for _, w := range tr.CPUs {
				var want []uint64
				for _, f := range w.Stack {
					pc := testcorpus.Hex(t, f.PC)
					// drgn lists inlined frames at their caller's pc.
					if len(want) == 0 || want[len(want)-1] != pc {
						want = append(want, pc)
					}
				}
				found := false
				for _, u := range us {
					if u.CPU != w.CPU || u.Stale || !u.HasTask || u.Task.Addr != testcorpus.Hex(t, w.Task) {
						continue
					}
					found = true
					if len(u.Frames) < len(want) {
						t.Errorf("CPU %d: %d frames, drgn walked %d (stopped: %v)", w.CPU, len(u.Frames), len(want), u.Err)
					}
					for i := 0; i < len(want) && i < len(u.Frames); i++ {
						if u.Frames[i].PC != want[i] {
							t.Errorf("CPU %d frame %d: pc %#x, drgn %#x", w.CPU, i, u.Frames[i].PC, want[i])
						}
					}
					frames += len(want)
				}
				if !found {
					t.Errorf("CPU %d: no context for task %s", w.CPU, w.Task)
				}
			}
			// The audit: the rules that need no .ko and no vmlinux ran on
			// every module, with no finding (the truth's kernels are
			// clean: the same audit with the vmlinux and modules is); the
			// text comparison could not check; never a clean verdict.
			checkDumpOnlyAudit(t, audit.Run(a, audit.Options{}), len(set.Modules)+1, "the modules and the vmlinux",
				map[string][]string{"x86": {"TEXT-POKE", "FTRACE-OPS-TRAMP"}, "arm64": {"PLT-ENTRY", "FTRACE-PLT"}}[c.arch])
			t.Logf("%s: %d modules, %d enabled ftrace records (%d vmlinux), %d CPUs' %d frames as drgn read them with the DWARF vmlinux",
				p.DebuginfoSource(), len(set.Modules), enabled, wantVmlinux, len(tr.CPUs), frames)
		})
	}
}
