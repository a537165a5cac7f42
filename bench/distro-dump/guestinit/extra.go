//go:build linux

// The ground truth added for the older kernels (issue 14): vmlinux symbols,
// the kernel config, VMCOREINFO, the trace buffer, every module's .stubs
// bytes and the bytes around every enabled ftrace call site, both read
// from /proc/kcore; and a little loopback TCP traffic so that congestion
// control modules (and their calls into other modules) really run.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/bench/internal/guestinit"
)

// openKcore opens /proc/kcore (the shared reader); a read outside every
// PT_LOAD fails with "ADDR+N not in any /proc/kcore PT_LOAD".
func openKcore() (*guestinit.Kcore, error) {
	k, err := guestinit.OpenKcore()
	if err != nil {
		return nil, err
	}
	k.NotMapped = func(va uint64, n int) error { return fmt.Errorf("%#x+%d not in any /proc/kcore PT_LOAD", va, n) }
	return k, nil
}

func printKcoreSegs(k *guestinit.Kcore) {
	fmt.Printf("KDI-BEGIN kcore_loads /proc/kcore\n")
	for _, s := range k.Loads {
		fmt.Printf("kcore_loads| vaddr=%#x size=%#x offset=%#x\n", s.Vaddr, s.Filesz, s.Off)
	}
	fmt.Printf("KDI-END kcore_loads\n")
}

// readKallsyms reads /proc/kallsyms (a failure is logged: no symbols).
func readKallsyms() []guestinit.Sym {
	ks, err := guestinit.ReadKallsyms()
	if err != nil {
		guestinit.Logf("%v", err)
		return nil
	}
	return ks.All
}

// printWantedSymbols prints the vmlinux symbols named in /modules/kallsyms.want
// (every line of /proc/kallsyms with that name and no [module]).
func printWantedSymbols(syms []guestinit.Sym) {
	b, err := os.ReadFile("/modules/kallsyms.want")
	if err != nil {
		return
	}
	want := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			want[l] = true
		}
	}
	fmt.Printf("KDI-BEGIN kallsyms_vmlinux /proc/kallsyms\n")
	seen := map[string]bool{}
	for _, s := range syms {
		if s.Mod == "" && want[s.Name] {
			fmt.Printf("kallsyms_vmlinux| %016x %s %s\n", s.Addr, s.Type, s.Name)
			seen[s.Name] = true
		}
	}
	var missing []string
	for n := range want {
		if !seen[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	for _, n := range missing {
		fmt.Printf("kallsyms_vmlinux| - - %s (absent)\n", n)
	}
	fmt.Printf("KDI-END kallsyms_vmlinux\n")
}

// printConfig prints the ftrace/page-size/livepatch lines of /proc/config.gz.
func printConfig() {
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		fmt.Printf("KDI-ERROR config: %v\n", err)
		return
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		fmt.Printf("KDI-ERROR config: %v\n", err)
		return
	}
	fmt.Printf("KDI-BEGIN config /proc/config.gz\n")
	sc := bufio.NewScanner(z)
	for sc.Scan() {
		l := sc.Text()
		for _, k := range []string{"PPC_64K_PAGES", "PPC_4K_PAGES", "FTRACE", "MPROFILE", "LIVEPATCH", "PATCHABLE_FUNCTION_ENTRY"} {
			if strings.Contains(l, k) {
				fmt.Printf("config| %s\n", l)
				break
			}
		}
	}
	fmt.Printf("KDI-END config\n")
}

// printVmcoreinfo prints /sys/kernel/vmcoreinfo ("PADDR SIZE") and the
// VMCOREINFO note text found there (read through the kcore linear map).
func printVmcoreinfo(k *guestinit.Kcore) {
	guestinit.DumpFile("vmcoreinfo_addr", "/sys/kernel/vmcoreinfo")
	b, err := os.ReadFile("/sys/kernel/vmcoreinfo")
	if err != nil || k == nil {
		return
	}
	fs := strings.Fields(string(b))
	if len(fs) < 2 {
		return
	}
	pa, err1 := strconv.ParseUint(strings.TrimPrefix(fs[0], "0x"), 16, 64)
	size, err2 := strconv.ParseUint(strings.TrimPrefix(fs[1], "0x"), 16, 64)
	if err1 != nil || err2 != nil {
		return
	}
	note, err := k.Read(0xc000000000000000+pa, int(size))
	if err != nil {
		fmt.Printf("KDI-ERROR vmcoreinfo: %v\n", err)
		return
	}
	namesz := binary.LittleEndian.Uint32(note[0:])
	descsz := binary.LittleEndian.Uint32(note[4:])
	off := 12 + (namesz+3)&^3
	if uint64(off)+uint64(descsz) > uint64(len(note)) {
		fmt.Printf("KDI-ERROR vmcoreinfo: note sizes %d %d\n", namesz, descsz)
		return
	}
	fmt.Printf("KDI-BEGIN vmcoreinfo %#x\n", pa)
	for _, l := range strings.Split(strings.TrimRight(string(note[off:off+descsz]), "\x00\n"), "\n") {
		fmt.Printf("vmcoreinfo| %s\n", l)
	}
	fmt.Printf("KDI-END vmcoreinfo\n")
}

// printTraceTail prints the last n lines of the trace buffer.
func printTraceTail(n int) {
	b, err := os.ReadFile(tracing + "/trace")
	if err != nil {
		fmt.Printf("KDI-ERROR trace: %v\n", err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	total := len(lines)
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	fmt.Printf("KDI-BEGIN trace %s/trace (last %d of %d lines)\n", tracing, len(lines), total)
	for _, l := range lines {
		fmt.Printf("trace| %s\n", l)
	}
	fmt.Printf("KDI-END trace\n")
}

// printFilterAddrs prints the module lines of available_filter_functions_addrs
// (the exact dyn_ftrace ip of every record; the file exists from 6.5 on).
func printFilterAddrs() {
	f, err := os.Open(tracing + "/available_filter_functions_addrs")
	if err != nil {
		fmt.Printf("KDI-ERROR filter_addrs: %v\n", err)
		return
	}
	defer f.Close()
	fmt.Printf("KDI-BEGIN filter_addrs %s/available_filter_functions_addrs (module lines)\n", tracing)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "[") {
			fmt.Printf("filter_addrs| %s\n", sc.Text())
		}
	}
	fmt.Printf("KDI-END filter_addrs\n")
}

type procModule struct {
	name       string
	base, size uint64
}

func procModules() []procModule {
	var out []procModule
	b, _ := os.ReadFile("/proc/modules")
	for _, l := range strings.Split(string(b), "\n") {
		fs := strings.Fields(l)
		if len(fs) < 6 {
			continue
		}
		size, _ := strconv.ParseUint(fs[1], 10, 64)
		base, _ := strconv.ParseUint(strings.TrimPrefix(fs[5], "0x"), 16, 64)
		out = append(out, procModule{fs[0], base, size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// vmArea is one /proc/vmallocinfo line: [start, end) including the guard
// page, pages mapped from start.
type vmArea struct {
	start, end, pages uint64
	line              string
}

func vmallocAreas() []vmArea {
	var out []vmArea
	// vmallocinfo prints its addresses with %pK: hashed under
	// kptr_restrict=0, raw under 1 for a reader with CAP_SYSLOG
	_ = write("/proc/sys/kernel/kptr_restrict", "1")
	b, err := os.ReadFile("/proc/vmallocinfo")
	_ = write("/proc/sys/kernel/kptr_restrict", "0")
	if err != nil {
		guestinit.Logf("%v", err)
		return nil
	}
	for _, l := range strings.Split(string(b), "\n") {
		fs := strings.Fields(l)
		if len(fs) < 2 {
			continue
		}
		lo, hi, ok := strings.Cut(fs[0], "-")
		if !ok {
			continue
		}
		s, err1 := strconv.ParseUint(strings.TrimPrefix(lo, "0x"), 16, 64)
		e, err2 := strconv.ParseUint(strings.TrimPrefix(hi, "0x"), 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		a := vmArea{start: s, end: e, line: l}
		for _, f := range fs {
			if p, ok := strings.CutPrefix(f, "pages="); ok {
				a.pages, _ = strconv.ParseUint(p, 10, 64)
			}
		}
		out = append(out, a)
	}
	return out
}

// printModuleVmalloc prints the /proc/vmallocinfo lines of the areas that
// hold a section of a loaded module.
func printModuleVmalloc(areas []vmArea) {
	fmt.Printf("KDI-BEGIN vmalloc_modules /proc/vmallocinfo (areas holding module sections)\n")
	secs := map[string][]guestinit.Section{}
	mods := procModules()
	for _, m := range mods {
		secs[m.name] = guestinit.ModuleSections(m.name)
	}
	for _, a := range areas {
		if a.start < 0xc008000000000000 {
			continue
		}
		var who []string
		for _, m := range mods {
			for _, s := range secs[m.name] {
				if a.start <= s.Addr && s.Addr < a.end {
					who = append(who, m.name)
					break
				}
			}
		}
		if len(who) > 0 {
			fmt.Printf("vmalloc_modules| %s [%s]\n", a.line, strings.Join(who, ","))
		}
	}
	fmt.Printf("KDI-END vmalloc_modules\n")
}

// printStubs prints every module's .stubs bytes, from the .stubs address up
// to the bound: the lowest higher section address of the same module, or
// the end of the mapped pages of the vmalloc area holding .stubs if that
// comes first (on kernels with mem[] the module's next section can be in
// another allocation, with other modules' memory in between); else the end
// base+size of /proc/modules; at most 1 MiB. 40 bytes (one ppc64_stub_entry)
// a line.
func printStubs(k *guestinit.Kcore, areas []vmArea) {
	fmt.Printf("KDI-BEGIN stubs /proc/kcore (.stubs up to the next higher section of the module or the end of its vmalloc area)\n")
	pageSize := uint64(os.Getpagesize())
	for _, m := range procModules() {
		secs := guestinit.ModuleSections(m.name)
		var stubs uint64
		for _, s := range secs {
			if s.Name == ".stubs" {
				stubs = s.Addr
			}
		}
		if stubs == 0 {
			fmt.Printf("stubs| %s no .stubs section\n", m.name)
			continue
		}
		bound, boundBy := uint64(0), ""
		for _, s := range secs {
			if s.Addr > stubs && (bound == 0 || s.Addr < bound) {
				bound, boundBy = s.Addr, s.Name
			}
		}
		for _, a := range areas {
			if a.start <= stubs && stubs < a.end && a.pages > 0 {
				if e := a.start + a.pages*pageSize; e > stubs && (bound == 0 || e < bound) {
					bound, boundBy = e, fmt.Sprintf("end of vmalloc area %#x-%#x pages=%d", a.start, a.end, a.pages)
				}
			}
		}
		if bound == 0 && m.base <= stubs && stubs < m.base+m.size {
			bound, boundBy = m.base+m.size, "/proc/modules base+size"
		}
		if bound == 0 || bound-stubs > 1<<20 {
			bound, boundBy = stubs+1<<20, "1 MiB cap"
		}
		n := int(bound - stubs)
		b, err := k.Read(stubs, n)
		fmt.Printf("stubs| %s .stubs=%#x bound=%#x (%s) len=%d\n", m.name, stubs, bound, boundBy, n)
		if err != nil {
			fmt.Printf("stubs| %s error %v\n", m.name, err)
			continue
		}
		// one line per slot; a run of all-zero slots after the first zero
		// slot is one line "NAME zero FIRST-LAST ADDR-END" (END exclusive)
		zero := func(p []byte) bool { return len(bytes.Trim(p, "\x00")) == 0 }
		for off := 0; off < n; {
			e := min(off+40, n)
			fmt.Printf("stubs| %s %d %#x %s\n", m.name, off/40, stubs+uint64(off), hex.EncodeToString(b[off:e]))
			wasZero := zero(b[off:e])
			off = e
			if !wasZero {
				continue
			}
			z := off
			for z < n && zero(b[z:min(z+40, n)]) {
				z = min(z+40, n)
			}
			if z > off {
				fmt.Printf("stubs| %s zero %d-%d %#x-%#x\n", m.name, off/40, (z-1)/40, stubs+uint64(off), stubs+uint64(z))
				off = z
			}
		}
	}
	fmt.Printf("KDI-END stubs\n")
}

// printSites prints, for every function of enabled_functions, the 16 bytes
// before its kallsyms address and the 64 bytes from it (80 bytes from
// ADDR-16), read from /proc/kcore.
func printSites(k *guestinit.Kcore, syms []guestinit.Sym) {
	b, err := os.ReadFile(tracing + "/enabled_functions")
	if err != nil {
		return
	}
	type key struct{ name, mod string }
	addr := map[key][]uint64{}
	for _, s := range syms {
		if s.Type == "t" || s.Type == "T" || s.Type == "w" || s.Type == "W" {
			addr[key{s.Name, s.Mod}] = append(addr[key{s.Name, s.Mod}], s.Addr)
		}
	}
	fmt.Printf("KDI-BEGIN sites /proc/kcore (per enabled function: MOD NAME ADDR, then the 80 bytes from ADDR-16)\n")
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || l[0] == ' ' || l[0] == '\t' {
			continue
		}
		fs := strings.Fields(l)
		name, mod := fs[0], ""
		if len(fs) > 1 && strings.HasPrefix(fs[1], "[") {
			mod = strings.Trim(fs[1], "[]")
		}
		as := addr[key{name, mod}]
		if len(as) == 0 {
			fmt.Printf("sites| %s %s - not in kallsyms\n", orVmlinux(mod), name)
			continue
		}
		for _, a := range as {
			bs, err := k.Read(a-16, 80)
			if err != nil {
				fmt.Printf("sites| %s %s %#x error %v\n", orVmlinux(mod), name, a, err)
				continue
			}
			fmt.Printf("sites| %s %s %#x %s\n", orVmlinux(mod), name, a, hex.EncodeToString(bs))
		}
	}
	fmt.Printf("KDI-END sites\n")
}

func orVmlinux(mod string) string {
	if mod == "" {
		return "vmlinux"
	}
	return mod
}

// runTCP runs loopback traffic for each congestion control named in
// /modules/tcp.cc (one a line).
func runTCP() {
	cc, err := guestinit.ReadLines("/modules/tcp.cc")
	if err != nil {
		return
	}
	guestinit.LoopbackUp()
	for _, c := range cc {
		guestinit.TCPTraffic(c, 8<<20)
	}
}
