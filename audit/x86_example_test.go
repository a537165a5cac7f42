package audit

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// x86Truth is testdata/example/x86-distro-la57/truth.json: trimmed from
// the bench/x86-corpus dump's truth (the guest's /proc and tracefs before
// the dump, drgn 0.3.0 on the dump).
type x86Truth struct {
	Guest struct {
		Uname            []string `json:"uname"`
		Modules          []string `json:"modules"`
		EnabledFunctions []string `json:"enabled_functions"`
		SiteBytes        []string `json:"site_bytes"`
		VMCOREINFO       []string `json:"vmcoreinfo"`
	} `json:"guest"`
	TrampAddrs []string `json:"guest_tramp_addrs"`
	Drgn       struct {
		Modules []struct {
			Name         string `json:"name"`
			StructModule string `json:"struct_module"`
			Text         struct {
				Base string `json:"base"`
				Size int    `json:"size"`
			} `json:"text"`
		} `json:"modules"`
		RecordsTotal int `json:"ftrace_records_total"`
		CPUs         []struct {
			CPU   int    `json:"cpu"`
			Task  string `json:"task"`
			Comm  string `json:"comm"`
			Stack []struct {
				PC     string `json:"pc"`
				Inline bool   `json:"inline"`
			} `json:"stack"`
		} `json:"cpus"`
		QemuCPUs []struct {
			CPU    int    `json:"cpu"`
			RIP    string `json:"rip"`
			RIPSym string `json:"rip_sym"`
		} `json:"qemu_cpus"`
	} `json:"drgn"`
}

func textBase(m *modules.Module) uint64 {
	for _, r := range m.Regions {
		if r.Name == "MOD_TEXT" {
			return r.Base
		}
	}
	return 0
}

func openX86Example(t *testing.T) (*kernel.Program, *analysis.Analysis, x86Truth) {
	t.Helper()
	var tr x86Truth
	p := openExample(t, "x86-distro-la57", nil, &tr)
	return p, analysis.New(p), tr
}

// TestX86ExampleKernel: the x86_64 distro dump (Debian 7.2.13 amd64,
// KASLR, 5-level page tables) opens as the guest and drgn saw it: the
// KASLR slide from the guest's VMCOREINFO, every module where /proc/modules
// and drgn put it, each CPU's current task where drgn found it, each
// CPU's RIP where QEMU stopped it.
func TestX86ExampleKernel(t *testing.T) {
	p, a, tr := openX86Example(t)
	if p.Arch.Name() != "x86_64" || p.Arch.MMU() != "5-level" {
		t.Errorf("arch %s, MMU %s; the guest ran x86_64 with LA57", p.Arch.Name(), p.Arch.MMU())
	}
	for _, l := range tr.Guest.VMCOREINFO {
		if v, ok := strings.CutPrefix(l, "KERNELOFFSET="); ok {
			if got := p.KernelOffset; got != testcorpus.Hex(t, v) {
				t.Errorf("KASLR offset %#x, the guest's VMCOREINFO says %s", got, v)
			}
		}
	}
	set := a.Modules()
	if set.ListErr != nil {
		t.Fatal(set.ListErr)
	}
	if len(set.Modules) != len(tr.Drgn.Modules) {
		t.Errorf("%d modules, drgn %d", len(set.Modules), len(tr.Drgn.Modules))
	}
	byName := map[string]int{}
	for i, m := range set.Modules {
		byName[m.Module.Name] = i
	}
	for _, want := range tr.Drgn.Modules {
		i, ok := byName[want.Name]
		if !ok {
			t.Errorf("module %s missing", want.Name)
			continue
		}
		m := set.Modules[i].Module
		if m.Addr != testcorpus.Hex(t, want.StructModule) || textBase(m) != testcorpus.Hex(t, want.Text.Base) {
			t.Errorf("%s: struct module %#x text %#x; drgn %s text %s", want.Name, m.Addr, textBase(m), want.StructModule, want.Text.Base)
		}
	}
	// /proc/modules: "name size refs deps state base".
	for _, l := range tr.Guest.Modules {
		f := strings.Fields(l)
		if i, ok := byName[f[0]]; !ok || textBase(set.Modules[i].Module) != testcorpus.Hex(t, f[len(f)-1]) {
			t.Errorf("/proc/modules %q: not matched", l)
		}
	}
	cts, err := p.CPUTasks()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range tr.Drgn.CPUs {
		if c.CPU >= len(cts) || cts[c.CPU].Err != nil || cts[c.CPU].Task != testcorpus.Hex(t, c.Task) {
			t.Errorf("CPU %d current task: got %+v, drgn %s (%s)", c.CPU, cts, c.Task, c.Comm)
		}
	}
	if len(p.Dump.CPUs) != len(tr.Drgn.QemuCPUs) {
		t.Fatalf("%d register notes, QEMU had %d CPUs", len(p.Dump.CPUs), len(tr.Drgn.QemuCPUs))
	}
	for i, q := range tr.Drgn.QemuCPUs {
		if pc := p.Dump.CPUs[i].PC; pc != testcorpus.Hex(t, q.RIP) {
			t.Errorf("note %d PC %#x, QEMU's CPU %d RIP %s (%s)", i, pc, q.CPU, q.RIP, q.RIPSym)
		} else if s, off, ok := p.Syms.ByAddr(pc); !ok || s.Name+"+0x"+strconv.FormatUint(off, 16) != q.RIPSym {
			t.Errorf("PC %#x symbolised %v, QEMU %s", pc, s, q.RIPSym)
		}
	}
}

// TestX86ExampleFtrace: every ftrace record the guest's enabled_functions
// lists is enabled in the dump at the same IP, its five bytes are those
// the guest read at the site, and the 5-byte site model (call to the ops
// trampoline, or ftrace_regs_caller for a site shared by two ops) finds
// nothing wrong in the extract's modules; the audit checked them.
func TestX86ExampleFtrace(t *testing.T) {
	_, a, tr := openX86Example(t)
	st, err := a.Ftrace()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Records) != tr.Drgn.RecordsTotal {
		t.Errorf("%d records, drgn %d", len(st.Records), tr.Drgn.RecordsTotal)
	}
	enabled := map[uint64]*ftrace.Record{}
	for i := range st.Records {
		if r := &st.Records[i]; r.Flags.Has(ftrace.FL_ENABLED) {
			enabled[r.IP] = r
		}
	}
	if len(enabled) != len(tr.Guest.EnabledFunctions) {
		t.Errorf("%d enabled records, the guest's enabled_functions has %d lines", len(enabled), len(tr.Guest.EnabledFunctions))
	}
	want := map[uint64][]byte{}
	for _, l := range tr.Guest.SiteBytes {
		f := strings.Fields(l)
		ip := testcorpus.Hex(t, f[0])
		b, err := hex.DecodeString(f[2])
		if err != nil {
			t.Fatal(err)
		}
		want[ip] = b[:5]
		if enabled[ip] == nil {
			t.Errorf("guest site %s (%s) not an enabled record in the dump", f[0], f[1])
		}
	}
	set := a.Modules()
	checked := 0
	for _, mod := range []string{"geneve", "sch_pie", "tcp_yeah"} {
		for _, sc := range st.SiteChecks(set, mod) {
			if sc.Mismatch || sc.Unchecked != "" {
				t.Errorf("%s %s+%#x: mismatch %v unchecked %q found %x want %x (%s)", mod, sc.Record.Func, sc.Record.Off, sc.Mismatch, sc.Unchecked, sc.FoundBytes, sc.WantBytes, sc.WantWhy)
			}
			if w, ok := want[sc.Record.IP]; ok {
				checked++
				if hex.EncodeToString(sc.FoundBytes) != hex.EncodeToString(w) {
					t.Errorf("%s: site bytes %x, the guest read %x", sc.Record.Func, sc.FoundBytes, w)
				}
			}
		}
	}
	// 39 of the guest's 42 enabled sites are in geneve and sch_pie.
	if checked != len(want)-2 {
		t.Errorf("%d enabled module sites checked against the guest's bytes, want %d", checked, len(want)-2)
	}
	r := Run(a, Options{Subjects: []string{"geneve", "sch_pie", "tcp_yeah", "system"}})
	noFindings(t, r)
	for _, c := range r.Coverage {
		for _, rc := range c.Rules {
			if rc.Rule == "FTRACE-SITE" && rc.Status != Ran {
				t.Errorf("%s FTRACE-SITE: %s (%s)", c.Subject, rc.Status, rc.Reason)
			}
		}
	}
}

// TestX86ExampleBt: each CPU's stack unwound with ORC (the vmlinux's
// tables read from the dump's memory) is drgn's, frame for frame (drgn's
// inline frames share their caller's PC and are left out), through the
// freed init text of start_kernel down to common_startup_64.
func TestX86ExampleBt(t *testing.T) {
	_, a, tr := openX86Example(t)
	us, err := a.Stacks()
	if err != nil {
		t.Logf("stacks: %v", err)
	}
	seen := 0
	for _, u := range us {
		if u.CPU < 0 || u.Stale {
			continue
		}
		for _, c := range tr.Drgn.CPUs {
			if c.CPU != u.CPU {
				continue
			}
			seen++
			var want, got []string
			for _, f := range c.Stack {
				if !f.Inline {
					want = append(want, f.PC)
				}
			}
			for _, f := range u.Frames {
				got = append(got, "0x"+strconv.FormatUint(f.PC, 16))
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("CPU %d: frames %v (stopped: %v), drgn %v", u.CPU, got, u.Err, want)
			}
		}
	}
	if seen != len(tr.Drgn.CPUs) {
		t.Errorf("%d CPU stacks compared, drgn has %d", seen, len(tr.Drgn.CPUs))
	}
}

// TestX86ExampleOpsTrampolines: the two allocated ftrace_ops trampolines
// of the dump (global_ops from ftrace_caller, kprobe_ftrace_ops from
// ftrace_regs_caller) are read as drgn read them, sized as the kernel
// sized them (ops->trampoline_size: the code, RET_SIZE and the ops
// pointer), and are what create_trampoline() makes; a call redirected by
// one byte and a stored ops pointer changed are found.
func TestX86ExampleOpsTrampolines(t *testing.T) {
	p, a, _ := openX86Example(t)
	b, err := os.ReadFile(filepath.Join("..", "testdata", "example", "x86-distro-la57", "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw []map[string]any
	var whole map[string]map[string]json.RawMessage
	json.Unmarshal(b, &whole)
	json.Unmarshal(whole["drgn"]["ftrace_ops"], &raw)
	st, err := a.Ftrace()
	if err != nil {
		t.Fatal(err)
	}
	checks := st.CheckX86Trampolines(p)
	if len(checks) != len(raw) {
		t.Fatalf("%d trampolines checked, drgn lists %d ops with one", len(checks), len(raw))
	}
	for _, c := range checks {
		var want map[string]any
		for _, o := range raw {
			if testcorpus.Hex(t, o["addr"].(string)) == c.Ops.Addr {
				want = o
			}
		}
		if want == nil {
			t.Errorf("ops %#x not drgn's", c.Ops.Addr)
			continue
		}
		wb, _ := hex.DecodeString(want["trampoline_bytes"].(string))
		got, err := p.Read(c.Addr, len(wb))
		if c.Addr != testcorpus.Hex(t, want["trampoline"].(string)) || err != nil || string(got) != string(wb) {
			t.Errorf("%s: trampoline %#x (%v) not drgn's bytes", want["sym"], c.Addr, err)
		}
		if c.Unchecked != "" || len(c.Problems) > 0 || c.Size+5+8 != uint64(want["trampoline_size"].(float64)) {
			t.Errorf("%s: size %d (+5+8, drgn %v), unchecked %q, problems %+v", want["sym"], c.Size, want["trampoline_size"], c.Unchecked, c.Problems)
		}
	}
	// Mutations: global_ops' trampoline call one byte further; the ops
	// pointer after kprobe_ftrace_ops' trampoline changed.
	v := damage.NewVirt(p)
	var gl, kp ftrace.X86TrampCheck
	for _, c := range checks {
		if c.Regs {
			kp = c
		} else {
			gl = c
		}
	}
	callSym, _ := p.SymbolAddr("ftrace_call")
	start, _ := p.SymbolAddr("ftrace_caller")
	site := gl.Addr + (callSym - start)
	cur, err := p.ReadU32(site + 1)
	if err != nil {
		t.Fatal(err)
	}
	must(t, v.PatchU32(site+1, cur+1))
	must(t, v.PatchU64(kp.Addr+kp.Size+5, kp.Ops.Addr+8))
	p2, err := kernel.Open(p.Dump.Paths, kernel.Options{Vmlinux: p.VmlinuxPath(), CacheDir: t.TempDir(), PhysWrap: v.Wrap})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	r := Run(analysis.New(p2), Options{Subjects: []string{"system"}, Only: []string{"FTRACE-OPS-TRAMP"}})
	var call, ptr bool
	for _, f := range r.Findings {
		call = call || strings.Contains(f.Message, "global_ops") && strings.Contains(f.Message, "ftrace_ops_get_func")
		ptr = ptr || strings.Contains(f.Message, "kprobe_ftrace_ops") && strings.Contains(f.Message, "the ops ")
		if strings.Contains(f.Message, "global_ops") {
			x86Examples.Store("FTRACE-OPS-TRAMP", "Example (the committed extract of Debian's amd64 kernel, testdata/example/x86-distro-la57, with the call in global_ops' trampoline moved one byte):\n\n    "+f.Severity.String()+" "+f.Rule+": "+f.Message)
		}
	}
	if !call || !ptr {
		for _, f := range r.Findings {
			t.Log(f.Message)
		}
		t.Errorf("redirected call found %v, changed ops pointer found %v", call, ptr)
	}
}
