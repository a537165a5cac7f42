package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

func widestLine(s string) int {
	w := 0
	for _, l := range strings.Split(s, "\n") {
		w = max(w, utf8.RuneCountInString(l))
	}
	return w
}

// TestWidthFlags: --width, then $COLUMNS, fit the text; without either a
// pipe gets the unfolded lines (as crash); the output to a pipe is ASCII;
// --json is never folded.
func TestWidthFlags(t *testing.T) {
	dump := filepath.Join(testcorpus.Dir(t, "buggy-radix"), "vmcore-vmcoreinfo.kdump")
	const cmds = "help; klp; stubs klp_stub_bug; mod"
	t.Setenv("COLUMNS", "")
	out, errs, code := runMain(t, "", dump, "-c", cmds)
	if code != exitOK || widestLine(out) <= 200 {
		t.Errorf("piped, no width: exit %d, widest %d (want unfolded), %s", code, widestLine(out), errs)
	}
	for i, r := range out {
		if r >= utf8.RuneSelf {
			t.Errorf("piped output is not ASCII: %q at %d", r, i)
			break
		}
	}
	out, _, code = runMain(t, "", "--width", "120", dump, "-c", cmds)
	if code != exitOK || widestLine(out) > 120 {
		t.Errorf("--width 120: exit %d, widest %d", code, widestLine(out))
	}
	t.Setenv("COLUMNS", "100")
	out, _, code = runMain(t, "", dump, "-c", cmds)
	if code != exitOK || widestLine(out) > 100 {
		t.Errorf("COLUMNS=100: exit %d, widest %d", code, widestLine(out))
	}
	out, _, code = runMain(t, "", "--width", "0", dump, "-c", "klp")
	if code != exitOK || widestLine(out) <= 120 {
		t.Errorf("--width 0 over COLUMNS=100: exit %d, widest %d", code, widestLine(out))
	}
	out, _, code = runMain(t, "", "--width", "40", dump, "-c", "klp --json")
	var doc map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &doc) != nil || doc["command"] != "klp" {
		t.Errorf("klp --json at width 40: exit %d, not one document", code)
	}
	out, _, code = runMain(t, "", "audit", "--width", "80", dump)
	if widestLine(out) > 80 || !strings.Contains(out, "OOL-OVERLAP") {
		t.Errorf("audit --width 80: exit %d, widest %d", code, widestLine(out))
	}
}
