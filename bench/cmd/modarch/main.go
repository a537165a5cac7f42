// Command modarch is kdump-inspect's side of bench/vs-drgn: open a dump
// with its vmlinux, resolve `struct module`, walk the modules list and read
// every module's mod->arch and .stubs, and print them in the canonical
// text that bench/vs-drgn/modarch.py prints from drgn, so that the two can
// be diffed before they are timed.
//
// One line per module, in list order:
//
//	NAME 0xADDR arch{m1=0x..,m2=0x..} stubs=0xBASE+LEN:SHA256 ool=0xBASE+LEN:SHA256
//
// arch members in DWARF order, values as unsigned hex of the member's
// size; stubs: stub_count × sizeof(struct ppc64_stub_entry) bytes at the
// .stubs address from mod->sect_attrs; ool: ool_stub_count ×
// sizeof(struct ftrace_ool_stub) bytes at arch.ool_stubs. A read that
// fails prints "fault".
//
// usage: modarch [-cache DIR] [-types auto|dwarf|btf] [-paths] -s VMLINUX DUMP
//
//	modarch [-cache DIR] -dumponly DUMP
//
// -paths prints the plain (decompressed, cached) paths of the dump and the
// vmlinux instead, for drgn. -types says where the vmlinux's types come
// from (kernel.Options.Types: its BTF first by default, dwarf forces the
// DWARF name index); -dumponly opens the dump with no vmlinux and nothing
// beside it (kallsyms and the BTF in the dump's memory).
//
// Layer: bench, outside the tool (docs/ARCHITECTURE.md).
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"

	// The DWARF type and line readers the models ask for.
	_ "github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
)

func main() {
	vmlinux := flag.String("s", "", "vmlinux")
	cache := flag.String("cache", "", "DWARF index cache directory (default: the user's cache)")
	paths := flag.Bool("paths", false, "print the decompressed paths of DUMP and VMLINUX and exit")
	types := flag.String("types", "", "the vmlinux's types: auto (BTF first), dwarf or btf")
	dumpOnly := flag.Bool("dumponly", false, "no vmlinux: kallsyms and the dump's own BTF")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the job to this file (go tool pprof)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "modarch:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if flag.NArg() != 1 || (*vmlinux == "") == !*dumpOnly {
		fmt.Fprintln(os.Stderr, "usage: modarch [-cache DIR] [-types auto|dwarf|btf] [-paths] -s VMLINUX DUMP | modarch [-cache DIR] -dumponly DUMP")
		os.Exit(2)
	}
	if *paths {
		for _, p := range []string{flag.Arg(0), *vmlinux} {
			plain, err := container.Open(p)
			if err != nil {
				fmt.Fprintln(os.Stderr, "modarch:", err)
				os.Exit(1)
			}
			fmt.Println(plain)
		}
		return
	}
	from := kernel.TypesFrom(*types)
	if *types == "auto" {
		from = kernel.TypesAuto
	}
	if err := run(flag.Arg(0), kernel.Options{Vmlinux: *vmlinux, CacheDir: *cache, Types: from, DumpOnly: *dumpOnly, PrivateVmlinux: true}); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "modarch:", err)
		os.Exit(1)
	}
}

// quietGC is cmd/kdump-inspect's (main.go): the collector off during
// kernel.Open, whose allocations all stay live, with a 512 MiB memory
// limit as the backstop; a GOGC or GOMEMLIMIT of the caller's is left
// alone. The job is timed as the tool runs it.
func quietGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	pct := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(512 << 20)
	return func() {
		debug.SetMemoryLimit(limit)
		debug.SetGCPercent(pct)
	}
}

func run(dumpPath string, opts kernel.Options) error {
	restore := quietGC()
	p, err := kernel.Open([]string{dumpPath}, opts)
	restore()
	if err != nil {
		return err
	}
	defer p.Close()
	stubSize, err := p.Types.Sizeof("struct ppc64_stub_entry")
	if err != nil {
		return err
	}
	oolSize, err := p.Types.Sizeof("struct ftrace_ool_stub")
	if err != nil {
		return err
	}
	mods, err := modules.List(p)
	if err != nil {
		return err
	}
	var out strings.Builder
	for _, m := range mods {
		var arch []string
		for _, a := range m.Arch.Members {
			arch = append(arch, fmt.Sprintf("%s=%#x", a.Name, a.Value))
		}
		stubs := "none"
		if base, ok := m.SectionAddr(".stubs"); ok {
			stubs = hashRange(p, base, m.Arch.StubCount*uint64(stubSize))
		}
		ool := "none"
		if m.Arch.HasOOL {
			ool = hashRange(p, m.Arch.OOLStubs, m.Arch.OOLStubCount*uint64(oolSize))
		}
		fmt.Fprintf(&out, "%s %#x arch{%s} stubs=%s ool=%s\n", m.Name, m.Addr, strings.Join(arch, ","), stubs, ool)
	}
	_, err = os.Stdout.WriteString(out.String())
	return err
}

// maxHashed bounds one hashed range (a corrupt count must not allocate
// gigabytes).
const maxHashed = 1 << 20

func hashRange(p *kernel.Program, base, n uint64) string {
	if n > maxHashed {
		return fmt.Sprintf("%#x+%d:too-large", base, n)
	}
	b, err := p.Read(base, int(n))
	if err != nil {
		return fmt.Sprintf("%#x+%d:fault", base, n)
	}
	return fmt.Sprintf("%#x+%d:%x", base, n, sha256.Sum256(b))
}
