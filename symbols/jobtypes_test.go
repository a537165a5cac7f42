package symbols_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/internal/gen/extract"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// perCPUVariables are variables the jobs read that BTF has VAR records
// for (pahole encodes per-CPU variables), so that a kernel typed by BTF
// alone needs no declaration of them.
var perCPUVariables = []string{"timer_bases", "hrtimer_bases", "runqueues", "current_task", "irq_stat"}

// TestJobTypesCovered runs the job of cmd/mkexample (modules, ftrace and
// livepatch state, every stack, the log, the audit and `why`, taints, the
// trace buffer) on every committed example with a recorder in place, and
// requires every type it looks up to be among the types
// TestBTFMatchesDWARFDistro holds BTF against DWARF on, and every
// variable it reads to be one a BTF-typed program can type without DWARF
// (kernel.KnownVariableTypes, or a per-CPU one): so the comparison list
// cannot fall behind the code, and a dump opened with no vmlinux types
// what the jobs read.
func TestJobTypesCovered(t *testing.T) {
	examples, _ := filepath.Glob(filepath.Join("..", "testdata", "example", "*", "vmcore*.zst"))
	if len(examples) == 0 {
		t.Skip("no examples")
	}
	types, vars := map[string][]string{}, map[string][]string{}
	for _, ex := range examples {
		name := filepath.Base(filepath.Dir(ex)) + "/" + filepath.Base(ex)
		p, err := kernel.Open([]string{ex}, kernel.Options{CacheDir: t.TempDir()})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		tr := extract.NewTypeRecorder(p.Types)
		p.Context.Types = tr
		extract.Job(p, tr, true, nil)
		ts, vs, _ := tr.Names()
		for _, n := range ts {
			types[n] = append(types[n], name)
		}
		for _, n := range vs {
			vars[n] = append(vars[n], name)
		}
		p.Close()
	}
	for n, where := range types {
		base := strings.TrimSpace(strings.TrimRight(n, "* "))
		if i := strings.IndexByte(base, '['); i >= 0 {
			base = strings.TrimSpace(base[:i])
		}
		if base == "" || slices.Contains(symbols.BTFJobTypes, base) || isScalar(base) {
			continue
		}
		t.Errorf("type %q (looked up on %s) is not in btfJobTypes: add it, so that BTF is held against DWARF on it", n, strings.Join(where, ", "))
	}
	for n, where := range vars {
		if _, ok := kernel.KnownVariableTypes[n]; ok || slices.Contains(perCPUVariables, n) {
			continue
		}
		t.Errorf("variable %q (read on %s) has no declaration in kernel.KnownVariableTypes: a dump with no vmlinux cannot type it", n, strings.Join(where, ", "))
	}
	t.Logf("%d examples: %d type names and %d variables looked up", len(examples), len(types), len(vars))
}

// isScalar says whether a name is a C scalar type (compared as a member
// type wherever it occurs).
func isScalar(n string) bool {
	switch ctype.CanonicalBaseName(n) {
	case "char", "signed char", "unsigned char", "short", "unsigned short", "int", "unsigned int",
		"long", "unsigned long", "long long", "unsigned long long", "_Bool", "bool", "void",
		"u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64":
		return true
	}
	return false
}
