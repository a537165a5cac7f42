// Package testcorpus locates the real ppc64 dumps in ../shared/corpus for
// tests, and skips a test with a clear message when they are absent (a fresh
// clone without ../shared). It parses truth.json into plain maps; tests take
// their expected values from there, never from the code under test.
//
// Layer: test support (docs/ARCHITECTURE.md).
package testcorpus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Root returns the corpus directory: $KDUMP_INSPECT_CORPUS, else
// ../shared/corpus beside the repository root. ok is false when it does not
// exist.
func Root() (string, bool) {
	if d := os.Getenv("KDUMP_INSPECT_CORPUS"); d != "" {
		_, err := os.Stat(d)
		return d, err == nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			c := filepath.Join(dir, "..", "shared", "corpus")
			_, err := os.Stat(c)
			return c, err == nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// Require returns the corpus root or skips t.
func Require(t testing.TB) string {
	t.Helper()
	root, ok := Root()
	if !ok {
		t.Skip("corpus tests skipped: ../shared/corpus not found beside the repository (set KDUMP_INSPECT_CORPUS to point at it)")
	}
	return root
}

// Dirs are the dump directories of the corpus.
var Dirs = []string{"fixed-radix", "buggy-radix", "fixed-hash"}

// Dir returns one dump directory, skipping t when the corpus is absent.
func Dir(t testing.TB, name string) string {
	t.Helper()
	d := filepath.Join(Require(t), name)
	if _, err := os.Stat(d); err != nil {
		t.Skipf("corpus directory %s absent", d)
	}
	return d
}

// DumpFiles lists every dump file of a corpus directory (ELF, flattened,
// kdump-compressed, split pairs as their first file).
func DumpFiles(dir string) []string {
	var out []string
	for _, pat := range []string{"vmcore*.elf.zst", "vmcore*.kdump", "vmcore*-split.1"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		out = append(out, m...)
	}
	return out
}

// Truth is truth.json, parsed generically.
type Truth map[string]any

// LoadTruth reads dir/truth.json.
func LoadTruth(t testing.TB, dir string) Truth {
	t.Helper()
	var tr Truth
	LoadTruthInto(t, dir, &tr)
	return tr
}

// LoadTruthInto reads dir/truth.json into v (a struct naming the fields a
// test needs).
func LoadTruthInto(t testing.TB, dir string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatalf("reading truth.json: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parsing %s/truth.json: %v", dir, err)
	}
}

// DumpModules returns truth["dump"]["modules"] as a slice of maps.
func (tr Truth) DumpModules() []map[string]any {
	d, _ := tr["dump"].(map[string]any)
	ms, _ := d["modules"].([]any)
	var out []map[string]any
	for _, m := range ms {
		if mm, ok := m.(map[string]any); ok {
			out = append(out, mm)
		}
	}
	return out
}

// Summary returns truth["summary"] as a slice of maps.
func (tr Truth) Summary() []map[string]any {
	ms, _ := tr["summary"].([]any)
	var out []map[string]any
	for _, m := range ms {
		if mm, ok := m.(map[string]any); ok {
			out = append(out, mm)
		}
	}
	return out
}

// Corpora returns a directory of the corpora the bench/ scripts build
// (bench/x86-corpus, bench/arm64-corpus, bench/ppc64-build: large, outside
// git): $KDUMP_INSPECT_CORPORA, else ../corpora beside the repository,
// joined with parts. It skips t when that directory does not exist (CI and
// a fresh clone have only ../shared; run the bench scripts to build them).
func Corpora(t testing.TB, parts ...string) string {
	t.Helper()
	root := os.Getenv("KDUMP_INSPECT_CORPORA")
	if root == "" {
		if shared, ok := Root(); ok || shared != "" {
			root = filepath.Join(filepath.Dir(filepath.Dir(shared)), "corpora")
		}
	}
	d := filepath.Join(append([]string{root}, parts...)...)
	if _, err := os.Stat(d); root == "" || err != nil {
		t.Skipf("built-corpus test skipped: %s not found (build it with the bench/ scripts, or set KDUMP_INSPECT_CORPORA)", d)
	}
	return d
}
