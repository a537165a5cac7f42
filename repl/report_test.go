package repl

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/wire"
)

// TestReportBundle: the report of the real oops extract holds every part
// (a file each, an index, one JSON document), and its why and audit are
// those of the crash (OOL-OVERLAP in klp_stub_bug, the guest's oops).
func TestReportBundle(t *testing.T) {
	s := exampleSession(t, "../testdata/example/crash-ool-op-over-stub/vmcore.zst")
	dir := t.TempDir()
	if _, err := s.capture(context.Background(), "report -o "+dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range reportParts {
		b, err := os.ReadFile(filepath.Join(dir, p.file+".txt"))
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %v (%d bytes)", p.file, err, len(b))
		}
	}
	var d ReportDoc
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if doc, err := wire.DecodeData(b, &d); err != nil || doc.Command != "report" {
		t.Fatalf("report.json: %v %q", err, doc.Command)
	}
	var w WhyView
	if err := decodeDoc(d.Parts["why"], &w); err != nil {
		t.Fatal(err)
	}
	if w.Category != "stub" || w.Oops != "Oops: Exception in kernel mode, sig: 4 [#1]" {
		t.Errorf("why in the report: %s %q", w.Category, w.Oops)
	}
	if sig := findingsSignature(partData(t, d.Parts["audit -v"])); !strings.Contains(strings.Join(sig, "\n"), "OOL-OVERLAP klp_stub_bug ppc64[5]") {
		t.Errorf("audit in the report lacks the overlap: %v", sig)
	}
	idx, _ := os.ReadFile(filepath.Join(dir, "index.txt"))
	if !strings.Contains(string(idx), "02-why.txt") {
		t.Errorf("index: %s", idx)
	}
}

// TestReportCompare: reports of the same crash group together; different
// crashes (another stub bug, an ordinary panic) are groups of their own.
func TestReportCompare(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i, ex := range []string{"crash-ool-op-over-stub", "crash-sysrq-c", "crash-stub-past-end", "crash-ool-op-over-stub"} {
		s := exampleSession(t, "../testdata/example/"+ex+"/vmcore.zst")
		out, err := s.capture(context.Background(), "report --json")
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, ex+string(rune('a'+i))+".json")
		if err := os.WriteFile(f, out, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	gs, err := CompareReports(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 3 || len(gs[0].Dumps) != 2 || !strings.Contains(gs[0].Crash, "OOL-OVERLAP klp_stub_bug") {
		t.Fatalf("groups %+v: want the two reports of the same oops together, 3 groups", gs)
	}
	kinds := map[string]bool{}
	for _, g := range gs {
		kinds[strings.SplitN(g.Crash, " | ", 2)[0]] = true
	}
	if !kinds["ordinary"] || !kinds["stub"] {
		t.Errorf("kinds %v", kinds)
	}
}

// partData is a report part's data.
func partData(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	doc, err := wire.Unwrap(raw)
	if err != nil {
		t.Fatal(err)
	}
	return doc.Data
}
