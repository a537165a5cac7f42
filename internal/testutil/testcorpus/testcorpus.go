// Package testcorpus locates the real dumps for tests — the ppc64 corpus
// in ../shared/corpus and the corpora the bench/ scripts build — and skips
// a test with a clear message when they are absent (a fresh clone without
// ../shared). It reads truth.json (into plain maps or a test's struct) and
// its values (Hex); tests take their expected values from there, never
// from the code under test.
//
// Layer: test support (docs/ARCHITECTURE.md).
package testcorpus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
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
	LoadJSON(t, filepath.Join(dir, "truth.json"), v)
}

// LoadJSON reads the JSON file at path (truth.json, a guest's or drgn's
// record) into v, failing t when it cannot.
func LoadJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
}

// Hex reads a truth value: a hexadecimal string ("0x..." or bare hex
// digits), or a JSON number; anything else fails t.
func Hex(t testing.TB, v any) uint64 {
	t.Helper()
	switch x := v.(type) {
	case float64:
		return uint64(x)
	case string:
		n, err := strconv.ParseUint(strings.TrimPrefix(x, "0x"), 16, 64)
		if err != nil {
			t.Fatalf("truth value %q: %v", x, err)
		}
		return n
	}
	t.Fatalf("truth value %v of type %T", v, v)
	return 0
}

// Decompressed is the plain file of a compressed corpus file (path
// itself when it is not compressed), decompressed once to the cache.
func Decompressed(t testing.TB, path string) string {
	t.Helper()
	plain, err := container.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// DumpModules returns truth["dump"]["modules"] as a slice of maps.
func (tr Truth) DumpModules() []map[string]any {
	d, _ := tr["dump"].(map[string]any)
	return objects(d["modules"])
}

// DumpModule returns the entry of truth["dump"]["modules"] named name,
// failing t when there is none.
func (tr Truth) DumpModule(t testing.TB, name string) map[string]any {
	t.Helper()
	for _, m := range tr.DumpModules() {
		if m["name"] == name {
			return m
		}
	}
	t.Fatalf("truth.json has no module %s", name)
	return nil
}

// GuestBlock returns the lines of a block the guest printed before the
// dump (truth["guest"]["blocks"][name]), failing t when there is none.
func (tr Truth) GuestBlock(t testing.TB, name string) []string {
	t.Helper()
	g, _ := tr["guest"].(map[string]any)
	b, _ := g["blocks"].(map[string]any)
	raw, ok := b[name].([]any)
	if !ok {
		t.Fatalf("truth.json has no guest block %q", name)
	}
	var out []string
	for _, x := range raw {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// Summary returns truth["summary"] as a slice of maps.
func (tr Truth) Summary() []map[string]any { return objects(tr["summary"]) }

// objects is the JSON objects of a JSON array (nothing for another value).
func objects(v any) []map[string]any {
	ms, _ := v.([]any)
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
