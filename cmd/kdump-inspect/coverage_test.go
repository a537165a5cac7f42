package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// The audit's contract (issue 13): a dump whose debuginfo is found through
// real symbolic links audits as it does with --modules; a dump alone
// exits 3 (incomplete) listing what could not be checked; `-c audit` is
// the audit subcommand.

type auditJSON struct {
	Complete bool `json:"complete"`
	Modules  int  `json:"modules"`
	Findings []struct {
		Rule   string `json:"rule"`
		Module string `json:"module"`
		Places []struct {
			Name string `json:"name"`
			Addr string `json:"addr"`
		} `json:"places"`
		Message string `json:"message"`
	} `json:"findings"`
	Coverage []struct {
		Subject  string `json:"subject"`
		Complete bool   `json:"complete"`
		Rules    []struct {
			Rule, Status, Reason string
		} `json:"rules"`
	} `json:"coverage"`
}

func decodeAudit(t *testing.T, out string) auditJSON {
	t.Helper()
	var a auditJSON
	if doc, err := wire.DecodeData([]byte(out), &a); err != nil || doc.Command != "audit" {
		t.Fatalf("audit --json: %v\n%s", err, out)
	}
	return a
}

// symlinkedLayout lays a corpus dump directory out as users have it: the
// dump, vmlinux.zst and modules as real symbolic links (the corpus in
// ../shared stores them as link files).
func symlinkedLayout(t *testing.T, dir, dump string) string {
	t.Helper()
	tmp := t.TempDir()
	for _, n := range []string{dump, "vmlinux.zst", "modules"} {
		target, err := filepath.Abs(container.FollowLinkFile(filepath.Join(dir, n)))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(tmp, n)); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(tmp, dump)
}

// TestSymlinkedCorpus: with modules/ and vmlinux.zst as real symlinks the
// fixed dumps audit clean with every module fully checked (exit 0), and
// the buggy dump reports LOADER-MODEL for klp_stub_bug at slot 8, where
// truth.json's fixed kernel has the klp stub (the correct loader's slot).
func TestSymlinkedCorpus(t *testing.T) {
	for _, d := range []string{"fixed-radix", "fixed-hash", "buggy-radix"} {
		t.Run(d, func(t *testing.T) {
			dir := testcorpus.Dir(t, d)
			dump := symlinkedLayout(t, dir, "vmcore-vmcoreinfo.kdump")
			out, errs, code := runMain(t, "", "audit", "--json", dump)
			a := decodeAudit(t, out)
			if a.Modules != 16 {
				t.Fatalf("%d modules, want 16 (truth.json); stderr %s", a.Modules, errs)
			}
			for _, c := range a.Coverage {
				if !c.Complete {
					t.Errorf("%s not fully checked: %+v", c.Subject, c.Rules)
				}
			}
			if strings.HasPrefix(d, "fixed") {
				if code != 0 || len(a.Findings) != 0 {
					t.Errorf("exit %d, %d findings; want 0 and none", code, len(a.Findings))
				}
				return
			}
			if code != 1 {
				t.Errorf("buggy: exit %d, want 1", code)
			}
			fixedSlot := klpSlotInFixed(t)
			found := false
			for _, f := range a.Findings {
				if f.Rule == "LOADER-MODEL" && f.Module == "klp_stub_bug" && len(f.Places) > 0 && f.Places[0].Name == fixedSlot {
					found = true
				}
			}
			if !found {
				t.Errorf("no LOADER-MODEL finding for klp_stub_bug at %s: %+v", fixedSlot, a.Findings)
			}
		})
	}
}

// klpSlotInFixed is the slot truth.json's fixed-radix kernel has
// klp_stub_bug's stub to tgt_secret in ("ppc64[8]").
func klpSlotInFixed(t *testing.T) string {
	tr := testcorpus.LoadTruth(t, testcorpus.Dir(t, "fixed-radix"))
	for _, m := range tr.DumpModules() {
		if m["name"] != "klp_stub_bug" {
			continue
		}
		for _, s := range m["stub_slots"].([]any) {
			sl := s.(map[string]any)
			if sl["funcdata_sym"] == "tgt_secret" {
				return "ppc64[" + strings.TrimSuffix(strings.TrimPrefix(jsonNum(sl["index"]), ""), ".0") + "]"
			}
		}
	}
	t.Fatal("truth.json: no klp stub to tgt_secret in fixed-radix")
	return ""
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestDumpAloneIncomplete: the fixed dump copied alone into an empty
// directory (a copy: a symlink leads to the modules beside its target),
// the vmlinux given with -s, no .ko anywhere (no debug root): every
// module's LOADER-MODEL cannot check, the audit finds nothing and exits 3,
// not 0; --allow-incomplete makes it 0.
func TestDumpAloneIncomplete(t *testing.T) {
	dir := testcorpus.Dir(t, "fixed-radix")
	tmp := t.TempDir()
	raw, err := os.ReadFile(filepath.Join(dir, "vmcore-vmcoreinfo.kdump"))
	if err != nil {
		t.Fatal(err)
	}
	dump := filepath.Join(tmp, "vmcore-vmcoreinfo.kdump")
	if err := os.WriteFile(dump, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	vmlinux := container.FollowLinkFile(filepath.Join(dir, "vmlinux.zst"))
	root := t.TempDir() // an empty system root: no /usr/lib/debug, no /lib/modules
	out, _, code := runMain(t, "", "audit", "--json", "-s", vmlinux, "--debug-root", root, dump)
	a := decodeAudit(t, out)
	if code != 3 || a.Complete || len(a.Findings) != 0 {
		t.Fatalf("exit %d, complete %v, %d findings; want 3, false, none", code, a.Complete, len(a.Findings))
	}
	n := 0
	for _, c := range a.Coverage {
		for _, r := range c.Rules {
			if r.Rule == "LOADER-MODEL" {
				n++
				if r.Status != "cannot check" || !strings.Contains(r.Reason, "no .ko") {
					t.Errorf("%s LOADER-MODEL %s (%s), want cannot check: no .ko", c.Subject, r.Status, r.Reason)
				}
			}
		}
	}
	if n != 16 {
		t.Errorf("LOADER-MODEL coverage for %d modules, want 16", n)
	}
	text, _, code := runMain(t, "", "audit", "-s", vmlinux, "--debug-root", root, dump)
	if code != 3 || !strings.Contains(text, "16 modules: 0 fully checked, 16 incomplete") || !strings.Contains(text, "cannot check: no .ko for") || !strings.Contains(text, "[LOADER-MODEL") {
		t.Errorf("text: exit %d, coverage line missing:\n%s", code, text)
	}
	if _, _, code := runMain(t, "", "audit", "--allow-incomplete", "-s", vmlinux, "--debug-root", root, dump); code != 0 {
		t.Errorf("--allow-incomplete: exit %d, want 0", code)
	}
}

// TestReplAuditIsTheAudit: on every corpus dump `DUMP -c 'audit --json'`
// gives the findings and exit status of `audit --json DUMP`.
func TestReplAuditIsTheAudit(t *testing.T) {
	root := testcorpus.Require(t)
	for _, d := range testcorpus.Dirs {
		for _, dump := range testcorpus.DumpFiles(filepath.Join(root, d)) {
			t.Run(d+"/"+filepath.Base(dump), func(t *testing.T) {
				files := []string{dump}
				if strings.HasSuffix(dump, ".1") {
					files = append(files, strings.TrimSuffix(dump, ".1")+".2")
				}
				sub, _, c1 := runMain(t, "", "audit", "--json", strings.Join(files, ","))
				rpl, _, c2 := runMain(t, "", append(files, "-c", "audit --json")...)
				a, b := decodeAudit(t, sub), decodeAudit(t, rpl)
				if c1 != c2 {
					t.Errorf("exit: audit %d, -c audit %d", c1, c2)
				}
				if ja, jb := jsonNum(a.Findings), jsonNum(b.Findings); ja != jb {
					t.Errorf("findings differ:\naudit: %s\n-c audit: %s", ja, jb)
				}
				if a.Complete != b.Complete {
					t.Errorf("complete: audit %v, -c audit %v", a.Complete, b.Complete)
				}
			})
		}
	}
}
