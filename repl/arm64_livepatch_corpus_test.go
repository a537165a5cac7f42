package repl

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// arm64LPRecord is one ftrace record of truth.json (drgn: dump.modules[].
// ftrace_records, dump.vmlinux_records): the words from ALIGN_DOWN(ip-12,
// 8) to ip+4, i.e. the CALL_OPS literal (two words), the word before the
// site, the site, the next word.
type arm64LPRecord struct {
	IP       string   `json:"ip"`
	Sym      string   `json:"sym"`
	Flags    []string `json:"flags_decoded"`
	WordsAt  string   `json:"words_at"`
	Words    string   `json:"words"`
	Literal  string   `json:"literal"`
	Target   string   `json:"target"`
	TargetIs string   `json:"target_is"`
}

type arm64LPTruth struct {
	Dump struct {
		Livepatch struct {
			Patches []struct {
				Addr    string `json:"addr"`
				Mod     string `json:"mod"`
				Enabled bool   `json:"enabled"`
				Objs    []struct {
					Addr    string `json:"addr"`
					Name    string `json:"name"`
					Patched bool   `json:"patched"`
					Funcs   []struct {
						Addr       string `json:"addr"`
						OldName    string `json:"old_name"`
						OldFunc    string `json:"old_func"`
						OldSize    uint64 `json:"old_size"`
						NewFunc    string `json:"new_func"`
						Patched    bool   `json:"patched"`
						Transition bool   `json:"transition"`
					} `json:"funcs"`
				} `json:"objs"`
			} `json:"patches"`
			KlpOps []struct {
				KlpOps    string `json:"klp_ops"`
				Fops      string `json:"fops"`
				FuncStack []struct {
					Func string `json:"func"`
				} `json:"func_stack"`
			} `json:"klp_ops"`
			TransitionPatch string `json:"klp_transition_patch"`
		} `json:"livepatch"`
		Modules []struct {
			Name string `json:"name"`
			PLT  []struct {
				Addr      string `json:"addr"`
				TargetSym string `json:"target_sym"`
				Index     int    `json:"index"`
				Used      bool   `json:"used"`
			} `json:"plt"`
			Arch struct {
				Core struct {
					Num int `json:"plt_num_entries"`
				} `json:"core"`
			} `json:"arch"`
			Records []arm64LPRecord `json:"ftrace_records"`
		} `json:"modules"`
		Vmlinux []arm64LPRecord `json:"vmlinux_records"`
		Enabled int             `json:"ftrace_records_enabled"`
	} `json:"dump"`
	Guest struct {
		Livepatch []string `json:"livepatch"`
	} `json:"guest"`
}

// TestArm64LivepatchCorpus: on the arm64 kernel built from source with
// LIVEPATCH and CALL_OPS (bench/arm64-corpus/from-source/make-livepatch.sh:
// six livepatches, one of them klp_stub_bug with its .klp.rela sections,
// the function tracer on a livepatched module, a kprobe on a livepatched
// function's first word; skipped without the corpus), with KASLR (modules
// out of branch range: module sites reach ftrace_caller through their
// ftrace trampoline, module calls into the kernel through PLTs) and
// without: `klp --json` is every klp_patch, object, func and klp_ops drgn
// read (and the guest's /sys/kernel/livepatch enabled files); every
// enabled record drgn saw is one the tool has, its site word, the word
// before it and its CALL_OPS literal as drgn read them, and the literal
// is what the model expects (the klp ops of a function only livepatched,
// ftrace_list_ops of one also traced); each patched function's KLP-FUNC
// check finds its record and the klp ops as the literal; every PLT slot
// and ftrace trampoline is drgn's (checkPLTCorpus); the audit finds
// nothing and checks every module, the vmlinux and the system fully.
func TestArm64LivepatchCorpus(t *testing.T) {
	// k64-va52-*: the same kernel built with 64K pages and 52-bit VA
	// (FRAG=arm64-64k.config KVAR=64k), booted with FEAT_LVA (3-level
	// walks from a 52-bit TTBR1); its nokaslr boot had rodata=off.
	// k16-va52-*: the same with 16K pages and 52-bit VA (FRAG=arm64-16k.config
	// KVAR=16k), booted with FEAT_LPA2 (4 levels); nokaslr with rodata=off.
	for _, name := range []string{"livepatch-kaslr", "livepatch-nokaslr", "k64-va52-kaslr", "k64-va52-nokaslr", "k16-va52-kaslr", "k16-va52-nokaslr"} {
		t.Run(name, func(t *testing.T) {
			dir := testcorpus.Corpora(t, "arm64", name)
			if testing.Short() {
				t.Skip("-short: opens a 1 GiB dump")
			}
			checkArm64Livepatch(t, dir, strings.HasSuffix(name, "-kaslr"))
		})
	}
}

func checkArm64Livepatch(t *testing.T, dir string, kaslr bool) {
	var tr arm64LPTruth
	testcorpus.LoadTruthInto(t, dir, &tr)
	hexv := func(s string) uint64 {
		t.Helper()
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("truth value %q: %v", s, err)
		}
		return v
	}
	p, err := kernel.Open([]string{filepath.Join(dir, "vmcore.kdump")}, kernel.Options{Vmlinux: filepath.Join(dir, "vmlinux.zst"), ModuleDirs: []string{filepath.Join(dir, "modules")}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	s := New(p, Options{Out: os.Stdout, Err: os.Stderr})

	// The corpus itself: PLTs really used with KASLR, none without.
	used := 0
	for _, m := range tr.Dump.Modules {
		if m.Arch.Core.Num > 0 {
			used++
		}
	}
	if kaslr && used < len(tr.Dump.Modules)/2 || !kaslr && used != 0 {
		t.Fatalf("truth: %d of %d modules with plt_num_entries > 0 (KASLR %v): not the corpus this test expects", used, len(tr.Dump.Modules), kaslr)
	}

	// klp: every patch, object, func and klp_ops.
	var v KlpView
	jsonData(t, s, "klp", "klp --json", &v)
	guest := map[string]string{}
	for _, l := range tr.Guest.Livepatch {
		if f := strings.Fields(l); len(f) == 2 {
			guest[strings.TrimPrefix(f[0], "/sys/kernel/livepatch/")] = f[1]
		}
	}
	if uint64(v.TransitionPatch) != hexv(tr.Dump.Livepatch.TransitionPatch) {
		t.Errorf("klp_transition_patch %#x, drgn %s", uint64(v.TransitionPatch), tr.Dump.Livepatch.TransitionPatch)
	}
	if len(v.Patches) != len(tr.Dump.Livepatch.Patches) || len(v.Patches) < 6 {
		t.Fatalf("%d patches, drgn %d", len(v.Patches), len(tr.Dump.Livepatch.Patches))
	}
	funcs := 0
	for i, tp := range tr.Dump.Livepatch.Patches {
		gp := v.Patches[i]
		if uint64(gp.Addr) != hexv(tp.Addr) || gp.Module != tp.Mod || gp.Enabled != tp.Enabled {
			t.Errorf("patch %d: %#x %s enabled=%v, drgn %s %s %v", i, uint64(gp.Addr), gp.Module, gp.Enabled, tp.Addr, tp.Mod, tp.Enabled)
		}
		if g := guest[tp.Mod+"/enabled"]; g != map[bool]string{false: "0", true: "1"}[gp.Enabled] {
			t.Errorf("patch %s: enabled=%v, the guest's /sys/kernel/livepatch/%s/enabled %q", tp.Mod, gp.Enabled, tp.Mod, g)
		}
		if len(gp.Objects) != len(tp.Objs) {
			t.Errorf("patch %s: %d objects, drgn %d", tp.Mod, len(gp.Objects), len(tp.Objs))
			continue
		}
		for j, to := range tp.Objs {
			o := gp.Objects[j]
			if uint64(o.Addr) != hexv(to.Addr) || o.Name != to.Name || o.Patched != to.Patched {
				t.Errorf("patch %s object %d: %#x %s patched=%v, drgn %s %s %v", tp.Mod, j, uint64(o.Addr), o.Name, o.Patched, to.Addr, to.Name, to.Patched)
			}
			if len(o.Funcs) != len(to.Funcs) {
				t.Errorf("patch %s object %s: %d funcs, drgn %d", tp.Mod, to.Name, len(o.Funcs), len(to.Funcs))
				continue
			}
			for k, tf := range to.Funcs {
				f := o.Funcs[k]
				funcs++
				if uint64(f.Addr) != hexv(tf.Addr) || f.OldName != tf.OldName || uint64(f.OldFunc) != hexv(tf.OldFunc) ||
					uint64(f.NewFunc) != hexv(tf.NewFunc) || f.Patched != tf.Patched || f.Transition != tf.Transition {
					t.Errorf("%s %s: %#x old %#x new %#x patched=%v transition=%v; drgn %s old %s new %s %v %v", tp.Mod, tf.OldName,
						uint64(f.Addr), uint64(f.OldFunc), uint64(f.NewFunc), f.Patched, f.Transition, tf.Addr, tf.OldFunc, tf.NewFunc, tf.Patched, tf.Transition)
				}
			}
		}
	}
	if len(v.Ops) != len(tr.Dump.Livepatch.KlpOps) {
		t.Errorf("%d klp_ops, drgn %d", len(v.Ops), len(tr.Dump.Livepatch.KlpOps))
	}
	fopsOf := map[uint64]uint64{} // klp_func -> its klp_ops' fops (drgn)
	for _, to := range tr.Dump.Livepatch.KlpOps {
		var want []uint64
		for _, f := range to.FuncStack {
			want = append(want, hexv(f.Func))
			fopsOf[hexv(f.Func)] = hexv(to.Fops)
		}
		i := slices.IndexFunc(v.Ops, func(o KlpOpsView) bool { return uint64(o.Addr) == hexv(to.KlpOps) })
		if i < 0 {
			t.Errorf("klp_ops %s missing", to.KlpOps)
			continue
		}
		var got []uint64
		for _, a := range v.Ops[i].FuncStack {
			got = append(got, uint64(a))
		}
		if uint64(v.Ops[i].FtraceOps) != hexv(to.Fops) || !slices.Equal(got, want) {
			t.Errorf("klp_ops %s: fops %#x stack %x, drgn %s %x", to.KlpOps, uint64(v.Ops[i].FtraceOps), got, to.Fops, want)
		}
	}

	// Enabled records: the site, the word before it, the CALL_OPS literal.
	st, err := s.A.Ftrace()
	if err != nil {
		t.Fatal(err)
	}
	set := s.Modules()
	byIP := map[uint64]*ftrace.Record{}
	enabled := 0
	for i := range st.Records {
		byIP[st.Records[i].IP] = &st.Records[i]
		if st.Records[i].Flags.Has(ftrace.FL_ENABLED) {
			enabled++
		}
	}
	if enabled != tr.Dump.Enabled {
		t.Errorf("%d enabled records, drgn %d", enabled, tr.Dump.Enabled)
	}
	var truthRecs []arm64LPRecord
	for _, m := range tr.Dump.Modules {
		truthRecs = append(truthRecs, m.Records...)
	}
	truthRecs = append(truthRecs, tr.Dump.Vmlinux...)
	word := func(ws []string, i int) []byte {
		w, err := strconv.ParseUint(ws[i], 16, 32)
		if err != nil {
			t.Fatalf("truth words %v: %v", ws, err)
		}
		return binary.LittleEndian.AppendUint32(nil, uint32(w))
	}
	sites := 0
	recOf := map[uint64]arm64LPRecord{}
	for _, tr := range truthRecs {
		if !slices.Contains(tr.Flags, "ENABLED") {
			continue
		}
		ip := hexv(tr.IP)
		recOf[ip] = tr
		r := byIP[ip]
		if r == nil {
			t.Errorf("enabled record %s (%s) missing", tr.IP, tr.Sym)
			continue
		}
		if got := strings.Join(r.Flags.Names(), ","); got != strings.Join(tr.Flags, ",") {
			t.Errorf("%s: flags %s, drgn %s", tr.Sym, got, strings.Join(tr.Flags, ","))
		}
		ws := strings.Fields(tr.Words)
		// ALIGN_DOWN(ip-12, 8) is ip-12 where CALL_OPS aligns functions
		// to 8 bytes: the literal's two words, the word before the site,
		// the site, the next word.
		if len(ws) != 5 || hexv(tr.WordsAt) != ip-12 {
			t.Fatalf("%s: truth words %q at %s", tr.Sym, tr.Words, tr.WordsAt)
		}
		var sc *ftrace.SiteCheck
		for _, c := range st.SiteChecks(set, r.Module) {
			if c.Record == r {
				sc = &c
			}
		}
		if sc == nil {
			t.Errorf("%s: no site check", tr.Sym)
			continue
		}
		sites++
		if string(sc.FoundBytes) != string(word(ws, 3)) {
			t.Errorf("%s: site % x, drgn %s", tr.Sym, sc.FoundBytes, ws[3])
		}
		if sc.Unchecked != "" {
			t.Errorf("%s: site unchecked: %s", tr.Sym, sc.Unchecked)
		} else if sc.CallMismatch {
			t.Errorf("%s: site % x is none of the model's %x (%s); drgn: %s -> %s (%s)", tr.Sym, sc.FoundBytes, sc.WantBytes, sc.WantWhy, ws[3], tr.Target, tr.TargetIs)
		}
		if string(sc.PrefixFound) != string(word(ws, 2)) {
			t.Errorf("%s: word before the site % x, drgn %s", tr.Sym, sc.PrefixFound, ws[2])
		}
		if lit := hexv(tr.Literal); !sc.LiteralChecked || sc.Literal != lit || sc.LiteralWant != lit {
			t.Errorf("%s: CALL_OPS literal %#x (checked %v, model wants %#x: %s %s), drgn %s", tr.Sym, sc.Literal, sc.LiteralChecked, sc.LiteralWant, sc.LiteralWhy, sc.LiteralUnknown, tr.Literal)
		}
	}
	if sites < 10 {
		t.Errorf("%d enabled sites compared", sites)
	}

	// KLP-FUNC: each patched function's record, and its literal the klp
	// ops (alone on the record) or ftrace_list_ops (traced as well).
	checked := 0
	for _, k := range st.KlpFunc {
		if k.Record == nil {
			t.Errorf("%s: no record", k.Func.OldName)
			continue
		}
		tr, ok := recOf[k.Record.IP]
		if !ok || k.Record.IP < k.Func.OldFunc || k.Record.IP >= k.Func.OldFunc+k.Func.OldSize {
			t.Errorf("%s: record %#x, not an enabled record of drgn's in [%#x, +%#x)", k.Func.OldName, k.Record.IP, k.Func.OldFunc, k.Func.OldSize)
			continue
		}
		if len(k.Problems) > 0 || k.SiteMismatch || !k.SiteToStub {
			t.Errorf("%s: problems %v, site mismatch %v", k.Func.OldName, k.Problems, k.SiteMismatch)
		}
		lit := hexv(tr.Literal)
		if !k.LiteralChecked || k.Literal != lit {
			t.Errorf("%s: literal %#x checked %v, drgn %s", k.Func.OldName, k.Literal, k.LiteralChecked, tr.Literal)
		}
		if slices.Contains(tr.Flags, "CALL_OPS_EN") {
			if fops := fopsOf[k.Func.Addr]; fops == 0 || lit != fops {
				t.Errorf("%s: CALL_OPS_EN with literal %s, its klp_ops' fops %#x (drgn)", k.Func.OldName, tr.Literal, fops)
			}
		} else if lit != st.ListOpsAddr {
			t.Errorf("%s: literal %s, not ftrace_list_ops %#x", k.Func.OldName, tr.Literal, st.ListOpsAddr)
		}
		checked++
	}
	patched := 0
	for _, tp := range tr.Dump.Livepatch.Patches {
		for _, o := range tp.Objs {
			for _, f := range o.Funcs {
				if f.Patched {
					patched++
				}
			}
		}
	}
	if checked != patched || patched < 7 {
		t.Errorf("%d patched functions checked, drgn has %d patched", checked, patched)
	}

	// PLTs and ftrace trampolines, slot by slot.
	if slots := checkPLTCorpus(t, dir, s); slots < 100 {
		t.Errorf("%d PLT slots compared", slots)
	}
	// klp_stub_bug's .klp.rela.vmlinux call: through the PLT entry drgn
	// found for version_proc_show (KASLR), else straight to it.
	dwant := "<version_proc_show+0x0>"
	for _, m := range tr.Dump.Modules {
		for _, e := range m.PLT {
			if m.Name == "klp_stub_bug" && e.Used && e.TargetSym == "version_proc_show" {
				dwant = fmt.Sprintf("bl %s <klp_stub_bug:.plt+%#x> plt[%d] -> version_proc_show+0x0", e.Addr, 12*e.Index, e.Index)
			}
		}
	}
	if kaslr == (dwant == "<version_proc_show+0x0>") {
		t.Fatalf("truth: klp_stub_bug's PLT entry for version_proc_show: %q (KASLR %v)", dwant, kaslr)
	}
	dis, err := s.capture(t.Context(), "dis klp_call_version 3")
	if err != nil || !strings.Contains(strings.Join(strings.Fields(string(dis)), " "), dwant) {
		t.Errorf("dis klp_call_version: %v, want %q in\n%s", err, dwant, dis)
	}

	// The audit: nothing found, everything checked.
	rep := s.Report()
	for _, f := range rep.Findings {
		t.Errorf("finding %s %s: %s", f.Rule, f.Module, f.Message)
	}
	want := fmt.Sprintf("%d modules: %d fully checked; vmlinux fully checked; system fully checked", len(tr.Dump.Modules), len(tr.Dump.Modules))
	if !rep.Complete() || !strings.Contains(rep.CoverageLine(), want) {
		t.Errorf("coverage %q (complete %v), want %q", rep.CoverageLine(), rep.Complete(), want)
	}
}

// TestArm64LivepatchCrashCorpus: the livepatch-kaslr-klpcrash dump (the
// same boot after klp_stub_bug's livepatch_tgt_show stored to NULL,
// reached through klp_ftrace_handler; skipped without the corpus): `why`
// puts the PC where drgn's crash stack has livepatch_tgt_show, on the
// crashing CPU and task drgn names, says it is the replacement of the
// function drgn's klp_func of klp_stub_bug patches, and, with no finding
// on the path (the audit is clean), calls the crash ordinary; `bt` of the
// crashing task reaches the same frame.
func TestArm64LivepatchCrashCorpus(t *testing.T) {
	dir := testcorpus.Corpora(t, "arm64", "livepatch-kaslr-klpcrash")
	if testing.Short() {
		t.Skip("-short: opens a 1 GiB dump")
	}
	var tr struct {
		Dump struct {
			Crash struct {
				CPU   int    `json:"panic_cpu"`
				PID   int64  `json:"pid"`
				Comm  string `json:"comm"`
				Stack []struct {
					PC  string `json:"pc"`
					Sym string `json:"sym"`
				} `json:"stack"`
			} `json:"crash"`
			Livepatch struct {
				Patches []struct {
					Mod  string `json:"mod"`
					Objs []struct {
						Funcs []struct {
							OldName    string `json:"old_name"`
							NewFuncSym string `json:"new_func_sym"`
						} `json:"funcs"`
					} `json:"objs"`
				} `json:"patches"`
			} `json:"livepatch"`
		} `json:"dump"`
	}
	testcorpus.LoadTruthInto(t, dir, &tr)
	var pc uint64
	sym := ""
	for _, f := range tr.Dump.Crash.Stack {
		if strings.HasPrefix(f.Sym, "livepatch_tgt_show+") {
			pc, _ = strconv.ParseUint(f.PC, 0, 64)
			sym = f.Sym
		}
	}
	old := ""
	for _, p := range tr.Dump.Livepatch.Patches {
		for _, o := range p.Objs {
			for _, f := range o.Funcs {
				if p.Mod == "klp_stub_bug" && f.NewFuncSym == "livepatch_tgt_show" {
					old = f.OldName
				}
			}
		}
	}
	if pc == 0 || old == "" {
		t.Fatalf("truth: no livepatch_tgt_show frame (%#x) or klp_func (%q)", pc, old)
	}
	p, err := kernel.Open([]string{filepath.Join(dir, "vmcore.kdump")}, kernel.Options{Vmlinux: filepath.Join(dir, "vmlinux.zst"), ModuleDirs: []string{filepath.Join(dir, "modules")}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	s := New(p, Options{Out: os.Stdout, Err: os.Stderr})
	var v WhyView
	jsonData(t, s, "why", "why --json", &v)
	want := fmt.Sprintf("replacement of %s (livepatch klp_stub_bug)", old)
	if v.PC == nil || uint64(v.PC.Addr) != pc || v.PC.Livepatch != want {
		t.Fatalf("why: PC %+v; drgn %#x, want livepatch %q", v.PC, pc, want)
	}
	if v.CPU != tr.Dump.Crash.CPU || v.PID != tr.Dump.Crash.PID || v.Comm != tr.Dump.Crash.Comm {
		t.Errorf("why: CPU %d PID %d %s; drgn CPU %d PID %d %s", v.CPU, v.PID, v.Comm, tr.Dump.Crash.CPU, tr.Dump.Crash.PID, tr.Dump.Crash.Comm)
	}
	if v.Category != "ordinary" || len(v.Related) != 0 || !strings.Contains(v.Conclusion, "in the "+want) {
		t.Errorf("why: %s, %d related findings: %s", v.Category, len(v.Related), v.Conclusion)
	}
	out, err := s.capture(t.Context(), fmt.Sprintf("bt %d", tr.Dump.Crash.PID))
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("%s [klp_stub_bug] at %x", sym, pc)) {
		t.Errorf("bt %d: %v\n%s", tr.Dump.Crash.PID, err, out)
	}
}

// TestArm64LivepatchTransitionCorpus: the livepatch-transition dump
// (test_klp_callbacks_busy's work function looping in msleep(), then
// test_klp_callbacks_demo patching it: the transition cannot finish;
// skipped without the corpus): `klp --json` has drgn's
// klp_transition_patch and its func in transition; `klp --tasks --json`
// lists every task drgn found with its patch_state, and the tasks not
// yet switched (drgn: patch_state != klp_target_state) each with a frame
// in the original function at a PC of drgn's stack of that task; the
// audit's only finding is KLP-TRANSITION naming exactly those tasks, and
// its coverage is full.
func TestArm64LivepatchTransitionCorpus(t *testing.T) {
	dir := testcorpus.Corpora(t, "arm64", "livepatch-transition")
	if testing.Short() {
		t.Skip("-short: opens a 1 GiB dump")
	}
	var tr struct {
		Dump struct {
			Livepatch struct {
				TransitionPatch string `json:"klp_transition_patch"`
				TargetState     int64  `json:"klp_target_state"`
				Tasks           []struct {
					PID        int64       `json:"pid"`
					Comm       string      `json:"comm"`
					PatchState int64       `json:"patch_state"`
					Stack      []drgnFrame `json:"stack"`
				} `json:"tasks"`
			} `json:"livepatch"`
		} `json:"dump"`
		Guest struct {
			Livepatch []string `json:"livepatch"`
		} `json:"guest"`
	}
	testcorpus.LoadTruthInto(t, dir, &tr)
	lp := tr.Dump.Livepatch
	if lp.TransitionPatch == "0x0" || lp.TargetState != 1 {
		t.Fatalf("truth: no transition to patched in progress (%s, %d)", lp.TransitionPatch, lp.TargetState)
	}
	p, err := kernel.Open([]string{filepath.Join(dir, "vmcore.kdump")}, kernel.Options{Vmlinux: filepath.Join(dir, "vmlinux.zst"), ModuleDirs: []string{filepath.Join(dir, "modules")}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	s := New(p, Options{Out: os.Stdout, Err: os.Stderr})

	var v KlpView
	jsonData(t, s, "klp", "klp --json", &v)
	if fmt.Sprintf("%#x", uint64(v.TransitionPatch)) != lp.TransitionPatch || v.TargetState != "patched" {
		t.Errorf("klp_transition_patch %#x target %s; drgn %s %d", uint64(v.TransitionPatch), v.TargetState, lp.TransitionPatch, lp.TargetState)
	}
	inTransition := ""
	for _, pt := range v.Patches {
		if fmt.Sprintf("%#x", uint64(pt.Addr)) != lp.TransitionPatch {
			continue
		}
		for _, o := range pt.Objects {
			for _, f := range o.Funcs {
				if f.Transition {
					inTransition = f.OldName
				}
			}
		}
		if !slices.Contains(tr.Guest.Livepatch, "/sys/kernel/livepatch/"+pt.Module+"/transition 1") {
			t.Errorf("the guest's /sys/kernel/livepatch/%s/transition is not 1: %v", pt.Module, tr.Guest.Livepatch)
		}
	}
	if inTransition == "" {
		t.Fatal("no klp_func of the transition patch in transition")
	}

	var tasks []KlpTaskView
	jsonData(t, s, "klp", "klp --tasks --json", &tasks)
	byPID := map[int64]KlpTaskView{}
	for _, tv := range tasks {
		byPID[tv.PID] = tv
	}
	var behind []string
	for _, dt := range lp.Tasks {
		tv, ok := byPID[dt.PID]
		if !ok {
			t.Errorf("task %d (%s) missing", dt.PID, dt.Comm)
			continue
		}
		if want := klpStateName(dt.PatchState); string(tv.State) != want {
			t.Errorf("task %d (%s): patch_state %s, drgn %s", dt.PID, dt.Comm, tv.State, want)
		}
		if dt.PatchState == lp.TargetState {
			continue
		}
		behind = append(behind, fmt.Sprintf("PID %d (%s)", dt.PID, dt.Comm))
		hit := false
		for _, h := range tv.Frames {
			pcs := slices.IndexFunc(dt.Stack, func(f drgnFrame) bool { return f.PC == fmt.Sprintf("%#x", uint64(h.PC)) })
			hit = hit || h.Func == inTransition && h.Which == "old" && pcs >= 0
		}
		if !hit {
			t.Errorf("task %d (%s): frames %+v; drgn's stack %v has %s", dt.PID, dt.Comm, tv.Frames, dt.Stack, inTransition)
		}
	}
	if len(behind) == 0 {
		t.Fatal("truth: no task behind the transition")
	}

	rep := s.Report()
	if len(rep.Findings) != 1 || rep.Findings[0].Rule != "KLP-TRANSITION" {
		t.Fatalf("findings %+v, want one KLP-TRANSITION", rep.Findings)
	}
	msg := rep.Findings[0].Message
	if !strings.Contains(msg, fmt.Sprintf("%d tasks not yet switched (%s)", len(behind), strings.Join(behind, ", "))) || !strings.Contains(msg, "original "+inTransition) {
		t.Errorf("KLP-TRANSITION: %s; drgn: %v behind, in %s", msg, behind, inTransition)
	}
	if !rep.Complete() || !strings.Contains(rep.CoverageLine(), "vmlinux fully checked; system fully checked") {
		t.Errorf("coverage %q", rep.CoverageLine())
	}
}

// drgnFrame is one frame of a stack drgn unwound (truth.json).
type drgnFrame struct {
	PC  string `json:"pc"`
	Sym string `json:"sym"`
}
