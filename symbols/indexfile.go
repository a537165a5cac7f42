package symbols

import (
	"bufio"
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

// The cached name index is written in a small format of its own, not with
// encoding/gob: gob is not hardened against hostile input (its decoder
// sizes a map from the count in the stream, so a corrupt 437-byte file
// made it allocate gigabytes; FuzzLoadIndex found it). The cache lives in
// the user's cache directory, but a disk error, a truncated write or a
// copied-in file is input like any other. Here every count is bounded by
// the bytes left before anything is allocated, and a CRC-32C over the whole
// file catches corruption that would still parse.
//
// Layout (all integers unsigned LEB128 varints unless said otherwise):
//
//	"KDIINDEX"                       8-byte magic
//	version
//	len, build-id bytes
//	ptr size, number of units
//	n, n unit starts as deltas from the previous one (ascending)
//	n, n × (len, name, DIE offset)           types
//	n, n × (len, name, DIE offset)           variables
//	n, n × (len, name, zig-zag value, enum)  enumerators
//	CRC-32C (Castagnoli) of all the above, 4 bytes little-endian
const indexMagic = "KDIINDEX"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// encodeIndex writes ix; names are sorted so the same index gives the same
// bytes.
func encodeIndex(w io.Writer, ix *typeIndex) error {
	h := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 256<<10)
	var tmp [binary.MaxVarintLen64]byte
	uv := func(v uint64) { bw.Write(tmp[:binary.PutUvarint(tmp[:], v)]) }
	str := func(s string) { uv(uint64(len(s))); bw.WriteString(s) }
	bw.WriteString(indexMagic)
	uv(uint64(ix.Version))
	str(string(ix.BuildID))
	uv(uint64(ix.PtrSize))
	uv(uint64(ix.Units))
	uv(uint64(len(ix.UnitStarts)))
	prev := 0
	for _, s := range ix.UnitStarts {
		if s < prev {
			return fmt.Errorf("unit starts not ascending: %#x after %#x", s, prev)
		}
		uv(uint64(s - prev))
		prev = s
	}
	for _, m := range []map[string]dwarf.Offset{ix.Types, ix.Vars} {
		uv(uint64(len(m)))
		for _, k := range slices.Sorted(mapKeys(m)) {
			str(k)
			uv(uint64(m[k]))
		}
	}
	uv(uint64(len(ix.Enumerators)))
	for _, k := range slices.Sorted(mapKeys(ix.Enumerators)) {
		e := ix.Enumerators[k]
		str(k)
		bw.Write(tmp[:binary.PutVarint(tmp[:], e.Value)])
		uv(uint64(e.Enum))
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], h.Sum32())
	_, err := w.Write(sum[:])
	return err
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// IndexFormatError says where a cached index file stops making sense.
type IndexFormatError struct {
	Off int // byte offset in the file
	Msg string
}

func (e *IndexFormatError) Error() string { return fmt.Sprintf("at byte %d: %s", e.Off, e.Msg) }

// indexDecoder reads the fields of an index file, failing on the first
// field that is cut short or out of range; after a failure every read
// returns zero and err stays the first error.
type indexDecoder struct {
	b   []byte
	off int
	err error
}

func (d *indexDecoder) fail(msg string) {
	if d.err == nil {
		d.err = &IndexFormatError{Off: d.off, Msg: msg}
	}
}

func (d *indexDecoder) uv(what string) uint64 { return readVarint(d, what, binary.Uvarint) }
func (d *indexDecoder) sv(what string) int64  { return readVarint(d, what, binary.Varint) }

// readVarint reads one varint with dec (binary.Uvarint or binary.Varint).
func readVarint[T uint64 | int64](d *indexDecoder, what string, dec func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := dec(d.b[d.off:])
	if n <= 0 {
		d.fail("bad or cut-short varint for " + what)
		return 0
	}
	d.off += n
	return v
}

// count reads an element count and checks that the bytes left can hold
// that many elements of at least min bytes each.
func (d *indexDecoder) count(what string, min int) int {
	n := d.uv(what + " count")
	if d.err == nil && n > uint64((len(d.b)-d.off)/min) {
		d.fail(fmt.Sprintf("%s count %d exceeds what the %d bytes left can hold", what, n, len(d.b)-d.off))
		return 0
	}
	return int(n)
}

func (d *indexDecoder) str(what string) string {
	n := d.uv(what + " length")
	if d.err == nil && n > uint64(len(d.b)-d.off) {
		d.fail(fmt.Sprintf("%s of %d bytes runs past the end", what, n))
	}
	if d.err != nil {
		return ""
	}
	s := string(d.b[d.off : d.off+int(n)])
	d.off += int(n)
	return s
}

func (d *indexDecoder) small(what string, limit uint64) int {
	v := d.uv(what)
	if d.err == nil && v > limit {
		d.fail(fmt.Sprintf("%s %d out of range", what, v))
		return 0
	}
	return int(v)
}

// decodeIndex parses a whole index file.
func decodeIndex(b []byte) (*typeIndex, error) {
	if len(b) < len(indexMagic)+4 || string(b[:len(indexMagic)]) != indexMagic {
		return nil, &IndexFormatError{Off: 0, Msg: "not an index file (no " + indexMagic + " magic)"}
	}
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, crcTable), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return nil, &IndexFormatError{Off: len(body), Msg: fmt.Sprintf("CRC-32C %#08x, file says %#08x (corrupt)", got, want)}
	}
	d := &indexDecoder{b: body, off: len(indexMagic)}
	ix := &typeIndex{}
	ix.Version = d.small("version", math.MaxInt32)
	ix.BuildID = []byte(d.str("build-id"))
	ix.PtrSize = d.small("pointer size", 16)
	ix.Units = d.small("unit count", math.MaxInt32)
	if n := d.count("unit start", 1); n > 0 {
		ix.UnitStarts = make([]int, n)
		at := uint64(0)
		for i := range ix.UnitStarts {
			at += d.uv("unit start")
			if at > math.MaxInt64/2 {
				d.fail("unit start out of range")
			}
			ix.UnitStarts[i] = int(at)
		}
	}
	offsets := func(what string) map[string]dwarf.Offset {
		n := d.count(what, 2)
		m := make(map[string]dwarf.Offset, n)
		for range n {
			k := d.str(what + " name")
			m[k] = dwarf.Offset(d.small(what+" DIE offset", math.MaxUint32))
		}
		return m
	}
	ix.Types = offsets("type")
	ix.Vars = offsets("variable")
	n := d.count("enumerator", 3)
	ix.Enumerators = make(map[string]Enumerator, n)
	for range n {
		k := d.str("enumerator name")
		v := d.sv("enumerator value")
		ix.Enumerators[k] = Enumerator{Value: v, Enum: dwarf.Offset(d.small("enumeration DIE offset", math.MaxUint32))}
	}
	if d.err == nil && d.off != len(body) {
		d.fail(fmt.Sprintf("%d bytes left over", len(body)-d.off))
	}
	if d.err != nil {
		return nil, d.err
	}
	return ix, nil
}
