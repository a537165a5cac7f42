package dwarftypes

import (
	"bufio"
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
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

// encodeIndex writes ix; names are sorted so the same index gives the same
// bytes.
func encodeIndex(w io.Writer, ix *typeIndex) error {
	sw := container.NewSumWriter(w)
	bw := bufio.NewWriterSize(sw, 256<<10)
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
	return sw.WriteSum()
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

// decodeIndex parses a whole index file.
func decodeIndex(b []byte) (*typeIndex, error) {
	if len(b) < len(indexMagic)+4 || string(b[:len(indexMagic)]) != indexMagic {
		return nil, &container.FormatError{Off: 0, Msg: "not an index file (no " + indexMagic + " magic)"}
	}
	body, err := container.CheckedBody(b)
	if err != nil {
		return nil, err
	}
	d := &container.Decoder{B: body, Off: len(indexMagic)}
	ix := &typeIndex{}
	ix.Version = d.Small("version", math.MaxInt32)
	ix.BuildID = []byte(d.Str("build-id"))
	ix.PtrSize = d.Small("pointer size", 16)
	ix.Units = d.Small("unit count", math.MaxInt32)
	if n := d.Count("unit start", 1); n > 0 {
		ix.UnitStarts = make([]int, n)
		at := uint64(0)
		for i := range ix.UnitStarts {
			at += d.Uv("unit start")
			if at > math.MaxInt64/2 {
				d.Fail("unit start out of range")
			}
			ix.UnitStarts[i] = int(at)
		}
	}
	offsets := func(what string) map[string]dwarf.Offset {
		n := d.Count(what, 2)
		m := make(map[string]dwarf.Offset, n)
		for range n {
			k := d.Str(what + " name")
			m[k] = dwarf.Offset(d.Small(what+" DIE offset", math.MaxUint32))
		}
		return m
	}
	ix.Types = offsets("type")
	ix.Vars = offsets("variable")
	n := d.Count("enumerator", 3)
	ix.Enumerators = make(map[string]Enumerator, n)
	for range n {
		k := d.Str("enumerator name")
		v := d.Sv("enumerator value")
		ix.Enumerators[k] = Enumerator{Value: v, Enum: dwarf.Offset(d.Small("enumeration DIE offset", math.MaxUint32))}
	}
	if d.Err == nil && d.Off != len(body) {
		d.Fail(fmt.Sprintf("%d bytes left over", len(body)-d.Off))
	}
	if d.Err != nil {
		return nil, d.Err
	}
	return ix, nil
}
