// Command corpusaudit measures the batch audit: batch.Run over every
// dump batch.FindDumps finds under a corpus directory, with -jobs workers,
// and the physical pages each dump's audit touched (distinct pages read
// through kernel.Options.PhysWrap, at 4 KiB and 64 KiB granularity). It
// prints one line per dump and the total wall time.
//
// usage: corpusaudit [-jobs N] [-cache DIR] [-warm] [-private] [CORPUS]
//
// -private opens the vmlinux afresh for every dump
// (kernel.Options.PrivateVmlinux), as before the jobs shared one.
//
// -warm audits the first dump once, untimed, so that the DWARF index cache
// and the decompressed files exist before timing.
//
// Layer: bench, outside the tool (docs/ARCHITECTURE.md).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/batch"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/kernel"

	// The DWARF type and line readers the models ask for.
	_ "github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
)

// pageCounter records the distinct physical pages read through it.
type pageCounter struct {
	mem   dump.Memory
	mu    sync.Mutex
	pages map[uint64]struct{} // 4 KiB page numbers
	reads uint64
	bytes uint64
}

func (c *pageCounter) ReadAt(p []byte, addr uint64) (int, error) {
	n, err := c.mem.ReadAt(p, addr)
	if len(p) > 0 {
		c.mu.Lock()
		c.reads++
		c.bytes += uint64(len(p))
		for pg := addr >> 12; pg <= (addr+uint64(len(p))-1)>>12; pg++ {
			c.pages[pg] = struct{}{}
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *pageCounter) counts() (p4k, p64k int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	big := map[uint64]struct{}{}
	for pg := range c.pages {
		big[pg>>4] = struct{}{}
	}
	return len(c.pages), len(big)
}

func main() {
	jobs := flag.Int("jobs", 0, "workers (0: GOMAXPROCS)")
	cache := flag.String("cache", "", "DWARF index cache directory (default: the user's cache)")
	warm := flag.Bool("warm", false, "audit the first dump once, untimed, first")
	private := flag.Bool("private", false, "open the vmlinux afresh for every dump (no sharing between jobs)")
	flag.Parse()
	root := flag.Arg(0)
	if root == "" {
		root = filepath.Join("..", "shared", "corpus")
	}
	js, err := batch.FindDumps(root)
	if err != nil || len(js) == 0 {
		fmt.Fprintln(os.Stderr, "corpusaudit: no dumps under", root, err)
		os.Exit(1)
	}
	if *warm {
		for _, j := range js {
			j.Options.CacheDir = *cache
			audit.AuditDump(j, audit.Options{})
		}
	}
	counters := make([]*pageCounter, len(js))
	for i := range js {
		c := &pageCounter{pages: map[uint64]struct{}{}}
		counters[i] = c
		js[i].Options = kernel.Options{CacheDir: *cache, PrivateVmlinux: *private, PhysWrap: func(m dump.Memory) dump.Memory {
			c.mem = m
			return c
		}}
	}
	w := *jobs
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	t0 := time.Now()
	res := batch.Run(js, w, audit.Options{}, nil)
	wall := time.Since(t0)
	var sum float64
	for i, r := range res {
		p4, p64 := counters[i].counts()
		rel, _ := filepath.Rel(root, r.Dump)
		status := fmt.Sprintf("%d modules, %d findings", r.Modules, len(r.Findings))
		if r.Failed() {
			status = "error: " + r.Error
		}
		fmt.Printf("%-42s %6.3fs  pages touched: %5d × 4K, %4d × 64K (%d reads, %d KiB)  %s\n",
			rel, r.Seconds, p4, p64, counters[i].reads, counters[i].bytes>>10, status)
		sum += r.Seconds
	}
	fmt.Printf("jobs=%d private=%v dumps=%d wall %.3fs (sum of per-dump times %.3fs) GOMAXPROCS=%d\n", w, *private, len(res), wall.Seconds(), sum, runtime.GOMAXPROCS(0))
}
