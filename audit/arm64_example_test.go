package audit

import (
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testprog"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// arm64Truth is testdata/example/arm64-ftrace-ops/truth.json, trimmed
// from the bench/arm64-corpus dump's truth (drgn on the dump, checked
// against the guest).
type arm64Truth struct {
	Modules []struct {
		Name         string `json:"name"`
		StructModule string `json:"struct_module"`
		Text         string `json:"text"`
		PLTCore      struct {
			Num int64 `json:"plt_num_entries"`
			Max int64 `json:"plt_max_entries"`
		} `json:"plt_core"`
		Enabled []struct {
			IP         string `json:"ip"`
			Sym        string `json:"sym"`
			LiteralSym string `json:"literal_sym"`
		} `json:"enabled"`
	} `json:"modules"`
	VmlinuxEnabled []struct {
		IP string `json:"ip"`
	} `json:"vmlinux_enabled"`
	EnabledTotal int `json:"ftrace_records_enabled"`
	CPUs         []struct {
		CPU   int      `json:"cpu"`
		Task  string   `json:"task"`
		Stack []string `json:"stack"`
	} `json:"cpus"`
}

var arm64Subjects = []string{"tcp_vegas", "sch_fq_pie", "kdi_ftrace", "md4", "system"}

func openArm64Example(t *testing.T) (*kernel.Program, *analysis.Analysis, arm64Truth) {
	t.Helper()
	var tr arm64Truth
	p := openExample(t, "arm64-ftrace-ops", nil, &tr)
	return p, analysis.New(p), tr
}

// TestArm64Example: Debian's 7.2.13 arm64 kernel (KASLR, 52-bit VA with
// LPA2, modules out of branch range of the kernel) with function tracing
// through CALL_OPS on sch_fq_pie and tcp_vegas, and kdi_ftrace's own ops
// and direct calls: every module where drgn found it, the PLT counts of
// mod->arch.core as the loader left them, every enabled record drgn saw
// and no other, the subject modules' sites (through their ftrace PLT)
// and literals as the model wants, each CPU's stack by frame records as
// drgn unwound it; the audit finds nothing and ran its arm64 rules.
func TestArm64Example(t *testing.T) {
	p, a, tr := openArm64Example(t)
	if p.Arch.Name() != "arm64" {
		t.Fatalf("arch %s", p.Arch.Name())
	}
	set := a.Modules()
	if set.ListErr != nil {
		t.Fatal(set.ListErr)
	}
	want := map[uint64]string{}
	for _, m := range tr.Modules {
		an := set.Find(m.Name)
		if an == nil {
			t.Errorf("module %s missing", m.Name)
			continue
		}
		if an.Module.Addr != testcorpus.Hex(t, m.StructModule) || textBase(an.Module) != testcorpus.Hex(t, m.Text) {
			t.Errorf("%s: struct module %#x text %#x; drgn %s %s", m.Name, an.Module.Addr, textBase(an.Module), m.StructModule, m.Text)
		}
		for _, s := range arm64Subjects {
			if s == m.Name {
				pl, err := modules.ReadPLTs(p, an.Module)
				if err != nil || pl.Core.Num != m.PLTCore.Num || pl.Core.Max != m.PLTCore.Max {
					t.Errorf("%s: .plt %+v (%v); drgn %d of %d", m.Name, pl, err, m.PLTCore.Num, m.PLTCore.Max)
				}
			}
		}
		for _, e := range m.Enabled {
			want[testcorpus.Hex(t, e.IP)] = m.Name
		}
	}
	for _, e := range tr.VmlinuxEnabled {
		want[testcorpus.Hex(t, e.IP)] = ""
	}
	if len(want) != tr.EnabledTotal {
		t.Fatalf("truth lists %d enabled records, says %d", len(want), tr.EnabledTotal)
	}
	st, err := a.Ftrace()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range st.Records {
		r := &st.Records[i]
		if !r.Flags.Has(ftrace.FL_ENABLED) {
			continue
		}
		n++
		if mod, ok := want[r.IP]; !ok || mod != r.Module {
			t.Errorf("enabled record %#x (%s %s) not drgn's", r.IP, r.Module, r.Func)
		}
	}
	if n != len(want) {
		t.Errorf("%d enabled records, drgn %d", n, len(want))
	}
	checked := 0
	for _, mod := range []string{"tcp_vegas", "sch_fq_pie"} {
		for _, sc := range st.SiteChecks(set, mod) {
			if sc.Mismatch || sc.Unchecked != "" {
				t.Errorf("%s %s: mismatch %v unchecked %q (%s)", mod, sc.Record.Func, sc.Mismatch, sc.Unchecked, sc.WantWhy)
			}
			if want[sc.Record.IP] == mod {
				checked++
				if !sc.LiteralChecked {
					t.Errorf("%s %s: CALL_OPS literal not checked: %s", mod, sc.Record.Func, sc.LiteralUnknown)
				}
			}
		}
	}
	if checked != 16 { // 7 in tcp_vegas, 9 in sch_fq_pie
		t.Errorf("%d enabled subject sites checked, the truth has 16", checked)
	}
	r := Run(a, Options{Subjects: arm64Subjects})
	noFindings(t, r)
	ran := ranOn(r)
	if ran["PLT-ENTRY"] < 4 || ran["FTRACE-PLT"] < 4 || ran["FTRACE-SITE"] < 4 {
		t.Errorf("rules ran on %v subjects; want PLT-ENTRY, FTRACE-PLT and FTRACE-SITE on the 4 modules", ran)
	}
	us, _ := a.Stacks()
	var cpus []testprog.CPUStack
	for _, c := range tr.CPUs {
		w := testprog.CPUStack{CPU: c.CPU, Task: testcorpus.Hex(t, c.Task)}
		for _, pc := range c.Stack {
			w.PCs = testprog.AppendPC(w.PCs, testcorpus.Hex(t, pc))
		}
		cpus = append(cpus, w)
	}
	testprog.CheckCPUStacks(t, us, cpus)
}
