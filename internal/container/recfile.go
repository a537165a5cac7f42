package container

import (
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
)

// CRCTable is the CRC-32C (Castagnoli) table every cache file's checksum
// uses.
var CRCTable = crc32.MakeTable(crc32.Castagnoli)

// SumWriter passes what it is given on to W and sums it (CRC-32C,
// CRCTable); WriteSum ends a cache file with the sum.
type SumWriter struct {
	W io.Writer
	h hash.Hash32
}

// NewSumWriter starts a cache file on w.
func NewSumWriter(w io.Writer) *SumWriter { return &SumWriter{W: w, h: crc32.New(CRCTable)} }

func (s *SumWriter) Write(p []byte) (int, error) {
	n, err := s.W.Write(p)
	s.h.Write(p[:n])
	return n, err
}

// WriteSum writes the CRC-32C of all written so far to W, little-endian:
// the trailer CheckedBody checks.
func (s *SumWriter) WriteSum() error {
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], s.h.Sum32())
	_, err := s.W.Write(sum[:])
	return err
}

// CheckedBody is a cache file's body: b (at least 4 bytes) without its
// CRC-32C trailer, or a *FormatError at the trailer when the sum of the
// body is not the one the file gives.
func CheckedBody(b []byte) ([]byte, error) {
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, CRCTable), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return nil, &FormatError{Off: len(body), Msg: fmt.Sprintf("CRC-32C %#08x, file says %#08x (corrupt)", got, want)}
	}
	return body, nil
}

// FormatError says where a cache file (the symbol cache, the DWARF
// type-index cache) stops making sense.
type FormatError struct {
	Off int // byte offset in the file
	Msg string
}

func (e *FormatError) Error() string { return fmt.Sprintf("at byte %d: %s", e.Off, e.Msg) }

// Decoder reads the fields of a cache file (LEB128 varints, strings,
// bytes), failing on the first
// field that is cut short or out of range; after a failure every read
// returns zero and err stays the first error.
type Decoder struct {
	B   []byte
	Off int
	Err error
}

func (d *Decoder) Fail(msg string) {
	if d.Err == nil {
		d.Err = &FormatError{Off: d.Off, Msg: msg}
	}
}

func (d *Decoder) Uv(what string) uint64 { return readVarint(d, what, binary.Uvarint) }
func (d *Decoder) Sv(what string) int64  { return readVarint(d, what, binary.Varint) }

// readVarint reads one varint with dec (binary.Uvarint or binary.Varint).
func readVarint[T uint64 | int64](d *Decoder, what string, dec func([]byte) (T, int)) T {
	if d.Err != nil {
		return 0
	}
	v, n := dec(d.B[d.Off:])
	if n <= 0 {
		d.Fail("bad or cut-short varint for " + what)
		return 0
	}
	d.Off += n
	return v
}

// count reads an element count and checks that the bytes left can hold
// that many elements of at least min bytes each.
func (d *Decoder) Count(what string, min int) int {
	n := d.Uv(what + " count")
	if d.Err == nil && n > uint64((len(d.B)-d.Off)/min) {
		d.Fail(fmt.Sprintf("%s count %d exceeds what the %d bytes left can hold", what, n, len(d.B)-d.Off))
		return 0
	}
	return int(n)
}

func (d *Decoder) Str(what string) string {
	n := d.Uv(what + " length")
	if d.Err == nil && n > uint64(len(d.B)-d.Off) {
		d.Fail(fmt.Sprintf("%s of %d bytes runs past the end", what, n))
	}
	if d.Err != nil {
		return ""
	}
	s := string(d.B[d.Off : d.Off+int(n)])
	d.Off += int(n)
	return s
}

func (d *Decoder) Small(what string, limit uint64) int {
	v := d.Uv(what)
	if d.Err == nil && v > limit {
		d.Fail(fmt.Sprintf("%s %d out of range", what, v))
		return 0
	}
	return int(v)
}

func (d *Decoder) Byte1(what string) byte {
	if d.Err != nil {
		return 0
	}
	if d.Off >= len(d.B) {
		d.Fail("cut short at " + what)
		return 0
	}
	c := d.B[d.Off]
	d.Off++
	return c
}
