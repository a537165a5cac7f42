//go:build linux

// Package guestinit holds what the corpus guests' /init programs share
// (bench/x86-corpus/guestinit, bench/arm64-corpus/guestinit,
// bench/distro-dump/guestinit): mounting the kernel's filesystems, writing
// sysfs/procfs/tracefs files, loading modules with finit_module, the
// /kdi/load.list and command-file formats, reading kernel memory through
// /proc/kcore and /proc/kallsyms, loopback TCP traffic, and the truth
// blocks those programs print alike ("KDI-BEGIN TAG WHAT", "TAG| LINE"...,
// "KDI-END TAG"). What differs between the guests (the architecture's
// decoders, the blocks only one of them prints, the command port) stays in
// each program.
//
// Layer: bench, outside the tool (docs/ARCHITECTURE.md).
package guestinit

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
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

// Tracing is where tracefs is mounted.
const Tracing = "/sys/kernel/tracing"

// Logf prints one "kdi-init: " line on the console.
func Logf(format string, a ...any) {
	fmt.Printf("kdi-init: "+format+"\n", a...)
}

// Mount mounts fstype src on dir (made first); an already mounted dir
// (EBUSY) is no error.
func Mount(src, dir, fstype string) {
	_ = os.MkdirAll(dir, 0o755)
	if err := unix.Mount(src, dir, fstype, 0, ""); err != nil && err != unix.EBUSY {
		Logf("mount %s on %s: %v", fstype, dir, err)
	}
}

// MountAll mounts proc, sysfs, devtmpfs, tracefs and debugfs, in that order.
func MountAll() {
	Mount("proc", "/proc", "proc")
	Mount("sysfs", "/sys", "sysfs")
	Mount("devtmpfs", "/dev", "devtmpfs")
	Mount("tracefs", Tracing, "tracefs")
	Mount("debugfs", "/sys/kernel/debug", "debugfs")
}

// WriteFile writes s to path opened O_WRONLY|flag; a failure is logged,
// with verb naming the write ("write", "append").
func WriteFile(path, s string, flag int, verb string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|flag, 0)
	if err != nil {
		Logf("open %s: %v", path, err)
		return err
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		Logf("%s %q to %s: %v", verb, s, path, err)
		return err
	}
	return nil
}

// Write writes s to path opened with O_TRUNC.
func Write(path, s string) error { return WriteFile(path, s, os.O_TRUNC, "write") }

// Append writes s to path opened with O_APPEND.
func Append(path, s string) error { return WriteFile(path, s, os.O_APPEND, "write") }

// ReadLines returns the lines of a file, trimmed, without empty lines and
// "#" comment lines.
func ReadLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, nil
}

// Lines is ReadLines with an unreadable file read as no lines.
func Lines(path string) []string {
	l, _ := ReadLines(path)
	return l
}

// Begin and End print the marker lines around a truth block.
func Begin(tag, what string) { fmt.Printf("KDI-BEGIN %s %s\n", tag, what) }

// End: see Begin.
func End(tag string) { fmt.Printf("KDI-END %s\n", tag) }

// DumpFile prints a file between BEGIN/END marker lines, each line prefixed
// "TAG| " so that it can be told apart from kernel messages on the same
// console.
func DumpFile(tag, path string) {
	Begin(tag, path)
	f, err := os.Open(path)
	if err != nil {
		fmt.Printf("KDI-ERROR %s: %v\n", tag, err)
	} else {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			fmt.Printf("%s| %s\n", tag, sc.Text())
		}
		f.Close()
	}
	End(tag)
}

// LoadModule loads one module file with finit_module; a .ko.xz/.ko.zst/.ko.gz
// is handed to the kernel compressed (MODULE_INIT_COMPRESSED_FILE). It
// reports whether the module loaded.
func LoadModule(path, params string) bool {
	f, err := os.Open(path)
	if err != nil {
		Logf("open %s: %v", path, err)
		return false
	}
	defer f.Close()
	flags := 0
	if strings.HasSuffix(path, ".xz") || strings.HasSuffix(path, ".zst") || strings.HasSuffix(path, ".gz") {
		flags |= unix.MODULE_INIT_COMPRESSED_FILE
	}
	t := time.Now()
	if err := unix.FinitModule(int(f.Fd()), params, flags); err != nil {
		Logf("finit_module %s %q: %v", path, params, err)
		return false
	}
	Logf("loaded %s %q in %v", path, params, time.Since(t).Round(time.Millisecond))
	return true
}

// LoadList runs the lines of a load list: "FILE [PARAMS...]" loads
// dir/FILE (dependencies first); "!wait-livepatch" waits until no
// livepatch is in transition (a patch cannot be enabled while another one
// is), "!sleep DURATION" sleeps, "!cat FILE" logs the file's text.
func LoadList(lines []string, dir string) {
	for _, line := range lines {
		switch {
		case line == "!wait-livepatch":
			WaitLivepatch()
		case strings.HasPrefix(line, "!sleep "):
			d, _ := time.ParseDuration(strings.TrimPrefix(line, "!sleep "))
			time.Sleep(d)
		case strings.HasPrefix(line, "!cat "):
			b, err := os.ReadFile(strings.TrimPrefix(line, "!cat "))
			Logf("%s: %q %v", line, strings.TrimSpace(string(b)), err)
		default:
			file, params, _ := strings.Cut(line, " ")
			LoadModule(filepath.Join(dir, file), params)
		}
	}
}

// WaitLivepatch polls /sys/kernel/livepatch/*/transition until every patch
// has finished its transition (10 minutes at most).
func WaitLivepatch() {
	t := time.Now()
	for time.Since(t) < 10*time.Minute {
		busy := ""
		ts, _ := filepath.Glob("/sys/kernel/livepatch/*/transition")
		for _, p := range ts {
			if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) != "0" {
				busy = filepath.Base(filepath.Dir(p))
			}
		}
		if busy == "" {
			Logf("livepatch: no transition in progress (waited %v)", time.Since(t).Round(time.Millisecond))
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	Logf("livepatch: still in transition after 10 minutes")
}

// RunCommands runs the "write PATH VALUE", "sleep DURATION" and "cat PATH"
// lines of a file.
func RunCommands(path string) {
	for _, l := range Lines(path) {
		fs := strings.SplitN(l, " ", 3)
		switch {
		case len(fs) == 3 && fs[0] == "write":
			if Write(fs[1], fs[2]) == nil {
				Logf("%s = %s", fs[1], fs[2])
			}
		case len(fs) == 2 && fs[0] == "sleep":
			d, _ := time.ParseDuration(fs[1])
			time.Sleep(d)
		case len(fs) >= 2 && fs[0] == "cat":
			b, err := os.ReadFile(fs[1])
			Logf("cat %s: %q %v", fs[1], strings.TrimSpace(string(b)), err)
		default:
			Logf("%s: bad line %q", path, l)
		}
	}
}

// StartKdi is how the corpus guests with a /kdi directory begin: MountAll,
// kptr_restrict 0 (real addresses in /proc/kallsyms and the tracing
// files), console loglevel 7, the modules of /kdi/load.list (LoadList,
// from /kdi/modules), then the lines of /kdi/pre-commands (RunCommands).
func StartKdi() {
	MountAll()
	_ = Write("/proc/sys/kernel/kptr_restrict", "0")
	_ = Write("/proc/sys/kernel/printk", "7")
	LoadList(Lines("/kdi/load.list"), "/kdi/modules")
	RunCommands("/kdi/pre-commands")
}

// FtraceFilterFrom runs SetFtraceFilter with the lines of a file, if it
// has any.
func FtraceFilterFrom(path string) {
	if fl := Lines(path); len(fl) > 0 {
		SetFtraceFilter(fl)
	}
}

// KprobeEventsFrom appends the lines of a file to kprobe_events
// (AppendEach) and returns them.
func KprobeEventsFrom(path string) []string {
	kl := Lines(path)
	AppendEach(Append, Tracing+"/kprobe_events", "kprobe_events", kl)
	return kl
}

// SetFtraceFilter sets a small ring buffer (quick to read back under TCG),
// appends each filter line to set_ftrace_filter (one write each) and
// switches the function tracer on.
func SetFtraceFilter(filter []string) {
	_ = Write(Tracing+"/buffer_size_kb", "16")
	AppendEach(Append, Tracing+"/set_ftrace_filter", "set_ftrace_filter", filter)
	if Write(Tracing+"/current_tracer", "function") == nil {
		Logf("current_tracer = function")
	}
}

// AppendEach appends each line to path with appendFn (Append, or a
// guest's own), one write each, and logs "NAME += LINE" for those that
// took.
func AppendEach(appendFn func(path, s string) error, path, name string, lines []string) {
	for _, l := range lines {
		if appendFn(path, l+"\n") == nil {
			Logf("%s += %s", name, l)
		}
	}
}

// Kcore reads kernel virtual memory through /proc/kcore (an ELF file whose
// PT_LOAD segments carry virtual addresses).
type Kcore struct {
	F *os.File
	// Loads are the PT_LOAD program headers, in file order.
	Loads []Load
	// NotMapped makes the error of a read that no PT_LOAD covers (each
	// guest keeps its own wording); nil: "ADDR+N not in /proc/kcore".
	NotMapped func(addr uint64, n int) error
}

// Load is one PT_LOAD of /proc/kcore.
type Load struct {
	Vaddr, Paddr, Off, Filesz, Memsz uint64
}

// OpenKcore opens /proc/kcore and reads its program headers.
func OpenKcore() (*Kcore, error) {
	f, err := os.Open("/proc/kcore")
	if err != nil {
		return nil, err
	}
	ef, err := elfFile(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Kcore{F: f, Loads: ef}, nil
}

// KcoreOrNil opens /proc/kcore; when it cannot, it logs "kcore: ERR" and
// returns nil (whose reads fail with "no /proc/kcore").
func KcoreOrNil() *Kcore {
	kc, err := OpenKcore()
	if err != nil {
		Logf("kcore: %v", err)
		return nil
	}
	return kc
}

// Close closes /proc/kcore.
func (k *Kcore) Close() error { return k.F.Close() }

// Read reads n bytes at kernel virtual address addr.
func (k *Kcore) Read(addr uint64, n int) ([]byte, error) {
	if k == nil {
		return nil, fmt.Errorf("no /proc/kcore")
	}
	for _, p := range k.Loads {
		if addr >= p.Vaddr && addr+uint64(n) <= p.Vaddr+p.Memsz {
			b := make([]byte, n)
			if _, err := k.F.ReadAt(b, int64(p.Off+(addr-p.Vaddr))); err != nil && err != io.EOF {
				return nil, err
			}
			return b, nil
		}
	}
	if k.NotMapped != nil {
		return nil, k.NotMapped(addr, n)
	}
	return nil, fmt.Errorf("%#x+%d not in /proc/kcore", addr, n)
}

// U64 reads the little-endian 64-bit word at addr.
func (k *Kcore) U64(addr uint64) (uint64, error) {
	b, err := k.Read(addr, 8)
	if err != nil {
		return 0, err
	}
	return le64(b), nil
}

// Sym is one /proc/kallsyms line: "ADDR TYPE NAME [MOD]".
type Sym struct {
	Addr uint64
	Type string
	Name string
	Mod  string
}

// Kallsyms is /proc/kallsyms: every line, every symbol in file order, by
// name ("NAME" for every symbol of that name, "NAME [MOD]" for a module's),
// and sorted by address.
type Kallsyms struct {
	Lines  []string
	All    []Sym
	ByName map[string][]Sym
	Sorted []Sym
}

// ReadKallsyms reads /proc/kallsyms (an error: empty Kallsyms and the error).
func ReadKallsyms() (*Kallsyms, error) {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return &Kallsyms{ByName: map[string][]Sym{}}, err
	}
	defer f.Close()
	return parseKallsyms(f), nil
}

func parseKallsyms(r io.Reader) *Kallsyms {
	k := &Kallsyms{ByName: map[string][]Sym{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		k.Lines = append(k.Lines, l)
		a, fs, ok := ParseAddrLine(l)
		if !ok {
			continue
		}
		s := Sym{Addr: a, Type: fs[1], Name: fs[2]}
		if len(fs) > 3 {
			s.Mod = strings.Trim(fs[3], "[]")
		}
		k.All = append(k.All, s)
		k.ByName[s.Name] = append(k.ByName[s.Name], s)
		if s.Mod != "" {
			k.ByName[s.Name+" ["+s.Mod+"]"] = append(k.ByName[s.Name+" ["+s.Mod+"]"], s)
		}
	}
	k.Sorted = append([]Sym(nil), k.All...)
	sort.SliceStable(k.Sorted, func(i, j int) bool { return k.Sorted[i].Addr < k.Sorted[j].Addr })
	return k
}

// SectionModules returns the modules that have a /sys/module/MOD/sections
// directory, in name order.
func SectionModules() []string {
	dirs, _ := filepath.Glob("/sys/module/*/sections")
	sort.Strings(dirs)
	var out []string
	for _, d := range dirs {
		out = append(out, filepath.Base(filepath.Dir(d)))
	}
	return out
}

// PrintSectionFiles prints a "sections| MOD FILE TEXT" line for every file
// of /sys/module/MOD/sections that matches pattern, in name order, with
// its text as the kernel wrote it (trimmed).
func PrintSectionFiles(mod, pattern string) {
	secs, _ := filepath.Glob("/sys/module/" + mod + "/sections/" + pattern)
	sort.Strings(secs)
	for _, s := range secs {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		fmt.Printf("sections| %s %s %s\n", mod, filepath.Base(s), strings.TrimSpace(string(b)))
	}
}

// ParseAddrLine splits a "HEXADDR FIELD NAME ..." line (kallsyms, the
// kprobes list): the address, the fields, and whether there were at least
// three fields and a hex address.
func ParseAddrLine(l string) (uint64, []string, bool) {
	fs := strings.Fields(l)
	if len(fs) < 3 {
		return 0, nil, false
	}
	a, err := strconv.ParseUint(fs[0], 16, 64)
	if err != nil {
		return 0, nil, false
	}
	return a, fs, true
}

// First returns the address of a vmlinux symbol (no module), 0 if absent.
func (k *Kallsyms) First(name string) uint64 {
	for _, s := range k.ByName[name] {
		if s.Mod == "" {
			return s.Addr
		}
	}
	return 0
}

// Lookup names an address as sym+0xoff [mod] (the nearest symbol at or
// below it), spaces made underscores; "?" below the first symbol or for 0.
func (k *Kallsyms) Lookup(a uint64) string {
	i := sort.Search(len(k.Sorted), func(i int) bool { return k.Sorted[i].Addr > a })
	if i == 0 || a == 0 {
		return "?"
	}
	s := k.Sorted[i-1]
	r := s.Name
	if a != s.Addr {
		r += fmt.Sprintf("+%#x", a-s.Addr)
	}
	if s.Mod != "" {
		r += " [" + s.Mod + "]"
	}
	return strings.ReplaceAll(r, " ", "_")
}

// Section is one /sys/module/MOD/sections file: its name and address.
type Section struct {
	Name string
	Addr uint64
}

// ModuleSections reads every /sys/module/MOD/sections file, in name order.
func ModuleSections(mod string) []Section {
	var out []Section
	fs, _ := os.ReadDir("/sys/module/" + mod + "/sections")
	for _, f := range fs {
		b, err := os.ReadFile("/sys/module/" + mod + "/sections/" + f.Name())
		if err != nil {
			continue
		}
		a, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"), 16, 64)
		if err == nil {
			out = append(out, Section{f.Name(), a})
		}
	}
	return out
}

// Record is one line of available_filter_functions_addrs: "IP NAME [MOD]".
type Record struct {
	IP   uint64
	Name string // "NAME" or "NAME [MOD]"
	Line string
}

// FilterRecords reads available_filter_functions_addrs: every ftrace
// record's ip and name (the file exists from 6.5 on; none without it).
func FilterRecords() []Record {
	var out []Record
	f, err := os.Open(Tracing + "/available_filter_functions_addrs")
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		a, rest, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		ip, err := strconv.ParseUint(a, 16, 64)
		if err != nil {
			continue
		}
		out = append(out, Record{ip, rest, l})
	}
	return out
}

// Enabled is one line of enabled_functions with the ips of the ftrace
// records of its function (none when available_filter_functions_addrs
// has no record of that name).
type Enabled struct {
	Line, Name string
	IPs        []uint64
}

// EnabledRecords joins enabled_functions (names: "%ps", module in
// brackets) with recs (available_filter_functions_addrs) on the name:
// every line, in order, with every candidate ip.
func EnabledRecords(recs []Record) []Enabled {
	byName := map[string][]uint64{}
	for _, r := range recs {
		byName[r.Name] = append(byName[r.Name], r.IP)
	}
	var out []Enabled
	for _, l := range Lines(Tracing + "/enabled_functions") {
		name := EnabledName(l)
		out = append(out, Enabled{l, name, byName[name]})
	}
	return out
}

// EnabledName is the function of an enabled_functions line: "NAME" or
// "NAME [MOD]", without the "(REFS) FLAGS..." that follow.
func EnabledName(l string) string {
	if i := strings.Index(l, " ("); i > 0 {
		return l[:i]
	}
	return l
}

// PrintCPUInfo prints the first CPU of /proc/cpuinfo (block cpuinfo).
func PrintCPUInfo() {
	Begin("cpuinfo", "/proc/cpuinfo (cpu 0)")
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		first, _, _ := strings.Cut(string(b), "\n\n")
		for _, l := range strings.Split(first, "\n") {
			fmt.Printf("cpuinfo| %s\n", l)
		}
	}
	End("cpuinfo")
}

// PrintKallsymsModules prints the /proc/kallsyms lines of modules (block
// kallsyms_modules).
func PrintKallsymsModules(ks *Kallsyms) {
	Begin("kallsyms_modules", "/proc/kallsyms lines with [module]")
	for _, l := range ks.Lines {
		if strings.Contains(l, "\t[") {
			fmt.Printf("kallsyms_modules| %s\n", l)
		}
	}
	End("kallsyms_modules")
}

// PrintKallsymsVmlinux prints the /proc/kallsyms lines of the vmlinux
// symbols named in list (block kallsyms_vmlinux), then a "- - NAME (not
// in /proc/kallsyms)" line for each name it did not find.
func PrintKallsymsVmlinux(ks *Kallsyms, list string) {
	Begin("kallsyms_vmlinux", "/proc/kallsyms lines of "+list)
	want := map[string]bool{}
	for _, s := range Lines(list) {
		want[s] = true
	}
	found := map[string]bool{}
	for _, l := range ks.Lines {
		fs := strings.Fields(l)
		if len(fs) == 3 && want[fs[2]] {
			fmt.Printf("kallsyms_vmlinux| %s\n", l)
			found[fs[2]] = true
		}
	}
	for _, s := range Lines(list) {
		if !found[s] {
			fmt.Printf("kallsyms_vmlinux| - - %s (not in /proc/kallsyms)\n", s)
		}
	}
	End("kallsyms_vmlinux")
}

// PrintPercpu prints __per_cpu_offset[cpu] for every possible cpu (block
// percpu), the array at perCPUOffset; nothing between the markers when
// perCPUOffset is 0.
func PrintPercpu(kc *Kcore, perCPUOffset uint64) {
	Begin("percpu", "__per_cpu_offset[cpu] for every possible cpu")
	if perCPUOffset != 0 {
		ncpu := 0
		if b, err := os.ReadFile("/sys/devices/system/cpu/possible"); err == nil {
			s := strings.TrimSpace(string(b))
			if _, hi, ok := strings.Cut(s, "-"); ok {
				ncpu, _ = strconv.Atoi(hi)
			}
			ncpu++
		}
		for c := 0; c < ncpu; c++ {
			if v, err := kc.U64(perCPUOffset + uint64(8*c)); err == nil {
				fmt.Printf("percpu| cpu%d %016x\n", c, v)
			}
		}
	}
	End("percpu")
}

// KprobeAddrs returns the address and the third field (the probed
// place) of every line of the kprobes list.
func KprobeAddrs() []Sym {
	var out []Sym
	for _, l := range Lines("/sys/kernel/debug/kprobes/list") {
		if a, fs, ok := ParseAddrLine(l); ok {
			out = append(out, Sym{Addr: a, Type: fs[1], Name: fs[2]})
		}
	}
	return out
}

// PrintLivepatch prints every file of /sys/kernel/livepatch with its
// text (block livepatch).
func PrintLivepatch() {
	Begin("livepatch", "/sys/kernel/livepatch")
	_ = filepath.Walk("/sys/kernel/livepatch", func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		fmt.Printf("livepatch| %s %s\n", p, strings.TrimSpace(string(b)))
		return nil
	})
	End("livepatch")
}

// PrintTraceTail prints the last n lines of the trace (block trace_tail,
// described as what), giving up after 120 s of reading.
func PrintTraceTail(n int, what string) {
	Begin("trace_tail", what)
	done := make(chan []byte, 1)
	go func() {
		b, err := os.ReadFile(Tracing + "/trace")
		if err != nil {
			Logf("read trace: %v", err)
		}
		done <- b
	}()
	select {
	case b := <-done:
		ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(ls) > n {
			ls = ls[len(ls)-n:]
		}
		for _, l := range ls {
			fmt.Printf("trace_tail| %s\n", l)
		}
	case <-time.After(120 * time.Second):
		fmt.Printf("KDI-ERROR trace_tail: reading %s/trace took more than 120 s\n", Tracing)
	}
	End("trace_tail")
}

// PrintVmcoreinfo prints the VMCOREINFO text from memory:
// vmcoreinfo_data[0:vmcoreinfo_size], the two variables at dataSym and
// sizeSym (block vmcoreinfo; nothing between the markers when either is
// 0 or unreadable). With header, a "# vmcoreinfo_data=P
// vmcoreinfo_size=N" line comes first.
func PrintVmcoreinfo(kc *Kcore, dataSym, sizeSym uint64, header bool) {
	Begin("vmcoreinfo", "vmcoreinfo_data[0:vmcoreinfo_size] read through /proc/kcore")
	if dataSym != 0 && sizeSym != 0 {
		p, err1 := kc.U64(dataSym)
		n, err2 := kc.U64(sizeSym)
		if err1 == nil && err2 == nil {
			if txt, err := kc.Read(p, int(n)); err == nil {
				if header {
					fmt.Printf("vmcoreinfo| # vmcoreinfo_data=%#x vmcoreinfo_size=%d\n", p, n)
				}
				for _, l := range strings.Split(strings.TrimRight(string(bytes.TrimRight(txt, "\x00")), "\n"), "\n") {
					fmt.Printf("vmcoreinfo| %s\n", l)
				}
			} else {
				fmt.Printf("KDI-ERROR vmcoreinfo: %v\n", err)
			}
		}
	}
	End("vmcoreinfo")
}

// CommandInput opens the serial port the host sends commands on (the
// console is output only), with echo off and, if raw, non-canonical reads
// of at least one byte; stdin when it cannot be opened.
func CommandInput(dev string, raw bool) (io.Reader, error) {
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return os.Stdin, err
	}
	if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
		t.Lflag &^= unix.ECHO | unix.ECHONL
		if raw {
			t.Lflag &^= unix.ICANON
			t.Cc[unix.VMIN] = 1
			t.Cc[unix.VTIME] = 0
		}
		_ = unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
	}
	Logf("reading commands from %s", dev)
	return f, nil
}

// TruthBegin prints the line that opens one print of the ground truth
// (suffix tells repeated prints apart) with the time.
func TruthBegin(suffix string) {
	fmt.Printf("KDI-TRUTH-BEGIN%s %s\n", suffix, time.Now().UTC().Format(time.RFC3339Nano))
}

// TruthEnd prints the line that closes it.
func TruthEnd(suffix string) { fmt.Printf("KDI-TRUTH-END%s\n", suffix) }

// Ready gives the guest a second more, prints the truth (suffix ""),
// syncs and prints KDI-READY: the host may dump from then on.
func Ready(truth func(suffix string)) {
	time.Sleep(time.Second)
	truth("")
	unix.Sync()
	fmt.Println("KDI-READY")
}

// Commands runs the commands the host sends, one a line: "truth" calls
// truth with the suffix "-N" (N counting from 1) and prints KDI-READY,
// "sync" syncs and prints KDI-SYNCED, an empty line does nothing; any other
// command goes to more, and is logged as unknown when more is nil or
// returns false. It returns when in ends.
func Commands(in io.Reader, truth func(suffix string), more func(cmd string) bool) {
	sc := bufio.NewScanner(in)
	n := 0
	for sc.Scan() {
		switch cmd := strings.TrimSpace(sc.Text()); cmd {
		case "truth":
			n++
			truth(fmt.Sprintf("-%d", n))
			fmt.Println("KDI-READY")
		case "sync":
			unix.Sync()
			fmt.Println("KDI-SYNCED")
		case "":
		default:
			if more == nil || !more(cmd) {
				Logf("unknown command %q", cmd)
			}
		}
	}
}

// SleepForever sleeps forever (an /init must not exit).
func SleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

// LoopbackUp sets IFF_UP on lo.
func LoopbackUp() {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		Logf("socket: %v", err)
		return
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		Logf("ifreq: %v", err)
		return
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		Logf("SIOCGIFFLAGS lo: %v", err)
		return
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		Logf("SIOCSIFFLAGS lo: %v", err)
		return
	}
	Logf("lo up")
}

// TCPTraffic sends n bytes over a loopback TCP connection whose client
// socket uses congestion control cc (TCP_CONGESTION).
func TCPTraffic(cc string, n int) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		Logf("listen: %v", err)
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
		Logf("tcp %s: dial: %v", cc, err)
		return
	}
	buf := make([]byte, 64<<10)
	t := time.Now()
	sent := 0
	for sent < n {
		w, err := c.Write(buf)
		if err != nil {
			Logf("tcp %s: write: %v", cc, err)
			break
		}
		sent += w
	}
	c.Close()
	Logf("tcp %s: sent %d bytes, server got %d, in %v", cc, sent, <-done, time.Since(t).Round(time.Millisecond))
}

func elfFile(f *os.File) ([]Load, error) {
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, err
	}
	var out []Load
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD {
			out = append(out, Load{Vaddr: p.Vaddr, Paddr: p.Paddr, Off: p.Off, Filesz: p.Filesz, Memsz: p.Memsz})
		}
	}
	return out, nil
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
