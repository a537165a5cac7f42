// Command startup measures the vmlinux side of kdump-inspect's start-up:
// open the ELF (symbols), load the DWARF name index (built, or read from
// the cache) and resolve `struct module`. It prints one line of timings and
// is meant to run under /usr/bin/time -v for peak RSS (docs/PERFORMANCE.md).
//
// usage: startup [-cache DIR] [-cold] VMLINUX
//
// -cold empties the cache directory's index for this vmlinux first.
//
// Layer: bench, outside the tool (docs/ARCHITECTURE.md).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kdump-inspect/kdump-inspect/symbols"
	"github.com/kdump-inspect/kdump-inspect/symbols/dwarftypes"

	// The DWARF type and line readers the models ask for.
	_ "github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
)

func main() {
	cache := flag.String("cache", filepath.Join(os.TempDir(), "kdi-startup-cache"), "index cache directory")
	cold := flag.Bool("cold", false, "remove the cached index for this vmlinux first")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: startup [-cache DIR] [-cold] VMLINUX")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *cache, *cold); err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
}

func run(path, cache string, cold bool) error {
	t0 := time.Now()
	f, err := symbols.OpenELF(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tOpen := time.Since(t0)
	if cold && len(f.BuildID) > 0 {
		os.Remove(dwarftypes.IndexCachePath(cache, f.BuildID))
	}
	ts, err := symbols.LoadELFTypes(f, nil, cache)
	if err != nil {
		return err
	}
	tIndex := time.Since(t0)
	sz, err := ts.Sizeof("struct module")
	if err != nil {
		return err
	}
	tMod := time.Since(t0)
	nt, nv, ne, nu := ts.Stats()
	fmt.Printf("open+symbols %.3fs  index %.3fs (cached %v)  struct module (%d bytes) %.3fs  [%d types %d vars %d enumerators %d units, %d symbols]\n",
		tOpen.Seconds(), tIndex.Seconds(), ts.FromCache, sz, tMod.Seconds(), nt, nv, ne, nu, len(f.Symbols))
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		var parts []string
		for _, l := range strings.Split(string(b), "\n") {
			for _, k := range []string{"VmHWM:", "VmRSS:", "RssAnon:", "RssFile:"} {
				if strings.HasPrefix(l, k) {
					parts = append(parts, strings.Join(strings.Fields(l), " "))
				}
			}
		}
		fmt.Println("memory at exit:", strings.Join(parts, ", "))
	}
	if ts.CacheWarning != "" {
		fmt.Fprintln(os.Stderr, "cache warning:", ts.CacheWarning)
	}
	return nil
}
