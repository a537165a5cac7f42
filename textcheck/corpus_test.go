package textcheck_test

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testprog"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/texttest"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/textcheck"
)

func openCorpus(t *testing.T, dir string) (*kernel.Program, *analysis.Analysis, testcorpus.Truth) {
	t.Helper()
	p, d := testprog.OpenCorpus(t, dir)
	return p, analysis.New(p), testcorpus.LoadTruth(t, d)
}

// checkModuleText: a module's text was compared, every difference
// explained, nothing left incomplete and no model problem.
func checkModuleText(t *testing.T, name string, r *textcheck.Result) {
	t.Helper()
	if r.Compared == 0 {
		t.Errorf("%s: no text compared", name)
	}
	texttest.CheckExplained(t, name, r)
}

// enabledByOwner: the guest's enabled_functions, by module ("" for the
// vmlinux), kept to the functions whose symbols the guest's kallsyms
// lists in core text (init functions are freed with their text).
func enabledByOwner(t *testing.T, tr testcorpus.Truth) map[string][]string {
	core := map[string]bool{}
	for _, l := range tr.GuestBlock(t, "module kallsyms") {
		f := strings.Fields(l)
		if len(f) >= 4 && (f[1] == "t" || f[1] == "T") {
			core[strings.Trim(f[3], "[]")+":"+f[2]] = true
		}
	}
	out := map[string][]string{}
	for _, l := range tr.GuestBlock(t, "enabled_functions") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		owner := ""
		if strings.HasPrefix(f[1], "[") {
			owner = strings.Trim(f[1], "[]")
			if !core[owner+":"+f[0]] {
				continue
			}
		}
		out[owner] = append(out[owner], f[0])
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

// ftraceDiffFuncs names the functions whose explained difference is an
// ftrace call site.
func ftraceDiffFuncs(a *analysis.Analysis, r *textcheck.Result) []string {
	var out []string
	for _, d := range r.Diffs {
		if d.Explained != nil && d.Explained.Mech == textcheck.MechFtrace {
			loc := a.Modules().Resolver.Lookup(d.Addr)
			if loc.Symbol != nil {
				out = append(out, loc.Symbol.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestTextFixedCorpus: on the fixed kernel's dumps every byte of every
// module's text and of the vmlinux's equals its ELF file or is explained;
// the explained ftrace call sites are exactly the functions the guest's
// enabled_functions listed (each a `b` to its OOL stub), module by module.
func TestTextFixedCorpus(t *testing.T) {
	for _, dir := range []string{"fixed-radix", "fixed-hash"} {
		t.Run(dir, func(t *testing.T) {
			_, a, tr := openCorpus(t, dir)
			enabled := enabledByOwner(t, tr)
			for _, m := range a.Modules().Modules {
				r := a.Text(m)
				if r.Compared == 0 || len(r.Incomplete) > 0 {
					t.Errorf("%s: %d bytes compared, incomplete: %v", m.Module.Name, r.Compared, r.Incomplete)
				}
				for _, d := range r.Unexplained() {
					t.Errorf("%s: unexplained difference at %#x (%s)", m.Module.Name, d.Addr, d.Section)
				}
				if got, want := ftraceDiffFuncs(a, r), enabled[m.Module.Name]; strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("%s: ftrace sites explained %v, guest's enabled_functions %v", m.Module.Name, got, want)
				}
			}
			v := a.Text(nil)
			if len(v.Incomplete) > 0 {
				t.Errorf("vmlinux incomplete: %v", v.Incomplete)
			}
			for _, d := range v.Unexplained() {
				t.Errorf("vmlinux: unexplained difference at %#x (%s)", d.Addr, d.Section)
			}
			if got, want := ftraceDiffFuncs(a, v), enabled[""]; strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("vmlinux: ftrace sites explained %v, guest's enabled_functions %v", got, want)
			}
			// The boot-time patching the 7.2 pseries guest does: the
			// security fixups, lwsync, CPU feature sections, and the
			// OOL stubs of ftrace_ool_stub_text written at boot.
			for _, m := range []textcheck.Mechanism{textcheck.MechSecurity, textcheck.MechLwsync, textcheck.MechFeatureFixup, textcheck.MechOOLStub} {
				if v.ByMech[m] == 0 {
					t.Errorf("vmlinux: no difference explained by %s", m)
				}
			}
		})
	}
}

// TestTextBuggyCorpus: on the buggy loader's dump the one difference no
// mechanism explains is klp_stub_bug's livepatch call, a `bl` into the
// .stubs slot truth.json says holds the stub to tgt_secret — a slot inside
// the OOL array's range (seed 000): the defect OOL-OVERLAP reports. Every
// other module's text is explained.
func TestTextBuggyCorpus(t *testing.T) {
	p, a, tr := openCorpus(t, "buggy-radix")
	var slotAddr, oolLo, oolHi uint64
	dumpT, _ := tr["dump"].(map[string]any)
	mods, _ := dumpT["modules"].([]any)
	for _, x := range mods {
		m, _ := x.(map[string]any)
		if m["name"] != "klp_stub_bug" {
			continue
		}
		arch, _ := m["arch"].(map[string]any)
		oolLo = testcorpus.Hex(t, arch["ool_stubs"])
		oolHi = oolLo + uint64(arch["ool_stub_count"].(float64))*24
		slots, _ := m["stub_slots"].([]any)
		for _, s := range slots {
			sl, _ := s.(map[string]any)
			if sl["funcdata_sym"] == "tgt_secret" {
				slotAddr = testcorpus.Hex(t, sl["addr"])
			}
		}
	}
	if slotAddr == 0 || !(slotAddr >= oolLo && slotAddr < oolHi) {
		t.Fatalf("truth.json: tgt_secret's stub at %#x, OOL array [%#x, %#x): not the corpus's seed-000 layout", slotAddr, oolLo, oolHi)
	}
	for _, m := range a.Modules().Modules {
		un := a.Text(m).Unexplained()
		if m.Module.Name != "klp_stub_bug" {
			for _, d := range un {
				t.Errorf("%s: unexplained difference at %#x", m.Module.Name, d.Addr)
			}
			continue
		}
		if len(un) != 1 || len(un[0].Found) != 4 {
			t.Fatalf("klp_stub_bug: %d unexplained differences, want the one call", len(un))
		}
		tgt, link, ok := ppc64.BranchTarget(p.Order.Uint32(un[0].Found), un[0].Addr)
		if !ok || !link || tgt != slotAddr {
			t.Errorf("klp_stub_bug: unexplained word at %#x branches to %#x (link %v), want bl to tgt_secret's stub at %#x", un[0].Addr, tgt, link, slotAddr)
		}
		if un[0].Section != ".klptext" {
			t.Errorf("unexplained call in %s, want .klptext", un[0].Section)
		}
	}
	for _, d := range a.Text(nil).Unexplained() {
		t.Errorf("vmlinux: unexplained difference at %#x", d.Addr)
	}
}

// TestTextWithoutFtrace: when the ftrace records cannot be read, the
// call sites the ELF files list (a module's __patchable_function_entries,
// the vmlinux's __mcount_loc) and the vmlinux's OOL stub arrays accept any
// ftrace state, and the comparison says it is incomplete: the fixed dump's
// enabled sites and boot-written stubs become no finding.
func TestTextWithoutFtrace(t *testing.T) {
	_, a, _ := openCorpus(t, "fixed-radix")
	env := textcheck.NewEnv(a.Modules(), nil, errors.New("records unreadable (test)"))
	check := func(name string, r *textcheck.Result) {
		if len(r.Unexplained()) != 0 {
			t.Errorf("%s: %d unexplained differences without ftrace state", name, len(r.Unexplained()))
		}
		if r.ByMech[textcheck.MechFtrace] > 0 && !strings.Contains(strings.Join(r.Incomplete, ";"), "ftrace records not read") {
			t.Errorf("%s: ftrace sites accepted without saying so: %v", name, r.Incomplete)
		}
	}
	for _, m := range a.Modules().Modules {
		check(m.Module.Name, env.Module(m))
	}
	v := env.Vmlinux()
	check("vmlinux", v)
	if v.ByMech[textcheck.MechOOLStub] == 0 {
		t.Errorf("vmlinux: the boot-written OOL stubs not accepted")
	}
}
