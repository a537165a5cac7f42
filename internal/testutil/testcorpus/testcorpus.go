// Package testcorpus locates the real dumps for tests — the ppc64 corpus
// in ../shared/corpus and the corpora the bench/ scripts build — and skips
// a test with a clear message when they are absent (a fresh clone without
// ../shared). It reads truth.json (into plain maps or a test's struct) and
// its values (Hex); tests take their expected values from there, never
// from the code under test. It also finds what the bench/ scripts build
// outside git (Corpora, DistroDump, DistroVmlinux) and compares a job's
// output typed by BTF with its output typed by DWARF (SameFromBTF).
//
// Layer: test support (docs/ARCHITECTURE.md).
package testcorpus

import (
	"debug/dwarf"
	"debug/elf"
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
// digits), a JSON number, or a bool (1 for true, as C reads it); anything
// else fails t.
func Hex(t testing.TB, v any) uint64 {
	t.Helper()
	switch x := v.(type) {
	case float64:
		return uint64(x)
	case bool:
		if x {
			return 1
		}
		return 0
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

// SameFromBTF fails t, at the first line that differs or else on the
// line counts, unless a job's output typed by BTF (fromBTF) is the one it
// gave typed by DWARF (fromDWARF).
func SameFromBTF(t testing.TB, fromBTF, fromDWARF string) {
	t.Helper()
	if fromBTF == fromDWARF {
		return
	}
	gl, wl := strings.Split(fromBTF, "\n"), strings.Split(fromDWARF, "\n")
	for i := range min(len(gl), len(wl)) {
		if gl[i] != wl[i] {
			t.Fatalf("line %d differs:\n BTF:   %s\n DWARF: %s", i+1, gl[i], wl[i])
		}
	}
	t.Fatalf("%d lines from BTF, %d from DWARF", len(gl), len(wl))
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
// (bench/x86-corpus, bench/arm64-corpus, bench/ppc64-build,
// bench/distro-dump/old-kernels.sh: large, outside git): CorporaDir of
// parts. It skips t when that directory does not exist (CI and a fresh
// clone have only ../shared; run the bench scripts to build them).
func Corpora(t testing.TB, parts ...string) string {
	t.Helper()
	d, ok := CorporaDir(parts...)
	if !ok {
		t.Skipf("built-corpus test skipped: %s not found (build it with the bench/ scripts, or set KDUMP_INSPECT_CORPORA)", d)
	}
	return d
}

// CorporaDir is $KDUMP_INSPECT_CORPORA, else ../corpora beside the
// repository, joined with parts; ok is false when it does not exist (for
// a test that gathers dumps from several places and skips only without
// any).
func CorporaDir(parts ...string) (d string, ok bool) {
	root := os.Getenv("KDUMP_INSPECT_CORPORA")
	if root == "" {
		if shared, ok := Root(); ok || shared != "" {
			root = filepath.Join(filepath.Dir(filepath.Dir(shared)), "corpora")
		}
	}
	d = filepath.Join(append([]string{root}, parts...)...)
	_, err := os.Stat(d)
	return d, root != "" && err == nil
}

// BenchCache is where the bench/ scripts keep what they download and make
// outside the corpora (the distro vmlinux files, distro-dump):
// ${XDG_CACHE_HOME:-~/.cache}/kdump-inspect-bench, as they compute it.
func BenchCache() string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "kdump-inspect-bench")
}

// DistroVmlinux is the Debian 7.2.13 vmlinux (with .BTF and DWARF) that
// ../shared/tools/fetch-distro-vmlinux fetches: $KDUMP_INSPECT_DISTRO_VMLINUX,
// else the first vmlinux-* in BenchCache(); ok is false without one.
func DistroVmlinux() (path string, ok bool) {
	if p := os.Getenv("KDUMP_INSPECT_DISTRO_VMLINUX"); p != "" {
		return p, true
	}
	m, _ := filepath.Glob(filepath.Join(BenchCache(), "vmlinux-*"))
	if len(m) == 0 {
		return "", false
	}
	return m[0], true
}

// DistroDump is bench/distro-dump/make.sh's output directory (a dump of
// Debian's 7.2.13 kernel with the guest's truth files and the distro .ko
// files): $KDUMP_INSPECT_DISTRO_DUMP, else BenchCache()/distro-dump. It
// may be absent or partial: each test skips without the files it needs.
func DistroDump() string {
	if d := os.Getenv("KDUMP_INSPECT_DISTRO_DUMP"); d != "" {
		return d
	}
	return filepath.Join(BenchCache(), "distro-dump")
}

// OpenELF opens an ELF file (a corpus vmlinux or .ko, already
// decompressed) with debug/elf, the independent reader the tests hold the
// tool against; it is closed when the test ends, and a failure fails t.
func OpenELF(t testing.TB, path string) *elf.File {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// ELFDWARF is the DWARF of OpenELF's file as debug/elf gives it (a
// .ko's relocations applied, compressed sections inflated).
func ELFDWARF(t testing.TB, path string) *dwarf.Data {
	t.Helper()
	d, err := OpenELF(t, path).DWARF()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return d
}
