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
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// kcore maps kernel virtual addresses to /proc/kcore file offsets through
// its PT_LOAD program headers.
type kcore struct {
	f    *os.File
	segs []kseg
}

type kseg struct{ vaddr, off, size uint64 }

func openKcore() (*kcore, error) {
	f, err := os.Open("/proc/kcore")
	if err != nil {
		return nil, err
	}
	var eh [64]byte
	if _, err := f.ReadAt(eh[:], 0); err != nil {
		f.Close()
		return nil, err
	}
	if !bytes.Equal(eh[:4], []byte("\x7fELF")) || eh[4] != 2 {
		f.Close()
		return nil, fmt.Errorf("/proc/kcore: not ELF64")
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if eh[5] == 2 {
		bo = binary.BigEndian
	}
	phoff := bo.Uint64(eh[0x20:])
	phentsize := uint64(bo.Uint16(eh[0x36:]))
	phnum := int(bo.Uint16(eh[0x38:]))
	k := &kcore{f: f}
	ph := make([]byte, phentsize)
	for i := 0; i < phnum; i++ {
		if _, err := f.ReadAt(ph, int64(phoff+uint64(i)*phentsize)); err != nil {
			break
		}
		if bo.Uint32(ph[0:]) != 1 { // PT_LOAD
			continue
		}
		k.segs = append(k.segs, kseg{vaddr: bo.Uint64(ph[16:]), off: bo.Uint64(ph[8:]), size: bo.Uint64(ph[32:])})
	}
	return k, nil
}

func (k *kcore) read(va uint64, n int) ([]byte, error) {
	for _, s := range k.segs {
		if va >= s.vaddr && va+uint64(n) <= s.vaddr+s.size {
			b := make([]byte, n)
			_, err := k.f.ReadAt(b, int64(s.off+va-s.vaddr))
			return b, err
		}
	}
	return nil, fmt.Errorf("%#x+%d not in any /proc/kcore PT_LOAD", va, n)
}

func printKcoreSegs(k *kcore) {
	fmt.Printf("KDI-BEGIN kcore_loads /proc/kcore\n")
	for _, s := range k.segs {
		fmt.Printf("kcore_loads| vaddr=%#x size=%#x offset=%#x\n", s.vaddr, s.size, s.off)
	}
	fmt.Printf("KDI-END kcore_loads\n")
}

// kallsyms: "ADDR TYPE NAME [MOD]" lines.
type ksym struct {
	addr      uint64
	typ       string
	name, mod string
}

func readKallsyms() []ksym {
	var out []ksym
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		logf("%v", err)
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 {
			continue
		}
		a, err := strconv.ParseUint(fs[0], 16, 64)
		if err != nil {
			continue
		}
		s := ksym{addr: a, typ: fs[1], name: fs[2]}
		if len(fs) > 3 {
			s.mod = strings.Trim(fs[3], "[]")
		}
		out = append(out, s)
	}
	return out
}

// printWantedSymbols prints the vmlinux symbols named in /modules/kallsyms.want
// (every line of /proc/kallsyms with that name and no [module]).
func printWantedSymbols(syms []ksym) {
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
		if s.mod == "" && want[s.name] {
			fmt.Printf("kallsyms_vmlinux| %016x %s %s\n", s.addr, s.typ, s.name)
			seen[s.name] = true
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
func printVmcoreinfo(k *kcore) {
	dumpFile("vmcoreinfo_addr", "/sys/kernel/vmcoreinfo")
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
	note, err := k.read(0xc000000000000000+pa, int(size))
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

type section struct {
	name string
	addr uint64
}

func moduleSections(mod string) []section {
	var out []section
	secs, _ := filepath.Glob("/sys/module/" + mod + "/sections/*")
	for _, s := range secs {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		a, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"), 16, 64)
		if err != nil {
			continue
		}
		out = append(out, section{filepath.Base(s), a})
	}
	return out
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
		logf("%v", err)
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
	secs := map[string][]section{}
	mods := procModules()
	for _, m := range mods {
		secs[m.name] = moduleSections(m.name)
	}
	for _, a := range areas {
		if a.start < 0xc008000000000000 {
			continue
		}
		var who []string
		for _, m := range mods {
			for _, s := range secs[m.name] {
				if a.start <= s.addr && s.addr < a.end {
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
func printStubs(k *kcore, areas []vmArea) {
	fmt.Printf("KDI-BEGIN stubs /proc/kcore (.stubs up to the next higher section of the module or the end of its vmalloc area)\n")
	pageSize := uint64(os.Getpagesize())
	for _, m := range procModules() {
		secs := moduleSections(m.name)
		var stubs uint64
		for _, s := range secs {
			if s.name == ".stubs" {
				stubs = s.addr
			}
		}
		if stubs == 0 {
			fmt.Printf("stubs| %s no .stubs section\n", m.name)
			continue
		}
		bound, boundBy := uint64(0), ""
		for _, s := range secs {
			if s.addr > stubs && (bound == 0 || s.addr < bound) {
				bound, boundBy = s.addr, s.name
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
		b, err := k.read(stubs, n)
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
func printSites(k *kcore, syms []ksym) {
	b, err := os.ReadFile(tracing + "/enabled_functions")
	if err != nil {
		return
	}
	type key struct{ name, mod string }
	addr := map[key][]uint64{}
	for _, s := range syms {
		if s.typ == "t" || s.typ == "T" || s.typ == "w" || s.typ == "W" {
			addr[key{s.name, s.mod}] = append(addr[key{s.name, s.mod}], s.addr)
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
			bs, err := k.read(a-16, 80)
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

// loopbackUp sets IFF_UP on lo.
func loopbackUp() {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		logf("socket: %v", err)
		return
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		logf("ifreq: %v", err)
		return
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		logf("SIOCGIFFLAGS lo: %v", err)
		return
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		logf("SIOCSIFFLAGS lo: %v", err)
		return
	}
	logf("lo up")
}

// tcpTraffic sends n bytes over a loopback TCP connection whose client
// socket uses congestion control cc (TCP_CONGESTION).
func tcpTraffic(cc string, n int) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		logf("listen: %v", err)
		return
	}
	defer ln.Close()
	done := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- -1
			return
		}
		defer c.Close()
		got, _ := io.Copy(io.Discard, c)
		done <- got
	}()
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, cc)
		}); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		logf("tcp %s: dial: %v", cc, err)
		return
	}
	buf := make([]byte, 64<<10)
	t := time.Now()
	sent := 0
	for sent < n {
		w, err := c.Write(buf)
		if err != nil {
			logf("tcp %s: write: %v", cc, err)
			break
		}
		sent += w
	}
	c.Close()
	logf("tcp %s: sent %d bytes, server got %d, in %v", cc, sent, <-done, time.Since(t).Round(time.Millisecond))
}

// runTCP runs loopback traffic for each congestion control named in
// /modules/tcp.cc (one a line).
func runTCP() {
	b, err := os.ReadFile("/modules/tcp.cc")
	if err != nil {
		return
	}
	loopbackUp()
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			tcpTraffic(l, 8<<20)
		}
	}
}
