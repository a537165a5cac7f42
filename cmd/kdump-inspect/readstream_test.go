package main

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

type hashWriter struct {
	h hash.Hash
	n int
}

func (w *hashWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return w.h.Write(p)
}

// TestReadStreams: `read --phys` of 256 MiB of a real dump writes the
// bytes the dump holds while allocating a small part of them (it held
// the whole length in one buffer: a read of 1 GiB took 2 GB of RSS).
func TestReadStreams(t *testing.T) {
	dir := testcorpus.Dir(t, "fixed-radix")
	path := filepath.Join(dir, "vmcore-vmcoreinfo.elf.zst")
	const n = 256 << 20
	d, err := dump.Open([]string{path}, dump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	buf := make([]byte, 1<<20)
	for off := uint64(0); off < n; off += uint64(len(buf)) {
		if err := dump.ReadFull(d.Phys, buf, off); err != nil {
			t.Fatal(err)
		}
		want.Write(buf)
	}
	d.Close()
	out := &hashWriter{h: sha256.New()}
	var errb bytes.Buffer
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	code := run([]string{"read", "--phys", path, "0", strconv.Itoa(n)}, nil, out, &errb)
	runtime.ReadMemStats(&after)
	if code != exitOK || out.n != n || !bytes.Equal(out.h.Sum(nil), want.Sum(nil)) {
		t.Fatalf("read: code %d, %d bytes, same bytes %v: %s", code, out.n, bytes.Equal(out.h.Sum(nil), want.Sum(nil)), errb.String())
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > n/8 {
		t.Errorf("read of %d bytes allocated %d bytes", n, alloc)
	}
}
