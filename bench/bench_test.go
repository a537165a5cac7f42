package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/batch"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/symbols"
	"github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
)

// corpusDump returns a fixed-radix dump file, skipping b without the corpus.
func corpusDump(b *testing.B, name string) string {
	b.Helper()
	p := filepath.Join(testcorpus.Dir(b, "fixed-radix"), name)
	if _, err := os.Stat(p); err != nil {
		b.Skipf("corpus dump %s absent", p)
	}
	return p
}

// warmCache is a DWARF index cache directory that already holds the corpus
// vmlinux's index (built once per test binary).
var warmCache = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "kdi-bench-cache-")
	if err != nil {
		return "", err
	}
	return dir, nil
})

func warmOptions(b *testing.B, dumpPath string) kernel.Options {
	b.Helper()
	dir, err := warmCache()
	if err != nil {
		b.Fatal(err)
	}
	opts := kernel.Options{CacheDir: dir}
	p, err := kernel.Open([]string{dumpPath}, opts) // builds the index, decompresses the vmlinux
	if err != nil {
		b.Fatal(err)
	}
	p.Close()
	return opts
}

func TestMain(m *testing.M) {
	code := m.Run()
	if dir, err := warmCache(); err == nil && dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// openFixedVmlinux opens the corpus's 7.2.13-fixed vmlinux (skipping without
// the corpus), closed when the benchmark ends.
func openFixedVmlinux(b *testing.B) *symbols.ELFFile {
	b.Helper()
	f, err := symbols.OpenELF(filepath.Join(testcorpus.Require(b), "kernels", "7.2.13-fixed", "vmlinux.zst"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

// BenchmarkStructModule resolves `struct module` (with everything it
// reaches) from a fresh debug/dwarf.Data and the cached name index: the
// per-process cost of the first type lookup.
func BenchmarkStructModule(b *testing.B) {
	f := openFixedVmlinux(b)
	dir := b.TempDir()
	d, err := dwarfread.FileData(f)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := dwarfread.LoadTypes(d, f.BuildID, dir); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		d, err := dwarfread.FileData(f) // a fresh debug/dwarf type cache
		if err != nil {
			b.Fatal(err)
		}
		ts, err := dwarfread.LoadTypes(d, f.BuildID, dir)
		if err != nil || !ts.FromCache {
			b.Fatal(err)
		}
		b.StartTimer()
		if n, err := ts.Sizeof("struct module"); err != nil || n <= 0 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkDWARFOpen is ELFFile.DWARF on the corpus vmlinux (section data
// handed to debug/dwarf).
func BenchmarkDWARFOpen(b *testing.B) {
	f := openFixedVmlinux(b)
	for b.Loop() {
		if _, err := dwarfread.FileData(f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPageReads reads random 8-byte words and whole 64K pages of
// physical memory from the same dump in its ELF and kdump-compressed
// (zlib, zstd, lzo) forms. Addresses are drawn from the dump's ranges; a
// page that is not present (filtered out) counts as a read too (a *Fault).
func BenchmarkPageReads(b *testing.B) {
	for _, tc := range []struct{ name, file string }{
		{"elf", "vmcore-vmcoreinfo.elf.zst"},
		{"kdump-zlib", "vmcore-vmcoreinfo.kdump"},
		{"kdump-zstd", "vmcore-d31-zstd.kdump"},
		{"kdump-lzo", "vmcore-d31-lzo.kdump"},
	} {
		path := corpusDump(b, tc.file)
		d, err := dump.Open([]string{path}, dump.Options{}) // decompresses a .zst once, cached
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		limit := d.Ranges[len(d.Ranges)-1].End
		for _, size := range []int{8, 64 << 10} {
			name := tc.name + "/word"
			if size > 8 {
				name = tc.name + "/page"
			}
			b.Run(name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(3, 4))
				buf := make([]byte, size)
				b.SetBytes(int64(size))
				for b.Loop() {
					a := r.Uint64N(limit) &^ uint64(size-1)
					d.Phys.ReadAt(buf, a)
				}
			})
		}
	}
}

// BenchmarkOpenToModuleList is kernel.Open (dump, vmlinux symbols, cached
// DWARF index, page tables) plus the walk of the modules list reading every
// struct module, mod->arch and section addresses. "private" opens the
// vmlinux afresh each time (kernel.Options.PrivateVmlinux: a single
// start-up); "shared" reuses the one the previous iteration opened, as the
// jobs of a batch do.
func BenchmarkOpenToModuleList(b *testing.B) {
	benchOpen(b, func(b *testing.B, p *kernel.Program) {
		mods, err := modules.List(p)
		if err != nil || len(mods) == 0 {
			b.Fatal(len(mods), err)
		}
	})
}

// benchOpen runs job after kernel.Open on the kdump and ELF corpus dumps,
// the vmlinux private to each Open and shared between them, with a warm
// index cache.
func benchOpen(b *testing.B, job func(*testing.B, *kernel.Program)) {
	for _, file := range []string{"vmcore-vmcoreinfo.kdump", "vmcore-vmcoreinfo.elf.zst"} {
		path := corpusDump(b, file)
		opts := warmOptions(b, path)
		for _, private := range []bool{true, false} {
			opts.PrivateVmlinux = private
			b.Run(file+"/"+sharing(private), func(b *testing.B) {
				for b.Loop() {
					p, err := kernel.Open([]string{path}, opts)
					if err != nil {
						b.Fatal(err)
					}
					job(b, p)
					p.Close()
				}
			})
		}
	}
}

func sharing(private bool) string {
	if private {
		return "private"
	}
	return "shared"
}

// BenchmarkAuditDump is kernel.Open plus audit.Run (every module: loader
// model with its .ko, .stubs, ftrace records) on one corpus dump with a
// warm index cache; "private" and "shared" as in
// BenchmarkOpenToModuleList.
func BenchmarkAuditDump(b *testing.B) {
	benchOpen(b, func(b *testing.B, p *kernel.Program) {
		if rep := audit.Run(analysis.New(p), audit.Options{}); rep.Modules == 0 {
			b.Fatal("no modules audited")
		}
	})
}

// BenchmarkBatchAudit is batch.Run over every corpus dump with 1 and
// 2 workers, the vmlinux private to each job (as before the shared
// vmlinux cache) or shared between them.
func BenchmarkBatchAudit(b *testing.B) {
	root := testcorpus.Require(b)
	js, err := batch.FindDumps(root)
	if err != nil || len(js) == 0 {
		b.Fatal("no dumps", err)
	}
	dir, err := warmCache()
	if err != nil {
		b.Fatal(err)
	}
	for i := range js {
		js[i].Options.CacheDir = dir
		audit.AuditDump(js[i], audit.Options{}) // index caches, decompressed files
	}
	for _, private := range []bool{true, false} {
		for _, jobs := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/jobs=%d", sharing(private), jobs), func(b *testing.B) {
				for i := range js {
					js[i].Options.PrivateVmlinux = private
				}
				for b.Loop() {
					batch.Run(js, jobs, audit.Options{}, nil)
				}
			})
		}
	}
}

// BenchmarkAuditRun is audit.Run alone on an opened program: the "audit
// of all modules ≤ 0.5 s after start" target.
func BenchmarkAuditRun(b *testing.B) {
	path := corpusDump(b, "vmcore-vmcoreinfo.kdump")
	opts := warmOptions(b, path)
	for b.Loop() {
		b.StopTimer()
		p, err := kernel.Open([]string{path}, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if rep := audit.Run(analysis.New(p), audit.Options{}); rep.Modules == 0 {
			b.Fatal("no modules audited")
		}
		b.StopTimer()
		p.Close()
		b.StartTimer()
	}
}

// distroVmlinux is the Debian distro vmlinux fetched by
// ../shared/tools/fetch-distro-vmlinux: $KDUMP_INSPECT_DISTRO_VMLINUX, else
// the first vmlinux-* in the tool's default directory. b is skipped without
// one.
func distroVmlinux(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("KDUMP_INSPECT_DISTRO_VMLINUX"); p != "" {
		return p
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache")
	}
	m, _ := filepath.Glob(filepath.Join(base, "kdump-inspect-bench", "vmlinux-*"))
	if len(m) == 0 {
		b.Skip("no distro vmlinux: run ../shared/tools/fetch-distro-vmlinux or set KDUMP_INSPECT_DISTRO_VMLINUX")
	}
	return m[0]
}

// BenchmarkDistroStartup is the vmlinux side of start-up on a Debian
// distro vmlinux (384 MB, ~25 M DIEs): open the ELF and its symbols, hand
// the DWARF to debug/dwarf, build (cold, empty cache directory) or load
// (cached) the name index, and resolve `struct module`.
func BenchmarkDistroStartup(b *testing.B) {
	path := distroVmlinux(b)
	start := func(b *testing.B, cache string) *symbols.Types {
		f, err := symbols.OpenELF(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		ts, err := symbols.LoadELFTypes(f, nil, cache)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ts.Sizeof("struct module"); err != nil {
			b.Fatal(err)
		}
		return ts
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			if ts := start(b, b.TempDir()); ts.FromCache {
				b.Fatal("index came from a cache")
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		dir := b.TempDir()
		start(b, dir)
		for b.Loop() {
			if ts := start(b, dir); !ts.FromCache {
				b.Fatal("index not cached:", ts.CacheWarning)
			}
		}
	})
}

// BenchmarkOpenDistroModules is the job of bench/startup/run.sh in one
// process, warm (page cache and index cache filled by a first run): open
// the distro dump (bench/distro-dump's vmcore.elf) and list its modules
// (every struct module, mod->arch, section addresses), typed by the
// vmlinux's DWARF name index ("dwarf"), by its .BTF ("btf", the default)
// or with no vmlinux at all ("dumponly": kallsyms and the BTF in memory).
func BenchmarkOpenDistroModules(b *testing.B) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache")
	}
	dumpPath := filepath.Join(base, "kdump-inspect-bench", "distro-dump", "vmcore.elf")
	if _, err := os.Stat(dumpPath); err != nil {
		b.Skip("no distro dump (bench/distro-dump/make.sh)")
	}
	vmlinux := distroVmlinux(b)
	cache := b.TempDir()
	for _, mode := range []struct {
		name string
		opts kernel.Options
	}{
		{"dwarf", kernel.Options{Vmlinux: vmlinux, Types: kernel.TypesDWARF}},
		{"btf", kernel.Options{Vmlinux: vmlinux}},
		{"dumponly", kernel.Options{DumpOnly: true}},
	} {
		opts := mode.opts
		opts.CacheDir, opts.PrivateVmlinux = cache, true
		b.Run(mode.name, func(b *testing.B) {
			job := func() {
				p, err := kernel.Open([]string{dumpPath}, opts)
				if err != nil {
					b.Fatal(err)
				}
				mods, err := modules.List(p)
				if err != nil || len(mods) == 0 {
					b.Fatal(len(mods), err)
				}
				p.Close()
			}
			job() // fills the index cache and the page cache
			for b.Loop() {
				job()
			}
		})
	}
}
