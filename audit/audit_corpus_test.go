package audit

import (
	"fmt"
	"sort"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testprog"
)

func auditDir(t *testing.T, d string) (*Report, testcorpus.Truth) {
	t.Helper()
	p, dir := testprog.OpenCorpus(t, d)
	r := Run(analysis.New(p), Options{})
	for _, w := range r.Warnings {
		t.Logf("warning: %s", w)
	}
	return r, testcorpus.LoadTruth(t, dir)
}

// TestAuditFixedClean: the fixed kernels have no finding at warning or above.
func TestAuditFixedClean(t *testing.T) {
	for _, d := range []string{"fixed-radix", "fixed-hash"} {
		t.Run(d, func(t *testing.T) {
			r, _ := auditDir(t, d)
			for _, f := range r.Findings {
				if f.Severity >= Warning {
					t.Errorf("%s %s: %s", f.Severity, f.Rule, f.Message)
				}
			}
			if len(r.Warnings) > 0 {
				t.Errorf("warnings: %v", r.Warnings)
			}
		})
	}
}

// TestAuditBuggyMatchesTruth: per module, the findings are exactly what
// truth.json's summary shows: NULL ftrace_op counts, the OOL array not
// counted in stub_count, and klp_stub_bug's call stub at slot 5 inside the
// array covering ftrace[0] and part of ftrace[1].
func TestAuditBuggyMatchesTruth(t *testing.T) {
	r, tr := auditDir(t, "buggy-radix")
	byRule := map[string]map[string]Finding{}
	for _, f := range r.Findings {
		if byRule[f.Rule] == nil {
			byRule[f.Rule] = map[string]Finding{}
		}
		if f.Module == "vmlinux" {
			continue // checked below
		}
		if _, dup := byRule[f.Rule][f.Module]; dup && f.Rule != "LOADER-MODEL" {
			t.Errorf("two %s findings for %s", f.Rule, f.Module)
		}
		byRule[f.Rule][f.Module] = f
	}
	for _, s := range tr.Summary() {
		name := s["name"].(string)
		// NULL ftrace_op entries not overwritten by the stub.
		wantNull := int(s["ool_ftrace_op_null"].(float64))
		overwritten := len(s["ool_entries_not_starting_with_mflr_r0"].([]any))
		f, has := byRule["OOL-FTRACE-OP-NULL"][name]
		if n := wantNull; n > 0 != has || (has && len(f.Slots()) != n) {
			t.Errorf("%s: truth has %d NULL ftrace_op (%d entries overwritten); finding %v", name, wantNull, overwritten, f.Slots())
		}
		covers := s["stub_count_covers_ool_array"].(bool)
		if _, has := byRule["OOL-RESERVE"][name]; has == covers {
			t.Errorf("%s: stub_count_covers_ool_array = %v but OOL-RESERVE finding present = %v", name, covers, has)
		}
		inside := s["stub_magic_slots_inside_ool_array"].([]any)
		f, has = byRule["OOL-OVERLAP"][name]
		if len(inside) > 0 != has {
			t.Errorf("%s: truth has stub-magic slots %v inside the OOL array; overlap finding present = %v", name, inside, has)
		}
		if has {
			want := fmt.Sprintf("ppc64[%d]", int(inside[0].(float64)))
			if f.Slots()[0] != want {
				t.Errorf("%s: overlap at %s, truth %s", name, f.Slots()[0], want)
			}
		}
	}
	f := byRule["OOL-OVERLAP"]["klp_stub_bug"]
	got := append([]string(nil), f.Slots()...)
	sort.Strings(got)
	want := []string{"ftrace[0] (all 24 bytes)", "ftrace[1].ftrace_op+insn[0..1] (16 of 24 bytes)", "ppc64[5]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("klp_stub_bug overlap names %v, want %v", got, want)
	}
	// ftrace[1].ftrace_op reads magic in the high word and jump[6] (zero
	// here) in the low: 0x7374756200000000 (the figure).
	for _, w := range f.Words {
		if w.Label == "ppc64[5].magic = ftrace[1].ftrace_op(hi)" && w.Found != 0x73747562 {
			t.Errorf("magic word %#x", w.Found)
		}
	}
	// The vmlinux's own OOL stubs follow the same rule (ftrace_init_nop()
	// is shared): in the buggy kernel the never-enabled ones keep NULL.
	vmNull := false
	for _, f := range r.Findings {
		if f.Module == "vmlinux" && f.Rule == "OOL-FTRACE-OP-NULL" {
			vmNull = true
			t.Logf("%s", f.Message)
		}
	}
	if !vmNull {
		t.Error("no NULL ftrace_op finding for the vmlinux's ftrace_ool_stub_text")
	}
	for _, rule := range []string{"STUB-TEMPLATE", "STUB-TARGET", "STUB-DUP", "KLP-STALE-STUB", "OOL-INSN", "STUB-COUNT"} {
		if len(byRule[rule]) > 0 {
			t.Errorf("spurious %s findings: %v", rule, byRule[rule])
		}
	}
}
