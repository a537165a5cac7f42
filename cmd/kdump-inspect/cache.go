package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
)

func init() {
	subcommands["cache"] = subcommand{Name: "cache", Usage: "cache [--list|--clear|--evict]",
		Help: "list (default), clear or trim to KDUMP_INSPECT_CACHE_MAX the cache of decompressed files, DWARF indexes and symbol tables", Run: runCache}
}

func runCache(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cache", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	list := fs.Bool("list", false, "list the cached files, most recently used first (the default)")
	clearAll := fs.Bool("clear", false, "remove every cached file (not those a decompression in progress is writing)")
	evict := fs.Bool("evict", false, "remove the least recently used files until the cache is under KDUMP_INSPECT_CACHE_MAX")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || btoi(*list)+btoi(*clearAll)+btoi(*evict) > 1 {
		fmt.Fprintf(stderr, "usage: kdump-inspect %s\n", subcommands["cache"].Usage)
		return exitBad
	}
	dir, max := container.CacheDir(), container.CacheMax()
	switch {
	case *clearAll:
		n, freed, err := container.Clear()
		if err != nil {
			fmt.Fprintf(stderr, "kdump-inspect cache: %v\n", err)
			return exitBad
		}
		fmt.Fprintf(stdout, "removed %d file(s), %s, from %s\n", n, human(freed), dir)
		return exitOK
	case *evict:
		n, freed, err := container.Evict(max)
		if err != nil {
			fmt.Fprintf(stderr, "kdump-inspect cache: %v\n", err)
			return exitBad
		}
		fmt.Fprintf(stdout, "removed %d file(s), %s, from %s (cap %s)\n", n, human(freed), dir, human(max))
		return exitOK
	}
	ents, err := container.List()
	if err != nil {
		fmt.Fprintf(stderr, "kdump-inspect cache: %v\n", err)
		return exitBad
	}
	var total int64
	for _, e := range ents {
		total += e.Size
	}
	fmt.Fprintf(stdout, "%s: %d file(s), %s of %s (KDUMP_INSPECT_CACHE_MAX)\n", dir, len(ents), human(total), human(max))
	for _, e := range ents {
		fmt.Fprintf(stdout, "%10s  %s  %-11s  %s\n", human(e.Size), e.LastUse.Format(time.DateTime), e.Kind, e.Path)
	}
	return exitOK
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// human prints a byte count in binary units.
func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
