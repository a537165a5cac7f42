package ftrace_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testprog"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// TestX86DirectCallsCorpus: on the x86 livepatch build's dump (the
// ftrace-direct samples on wake_up_process and handle_mm_fault), every
// DIRECT_EN record's site is checked against its direct_functions entry
// and holds the call drgn decoded there (to the sample's my_tramp).
func TestX86DirectCallsCorpus(t *testing.T) {
	dir := testcorpus.Corpora(t, "x86", "livepatch-kaslr")
	var tr struct {
		Dump struct {
			Records []struct {
				IP     string   `json:"ip"`
				Flags  []string `json:"flags_decoded"`
				Target string   `json:"target"`
			} `json:"vmlinux_records_decoded"`
		} `json:"dump"`
	}
	testcorpus.LoadTruthInto(t, dir, &tr)
	want := map[uint64]uint64{}
	for _, r := range tr.Dump.Records {
		if strings.Contains(strings.Join(r.Flags, " "), "DIRECT_EN") {
			want[testcorpus.Hex(t, r.IP)] = testcorpus.Hex(t, r.Target)
		}
	}
	if len(want) == 0 {
		t.Fatal("the truth has no direct-call records")
	}
	p := testprog.OpenWithVmlinux(t, dir, "vmcore.elf.zst")
	set := modules.Analyze(p)
	st, err := ftrace.Load(set)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, sc := range st.SiteChecks(set, "") {
		tg, ok := want[sc.Record.IP]
		if !ok {
			continue
		}
		seen++
		if sc.Unchecked != "" || sc.Mismatch || !strings.Contains(sc.WantWhy, "0x"+strconv.FormatUint(tg, 16)) {
			t.Errorf("%s: unchecked %q mismatch %v want %q; drgn's target %#x", sc.Record.Func, sc.Unchecked, sc.Mismatch, sc.WantWhy, tg)
		}
	}
	if seen != len(want) {
		t.Errorf("%d direct sites checked, drgn %d", seen, len(want))
	}
}
