package damage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/gen/coregen"
)

// within runs f in a goroutine and fails t when it has not returned after
// d: a hang is a failure, not a stuck test binary. A panic in f is not
// recovered: it kills the test binary, which fails the test run.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("%s did not finish within %v (unbounded walk?)", what, d)
	}
}

// synthVMCOREINFO is a minimal VMCOREINFO (keys as kernel/vmcore_info.c
// writes them).
const synthVMCOREINFO = "OSRELEASE=7.2.13\nPAGESIZE=65536\nNUMBER(VMALLOC_START)=0xc008000000000000\n"

// page returns block-size bytes that differ per pfn and compress well.
func page(pfn uint64, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], pfn<<32|uint64(i/64))
	}
	return b
}

func cpuNote(order binary.ByteOrder) coregen.Note {
	return coregen.Note{Name: "CORE", Type: 1, Desc: coregen.PRStatusPPC64(order, 1, coregen.PPC64Regs{NIP: 0xc000000000100010, MSR: 0x8000000000001033})}
}

// synthKdump builds a 64-page kdump-compressed dump: pages 0..47 dumped
// (every 8th a zero page), 48..55 excluded, 56..63 not in memory.
func synthKdump(t testing.TB, order binary.ByteOrder, comp coregen.Compression) []byte {
	t.Helper()
	const bs = 4096
	pages := map[uint64][]byte{}
	var excl []uint64
	for pfn := uint64(0); pfn < 56; pfn++ {
		switch {
		case pfn >= 48:
			excl = append(excl, pfn)
		case pfn%8 == 0:
			pages[pfn] = make([]byte, bs)
		default:
			pages[pfn] = page(pfn, bs)
		}
	}
	k := &coregen.Kdump{Order: order, BlockSize: bs, Compression: comp, MaxMapnr: 64, Pages: pages, Excluded: excl, ZeroPages: true, DumpLevel: 31,
		UTS: coregen.UTSName{Sysname: "Linux", Release: "7.2.13", Machine: "ppc64le"}, VMCOREINFO: []byte(synthVMCOREINFO), Notes: []coregen.Note{cpuNote(order)}}
	b, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// synthELF builds an ELF vmcore: two PT_LOADs of 16 pages each and notes.
func synthELF(order binary.ByteOrder) []byte {
	var segs []coregen.Segment
	for i := uint64(0); i < 6; i++ {
		var data []byte
		for p := uint64(0); p < 4; p++ {
			data = append(data, page(i*4+p, 4096)...)
		}
		segs = append(segs, coregen.Segment{Paddr: i * 0x10000, Vaddr: 0xc000000000000000 + i*0x10000, Data: data, MemSize: uint64(len(data))})
	}
	e := coregen.ELF{Order: order, Segments: segs,
		Notes: []coregen.Note{cpuNote(order), {Name: "VMCOREINFO", Desc: []byte(synthVMCOREINFO)}}}
	return e.Bytes()
}

// outcome is what the dump layer made of one file.
type outcome struct {
	openErr  error
	warnings []string
	faults   map[uint64]string // block address -> fault text
	read     int               // blocks read
}

// readAll opens path and reads the first and last 8 bytes of every block
// of every range the dump describes (at most maxBlocks blocks), recording
// each fault.
func readAll(t *testing.T, path string, maxBlocks int) outcome {
	t.Helper()
	var o outcome
	within(t, 60*time.Second, "dump.Open+read of "+filepath.Base(path), func() {
		d, err := dump.Open([]string{path}, dump.Options{CachePages: 4})
		if err != nil {
			o.openErr = err
			return
		}
		defer d.Close()
		o.warnings = d.Warnings
		o.faults = map[uint64]string{}
		unit := d.BlockSize
		if unit == 0 {
			unit = 4096
		}
		var buf [8]byte
		for _, r := range d.Ranges {
			for a := r.Start; a < r.End && o.read < maxBlocks; a += unit {
				o.read++
				for _, at := range []uint64{a, min(a+unit, r.End) - 8} {
					if err := dump.ReadFull(d.Phys, buf[:], at); err != nil {
						f, ok := dump.IsFault(err)
						if !ok {
							t.Errorf("read at %#x: error is not a *dump.Fault: %v", at, err)
							continue
						}
						if f.Addr < at || f.Addr >= at+8 {
							t.Errorf("read at %#x: fault names %#x, outside the read", at, f.Addr)
						}
						o.faults[a] = f.Reason.String()
					}
				}
			}
		}
	})
	return o
}

// checkOpenErr: an error from dump.Open must say where (a *FormatError
// with the file, or a *Fault) and name the file.
func checkOpenErr(t *testing.T, path string, err error) {
	t.Helper()
	var fe *dump.FormatError
	if errors.As(err, &fe) {
		if fe.File != path {
			t.Errorf("FormatError names %q, not the file %q: %v", fe.File, path, err)
		}
		return
	}
	if _, ok := dump.IsFault(err); ok {
		return
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error neither a *FormatError nor a *Fault and does not name the file: %v", err)
	}
}

// detected reports whether the damaged outcome differs from the good one
// in a way a user sees: an error, a new warning, a new or different fault.
func detected(good, bad outcome) bool {
	if bad.openErr != nil {
		return true
	}
	old := map[string]bool{}
	for _, w := range good.warnings {
		old[w] = true
	}
	for _, w := range bad.warnings {
		if !old[w] {
			return true
		}
	}
	for a, r := range bad.faults {
		if good.faults[a] != r {
			return true
		}
	}
	return false
}

func TestFileDamageSynthetic(t *testing.T) {
	type input struct {
		name string
		b    []byte
	}
	var inputs []input
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, c := range []struct {
			name string
			c    coregen.Compression
		}{{"raw", coregen.Raw}, {"zlib", coregen.Zlib}, {"lzo", coregen.LZO}, {"snappy", coregen.Snappy}, {"zstd", coregen.Zstd}} {
			inputs = append(inputs, input{fmt.Sprintf("kdump-%s-%v", c.name, o), synthKdump(t, o, c.c)})
		}
		inputs = append(inputs, input{fmt.Sprintf("elf-%v", o), synthELF(o)})
		inputs = append(inputs, input{fmt.Sprintf("flattened-zlib-%v", o), coregen.Flatten(synthKdump(t, o, coregen.Zlib), 1000)})
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			dir := t.TempDir()
			goodPath := filepath.Join(dir, "good")
			if err := os.WriteFile(goodPath, in.b, 0o444); err != nil {
				t.Fatal(err)
			}
			good := readAll(t, goodPath, 1<<20)
			if good.openErr != nil {
				t.Fatalf("good dump: %v", good.openErr)
			}
			vs, err := Variants(in.b)
			if err != nil {
				t.Fatal(err)
			}
			var maxAlloc uint64
			defer func() { t.Logf("largest allocation over all variants: %d bytes", maxAlloc) }()
			for i, v := range vs {
				path := filepath.Join(dir, fmt.Sprintf("v%02d", i))
				if err := v.WriteFile(in.b, path); err != nil {
					t.Fatal(err)
				}
				var bad outcome
				alloc := allocDuring(func() { bad = readAll(t, path, 1<<20) })
				// Sizes in a damaged file must not turn into allocations:
				// the synthetic files are a few hundred KiB.
				if alloc > 8<<20 {
					t.Errorf("%v: opening and reading allocated %d bytes", v, alloc)
				}
				maxAlloc = max(maxAlloc, alloc)
				if bad.openErr != nil {
					checkOpenErr(t, path, bad.openErr)
				}
				if v.MustDetect && !detected(good, bad) {
					t.Errorf("%v: not detected: no error, no new warning, no new fault", v)
				}
				t.Logf("%v: err=%v warnings=%d faults=%d", v, bad.openErr, len(bad.warnings)-len(good.warnings), len(bad.faults)-len(good.faults))
			}
		})
	}
}
