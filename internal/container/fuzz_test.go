package container

import (
	"bytes"
	"compress/gzip"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// FuzzDeclaredSize feeds any bytes, as each of the three formats, to the
// readers of what a container declares (zstd frame and block headers,
// the xz index and the first block's LZMA2 dictionary size, gzip's
// ISIZE): they read a hostile file's headers before
// anything is decompressed, so they must return, without panicking, a
// size that is not negative; a gzip ISIZE is at most 2^32-1.
func FuzzDeclaredSize(f *testing.F) {
	data := bytes.Repeat([]byte("kdump-inspect "), 100)
	enc, _ := zstd.NewWriter(nil)
	f.Add(enc.EncodeAll(data, nil))
	f.Add(zstdBomb(4, -1))
	f.Add(zstdBomb(3, 1<<20))
	var xzb, gzb bytes.Buffer
	if w, err := xz.NewWriter(&xzb); err == nil {
		w.Write(data)
		w.Close()
	}
	f.Add(xzb.Bytes())
	gw := gzip.NewWriter(&gzb)
	gw.Write(data)
	gw.Close()
	f.Add(gzb.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		KindOf(b)
		xzDictSize(r)
		for _, k := range []Kind{Zstd, XZ, Gzip} {
			size, exact := declared(r, int64(len(b)), k)
			if size < 0 {
				t.Fatalf("%v: negative size %d", k, size)
			}
			if k == Gzip && (exact || size > 1<<32-1) {
				t.Fatalf("gzip: size %d exact %v", size, exact)
			}
		}
	})
}
