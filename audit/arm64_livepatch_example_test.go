package audit

import (
	"slices"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/elfobj"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// arm64LPTruth is testdata/example/arm64-livepatch/truth.json, trimmed
// by bench/arm64-corpus/from-source/example-truth.py from the
// livepatch-kaslr dump's truth (drgn 0.3.0 on the dump, checked against
// the guest).
type arm64LPTruth struct {
	Livepatch struct {
		Patches []struct {
			Addr    string `json:"addr"`
			Mod     string `json:"mod"`
			Enabled bool   `json:"enabled"`
			Objs    []struct {
				Name    string `json:"name"`
				Patched bool   `json:"patched"`
				Funcs   []struct {
					Addr       string `json:"addr"`
					OldName    string `json:"old_name"`
					OldFunc    string `json:"old_func"`
					NewFunc    string `json:"new_func"`
					Patched    bool   `json:"patched"`
					Transition bool   `json:"transition"`
				} `json:"funcs"`
			} `json:"objs"`
		} `json:"patches"`
		KlpOps []struct {
			KlpOps    string   `json:"klp_ops"`
			Fops      string   `json:"fops"`
			FuncStack []string `json:"func_stack"`
		} `json:"klp_ops"`
	} `json:"livepatch"`
	Modules []struct {
		Name    string `json:"name"`
		Enabled []struct {
			IP      string   `json:"ip"`
			Sym     string   `json:"sym"`
			Flags   []string `json:"flags_decoded"`
			Words   string   `json:"words"`
			Literal string   `json:"literal"`
		} `json:"enabled"`
	} `json:"modules"`
	VmlinuxEnabled []struct {
		IP      string   `json:"ip"`
		Sym     string   `json:"sym"`
		Flags   []string `json:"flags_decoded"`
		Literal string   `json:"literal"`
	} `json:"vmlinux_enabled"`
	ListOps string `json:"ftrace_list_ops"`
	Kprobes []struct {
		Addr   string `json:"addr"`
		Sym    string `json:"sym"`
		Opcode string `json:"opcode"`
	} `json:"kprobes"`
}

var arm64LPSubjects = []string{"klp_tgt", "klp_stub_bug", "livepatch_shadow_mod", "livepatch_sample", "system"}

// TestArm64LivepatchExample: the arm64 kernel built from source with
// LIVEPATCH and CALL_OPS (KASLR, modules out of branch range), as the
// committed extract testdata/example/arm64-livepatch holds it: every
// klp_patch, object and func and every klp_ops func_stack drgn read; each
// patched function's KLP-FUNC check finds the record drgn saw enabled in
// it, and its CALL_OPS literal is drgn's: its klp_ops' fops where the
// klp ops alone hold the record (CALL_OPS_EN), ftrace_list_ops where the
// function tracer holds it too; tgt_show, with a kprobe on its first
// word (brk #0x4 over the mov x9, x30 before its site), is no finding;
// the audit of the subjects finds nothing and KLP-FUNC ran.
func TestArm64LivepatchExample(t *testing.T) {
	var tr arm64LPTruth
	p := openExample(t, "arm64-livepatch", nil, &tr)
	a := analysis.New(p)
	st, err := a.Ftrace()
	if err != nil {
		t.Fatal(err)
	}
	lp := st.Livepatch
	if lp == nil || len(lp.Patches) != len(tr.Livepatch.Patches) {
		t.Fatalf("livepatch %+v; drgn %d patches", lp, len(tr.Livepatch.Patches))
	}
	for i, tp := range tr.Livepatch.Patches {
		gp := lp.Patches[i]
		if gp.Addr != testcorpus.Hex(t, tp.Addr) || gp.ModName != tp.Mod || gp.Enabled != tp.Enabled || len(gp.Objects) != len(tp.Objs) {
			t.Errorf("patch %d: %#x %s enabled=%v %d objects; drgn %s %s %v %d", i, gp.Addr, gp.ModName, gp.Enabled, len(gp.Objects), tp.Addr, tp.Mod, tp.Enabled, len(tp.Objs))
			continue
		}
		for j, to := range tp.Objs {
			o := gp.Objects[j]
			name := o.Name
			if name == "" {
				name = "vmlinux"
			}
			if name != to.Name || o.Patched != to.Patched || len(o.Funcs) != len(to.Funcs) {
				t.Errorf("%s object %d: %s patched=%v %d funcs; drgn %s %v %d", tp.Mod, j, name, o.Patched, len(o.Funcs), to.Name, to.Patched, len(to.Funcs))
				continue
			}
			for k, tf := range to.Funcs {
				f := o.Funcs[k]
				if f.Addr != testcorpus.Hex(t, tf.Addr) || f.OldName != tf.OldName || f.OldFunc != testcorpus.Hex(t, tf.OldFunc) || f.NewFunc != testcorpus.Hex(t, tf.NewFunc) ||
					f.Patched != tf.Patched || f.Transition != tf.Transition {
					t.Errorf("%s %s: %+v; drgn %+v", tp.Mod, tf.OldName, f, tf)
				}
			}
		}
	}
	fopsOf := map[uint64]uint64{}
	for _, to := range tr.Livepatch.KlpOps {
		i := slices.IndexFunc(lp.Ops, func(k ftrace.KlpOps) bool { return k.Addr == testcorpus.Hex(t, to.KlpOps) })
		if i < 0 {
			t.Errorf("klp_ops %s missing", to.KlpOps)
			continue
		}
		var want []uint64
		for _, f := range to.FuncStack {
			want = append(want, testcorpus.Hex(t, f))
			fopsOf[testcorpus.Hex(t, f)] = testcorpus.Hex(t, to.Fops)
		}
		if k := lp.Ops[i]; k.Fops == nil || k.Fops.Addr != testcorpus.Hex(t, to.Fops) || !slices.Equal(k.Stack, want) {
			t.Errorf("klp_ops %s: %+v; drgn fops %s stack %x", to.KlpOps, k, to.Fops, want)
		}
	}

	type rec struct {
		literal uint64
		callOps bool
	}
	enabled := map[uint64]rec{}
	for _, m := range tr.Modules {
		for _, r := range m.Enabled {
			enabled[testcorpus.Hex(t, r.IP)] = rec{testcorpus.Hex(t, r.Literal), slices.Contains(r.Flags, "CALL_OPS_EN")}
		}
	}
	for _, r := range tr.VmlinuxEnabled {
		enabled[testcorpus.Hex(t, r.IP)] = rec{testcorpus.Hex(t, r.Literal), slices.Contains(r.Flags, "CALL_OPS_EN")}
	}
	var kprobed []string
	for _, k := range st.KlpFunc {
		if k.Record == nil {
			t.Errorf("%s: no record", k.Func.OldName)
			continue
		}
		want, ok := enabled[k.Record.IP]
		if !ok {
			t.Errorf("%s: record %#x is not one drgn saw enabled", k.Func.OldName, k.Record.IP)
			continue
		}
		if len(k.Problems) > 0 || len(k.Unchecked) > 0 || k.SiteMismatch || !k.LiteralChecked || k.Literal != want.literal {
			t.Errorf("%s: problems %v unchecked %v site mismatch %v literal %#x (checked %v); drgn %#x", k.Func.OldName, k.Problems, k.Unchecked, k.SiteMismatch, k.Literal, k.LiteralChecked, want.literal)
		}
		switch {
		case want.callOps && want.literal != fopsOf[k.Func.Addr]:
			t.Errorf("%s: CALL_OPS_EN and literal %#x, its klp_ops' fops %#x (drgn)", k.Func.OldName, want.literal, fopsOf[k.Func.Addr])
		case !want.callOps && want.literal != testcorpus.Hex(t, tr.ListOps):
			t.Errorf("%s: literal %#x, not ftrace_list_ops %s (drgn)", k.Func.OldName, want.literal, tr.ListOps)
		}
		if len(k.PrefixWant) > 0 {
			kprobed = append(kprobed, k.Func.OldName)
		}
	}
	var wantKprobed []string
	for _, kp := range tr.Kprobes {
		for _, k := range st.KlpFunc {
			if k.Record != nil && testcorpus.Hex(t, kp.Addr) == k.Record.IP-4 {
				wantKprobed = append(wantKprobed, k.Func.OldName)
			}
		}
	}
	if len(wantKprobed) == 0 || !slices.Equal(kprobed, wantKprobed) {
		t.Errorf("patched functions with a word other than mov x9, x30 before the site: %v; drgn's kprobes there: %v", kprobed, wantKprobed)
	}
	if len(st.KlpFunc) < 7 {
		t.Errorf("%d patched functions checked", len(st.KlpFunc))
	}
	r := Run(a, Options{Subjects: arm64LPSubjects})
	noFindings(t, r)
	if ranOn(r)["KLP-FUNC"] == 0 {
		t.Error("KLP-FUNC did not run")
	}
}

// TestArm64LivepatchMutations: on the same extract, KLP-FUNC fires for
// what the kernel never leaves at a livepatched function: the site of
// kprobed tgt_show put back to a nop (the kprobe covers the word before
// it, not the site), a brk #0x4 over cmdline_proc_show's mov x9, x30 with
// no kprobe there, and cmdline_proc_show's CALL_OPS literal pointing at
// global_ops instead of its klp ops.
func TestArm64LivepatchMutations(t *testing.T) {
	base := openExample(t, "arm64-livepatch", nil, nil)
	st, err := analysis.New(base).Ftrace()
	if err != nil {
		t.Fatal(err)
	}
	klp := func(name string) ftrace.KlpFuncCheck {
		for _, k := range st.KlpFunc {
			if k.Func.OldName == name && k.Record != nil {
				return k
			}
		}
		t.Fatalf("no patched function %s", name)
		return ftrace.KlpFuncCheck{}
	}
	globalOps, err := base.SymbolAddr("global_ops")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		what, fn, want string
		patch          func(v *damage.Virt, k ftrace.KlpFuncCheck) error
	}{
		{"tgt_show's site put back to a nop", "tgt_show", "holds nop",
			func(v *damage.Virt, k ftrace.KlpFuncCheck) error { return v.PatchU32(k.Record.IP, 0xd503201f) }},
		{"brk #0x4 before cmdline_proc_show's site, no kprobe", "cmdline_proc_show", "brk #0x4 at",
			func(v *damage.Virt, k ftrace.KlpFuncCheck) error { return v.PatchU32(k.Record.IP-4, 0xd4200080) }},
		{"cmdline_proc_show's CALL_OPS literal = global_ops", "cmdline_proc_show", "CALL_OPS literal",
			func(v *damage.Virt, k ftrace.KlpFuncCheck) error { return v.PatchU64(k.LiteralAddr, globalOps) }},
	} {
		t.Run(m.what, func(t *testing.T) {
			k := klp(m.fn)
			v := damage.NewVirt(base)
			if err := m.patch(v, k); err != nil {
				t.Fatal(err)
			}
			p := openExample(t, "arm64-livepatch", v, nil)
			r := Run(analysis.New(p), Options{Subjects: arm64LPSubjects})
			var got []string
			for _, f := range r.Findings {
				if f.Rule == "KLP-FUNC" && strings.Contains(f.Message, "patched function "+m.fn+" ") && strings.Contains(f.Message, m.want) {
					return
				}
				got = append(got, f.Rule+": "+f.Message)
			}
			t.Errorf("no KLP-FUNC finding on %s with %q; findings %v", m.fn, m.want, got)
		})
	}
}

// TestArm64LivepatchKlpNameBeforeHole: a .klp.rela section name of
// klp_stub_bug in klp_info->secstrings with the bytes after its NUL
// missing from the dump, as makedumpfile -d 31
// left a page of the livepatch-nokaslr dump: the name is still read (up
// to its NUL), the klp relocations still applied, so klp_stub_bug's text
// is fully explained. Reading a fixed 128 bytes failed there, left the
// section without its object name, and the applied klp relocations
// (bl tgt_secret, bl version_proc_show through the PLT) showed as
// TEXT-UNEXPLAINED.
func TestArm64LivepatchKlpNameBeforeHole(t *testing.T) {
	base := openExample(t, "arm64-livepatch", nil, nil)
	set := analysis.New(base).Modules()
	a := set.Find("klp_stub_bug")
	if a == nil {
		t.Fatal("no klp_stub_bug")
	}
	info, err := a.Module.Obj.Member("klp_info")
	if err == nil {
		info, err = info.Deref()
	}
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) uint64 {
		m, err := info.Member(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := m.Uint()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	shdrs, strs := field("sechdrs"), field("secstrings")
	// the livepatch relocation section whose name lies last in
	// secstrings: the bytes after it hold no other one's name
	name, nameOff := "", uint32(0)
	for _, h := range a.Module.KlpSechdrs {
		if h.Flags&uint64(elfobj.SHF_RELA_LIVEPATCH) == 0 {
			continue
		}
		off, err := base.ReadU32(shdrs + uint64(h.Index)*64)
		if err != nil {
			t.Fatal(err)
		}
		if name == "" || off > nameOff {
			name, nameOff = h.Name, off
		}
	}
	if !strings.HasPrefix(name, ".klp.rela.") {
		t.Fatalf("no livepatch relocation section in klp_info (%q)", name)
	}
	at := strs + uint64(nameOff)
	after := at + uint64(len(name)) + 1
	for _, c := range []struct {
		what   string
		lo, n  uint64
		warned bool
	}{
		{"the bytes after the name", after, min(uint64(64), 4096-after%4096), false},
		// the name itself gone: the .ko's (klp-converted) sections are used
		{"the name", at, 8, true},
	} {
		t.Run(c.what, func(t *testing.T) {
			v := damage.NewVirt(base)
			if err := v.Hole(c.lo, c.n); err != nil {
				t.Fatal(err)
			}
			p := openExample(t, "arm64-livepatch", v, nil)
			if _, err := p.Read(c.lo, 1); err == nil {
				t.Fatalf("%#x still readable", c.lo)
			}
			an := analysis.New(p)
			r := Run(an, Options{Subjects: []string{"klp_stub_bug"}})
			for _, f := range r.Findings {
				t.Errorf("finding %s %s: %s", f.Rule, f.Module, f.Message)
			}
			for _, sc := range r.Coverage {
				if sc.Subject == "klp_stub_bug" {
					for _, rc := range sc.Rules {
						if rc.Rule == "TEXT-UNEXPLAINED" && rc.Status != Ran {
							t.Errorf("TEXT-UNEXPLAINED on klp_stub_bug: %v %s", rc.Status, rc.Reason)
						}
					}
				}
			}
			warned := false
			for _, w := range an.Modules().KoImage(an.Modules().Find("klp_stub_bug")).Warnings {
				warned = warned || strings.Contains(w, "unreadable")
			}
			if warned != c.warned {
				t.Errorf("warned about the unreadable name: %v, want %v", warned, c.warned)
			}
		})
	}
}
