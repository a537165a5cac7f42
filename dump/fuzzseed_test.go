package dump

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/gen/coregen"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

var writeSeeds = flag.Bool("writeseeds", false, "rewrite testdata/fuzz/{FuzzKdump,FuzzFlattened}/corpus-* from ../shared/corpus")

// Seed inputs for FuzzKdump and FuzzFlattened, made from the real dumps'
// headers (testdata/fuzz/<Target>/corpus-*, committed; see
// docs/FUZZING.md). Each is a kdump-compressed file of 512-byte blocks
// and 8 page frames, 2.5-5 KiB, whose disk_dump_header and
// kdump_sub_header fields (header version, utsname, status flags,
// dump_level), first note and the first lines of VMCOREINFO are the
// corpus file's, and whose pages are the first 512 bytes of the real
// page 0 and the first 64 bytes of the real pages 1..7, stored with the
// file's codec (pfn 3 excluded, pfn 5 the shared zero page). Small inputs keep the fuzzer fuzzing: a worker
// reports no executions while it minimizes a new input, which costs time
// in proportion to the input's size (docs/FUZZING.md, session 4).

const seedPages = 8

// seedFrom builds one seed from a corpus kdump file, with its codec or
// with codec when that is not -1.
func seedFrom(t *testing.T, path string, codec coregen.Compression) []byte {
	t.Helper()
	d, err := Open([]string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := parseKdumpHeader(newMemFile(path, raw))
	if err != nil {
		t.Fatal(err)
	}
	if codec < 0 {
		codec = coregen.Compression(h.status & (DumpDHCompressedZlib | DumpDHCompressedLZO | DumpDHCompressedSnappy | DumpDHCompressedZstd))
	}
	var notes []coregen.Note
	if len(d.Notes) > 0 {
		n := d.Notes[0]
		desc := n.Desc
		if n.Name == "VMCOREINFO" {
			desc = firstLines(desc, 8)
		}
		notes = []coregen.Note{{Name: n.Name, Type: uint32(n.Type), Desc: desc}}
	}
	pages := map[uint64][]byte{}
	excluded := []uint64{3}
	for pfn := uint64(0); pfn < seedPages; pfn++ {
		switch {
		case pfn == 3:
		case pfn == 5:
			pages[pfn] = make([]byte, 512) // the shared zero page
		case (codec == coregen.Raw || codec == coregen.LZO) && pfn > 2:
			// Raw pages and coregen's LZO (stored literals) are 512
			// bytes each.
			excluded = append(excluded, pfn)
		default:
			// Page 0 whole (the exception vectors: code), the others'
			// first 64 bytes and zeros (they compress to little).
			b := make([]byte, 512)
			n := 64
			if pfn == 0 {
				n = 512
			}
			if err := ReadFull(d.Phys, b[:n], pfn*d.BlockSize); err != nil {
				t.Fatalf("%s pfn %d: %v", path, pfn, err)
			}
			pages[pfn] = b
		}
	}
	k := &coregen.Kdump{
		Order: h.order, BlockSize: 512, HeaderVersion: h.version, UTS: coregen.UTSName(h.uts),
		Compression: codec, DumpLevel: h.dumpLevel, MaxMapnr: seedPages, Pages: pages, Excluded: excluded,
		ZeroPages: true, VMCOREINFO: firstLines(d.VMCOREINFORaw, 8), Notes: notes,
		Status: h.status &^ (DumpDHCompressedZlib | DumpDHCompressedLZO | DumpDHCompressedSnappy | DumpDHCompressedZstd),
	}
	b, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func firstLines(b []byte, n int) []byte {
	lines := bytes.SplitAfterN(b, []byte("\n"), n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return bytes.Join(lines, nil)
}

// corpusSeeds are the seed files by path under testdata/fuzz.
func corpusSeeds(t *testing.T) map[string][]byte {
	dir := testcorpus.Dir(t, "fixed-radix")
	out := map[string][]byte{}
	for _, c := range []struct {
		name, file string
		codec      coregen.Compression
	}{
		{"zlib", "vmcore-vmcoreinfo.kdump", -1},
		{"lzo", "vmcore-d31-lzo.kdump", -1},
		{"zstd", "vmcore-d31-zstd.kdump", -1},
		// Debian's makedumpfile has no snappy (corpus README): the zlib
		// file's headers with snappy pages, and with raw ones.
		{"snappy", "vmcore-vmcoreinfo.kdump", coregen.Snappy},
		{"raw", "vmcore-d31-zstd.kdump", coregen.Raw},
	} {
		b := seedFrom(t, filepath.Join(dir, c.file), c.codec)
		out[filepath.Join("FuzzKdump", "corpus-"+c.name)] = b
		if c.name == "zlib" {
			// QEMU's dump-guest-memory -z writes the flattened stream in
			// records of one write each.
			// (The 4 KiB makedumpfile_header is most of it.)
			out[filepath.Join("FuzzFlattened", "corpus-zlib")] = coregen.Flatten(b, 1024)
		}
	}
	return out
}

// encodeCorpusFile writes b as Go's fuzzing corpus files hold a []byte
// argument.
func encodeCorpusFile(b []byte) []byte {
	return []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b))
}

// TestFuzzSeedsFromCorpus checks the committed seeds against what the
// corpus makes now (-writeseeds rewrites them), and that each opens and
// reads every page it holds.
func TestFuzzSeedsFromCorpus(t *testing.T) {
	seeds := corpusSeeds(t)
	names := make([]string, 0, len(seeds))
	for n := range seeds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		b := seeds[name]
		limit := 5 << 10
		if strings.HasPrefix(name, "FuzzFlattened") {
			limit += flatHeaderSize
		}
		if len(b) > limit {
			t.Errorf("%s: %d bytes, want a seed of at most %d", name, len(b), limit)
		}
		d, err := openBytes([]string{name}, [][]byte{b}, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		buf := make([]byte, 512)
		for pfn := uint64(0); pfn < seedPages; pfn++ {
			_, err := d.Phys.ReadAt(buf, pfn*512)
			if f, ok := IsFault(err); err != nil && (!ok || f.Reason != Excluded) || pfn == 3 && err == nil {
				t.Errorf("%s pfn %d: %v", name, pfn, err)
			}
		}
		if !d.Damage().Empty() || d.VMCOREINFO == nil || !strings.HasPrefix(d.UTSName.Sysname, "Linux") {
			t.Errorf("%s: damage %v, VMCOREINFO %v, uts %+v", name, d.Damage(), d.VMCOREINFO != nil, d.UTSName)
		}
		d.Close()
		path := filepath.Join("testdata", "fuzz", name)
		want := encodeCorpusFile(b)
		if *writeSeeds {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale or missing (%v): go test -run TestFuzzSeedsFromCorpus ./dump -args -writeseeds", path, err)
		}
	}
}
