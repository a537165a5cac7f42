// Package texttest holds a text comparison (package textcheck's Result)
// to what the corpus tests of textcheck and audit both require: every
// difference explained, nothing left incomplete, no model problem. It is
// apart from testprog, which package ftrace's own tests import and so
// cannot import textcheck.
//
// Layer: test support (docs/ARCHITECTURE.md).
package texttest

import (
	"testing"

	"github.com/kdump-inspect/kdump-inspect/textcheck"
)

// CheckExplained fails t for each difference of r (the comparison of
// name's text) that no mechanism explains, each part left incomplete and
// each model problem.
func CheckExplained(t testing.TB, name string, r *textcheck.Result) {
	t.Helper()
	for _, d := range r.Unexplained() {
		t.Errorf("%s: unexplained %d bytes at %#x: expected % x, found % x", name, len(d.Found), d.Addr, d.Expected, d.Found)
	}
	for _, s := range r.Incomplete {
		t.Errorf("%s: incomplete: %s", name, s)
	}
	for _, s := range r.Problems {
		t.Errorf("%s: problem: %s", name, s)
	}
}
