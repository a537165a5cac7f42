package analysis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testprog"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/repl"
)

// exampleTruth is what a committed extract's truth.json (trimmed from the
// source dump's truth: the guest's own output and drgn 0.3.0 on the dump
// with the DWARF vmlinux) says, in one shape for both architectures.
type exampleTruth struct {
	modules []truthModule
	// enabled: every enabled ftrace record's ip; syms: the vmlinux ones'
	// drgn symbol (function+off, or function at +0).
	enabled map[uint64]bool
	syms    map[uint64]string
	cpus    []truthCPU
}

type truthModule struct {
	name         string
	addr, text   uint64
	enabledCount int
}

type truthCPU struct {
	cpu  int
	task uint64
	pcs  []uint64 // inlined frames folded (drgn repeats their caller's pc)
	syms map[uint64]string
}

func readExampleTruth(t *testing.T, name string) exampleTruth {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "example", name, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	tr := exampleTruth{enabled: map[uint64]bool{}, syms: map[uint64]string{}}
	switch name {
	case "x86-distro-la57":
		var x struct {
			Guest struct {
				EnabledFunctions []string `json:"enabled_functions"`
				SiteBytes        []string `json:"site_bytes"`
			} `json:"guest"`
			Drgn struct {
				Modules []struct {
					Name         string `json:"name"`
					StructModule string `json:"struct_module"`
					Text         struct {
						Base string `json:"base"`
					} `json:"text"`
				} `json:"modules"`
				Vmlinux []struct {
					IP  string `json:"ip"`
					Sym string `json:"sym"`
				} `json:"vmlinux_records_decoded"`
				CPUs []struct {
					CPU   int    `json:"cpu"`
					Task  string `json:"task"`
					Stack []struct {
						PC  string `json:"pc"`
						Sym string `json:"sym"`
					} `json:"stack"`
				} `json:"cpus"`
			} `json:"drgn"`
		}
		if err := json.Unmarshal(b, &x); err != nil {
			t.Fatal(err)
		}
		for _, m := range x.Drgn.Modules {
			tr.modules = append(tr.modules, truthModule{name: m.Name, addr: testcorpus.Hex(t, m.StructModule), text: testcorpus.Hex(t, m.Text.Base), enabledCount: -1})
		}
		// The guest read 16 bytes at each enabled site: "ip name bytes".
		for _, l := range x.Guest.SiteBytes {
			tr.enabled[testcorpus.Hex(t, strings.Fields(l)[0])] = true
		}
		if len(tr.enabled) != len(x.Guest.EnabledFunctions) {
			t.Fatalf("truth: %d site ips, %d enabled_functions lines", len(tr.enabled), len(x.Guest.EnabledFunctions))
		}
		for _, r := range x.Drgn.Vmlinux {
			tr.syms[testcorpus.Hex(t, r.IP)] = r.Sym
		}
		for _, c := range x.Drgn.CPUs {
			tc := truthCPU{cpu: c.CPU, task: testcorpus.Hex(t, c.Task), syms: map[uint64]string{}}
			for _, f := range c.Stack {
				pc := testcorpus.Hex(t, f.PC)
				tc.pcs = testprog.AppendPC(tc.pcs, pc)
				if _, ok := tc.syms[pc]; !ok {
					tc.syms[pc] = f.Sym
				}
			}
			tr.cpus = append(tr.cpus, tc)
		}
	case "arm64-ftrace-ops":
		var x struct {
			Modules []struct {
				Name         string `json:"name"`
				StructModule string `json:"struct_module"`
				Text         string `json:"text"`
				Enabled      []struct {
					IP string `json:"ip"`
				} `json:"enabled"`
			} `json:"modules"`
			VmlinuxEnabled []struct {
				IP  string `json:"ip"`
				Sym string `json:"sym"`
			} `json:"vmlinux_enabled"`
			EnabledTotal int `json:"ftrace_records_enabled"`
			CPUs         []struct {
				CPU   int      `json:"cpu"`
				Task  string   `json:"task"`
				Stack []string `json:"stack"`
			} `json:"cpus"`
		}
		if err := json.Unmarshal(b, &x); err != nil {
			t.Fatal(err)
		}
		for _, m := range x.Modules {
			tr.modules = append(tr.modules, truthModule{name: m.Name, addr: testcorpus.Hex(t, m.StructModule), text: testcorpus.Hex(t, m.Text), enabledCount: len(m.Enabled)})
			for _, e := range m.Enabled {
				tr.enabled[testcorpus.Hex(t, e.IP)] = true
			}
		}
		for _, e := range x.VmlinuxEnabled {
			tr.enabled[testcorpus.Hex(t, e.IP)] = true
			tr.syms[testcorpus.Hex(t, e.IP)] = e.Sym
		}
		if len(tr.enabled) != x.EnabledTotal {
			t.Fatalf("truth lists %d enabled records, says %d", len(tr.enabled), x.EnabledTotal)
		}
		for _, c := range x.CPUs {
			tc := truthCPU{cpu: c.CPU, task: testcorpus.Hex(t, c.Task)}
			for _, pc := range c.Stack {
				tc.pcs = testprog.AppendPC(tc.pcs, testcorpus.Hex(t, pc))
			}
			tr.cpus = append(tr.cpus, tc)
		}
	default:
		t.Fatalf("no truth reader for %s", name)
	}
	if len(tr.modules) == 0 || len(tr.enabled) == 0 || len(tr.cpus) == 0 {
		t.Fatalf("truth of %s: %d modules, %d enabled records, %d CPUs", name, len(tr.modules), len(tr.enabled), len(tr.cpus))
	}
	return tr
}

// checkDumpOnlyAudit holds the audit of a dump opened without vmlinux or
// .ko: no finding, never complete, no fatal error; TEXT-UNEXPLAINED could
// not check (no .ko, no vmlinux) wherever it applies; FTRACE-SITE ran on
// sites subjects (named by which) and each rule of archRules somewhere.
func checkDumpOnlyAudit(t *testing.T, rep *audit.Report, sites int, which string, archRules []string) {
	t.Helper()
	if len(rep.Findings) > 0 || rep.Complete() || rep.Fatal != "" {
		t.Errorf("audit without vmlinux: %d findings, complete %v, fatal %q", len(rep.Findings), rep.Complete(), rep.Fatal)
	}
	ran := map[string]int{}
	for _, cv := range rep.Coverage {
		for _, r := range cv.Rules {
			if r.Status == audit.Ran {
				ran[r.Rule]++
			}
			if r.Rule == "TEXT-UNEXPLAINED" && cv.Subject != "system" && (r.Status != audit.CannotCheck || !strings.Contains(r.Reason, "no .ko") && !strings.Contains(r.Reason, "no vmlinux")) {
				t.Errorf("%s: TEXT-UNEXPLAINED %v (%s) without vmlinux or .ko", cv.Subject, r.Status, r.Reason)
			}
		}
	}
	if ran["FTRACE-SITE"] != sites {
		t.Errorf("FTRACE-SITE ran on %d subjects, want %s (%d)", ran["FTRACE-SITE"], which, sites)
	}
	for _, r := range archRules {
		if ran[r] == 0 {
			t.Errorf("%s did not run", r)
		}
	}
}

// symAt names a vmlinux address from kallsyms as drgn does: "func+0xoff",
// or "func" at the function's start.
func symAt(p *kernel.Program, a uint64) string {
	s, off, ok := p.Syms.ByAddr(a)
	switch {
	case !ok:
		return ""
	case off == 0:
		return s.Name
	}
	return fmt.Sprintf("%s+%#x", s.Name, off)
}

// checkSym holds kallsyms against drgn's name for a (drgn's "" is no
// name): the same name, or, where drgn named an enclosing function and
// kallsyms a label inside it (secondary_startup_64 and common_startup_64),
// kallsyms has drgn's symbol at the address drgn's offset says.
func checkSym(t *testing.T, p *kernel.Program, what string, a uint64, drgn string) {
	t.Helper()
	got := symAt(p, a)
	if drgn == "" || got == drgn {
		return
	}
	name, offs, _ := strings.Cut(drgn, "+")
	off := uint64(0)
	if offs != "" {
		off = testcorpus.Hex(t, offs)
	}
	if s, ok := p.Syms.ByName(name); ok && s.Addr == a-off {
		if k, _, ok := p.Syms.ByAddr(a); ok && k.Addr >= s.Addr {
			return
		}
	}
	t.Errorf("%s %#x: kallsyms %q, drgn %q", what, a, got, drgn)
}

// TestDumpOnlyExamples opens the committed x86_64 and arm64 extracts
// (testdata/example, cut by cmd/mkexample with its dump-only session)
// with nothing but the core: no vmlinux, no modules, no corpus. The
// kernel image is placed from the VMCOREINFO note, the symbols are
// kallsyms' (drgn's names for the enabled vmlinux records and the CPUs'
// frames), the types the BTF in the dump's memory; every module's struct
// module and text base, every module's BTF (btf_modules names its struct
// module; `struct module` of the subjects shows their names), every
// enabled ftrace record and each CPU's stack are the
// truth's (the guest's and drgn's); `info` says there is no vmlinux and
// where symbols and types came from; the audit finds nothing, is never
// complete, says which rules could not check, and exits 3.
func TestDumpOnlyExamples(t *testing.T) {
	for _, c := range []struct {
		name     string
		subjects []string
		archRule []string
	}{
		{"x86-distro-la57", []string{"geneve", "sch_pie", "tcp_yeah", "system"}, []string{"TEXT-POKE", "FTRACE-OPS-TRAMP"}},
		{"arm64-ftrace-ops", []string{"tcp_vegas", "sch_fq_pie", "kdi_ftrace", "md4", "system"}, []string{"PLT-ENTRY", "FTRACE-PLT"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := readExampleTruth(t, c.name)
			p, err := kernel.Open([]string{filepath.Join("..", "testdata", "example", c.name, "vmcore.zst")}, kernel.Options{DumpOnly: true, CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if !p.NoVmlinux() || p.Types.Source() != "BTF" {
				t.Fatalf("opened with vmlinux %q, types from %s", p.VmlinuxPath(), p.Types.Source())
			}
			var out, errOut bytes.Buffer
			s := repl.New(p, repl.Options{Out: &out, Err: &errOut, Plain: true})
			defer s.A.Close()
			a := s.A

			// info: no vmlinux, and where symbols and types came from.
			if err := s.Exec(context.Background(), "info"); err != nil {
				t.Fatal(err)
			}
			for _, w := range []string{"VMLINUX: (none)", "DEBUGINFO: no vmlinux: types from the dump's BTF, symbols from kallsyms", "VMCOREINFO: dump note"} {
				if !strings.Contains(out.String(), w) {
					t.Errorf("info lacks %q:\n%s", w, out.String())
				}
			}

			// Modules: struct module and MOD_TEXT base, as drgn read them.
			set := a.Modules()
			if set.ListErr != nil {
				t.Fatal(set.ListErr)
			}
			if len(set.Modules) != len(tr.modules) {
				t.Errorf("%d modules, truth %d", len(set.Modules), len(tr.modules))
			}
			mbtf, err := p.ModuleBTF()
			if err != nil || mbtf.ModulesErr != nil {
				t.Fatalf("module BTF: %v, %v", err, mbtf)
			}
			for _, w := range tr.modules {
				an := set.Find(w.name)
				if an == nil {
					t.Errorf("module %s missing", w.name)
					continue
				}
				var text uint64
				for _, r := range an.Module.Regions {
					if r.Name == "MOD_TEXT" {
						text = r.Base
					}
				}
				if an.Module.Addr != w.addr || text != w.text {
					t.Errorf("%s: struct module %#x text %#x; truth %#x text %#x", w.name, an.Module.Addr, text, w.addr, w.text)
				}
				// The module's BTF, from btf_modules: its btf_module
				// names the same struct module.
				if mb := mbtf.Module(w.name); mb == nil || mb.Err != nil || mb.Types == nil || mb.Module != w.addr {
					t.Errorf("%s: module BTF %+v", w.name, mb)
				}
			}

			// struct module of each subject module, typed by the BTF:
			// its name member is the module's, and nothing faulted.
			for _, name := range c.subjects {
				if name == "system" {
					continue
				}
				an := set.Find(name)
				if an == nil {
					continue
				}
				out.Reset()
				errOut.Reset()
				if err := s.Exec(context.Background(), fmt.Sprintf("struct module %#x", an.Module.Addr)); err != nil || errOut.Len() > 0 {
					t.Errorf("struct module of %s: %v %s", name, err, errOut.String())
				}
				if !strings.HasPrefix(out.String(), "struct module {") || !strings.Contains(out.String(), "\n  name = \""+name+"\",\n") {
					t.Errorf("struct module of %s:\n%.600s", name, out.String())
				}
			}

			// Enabled ftrace records: exactly the truth's; the vmlinux
			// ones named by kallsyms as drgn named them.
			st, err := a.Ftrace()
			if err != nil {
				t.Fatal(err)
			}
			got := map[uint64]bool{}
			perMod := map[string]int{}
			for _, r := range st.Records {
				if !r.Flags.Has(ftrace.FL_ENABLED) {
					continue
				}
				got[r.IP] = true
				perMod[r.Module]++
				if !tr.enabled[r.IP] {
					t.Errorf("record %#x (%s %s) enabled, not in the truth", r.IP, r.Module, r.Func)
				}
			}
			for ip := range tr.enabled {
				if !got[ip] {
					t.Errorf("truth's enabled record %#x not read enabled", ip)
				}
			}
			for _, w := range tr.modules {
				if w.enabledCount >= 0 && perMod[w.name] != w.enabledCount {
					t.Errorf("%s: %d enabled records, truth %d", w.name, perMod[w.name], w.enabledCount)
				}
			}
			for ip, sym := range tr.syms {
				checkSym(t, p, "vmlinux record", ip, sym)
			}

			// Each CPU's stack, frame by frame, as drgn unwound it with
			// the DWARF vmlinux.
			us, err := a.Stacks()
			if err != nil {
				t.Fatal(err)
			}
			var want []testprog.CPUStack
			for _, w := range tr.cpus {
				want = append(want, testprog.CPUStack{CPU: w.cpu, Task: w.task, PCs: w.pcs})
			}
			unwound := testprog.CheckCPUStacks(t, us, want)
			for _, w := range tr.cpus {
				if unwound[w.cpu] == nil {
					continue
				}
				for pc, sym := range w.syms {
					checkSym(t, p, fmt.Sprintf("CPU %d frame", w.cpu), pc, sym)
				}
			}

			// The audit of the extract's subjects: no finding, never
			// complete; the text comparison cannot check without a .ko
			// or vmlinux; the site model and the architecture's rules ran
			// on the modules (their text is in the extract).
			checkDumpOnlyAudit(t, audit.Run(a, audit.Options{Subjects: c.subjects}), len(c.subjects)-1, "the modules", c.archRule)

			// The session's own audit (every module, the vmlinux, the
			// system): nothing found, some rule could not check: exit 3,
			// and its coverage names the rules that could not.
			out.Reset()
			if err := s.Exec(context.Background(), "audit"); err != nil {
				t.Fatal(err)
			}
			if s.ExitStatus() != 3 {
				t.Errorf("audit exit status %d, want 3:\n%s", s.ExitStatus(), out.String())
			}
			for _, w := range []string{" 0 findings", "cannot check: no vmlinux: types from the dump's BTF, symbols from kallsyms", "[TEXT-UNEXPLAINED] on vmlinux", "[FTRACE-SITE] on vmlinux"} {
				if !strings.Contains(out.String(), w) {
					t.Errorf("audit output lacks %q:\n%s", w, out.String())
				}
			}
			t.Logf("%s: %d modules, %d enabled ftrace records, %d CPUs' stacks", p.DebuginfoSource(), len(set.Modules), len(got), len(tr.cpus))
		})
	}
}
