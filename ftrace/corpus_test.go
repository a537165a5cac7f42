package ftrace

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

type loaded struct {
	set   *modules.Set
	state *State
	truth testcorpus.Truth
	dir   string
}

var (
	loadMu sync.Mutex
	cache  = map[string]*loaded{}
)

func load(t *testing.T, name string) *loaded {
	t.Helper()
	dir := testcorpus.Dir(t, name)
	loadMu.Lock()
	defer loadMu.Unlock()
	if l := cache[name]; l != nil {
		return l
	}
	p, err := kernel.Open([]string{filepath.Join(dir, "vmcore-vmcoreinfo.kdump")}, kernel.Options{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	set := modules.Analyze(p)
	s, err := Load(set)
	if err != nil {
		t.Fatalf("%s: Load: %v", name, err)
	}
	l := &loaded{set: set, state: s, truth: testcorpus.LoadTruth(t, dir), dir: dir}
	cache[name] = l
	return l
}

// enabledLine: "NAME [MOD] (N) FLAGS\tops: ADDR-or-SYM (...)" as t_show()
// prints it.
var enabledLine = regexp.MustCompile(`^(\S+)(?: \[(\S+)\])?( \(\d+\).*?)(?:\tops: (\S+) .*)?$`)

// TestEnabledFunctions: the records with FTRACE_FL_ENABLED are exactly the
// guest's /sys/kernel/tracing/enabled_functions: function, module, count
// and flag letters, and the CALL_OPS_EN ops (ftrace_find_unique_ops).
func TestEnabledFunctions(t *testing.T) {
	for _, name := range testcorpus.Dirs {
		t.Run(name, func(t *testing.T) {
			l := load(t, name)
			want := map[string]string{}
			wantOps := map[string]string{}
			for _, line := range l.truth.GuestBlock(t, "enabled_functions") {
				m := enabledLine.FindStringSubmatch(line)
				if m == nil {
					t.Fatalf("cannot parse %q", line)
				}
				key := m[2] + ":" + m[1]
				want[key] = m[3]
				if m[4] != "" {
					wantOps[key] = m[4]
				}
			}
			got := map[string]string{}
			for _, r := range l.state.Enabled() {
				// Several names may share an address (init_module and
				// livepatch_shadow_mod_init): the record must carry the one
				// the kernel's kallsyms lookup picks, as the guest printed.
				key := r.Module + ":" + r.Func
				got[key] = r.Flags.Letters()
				if w, ok := wantOps[key]; ok {
					u := UniqueOps(l.state.OpsList, r.IP)
					if !r.Flags.Has(FL_CALL_OPS_EN) || u == 0 {
						t.Errorf("%s: no unique ops, guest printed %s", key, w)
					} else if o := l.state.Ops[u]; !(w == fmt.Sprintf("%#x", u) || (o != nil && strings.HasPrefix(w, o.Name+"+0x0"))) {
						t.Errorf("%s: unique ops %#x (%s), guest printed %s", key, u, o.Name, w)
					}
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d enabled records, guest lists %d", len(got), len(want))
			}
			for k, w := range want {
				if g, ok := got[k]; !ok {
					t.Errorf("%s enabled in the guest, not in the dump", k)
				} else if strings.TrimRight(g, " ") != strings.TrimRight(w, " ") {
					t.Errorf("%s: %q, guest %q", k, g, w)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("%s enabled in the dump, not in the guest", k)
				}
			}
		})
	}
}

// TestOOLFixed: on the fixed kernels every module OOL stub's insn[] and
// ftrace_op are what drgn read (truth dump.modules[].ool_stubs_decoded),
// and the model agrees with all of them; no ftrace_op is NULL.
func TestOOLFixed(t *testing.T) {
	for _, name := range []string{"fixed-radix", "fixed-hash"} {
		t.Run(name, func(t *testing.T) {
			l := load(t, name)
			nop := testcorpus.Hex(t, l.truth["dump"].(map[string]any)["ftrace_nop_ops"])
			list := testcorpus.Hex(t, l.truth["dump"].(map[string]any)["ftrace_list_ops"])
			if l.state.NopOps != nop || l.state.ListOpsAddr != list {
				t.Errorf("ftrace_nop_ops %#x ftrace_list_ops %#x, truth %#x %#x", l.state.NopOps, l.state.ListOpsAddr, nop, list)
			}
			arrays := l.moduleArrays()
			n := 0
			for _, tm := range l.truth.DumpModules() {
				mod := tm["name"].(string)
				dec, _ := tm["ool_stubs_decoded"].([]any)
				arr := arrays[mod]
				if len(dec) > 0 && arr == nil {
					t.Errorf("%s: no OOL array modelled", mod)
					continue
				}
				for _, d := range dec {
					dm := d.(map[string]any)
					i := int(dm["index"].(float64))
					c := arr.stub(i)
					if c == nil {
						t.Errorf("%s[%d]: not compared", mod, i)
						continue
					}
					n++
					if c.Addr != testcorpus.Hex(t, dm["addr"]) {
						t.Errorf("%s[%d]: addr %#x, truth %s", mod, i, c.Addr, dm["addr"])
					}
					for j, w := range dm["insn"].([]any) {
						if fmt.Sprintf("%08x", c.Found.Insn[j]) != w.(string) {
							t.Errorf("%s[%d].insn[%d] = %08x, truth %s", mod, i, j, c.Found.Insn[j], w)
						}
					}
					op := testcorpus.Hex(t, dm["ftrace_op"])
					if op == 0 || c.Found.Op != op {
						t.Errorf("%s[%d].ftrace_op = %#x, truth %#x", mod, i, c.Found.Op, op)
					}
					if sym, _ := dm["ftrace_op_sym"].(string); sym != "" && !strings.HasPrefix(l.state.Ops[c.Expected.Op].Name, sym) {
						t.Errorf("%s[%d]: modelled op %#x, truth %s", mod, i, c.Expected.Op, sym)
					}
					if c.Status != StubOK {
						t.Errorf("%s[%d]: %v: %s", mod, i, c.Status, c.Reason)
					}
				}
			}
			if n == 0 {
				t.Fatal("no OOL stubs compared")
			}
			for _, a := range l.state.AllOOL() {
				for _, c := range a.Stubs {
					if c.Status != StubOK {
						t.Errorf("%s %s[%d]: %v: %s", a.Owner, a.Name, c.Index, c.Status, c.Reason)
					}
				}
			}
		})
	}
}

type arrayView struct{ *OOLArray }

func (a arrayView) stub(i int) *StubCheck {
	for k := range a.Stubs {
		if a.Stubs[k].Index == i {
			return &a.Stubs[k]
		}
	}
	return nil
}

func (l *loaded) moduleArrays() map[string]*arrayView {
	out := map[string]*arrayView{}
	for _, a := range l.state.AllOOL() {
		if a.Owner != "" {
			out[a.Owner] = &arrayView{a}
		}
	}
	return out
}

// TestOOLBuggy: on the buggy kernel the model reports exactly the NULL
// ftrace_ops per module (truth summary[].ool_ftrace_op_null), the
// overwritten stubs of klp_stub_bug
// (ool_entries_not_starting_with_mflr_r0), and nothing else; every NULL
// belongs to a record never enabled (or to a freed init function).
func TestOOLBuggy(t *testing.T) {
	l := load(t, "buggy-radix")
	arrays := l.moduleArrays()
	for _, sm := range l.truth.Summary() {
		mod := sm["name"].(string)
		arr := arrays[mod]
		if arr == nil {
			t.Errorf("%s: no OOL array", mod)
			continue
		}
		var null int
		var over []int
		for _, c := range arr.Stubs {
			switch c.Status {
			case StubOpNull:
				null++
				if !c.NeverEnabled {
					t.Errorf("%s[%d]: NULL ftrace_op on a record enabled before", mod, c.Index)
				}
			case StubOverwritten:
				over = append(over, c.Index)
			case StubOK:
			default:
				t.Errorf("%s[%d]: %v: %s", mod, c.Index, c.Status, c.Reason)
			}
		}
		if want := int(sm["ool_ftrace_op_null"].(float64)); null != want {
			t.Errorf("%s: %d NULL ftrace_op, truth %d", mod, null, want)
		}
		var wantOver []int
		for _, x := range sm["ool_entries_not_starting_with_mflr_r0"].([]any) {
			wantOver = append(wantOver, int(x.(float64)))
		}
		if fmt.Sprint(over) != fmt.Sprint(wantOver) && !(len(over) == 0 && len(wantOver) == 0) {
			t.Errorf("%s: overwritten %v, truth %v", mod, over, wantOver)
		}
	}
}

// TestLivepatch: the klp patches are the guest's /sys/kernel/livepatch
// (truth "livepatch state"), all enabled and not in transition, and each
// patched function passes seed 001's checks; seed 003's stub checks hold
// on the fixed kernel.
func TestLivepatch(t *testing.T) {
	for _, name := range testcorpus.Dirs {
		t.Run(name, func(t *testing.T) {
			l := load(t, name)
			lp := l.state.Livepatch
			if lp == nil {
				t.Fatal("no livepatch state")
			}
			var got, want []string
			for _, p := range lp.Patches {
				got = append(got, fmt.Sprintf("/sys/kernel/livepatch/%s enabled=%d transition=%d", p.ModName, b2i(p.Enabled), b2i(lp.TransitionPatch == p.Addr)))
			}
			want = l.truth.GuestBlock(t, "livepatch state")
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("patches:\n%s\nguest:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// The patched functions of the corpus's samples (the samples'
			// sources: livepatch-sample.c, livepatch-shadow-fix1/2.c,
			// test_klp_livepatch.c, test_klp_mod_patch.c, klp_stub_bug).
			wantFuncs := []string{
				"livepatch_sample::cmdline_proc_show",
				"livepatch_shadow_fix1:livepatch_shadow_mod:dummy_alloc",
				"livepatch_shadow_fix1:livepatch_shadow_mod:dummy_free",
				"livepatch_shadow_fix2:livepatch_shadow_mod:dummy_check",
				"livepatch_shadow_fix2:livepatch_shadow_mod:dummy_free",
				"test_klp_livepatch::cmdline_proc_show",
				"test_klp_mod_patch:test_klp_mod_target:test_klp_mod_target_show",
				"klp_stub_bug:klp_tgt:tgt_show",
			}
			var funcs []string
			for _, c := range l.state.KlpFunc {
				funcs = append(funcs, c.Patch+":"+c.Object+":"+c.Func.OldName)
				if len(c.Problems) > 0 {
					t.Errorf("%s %s: %v", c.Patch, c.Func.OldName, c.Problems)
				}
				if c.Func.OldFunc == c.WantIP && c.Func.OldName == "cmdline_proc_show" {
					t.Errorf("cmdline_proc_show sets up its TOC: the ftrace site must be at sym+8 (seed 001)")
				}
			}
			sort.Strings(funcs)
			sort.Strings(wantFuncs)
			if strings.Join(funcs, ",") != strings.Join(wantFuncs, ",") {
				t.Errorf("patched funcs %v, want %v", funcs, wantFuncs)
			}
			for _, k := range l.state.KlpStub {
				if !k.Fits {
					t.Errorf("%s: stub_count %d * 40 > .stubs size %d", k.Module, k.StubCount, k.Size)
				}
				for _, s := range k.Stubs {
					if !s.Live {
						t.Errorf("%s slot %d: funcdata %#x in no live module", k.Module, s.Slot, s.Funcdata)
					}
				}
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
