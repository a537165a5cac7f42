package container

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// zstdBomb lays out a zstd frame by hand (RFC 8878 section 3.1.1): a
// frame header with a 2 MiB window (Window_Descriptor 0x58) and, when fcs
// >= 0, an 8-byte Frame_Content_Size of fcs; then n RLE blocks (Block_Type
// 1) of 128 KiB each, 4 bytes a block: 32768 times the input.
func zstdBomb(n int, fcs int64) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd}
	if fcs >= 0 {
		b = append(b, 0xc0, 0x58) // FCS_Field_Size 3 (8 bytes)
		b = binary.LittleEndian.AppendUint64(b, uint64(fcs))
	} else {
		b = append(b, 0x00, 0x58)
	}
	const blk = 128 << 10
	for i := range n {
		h := uint32(1<<1 | blk<<3)
		if i == n-1 {
			h |= 1
		}
		b = append(b, byte(h), byte(h>>8), byte(h>>16), 'A')
	}
	return b
}

// streamBomb is a zstd file of frames without Frame_Content_Size (what a
// streaming writer makes) and of compressed blocks, whose sizes no header
// gives: copies of one frame of 64 MiB of text, n*64 MiB in all.
func streamBomb(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	line := bytes.Repeat([]byte("kdump-inspect bounded decompression "), 1<<10)
	for range (64 << 20) / len(line) {
		w.Write(line)
	}
	w.Close()
	return bytes.Repeat(buf.Bytes(), n)
}

// cacheFiles lists every file left in the cache directory, partial ones
// included.
func cacheFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	filepath.Walk(CacheDir(), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestZstdBombRefused: a 100 KB zstd stream that expands to 3.2 GiB is
// refused within a second, with nothing left on disk, whether its header
// declares the size (refused before the first byte), declares none
// (stopped at KDUMP_INSPECT_DECOMPRESS_MAX while writing) or lies (held
// to the size it declares).
func TestZstdBombRefused(t *testing.T) {
	const blocks = 25600 // 100 KiB of blocks, 3.2 GiB of output
	const out = int64(blocks) * 128 << 10
	cases := []struct {
		name      string
		fcs       int64
		maxEnv    string
		refusedAt int64 // LimitError.Written at most this
	}{
		// The bomb: 3.1 MB that expand to 100 GiB, with the
		// default bounds (64 GiB, the free space of this machine).
		{"100 GiB, default bounds", 100 << 30, "default", 0},
		{"declares its size", out, "", 0},
		{"RLE blocks, no content size", -1, "32M", 0},
		{"compressed blocks, no content size", -2, "32M", 32 << 20},
		{"lies about its size", 1 << 20, "", 1 << 20},
	}
	stream := streamBomb(t, 48) // 3 GiB
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("KDUMP_INSPECT_CACHE", t.TempDir())
			t.Setenv("KDUMP_INSPECT_DECOMPRESS_MAX", strings.TrimPrefix(c.maxEnv, "default"))
			if c.maxEnv == "" {
				// The bound is the smaller of 64 GiB and the free space:
				// make it 2 GiB whatever this machine has.
				old := freeSpace
				freeSpace = func(string) (int64, error) { return 2<<30 + MinFree, nil }
				defer func() { freeSpace = old }()
			}
			bomb := zstdBomb(blocks, c.fcs)
			switch {
			case c.fcs == -2:
				bomb = stream
			case c.fcs == 100<<30:
				bomb = zstdBomb(100<<30/(128<<10), c.fcs)
			}
			if len(bomb) > 400<<10 && c.fcs != 100<<30 {
				t.Fatalf("bomb is %d bytes", len(bomb))
			}
			path := writeFile(t, "bomb.zst", bomb)
			start := time.Now()
			_, err := Open(path)
			took := time.Since(start)
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("Open: %v, want a *LimitError", err)
			}
			t.Logf("%v in %v", err, took)
			if took > time.Second {
				t.Errorf("refused after %v, want within a second", took)
			}
			if le.Written > c.refusedAt || le.Kind != Zstd || le.File != path {
				t.Errorf("LimitError %+v: want written <= %d, zstd, file %s", le, c.refusedAt, path)
			}
			if left := cacheFiles(t); len(left) > 0 {
				t.Errorf("left on disk: %v", left)
			}
		})
	}
}

// TestNoRoom: with less free space than MinFree, nothing is written.
func TestNoRoom(t *testing.T) {
	t.Setenv("KDUMP_INSPECT_CACHE", t.TempDir())
	old := freeSpace
	freeSpace = func(string) (int64, error) { return MinFree - 1, nil }
	defer func() { freeSpace = old }()
	enc, _ := zstd.NewWriter(nil)
	path := writeFile(t, "small.zst", enc.EncodeAll([]byte("hello"), nil))
	_, err := Open(path)
	var le *LimitError
	if !errors.As(err, &le) || le.Written != 0 || !strings.Contains(le.Why, "free space") {
		t.Fatalf("Open: %v, want a *LimitError for free space", err)
	}
	if left := cacheFiles(t); len(left) > 0 {
		t.Errorf("left on disk: %v", left)
	}
}

// TestDeclaredSizes: what each container declares, against the sizes the
// writers were given.
func TestDeclaredSizes(t *testing.T) {
	data := bytes.Repeat([]byte("kdump-inspect "), 50000) // 700000 bytes
	var xzb, gzb bytes.Buffer
	xw, err := xz.NewWriter(&xzb)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(data)
	xw.Close()
	gw := gzip.NewWriter(&gzb)
	gw.Write(data)
	gw.Close()
	enc, _ := zstd.NewWriter(nil)
	one := enc.EncodeAll(data, nil)
	two := append(bytes.Clone(one), enc.EncodeAll(data[:1000], nil)...)
	var stream bytes.Buffer // no Frame_Content_Size: a streaming writer
	sw, _ := zstd.NewWriter(&stream)
	sw.Write(data)
	sw.Close()
	cases := []struct {
		name  string
		kind  Kind
		b     []byte
		size  int64
		exact bool
	}{
		{"xz, one stream", XZ, xzb.Bytes(), int64(len(data)), true},
		{"xz, two streams", XZ, append(bytes.Clone(xzb.Bytes()), xzb.Bytes()...), int64(len(data)), false},
		{"gzip", Gzip, gzb.Bytes(), int64(len(data)), false},
		{"zstd, one frame", Zstd, one, int64(len(data)), true},
		{"zstd, two frames", Zstd, two, int64(len(data)) + 1000, true},
		{"zstd, no content size", Zstd, stream.Bytes(), 0, false},
		{"zstd RLE bomb, no content size", Zstd, zstdBomb(10, -1), 10 << 17, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if k := KindOf(c.b); k != c.kind {
				t.Fatalf("kindOf = %v, want %v", k, c.kind)
			}
			f, err := os.Open(writeFile(t, "f", c.b))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			size, exact := declaredSize(f, c.kind)
			if size != c.size || exact != c.exact {
				t.Errorf("declared %d exact %v, want %d exact %v", size, exact, c.size, c.exact)
			}
		})
	}
}

// TestSniffNotName: a zstd, xz or gzip file opens by its content
// whatever its name, and a plain file named .zst is read as it is.
func TestSniffNotName(t *testing.T) {
	t.Setenv("KDUMP_INSPECT_CACHE", t.TempDir())
	want := bytes.Repeat([]byte("\x7fELF vmlinux "), 1000)
	enc, _ := zstd.NewWriter(nil)
	var xzb, gzb bytes.Buffer
	xw, _ := xz.NewWriter(&xzb)
	xw.Write(want)
	xw.Close()
	gw := gzip.NewWriter(&gzb)
	gw.Write(want)
	gw.Close()
	for name, b := range map[string][]byte{"vmlinux": enc.EncodeAll(want, nil), "vmlinux-xz": xzb.Bytes(), "vmlinux.bin": gzb.Bytes(), "plain.zst": want} {
		p := writeFile(t, name, b)
		plain, err := Open(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := os.ReadFile(plain)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: Open gave %s (%d bytes, %v), want the decompressed contents", name, plain, len(got), err)
		}
	}
}

// TestCacheCap: the cache stays under KDUMP_INSPECT_CACHE_MAX as files
// are added by successive runs, the least recently used going first, and
// a file this process uses is never evicted.
func TestCacheCap(t *testing.T) {
	t.Setenv("KDUMP_INSPECT_CACHE", t.TempDir())
	t.Setenv("KDUMP_INSPECT_CACHE_MAX", "400K")
	enc, _ := zstd.NewWriter(nil)
	var paths []string
	for i := range 10 {
		data := bytes.Repeat([]byte{byte('a' + i)}, 100<<10)
		paths = append(paths, writeFile(t, "f.zst", enc.EncodeAll(data, nil)))
	}
	forget := func() { // a new run: this process no longer uses them
		mu.Lock()
		clear(inUse)
		mu.Unlock()
	}
	var first string
	for i, p := range paths {
		if i > 0 {
			forget()
		}
		out, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = out
		}
		if i == 3 {
			// Use the first again: it becomes the most recently used.
			time.Sleep(20 * time.Millisecond)
			if again, err := Open(paths[0]); err != nil || again != first {
				t.Fatalf("reopen: %v %v", again, err)
			}
		}
		var total int64
		ents, _ := List()
		for _, e := range ents {
			total += e.Size
		}
		if total > 400<<10 {
			t.Errorf("after %d inserts the cache holds %d bytes, cap %d", i+1, total, 400<<10)
		}
		time.Sleep(20 * time.Millisecond) // distinct modification times
	}
	if _, err := os.Stat(first); err == nil {
		t.Logf("the file reused at insert 4 survived until insert 6 at least")
	}
	// In use by this process: kept even over the cap.
	t.Setenv("KDUMP_INSPECT_CACHE_MAX", "0")
	out, err := Open(paths[9])
	if err != nil {
		t.Fatal(err)
	}
	Evict(0)
	if _, err := os.Stat(out); err != nil {
		t.Errorf("a file in use by this process was evicted: %v", err)
	}
}

// TestCacheLRU: the least recently used file goes first.
func TestCacheLRU(t *testing.T) {
	t.Setenv("KDUMP_INSPECT_CACHE", t.TempDir())
	t.Setenv("KDUMP_INSPECT_CACHE_MAX", "1G")
	enc, _ := zstd.NewWriter(nil)
	var outs []string
	for i := range 3 {
		p := writeFile(t, "f.zst", enc.EncodeAll(bytes.Repeat([]byte{byte(i)}, 100<<10), nil))
		out, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, out)
	}
	mu.Lock()
	clear(inUse)
	mu.Unlock()
	old := time.Now().Add(-time.Hour)
	os.Chtimes(outs[0], old, old.Add(2*time.Minute)) // the newest of the three
	os.Chtimes(outs[1], old, old)                    // the oldest
	os.Chtimes(outs[2], old, old.Add(time.Minute))
	ents, _ := List()
	var total int64
	for _, e := range ents {
		total += e.Size
	}
	if _, _, err := Evict(total - 1); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true} {
		if _, err := os.Stat(outs[i]); (err == nil) != want {
			t.Errorf("file %d kept = %v, want %v", i, err == nil, want)
		}
	}
}

// TestKilledLeavesNothing: a process killed (SIGKILL) or interrupted
// (SIGTERM, named partial file) while decompressing leaves no file.
func TestKilledLeavesNothing(t *testing.T) {
	if os.Getenv("CONTAINER_TEST_CHILD") != "" {
		if os.Getenv("CONTAINER_TEST_NAMED") != "" {
			noTmpfile = true
		}
		Open(os.Getenv("CONTAINER_TEST_CHILD"))
		os.Exit(0)
	}
	for _, c := range []struct {
		name  string
		sig   syscall.Signal
		named bool
	}{{"O_TMPFILE, SIGKILL", syscall.SIGKILL, false}, {"named partial file, SIGTERM", syscall.SIGTERM, true}} {
		t.Run(c.name, func(t *testing.T) {
			cache := t.TempDir()
			t.Setenv("KDUMP_INSPECT_CACHE", cache)
			bomb := writeFile(t, "bomb.zst", streamBomb(t, 64)) // 4 GiB of output
			cmd := exec.Command(os.Args[0], "-test.run=^TestKilledLeavesNothing$")
			cmd.Env = append(os.Environ(), "CONTAINER_TEST_CHILD="+bomb, "KDUMP_INSPECT_DECOMPRESS_MAX=3G")
			if c.named {
				cmd.Env = append(cmd.Env, "CONTAINER_TEST_NAMED=1")
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait until the child is writing: its file's blocks show in
			// the file system's free space only for O_TMPFILE, so wait for
			// the files directory, then a little.
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				if c.named {
					if m, _ := filepath.Glob(filepath.Join(cache, "files", ".partial-*")); len(m) > 0 {
						if st, err := os.Stat(m[0]); err == nil && st.Size() > 16<<20 {
							break
						}
					}
				} else if _, err := os.Stat(filepath.Join(cache, "files")); err == nil {
					time.Sleep(300 * time.Millisecond)
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			cmd.Process.Signal(c.sig)
			err := cmd.Wait()
			t.Logf("child: %v", err)
			if left := cacheFiles(t); len(left) > 0 {
				t.Errorf("left on disk after %v: %v", c.sig, left)
			}
		})
	}
}

// TestStalePartialsRemoved: a ".partial-*" file older than an hour (a
// process killed while writing a named file) is removed at the next
// decompression; a younger one is left (another process may be writing
// it).
func TestStalePartialsRemoved(t *testing.T) {
	t.Setenv("KDUMP_INSPECT_CACHE", t.TempDir())
	dir := filesDir()
	os.MkdirAll(dir, 0o755)
	stale, fresh := filepath.Join(dir, ".partial-1"), filepath.Join(dir, ".partial-2")
	os.WriteFile(stale, []byte("x"), 0o600)
	os.WriteFile(fresh, []byte("x"), 0o600)
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	enc, _ := zstd.NewWriter(nil)
	if _, err := Open(writeFile(t, "a.zst", enc.EncodeAll([]byte("abc"), nil))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("stale partial file kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("fresh partial file removed")
	}
}

func TestParseSize(t *testing.T) {
	for s, want := range map[string]int64{"0": 0, "4096": 4096, "400K": 400 << 10, "20G": 20 << 30, "20GiB": 20 << 30, "1.5G": -1, "-1": -1, "64MB": 64 << 20, "1T": 1 << 40} {
		got, err := ParseSize(s)
		if want < 0 {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", s, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
}

// TestXZDictionaryBound: an xz file whose LZMA2 filter asks for a 4 GiB
// dictionary (props 40: the decoder would allocate it before the first
// byte) is refused; one of xz's usual sizes is read from the header as
// the format gives it.
func TestXZDictionaryBound(t *testing.T) {
	t.Setenv("KDUMP_INSPECT_CACHE", t.TempDir())
	var xzb bytes.Buffer
	w, err := xz.NewWriter(&xzb)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(bytes.Repeat([]byte("kdump "), 1000))
	w.Close()
	b := xzb.Bytes()
	ds := xzDictSize(bytes.NewReader(b))
	if ds == 0 || ds > maxXZDict {
		t.Fatalf("dictionary of the writer's file: %d", ds)
	}
	// The block header: size byte, flags, [sizes], filter ID 0x21, props
	// size 1, props; find the LZMA2 props byte after "21 01".
	h := b[12 : 12+(int(b[12])+1)*4]
	i := bytes.Index(h, []byte{0x21, 0x01})
	if i < 0 {
		t.Fatalf("no LZMA2 filter in block header % x", h)
	}
	bad := bytes.Clone(b)
	bad[12+i+2] = 40 // 4 GiB - 1
	// (The block header's CRC32 no longer matches; the size is refused
	// before the decoder would see it.)
	if got := xzDictSize(bytes.NewReader(bad)); got != 1<<32-1 {
		t.Fatalf("dictionary %d, want 4 GiB - 1", got)
	}
	_, err = Open(writeFile(t, "big-dict.xz", bad))
	if err == nil || !strings.Contains(err.Error(), "dictionary") {
		t.Errorf("Open: %v, want the dictionary refused", err)
	}
	if left := cacheFiles(t); len(left) > 0 {
		t.Errorf("left on disk: %v", left)
	}
}

// TestCacheKinds: the files beside the DWARF index are listed by what
// they are, and evicted like the rest.
func TestCacheKinds(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KDUMP_INSPECT_CACHE", dir)
	idx := filepath.Join(dir, "dwarf-index")
	os.MkdirAll(idx, 0o755)
	want := map[string]string{
		"dwarf-index-ab.idx":     "dwarf-index",
		"symtab-ab.sym":          "symbols",
		"kallsyms-cd.sym":        "symbols",
		"vmcoreinfo-ef.loc":      "vmcoreinfo",
		".symtab-123":            "dwarf-index",
		"debuginfo-ids-sideways": "dwarf-index",
	}
	for name := range want {
		if err := os.WriteFile(filepath.Join(idx, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := List()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if k := want[filepath.Base(e.Path)]; e.Kind != k {
			t.Errorf("%s: kind %q, want %q", e.Path, e.Kind, k)
		}
	}
	if len(ents) != len(want) {
		t.Errorf("%d entries, want %d", len(ents), len(want))
	}
	if n, _, _ := Evict(0); n != len(want) {
		t.Errorf("evicted %d, want %d", n, len(want))
	}
}

// TestOpenMakesRoom: a disk that has no room for a new file while the
// cache holds old ones: the least recently used cache files that no one
// here uses are removed (oldest first, only as many as needed) and the
// new file is made; a file this process opened stays. The free space is
// a file system of 7 MiB (plus MinFree) that the cache's files fill.
func TestOpenMakesRoom(t *testing.T) {
	t.Setenv("KDUMP_INSPECT_CACHE", t.TempDir())
	const capacity = 7 << 20
	old := freeSpace
	freeSpace = func(string) (int64, error) {
		var used int64
		for _, p := range cacheFiles(t) {
			if st, err := os.Stat(p); err == nil {
				used += st.Size()
			}
		}
		return MinFree + capacity - used, nil
	}
	defer func() { freeSpace = old }()
	enc, _ := zstd.NewWriter(nil)

	// In use here: opened first, then made the oldest of all.
	inuse, err := Open(writeFile(t, "inuse.zst", enc.EncodeAll(bytes.Repeat([]byte{1}, 2<<20), nil)))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(CacheDir(), "files")
	mk := func(name string, n int, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
		tm := time.Now().Add(-age)
		os.Chtimes(p, tm, tm)
		return p
	}
	os.Chtimes(inuse, time.Now().Add(-72*time.Hour), time.Now().Add(-72*time.Hour))
	oldest := mk("0000000000000000-oldest", 2<<20, 48*time.Hour)
	newer := mk("1111111111111111-newer", 2<<20, 24*time.Hour)
	// 6 MiB of 7 used: a 3 MiB file (its zstd frame declares the size)
	// needs 2 MiB more, which the oldest file not in use gives.
	got, err := Open(writeFile(t, "new.zst", enc.EncodeAll(bytes.Repeat([]byte{2}, 3<<20), nil)))
	if err != nil {
		t.Fatalf("Open with an evictable cache: %v", err)
	}
	if b, err := os.ReadFile(got); err != nil || len(b) != 3<<20 || b[0] != 2 {
		t.Fatalf("new file: %d bytes, %v", len(b), err)
	}
	if _, err := os.Stat(oldest); !os.IsNotExist(err) {
		t.Errorf("the least recently used file was kept (%v)", err)
	}
	for _, p := range []string{inuse, newer} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: only as much as needed, never a file in use (%v)", filepath.Base(p), err)
		}
	}
	// Nothing left to give (the rest is in use or needed): refused, as
	// TestNoRoom.
	_, err = Open(writeFile(t, "huge.zst", enc.EncodeAll(bytes.Repeat([]byte{3}, 6<<20), nil)))
	var le *LimitError
	if !errors.As(err, &le) || !le.noRoom() {
		t.Fatalf("Open past all the room: %v, want a free-space *LimitError", err)
	}
}
