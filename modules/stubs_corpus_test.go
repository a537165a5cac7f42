package modules_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// TestStubsCorpus: on every corpus dump file that holds module memory and
// every module, what ReadStubs reconstructs equals truth.json: the .stubs
// bytes, each slot's jump[]/magic/funcdata, mod->arch, every OOL entry's
// ftrace_op and insn[]; the slots the reader calls call/trampoline stubs
// are exactly truth's slots_with_stub_magic; and on the fixed kernels the
// loader model's stubs (built from the .ko, with livepatch relocations
// from klp_info) equal what the kernel wrote, klp_stub_bug included.
func TestStubsCorpus(t *testing.T) {
	for _, d := range testcorpus.Dirs {
		t.Run(d, func(t *testing.T) {
			dir := testcorpus.Dir(t, d)
			tr := testcorpus.LoadTruth(t, dir)
			summary := map[string]map[string]any{}
			for _, s := range tr.Summary() {
				summary[s["name"].(string)] = s
			}
			for _, f := range testcorpus.DumpFiles(dir) {
				files := []string{f}
				if strings.HasSuffix(f, "-split.1") {
					files = append(files, strings.TrimSuffix(f, "1")+"2")
				}
				t.Run(filepath.Base(f), func(t *testing.T) {
					p, err := kernel.Open(files, kernel.Options{})
					if err != nil {
						t.Fatal(err)
					}
					defer p.Close()
					set := modules.Analyze(p)
					if set.ListErr != nil || len(set.Modules) != len(tr.DumpModules()) {
						t.Fatalf("%d modules, truth %d (%v)", len(set.Modules), len(tr.DumpModules()), set.ListErr)
					}
					for _, tm := range tr.DumpModules() {
						checkModule(t, d, set, tm, summary[tm["name"].(string)])
					}
					// makedumpfile -d 31 left out the module area's
					// page-table pages (slab folio tail pages taken for
					// anonymous memory): every module read above went
					// through vm_struct->pages.
					if n := p.Vmalloc.Pages.Load(); strings.Contains(f, "-d31-") != (n > 0) {
						t.Errorf("%d vmalloc pages read through vm_struct->pages", n)
					}
				})
			}
		})
	}
}

func checkModule(t *testing.T, dir string, set *modules.Set, tm, sum map[string]any) {
	name := tm["name"].(string)
	a := set.Find(name)
	if a == nil {
		t.Errorf("%s: not found", name)
		return
	}
	if a.StubsErr != nil || a.Stubs == nil {
		t.Errorf("%s: %v", name, a.StubsErr)
		return
	}
	if a.ModelErr != nil {
		t.Errorf("%s: model: %v", name, a.ModelErr)
	}
	s := a.Stubs
	raw := tm["stubs_raw_hex"].(string)
	if got := hexString(s.Raw); got != raw {
		t.Errorf("%s: .stubs bytes differ from stubs_raw_hex (%d vs %d bytes)", name, len(s.Raw), len(raw)/2)
	}
	for k, v := range tm["arch"].(map[string]any) {
		got, ok := a.Module.Arch.Member(k)
		want := uint64(0)
		switch x := v.(type) {
		case float64:
			want = uint64(x)
		case string:
			want = testcorpus.Hex(t, x)
		}
		if !ok || got != want {
			t.Errorf("%s: arch.%s = %#x, truth %#x", name, k, got, want)
		}
	}
	magic := map[int]bool{}
	for _, x := range sum["slots_with_stub_magic"].([]any) {
		magic[int(x.(float64))] = true
	}
	for _, sv := range tm["stub_slots"].([]any) {
		ts := sv.(map[string]any)
		i := int(ts["index"].(float64))
		if i >= len(s.Slots) {
			t.Errorf("%s: slot %d missing", name, i)
			continue
		}
		sl := s.Slots[i]
		if sl.Magic != uint32(testcorpus.Hex(t, ts["magic"])) || sl.Funcdata != testcorpus.Hex(t, ts["funcdata"]) {
			t.Errorf("%s: slot %d magic/funcdata %#x/%#x, truth %v/%v", name, i, sl.Magic, sl.Funcdata, ts["magic"], ts["funcdata"])
		}
		for k, w := range ts["jump"].([]any) {
			if sl.Jump[k] != uint32(testcorpus.Hex(t, w)) {
				t.Errorf("%s: slot %d jump[%d] %#x, truth %v", name, i, k, sl.Jump[k], w)
			}
		}
		isStub := sl.Kind == modules.SlotCall || sl.Kind == modules.SlotKlp || sl.Kind == modules.SlotTramp || sl.Kind == modules.SlotTrampRegs
		if isStub != magic[i] {
			t.Errorf("%s: slot %d classified %s; truth slots_with_stub_magic %v", name, i, sl.Kind, sum["slots_with_stub_magic"])
		}
		if isStub && ts["funcdata_sym"] != nil && !strings.HasPrefix(sl.TargetName, ts["funcdata_sym"].(string)+"+0x0") {
			t.Errorf("%s: slot %d target %q, truth %v", name, i, sl.TargetName, ts["funcdata_sym"])
		}
	}
	for _, ov := range tm["ool_stubs_decoded"].([]any) {
		to := ov.(map[string]any)
		j := int(to["index"].(float64))
		if j >= len(s.OOL) {
			t.Errorf("%s: ool_stubs[%d] missing", name, j)
			continue
		}
		o := s.OOL[j]
		if o.Addr != testcorpus.Hex(t, to["addr"]) || o.FtraceOp != testcorpus.Hex(t, to["ftrace_op"]) {
			t.Errorf("%s: ool_stubs[%d] at %#x op %#x, truth %v op %v", name, j, o.Addr, o.FtraceOp, to["addr"], to["ftrace_op"])
		}
		for k, w := range to["insn"].([]any) {
			if o.Insn[k] != uint32(testcorpus.Hex(t, w)) {
				t.Errorf("%s: ool_stubs[%d].insn[%d] %#x, truth %v", name, j, k, o.Insn[k], w)
			}
		}
	}
	if strings.HasPrefix(dir, "fixed") && a.Model != nil {
		for _, e := range a.Model.Stubs {
			if e.Slot >= len(s.Slots) || len(s.Slots[e.Slot].Mismatch) > 0 {
				t.Errorf("%s: model stub for %s at slot %d differs from the dump", name, e.TargetName, e.Slot)
			}
		}
		if a.Model.StubCount != int(a.Module.Arch.StubCount) {
			t.Errorf("%s: model stub_count %d, dump %d", name, a.Model.StubCount, a.Module.Arch.StubCount)
		}
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}
