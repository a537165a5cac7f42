package debuginfo

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// The stripped .ko files of the committed example (cut from the corpus,
// testdata/example/buggy-radix/README.md) carry the build-ids the guests'
// modules had; `readelf -n` prints them.
const (
	exampleMods  = "../testdata/example/buggy-radix/modules"
	klpStubBugID = "bb3f303ef97df43be1f4558e7550a0ecc2505377"
)

func ko(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(exampleMods, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func id(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadBuildIDExample(t *testing.T) {
	got, err := ReadBuildID(filepath.Join(exampleMods, "klp_stub_bug.ko"))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != klpStubBugID {
		t.Errorf("build-id %x, readelf -n says %s", got, klpStubBugID)
	}
}

// TestCompressedBuildID: the same build-id through zstd, xz and gzip, and
// from a prefix that stops before the section headers (the scan).
func TestCompressedBuildID(t *testing.T) {
	raw := ko(t, "klp_stub_bug.ko")
	dir := t.TempDir()
	var zb, xb, gb bytes.Buffer
	zw, _ := zstd.NewWriter(&zb)
	zw.Write(raw)
	zw.Close()
	xw, _ := xz.NewWriter(&xb)
	xw.Write(raw)
	xw.Close()
	gw := gzip.NewWriter(&gb)
	gw.Write(raw)
	gw.Close()
	for name, b := range map[string][]byte{"a.ko.zst": zb.Bytes(), "a.ko.xz": xb.Bytes(), "a.ko.gz": gb.Bytes(), "zstd-without-suffix.ko": zb.Bytes()} {
		p := filepath.Join(dir, name)
		write(t, p, b)
		got, err := ReadBuildID(p)
		if err != nil || hex.EncodeToString(got) != klpStubBugID {
			t.Errorf("%s: %x, %v; want %s", name, got, err, klpStubBugID)
		}
	}
	// The notes follow the ELF header; the section headers are at the end.
	if got := scanBuildID(raw[:4096]); hex.EncodeToString(got) != klpStubBugID {
		t.Errorf("scan of the first 4 KiB: %x, want %s", got, klpStubBugID)
	}
	write(t, filepath.Join(dir, "text.ko"), []byte("not an ELF file at all, but long enough"))
	if _, err := ReadBuildID(filepath.Join(dir, "text.ko")); err == nil {
		t.Error("a text file named .ko: no error")
	}
}

// layout copies the example's modules into dir/NAME.
func layout(t *testing.T, dir string, names ...string) {
	for _, n := range names {
		write(t, filepath.Join(dir, n), ko(t, n))
	}
}

// TestSymlinkedRoot: the modules directory beside a dump is a real
// symbolic link (filepath.WalkDir does not descend into it).
func TestSymlinkedRoot(t *testing.T) {
	tmp := t.TempDir()
	layout(t, filepath.Join(tmp, "kernels/k/modules"), "klp_stub_bug.ko", "klp_tgt.ko")
	symlink(t, "../kernels/k/modules", filepath.Join(tmp, "dump/modules"))
	ix := New(Options{Dirs: []Dir{{Path: filepath.Join(tmp, "dump/modules"), Origin: FromBeside}}})
	m := ix.Find("klp_stub_bug", id(t, klpStubBugID))
	if m.Path != filepath.Join(tmp, "dump/modules/klp_stub_bug.ko") || !m.BuildIDMatched {
		t.Fatalf("Find through a symlinked root: %+v", m)
	}
}

// TestLinkFiles: ../shared stores symlinks as small files holding a path;
// the root, a nested directory and a .ko may each be one. Files reached
// through one are named by their real path (open() does not follow a link
// file).
func TestLinkFiles(t *testing.T) {
	tmp := t.TempDir()
	layout(t, filepath.Join(tmp, "kernels/k/modules"), "klp_stub_bug.ko")
	layout(t, filepath.Join(tmp, "elsewhere"), "klp_tgt.ko")
	layout(t, filepath.Join(tmp, "third"), "ftrace-ops.ko")
	write(t, filepath.Join(tmp, "dump/modules"), []byte("../kernels/k/modules\n"))
	write(t, filepath.Join(tmp, "kernels/k/modules/more"), []byte("../../../elsewhere"))
	write(t, filepath.Join(tmp, "kernels/k/modules/ftrace-ops.ko"), []byte("../../../third/ftrace-ops.ko"))
	ix := New(Options{Dirs: []Dir{{Path: filepath.Join(tmp, "dump/modules"), Origin: FromBeside}}})
	for _, c := range []struct{ mod, want string }{
		{"klp_stub_bug", "klp_stub_bug.ko"},
		{"klp_tgt", "elsewhere/klp_tgt.ko"},
		{"ftrace_ops", "third/ftrace-ops.ko"},
	} {
		m := ix.Find(c.mod, nil)
		if !strings.HasSuffix(m.Path, c.want) {
			t.Errorf("%s: %+v, want .../%s", c.mod, m, c.want)
		}
	}
}

// TestSymlinkLoop: a link back up the tree is said once and the walk ends;
// a second link to a directory already searched is not a loop.
func TestSymlinkLoop(t *testing.T) {
	tmp := t.TempDir()
	root := filepath.Join(tmp, "tree")
	layout(t, filepath.Join(root, "a"), "klp_tgt.ko")
	symlink(t, "..", filepath.Join(root, "a/up"))
	symlink(t, "../a", filepath.Join(root, "b/again"))
	symlink(t, root, filepath.Join(root, "a/abs-loop"))
	ix := New(Options{Dirs: []Dir{{Path: root, Origin: FromOption}}})
	if got := ix.Candidates()["klp_tgt"]; len(got) != 1 {
		t.Errorf("klp_tgt found %d times (%v), want once", len(got), got)
	}
	loops := 0
	for _, w := range ix.Warnings() {
		if strings.Contains(w, "a loop") {
			loops++
		}
	}
	if loops != 2 {
		t.Errorf("warnings %q: want the two loops named", ix.Warnings())
	}
}

// TestBuildIDRefusal: a file with the module's name but another module's
// build-id is refused and named; the right file under another name is
// found by build-id.
func TestBuildIDRefusal(t *testing.T) {
	tmp := t.TempDir()
	write(t, filepath.Join(tmp, "d/klp_stub_bug.ko"), ko(t, "klp_tgt.ko"))
	ix := New(Options{Dirs: []Dir{{Path: filepath.Join(tmp, "d"), Origin: FromOption}}})
	m := ix.Find("klp_stub_bug", id(t, klpStubBugID))
	if m.Path != "" || len(m.Refused) != 1 || !strings.Contains(m.Refused[0].Reason, "build-id") || !strings.Contains(m.Refused[0].Reason, klpStubBugID) {
		t.Fatalf("wrong build-id accepted or not explained: %+v", m)
	}
	if s := m.Summary(); !strings.Contains(s, "refused") {
		t.Errorf("Summary %q does not say what was refused", s)
	}
	write(t, filepath.Join(tmp, "d/renamed/patch.ko"), ko(t, "klp_stub_bug.ko"))
	ix = New(Options{Dirs: []Dir{{Path: filepath.Join(tmp, "d"), Origin: FromOption}}})
	m = ix.Find("klp_stub_bug", id(t, klpStubBugID))
	if !strings.HasSuffix(m.Path, "renamed/patch.ko") || !m.BuildIDMatched {
		t.Fatalf("renamed file with the right build-id not found: %+v", m)
	}
	// Unknown build-id in memory: by name, said so.
	m = ix.Find("klp_stub_bug", nil)
	if m.Path == "" || !strings.Contains(m.How, "unknown") {
		t.Errorf("by name with unknown build-id: %+v", m)
	}
}

// TestDistroLayouts: Debian/Ubuntu debug .ko under
// /usr/lib/debug/lib/modules/RELEASE, Fedora/RHEL/SUSE .ko.debug there,
// compressed modules under /lib/modules/RELEASE, and the build-id tree.
func TestDistroLayouts(t *testing.T) {
	const rel = "7.2.13-test"
	t.Run("debian", func(t *testing.T) {
		root := t.TempDir()
		write(t, filepath.Join(root, "usr/lib/debug/lib/modules", rel, "kernel/samples/livepatch/klp_stub_bug.ko"), ko(t, "klp_stub_bug.ko"))
		m := New(Options{Roots: []string{root}, Release: rel}).Find("klp_stub_bug", id(t, klpStubBugID))
		if !m.BuildIDMatched || !strings.Contains(m.Path, "usr/lib/debug/lib/modules") {
			t.Errorf("%+v", m)
		}
	})
	t.Run("fedora", func(t *testing.T) {
		root := t.TempDir()
		write(t, filepath.Join(root, "usr/lib/debug/lib/modules", rel, "extra/klp-stub-bug.ko.debug"), ko(t, "klp_stub_bug.ko"))
		m := New(Options{Roots: []string{root}, Release: rel}).Find("klp_stub_bug", id(t, klpStubBugID))
		if !m.BuildIDMatched || !strings.HasSuffix(m.Path, ".ko.debug") {
			t.Errorf("%+v", m)
		}
	})
	t.Run("lib-modules-xz", func(t *testing.T) {
		root := t.TempDir()
		var xb bytes.Buffer
		xw, _ := xz.NewWriter(&xb)
		xw.Write(ko(t, "klp_stub_bug.ko"))
		xw.Close()
		write(t, filepath.Join(root, "lib/modules", rel, "updates/klp_stub_bug.ko.xz"), xb.Bytes())
		m := New(Options{Roots: []string{root}, Release: rel}).Find("klp_stub_bug", id(t, klpStubBugID))
		if !m.BuildIDMatched || !strings.HasSuffix(m.Path, ".ko.xz") {
			t.Errorf("%+v", m)
		}
	})
	t.Run("build-id-tree", func(t *testing.T) {
		root := t.TempDir()
		write(t, filepath.Join(root, "usr/lib/debug/.build-id", klpStubBugID[:2], klpStubBugID[2:]+".debug"), ko(t, "klp_stub_bug.ko"))
		m := New(Options{Roots: []string{root}, Release: rel}).Find("klp_stub_bug", id(t, klpStubBugID))
		if !m.BuildIDMatched || !strings.Contains(m.How, "build-id tree") {
			t.Errorf("%+v", m)
		}
	})
	t.Run("other-release-ignored", func(t *testing.T) {
		root := t.TempDir()
		write(t, filepath.Join(root, "lib/modules/6.1.0/kernel/klp_stub_bug.ko"), ko(t, "klp_stub_bug.ko"))
		m := New(Options{Roots: []string{root}, Release: rel}).Find("klp_stub_bug", id(t, klpStubBugID))
		if m.Path != "" {
			t.Errorf("found in another release's tree: %+v", m)
		}
	})
}

// TestIDCache: a second index reads build-ids from the cache; a changed
// file is read again.
func TestIDCache(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mtime semantics")
	}
	tmp := t.TempDir()
	cache := filepath.Join(tmp, "cache")
	p := filepath.Join(tmp, "d/klp_stub_bug.ko")
	write(t, p, ko(t, "klp_stub_bug.ko"))
	ix := New(Options{Dirs: []Dir{{Path: filepath.Join(tmp, "d")}}, CacheDir: cache})
	if m := ix.Find("klp_stub_bug", id(t, klpStubBugID)); !m.BuildIDMatched {
		t.Fatalf("%+v", m)
	}
	ix.Flush()
	b, err := os.ReadFile(filepath.Join(cache, "debuginfo-ids"))
	if err != nil || !strings.Contains(string(b), klpStubBugID) {
		t.Fatalf("cache %q, %v", b, err)
	}
	c := openIDCache(cache)
	st, _ := os.Stat(p)
	if got, ok := c.get(p, st.Size(), st.ModTime().UnixNano()); !ok || hex.EncodeToString(got) != klpStubBugID {
		t.Errorf("cache lookup %x %v", got, ok)
	}
	if _, ok := c.get(p, st.Size()+1, st.ModTime().UnixNano()); ok {
		t.Error("a file of another size hit the cache")
	}
	// A damaged cache file is ignored, not believed.
	write(t, filepath.Join(cache, "debuginfo-ids"), []byte(cacheMagic+"\nzz 1 2 "+p+"\n"+strings.Repeat("x", 100)))
	if _, ok := openIDCache(cache).get(p, 1, 2); ok {
		t.Error("a malformed line was believed")
	}
}

// TestIDCacheForgetsRemovedFiles: writing the cache drops the entries of
// files that no longer exist (test and scratch directories filled this
// machine's cache with 7 000 lines for files long gone, read whole by
// every start-up that needed one id); the entries of files still there
// stay.
func TestIDCacheForgetsRemovedFiles(t *testing.T) {
	tmp := t.TempDir()
	cache := filepath.Join(tmp, "cache")
	kept := filepath.Join(tmp, "d/klp_stub_bug.ko")
	write(t, kept, ko(t, "klp_stub_bug.ko"))
	gone := filepath.Join(tmp, "gone/old.ko")
	c := openIDCache(cache)
	c.put(gone, 10, 20, []byte{1, 2, 3})
	c.put(kept, 30, 40, []byte{4, 5, 6})
	c.flush()
	c = openIDCache(cache)
	if _, ok := c.get(gone, 10, 20); ok {
		t.Error("the entry of a removed file was kept")
	}
	if id, ok := c.get(kept, 30, 40); !ok || !bytes.Equal(id, []byte{4, 5, 6}) {
		t.Errorf("the entry of an existing file: %x %v", id, ok)
	}
}

// TestNoFilesNoCacheRead: an index with no candidate files (a dump-only
// start-up) never reads the build-id cache.
func TestNoFilesNoCacheRead(t *testing.T) {
	tmp := t.TempDir()
	cache := filepath.Join(tmp, "cache")
	write(t, filepath.Join(cache, "debuginfo-ids"), []byte(cacheMagic+"\n"))
	ix := New(Options{Dirs: []Dir{{Path: filepath.Join(tmp, "empty")}}, CacheDir: cache})
	if m := ix.Find("xfs", []byte{1, 2, 3}); m.Path != "" {
		t.Fatalf("found %+v in an empty index", m)
	}
	if ix.cacheRead.Load() {
		t.Error("the build-id cache was read for an index without files")
	}
}
