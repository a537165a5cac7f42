package dwarftypes

import (
	"bytes"
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
)

func sampleIndex() *typeIndex {
	return &typeIndex{
		Version: indexVersion, BuildID: []byte{0x8d, 0x4f, 0x21}, PtrSize: 8, Units: 3,
		UnitStarts:  []int{0, 0x2c, 0x10ff0},
		Types:       map[string]dwarf.Offset{"struct module": 0x1234, "u64": 0x40, "": 7},
		Vars:        map[string]dwarf.Offset{"modules": 0x99999},
		Enumerators: map[string]Enumerator{"MODULE_STATE_LIVE": {0, 0x500}, "NEG": {-5, 0x600}, "BIG": {1 << 62, 0x600}},
	}
}

func TestIndexFileRoundTrip(t *testing.T) {
	ix := sampleIndex()
	var b bytes.Buffer
	if err := encodeIndex(&b, ix); err != nil {
		t.Fatal(err)
	}
	got, err := decodeIndex(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ix) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, ix)
	}
	// The same index gives the same bytes (names are written sorted).
	var again bytes.Buffer
	encodeIndex(&again, sampleIndex())
	if !bytes.Equal(again.Bytes(), b.Bytes()) {
		t.Error("two encodings of one index differ")
	}
}

func TestIndexFileCorrupt(t *testing.T) {
	var b bytes.Buffer
	if err := encodeIndex(&b, sampleIndex()); err != nil {
		t.Fatal(err)
	}
	good := b.Bytes()
	var fe *container.FormatError

	// One flipped bit anywhere is caught by the checksum.
	for _, at := range []int{len(indexMagic), len(good) / 2, len(good) - 5} {
		bad := bytes.Clone(good)
		bad[at] ^= 0x10
		if _, err := decodeIndex(bad); !errors.As(err, &fe) || !strings.Contains(err.Error(), "CRC-32C") {
			t.Errorf("bit flipped at %d: err %v, want a CRC-32C mismatch", at, err)
		}
	}
	// Truncated files.
	for _, n := range []int{0, 3, len(indexMagic), len(good) - 1} {
		if _, err := decodeIndex(good[:n]); err == nil {
			t.Errorf("file cut to %d bytes accepted", n)
		}
	}

	// A count larger than the file can hold is refused before any
	// allocation: with a valid checksum, 2^32 types in a 40-byte file.
	var h bytes.Buffer
	h.WriteString(indexMagic)
	for _, v := range []uint64{indexVersion, 1, 1, 8, 1, 0} { // version, build-id len+byte, ptr, units, no unit starts
		h.Write(binary.AppendUvarint(nil, v))
	}
	h.Write(binary.AppendUvarint(nil, 1<<32)) // type count
	h.WriteString("\x01x\x01")
	withCRC := binary.LittleEndian.AppendUint32(bytes.Clone(h.Bytes()), crc32.Checksum(h.Bytes(), container.CRCTable))
	allocs := testing.AllocsPerRun(5, func() { decodeIndex(withCRC) })
	_, err := decodeIndex(withCRC)
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "type count 4294967296 exceeds") {
		t.Errorf("huge type count: err %v, want a count error", err)
	}
	if allocs > 10 {
		t.Errorf("huge type count: %v allocations", allocs)
	}

}
