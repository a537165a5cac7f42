//go:build linux

// Command guestinit is the /init of the x86_64 corpus initramfs
// (bench/x86-corpus): it mounts proc, sysfs, devtmpfs, tracefs and debugfs,
// loads the modules listed in /kdi/load.list with finit_module, turns the
// function tracer on for the functions in /kdi/ftrace.filter, adds the
// kprobes in /kdi/kprobe.events, prints the ground truth between marker
// lines (each line prefixed "TAG| ") on the console (ttyS0), prints
// KDI-READY and then reads commands from the second serial port (ttyS1):
//
//	truth      print the ground truth again (tags unchanged, block names get a suffix)
//	loop       empty set_ftrace_filter, then forever: function > current_tracer; nop > current_tracer
//	sync       sync and print KDI-SYNCED
//	trace      read the whole trace file and print how long that took
//	trace-stopped  the same with tracing_on 0 during the read
//
// The host dumps the guest's memory from the QEMU monitor.
//
// Truth blocks: uname, cmdline, cpuinfo (first CPU), vulnerabilities,
// iomem, modules, sections, kallsyms_modules, kallsyms_vmlinux (the names in
// /kdi/symbols.list), enabled_functions, site_bytes (the 16 bytes at every
// enabled record's ip, read from /proc/kcore), tramp_bytes (256 bytes at
// every trampoline named by enabled_functions), kprobes_list, kprobe_bytes,
// module_records (available_filter_functions_addrs lines of modules),
// livepatch (/sys/kernel/livepatch tree), trace_tail, vmcoreinfo (the
// /sys/kernel/vmcoreinfo location and the note text, read from memory).
//
// Build: CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build ./bench/x86-corpus/guestinit
//
// Layer: bench, outside the tool (docs/ARCHITECTURE.md).
package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const tracing = "/sys/kernel/tracing"

func logf(format string, a ...any) {
	fmt.Printf("kdi-init: "+format+"\n", a...)
}

func mount(src, dir, fstype string) {
	_ = os.MkdirAll(dir, 0o755)
	if err := unix.Mount(src, dir, fstype, 0, ""); err != nil && err != unix.EBUSY {
		logf("mount %s on %s: %v", fstype, dir, err)
	}
}

func writeFile(path, s string, flag int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|flag, 0)
	if err != nil {
		logf("open %s: %v", path, err)
		return err
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		logf("write %q to %s: %v", s, path, err)
		return err
	}
	return nil
}

func write(path, s string) error    { return writeFile(path, s, os.O_TRUNC) }
func appendTo(path, s string) error { return writeFile(path, s, os.O_APPEND) }

func lines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func begin(tag, what string) { fmt.Printf("KDI-BEGIN %s %s\n", tag, what) }
func end(tag string)         { fmt.Printf("KDI-END %s\n", tag) }

// dumpFile prints a file between BEGIN/END marker lines, each line prefixed
// so that it can be told apart from kernel messages on the same console.
func dumpFile(tag, path string) {
	begin(tag, path)
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
	end(tag)
}

// loadModule loads one module file with finit_module; a .ko.xz/.ko.zst is
// handed to the kernel compressed (MODULE_INIT_COMPRESSED_FILE).
func loadModule(path, params string) {
	f, err := os.Open(path)
	if err != nil {
		logf("open %s: %v", path, err)
		return
	}
	defer f.Close()
	flags := 0
	if strings.HasSuffix(path, ".xz") || strings.HasSuffix(path, ".zst") || strings.HasSuffix(path, ".gz") {
		flags |= unix.MODULE_INIT_COMPRESSED_FILE
	}
	t := time.Now()
	if err := unix.FinitModule(int(f.Fd()), params, flags); err != nil {
		logf("finit_module %s %q: %v", path, params, err)
		return
	}
	logf("loaded %s %q in %v", path, params, time.Since(t).Round(time.Millisecond))
}

// kcore reads kernel virtual memory through /proc/kcore (an ELF file whose
// PT_LOAD segments carry virtual addresses).
type kcore struct {
	f     *os.File
	progs []*elf.Prog
}

func openKcore() *kcore {
	f, err := os.Open("/proc/kcore")
	if err != nil {
		logf("kcore: %v", err)
		return nil
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		logf("kcore: %v", err)
		f.Close()
		return nil
	}
	k := &kcore{f: f}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD {
			k.progs = append(k.progs, p)
		}
	}
	return k
}

func (k *kcore) read(addr uint64, n int) ([]byte, error) {
	if k == nil {
		return nil, fmt.Errorf("no /proc/kcore")
	}
	for _, p := range k.progs {
		if addr >= p.Vaddr && addr+uint64(n) <= p.Vaddr+p.Memsz {
			b := make([]byte, n)
			if _, err := k.f.ReadAt(b, int64(p.Off+(addr-p.Vaddr))); err != nil && err != io.EOF {
				return nil, err
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("%#x not in /proc/kcore", addr)
}

// kallsyms: name -> addresses, and "name [mod]" -> addresses.
type kallsyms struct {
	byName map[string][]uint64
	lines  []string
}

func readKallsyms() *kallsyms {
	k := &kallsyms{byName: map[string][]uint64{}}
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return k
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		k.lines = append(k.lines, l)
		fs := strings.Fields(l)
		if len(fs) < 3 {
			continue
		}
		a, err := strconv.ParseUint(fs[0], 16, 64)
		if err != nil {
			continue
		}
		k.byName[fs[2]] = append(k.byName[fs[2]], a)
	}
	return k
}

func printBytes(kc *kcore, tag, label string, addr uint64, n int) {
	b, err := kc.read(addr, n)
	if err != nil {
		fmt.Printf("%s| %016x %s error: %v\n", tag, addr, label, err)
		return
	}
	fmt.Printf("%s| %016x %s %s\n", tag, addr, label, hex.EncodeToString(b))
}

var trampRe = regexp.MustCompile(`tramp: 0x([0-9a-f]+)`)

// printTruth prints every truth block; suffix distinguishes repeated prints.
func printTruth(suffix string) {
	fmt.Printf("KDI-TRUTH-BEGIN%s %s\n", suffix, time.Now().UTC().Format(time.RFC3339Nano))
	kc := openKcore()
	if kc != nil {
		defer kc.f.Close()
	}
	ks := readKallsyms()

	dumpFile("uname", "/proc/version")
	dumpFile("cmdline", "/proc/cmdline")
	// first CPU of /proc/cpuinfo (flags, address sizes: "57 bits virtual" = LA57)
	begin("cpuinfo", "/proc/cpuinfo (cpu 0)")
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		first, _, _ := strings.Cut(string(b), "\n\n")
		for _, l := range strings.Split(first, "\n") {
			fmt.Printf("cpuinfo| %s\n", l)
		}
	}
	end("cpuinfo")
	begin("vulnerabilities", "/sys/devices/system/cpu/vulnerabilities")
	vs, _ := filepath.Glob("/sys/devices/system/cpu/vulnerabilities/*")
	sort.Strings(vs)
	for _, v := range vs {
		b, _ := os.ReadFile(v)
		fmt.Printf("vulnerabilities| %s: %s\n", filepath.Base(v), strings.TrimSpace(string(b)))
	}
	end("vulnerabilities")
	dumpFile("iomem", "/proc/iomem")
	dumpFile("modules", "/proc/modules")

	mods, _ := filepath.Glob("/sys/module/*/sections")
	sort.Strings(mods)
	begin("sections", "/sys/module/*/sections/*")
	for _, dir := range mods {
		name := filepath.Base(filepath.Dir(dir))
		secs, _ := filepath.Glob(dir + "/.*")
		sort.Strings(secs)
		for _, s := range secs {
			b, err := os.ReadFile(s)
			if err != nil {
				continue
			}
			fmt.Printf("sections| %s %s %s\n", name, filepath.Base(s), strings.TrimSpace(string(b)))
		}
	}
	end("sections")

	begin("kallsyms_modules", "/proc/kallsyms lines with [module]")
	for _, l := range ks.lines {
		if strings.Contains(l, "\t[") {
			fmt.Printf("kallsyms_modules| %s\n", l)
		}
	}
	end("kallsyms_modules")

	begin("kallsyms_vmlinux", "/proc/kallsyms lines of /kdi/symbols.list")
	want := map[string]bool{}
	for _, s := range lines("/kdi/symbols.list") {
		want[s] = true
	}
	found := map[string]bool{}
	for _, l := range ks.lines {
		fs := strings.Fields(l)
		if len(fs) == 3 && want[fs[2]] {
			fmt.Printf("kallsyms_vmlinux| %s\n", l)
			found[fs[2]] = true
		}
	}
	for _, s := range lines("/kdi/symbols.list") {
		if !found[s] {
			fmt.Printf("kallsyms_vmlinux| - - %s (not in /proc/kallsyms)\n", s)
		}
	}
	end("kallsyms_vmlinux")

	// The per-CPU offsets (for text_poke_array_refs and friends) and the
	// values of a few variables, read from memory.
	begin("percpu", "__per_cpu_offset[cpu] for every possible cpu")
	if a := ks.byName["__per_cpu_offset"]; len(a) == 1 {
		ncpu := 0
		if b, err := os.ReadFile("/sys/devices/system/cpu/possible"); err == nil {
			s := strings.TrimSpace(string(b))
			if _, hi, ok := strings.Cut(s, "-"); ok {
				ncpu, _ = strconv.Atoi(hi)
			}
			ncpu++
		}
		for c := 0; c < ncpu; c++ {
			b, err := kc.read(a[0]+uint64(8*c), 8)
			if err == nil {
				fmt.Printf("percpu| cpu%d %016x\n", c, binary.LittleEndian.Uint64(b))
			}
		}
	}
	end("percpu")

	begin("variables", "8 bytes at selected variables (little-endian u64)")
	for _, name := range []string{"page_offset_base", "vmalloc_base", "vmemmap_base", "phys_base", "__pgtable_l5_enabled", "pgdir_shift", "ptrs_per_p4d", "kaslr_offset", "vmcoreinfo_data", "vmcoreinfo_size", "sme_me_mask", "ftrace_trace_function", "function_trace_op", "ftrace_ops_list", "ftrace_number_of_pages", "ftrace_number_of_groups"} {
		for _, a := range ks.byName[name] {
			if b, err := kc.read(a, 8); err == nil {
				fmt.Printf("variables| %s %016x %016x\n", name, a, binary.LittleEndian.Uint64(b))
			}
		}
	}
	end("variables")

	dumpFile("enabled_functions", tracing+"/enabled_functions")

	// ip of every enabled record: enabled_functions prints names ("%ps",
	// module in brackets); available_filter_functions_addrs prints "ip name
	// [mod]" for every record. Join on the name; print every candidate.
	recs := map[string][]uint64{}
	var modRecs []string
	if f, err := os.Open(tracing + "/available_filter_functions_addrs"); err == nil {
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
			recs[rest] = append(recs[rest], ip)
			if strings.Contains(rest, "[") {
				modRecs = append(modRecs, l)
			}
		}
		f.Close()
	}
	begin("site_bytes", "ip name: 16 bytes at every enabled record's ip (/proc/kcore)")
	tramps := map[uint64]string{}
	for _, l := range lines(tracing + "/enabled_functions") {
		name := l
		if i := strings.Index(l, " ("); i > 0 {
			name = l[:i]
		}
		ips := recs[name]
		if len(ips) == 0 {
			fmt.Printf("site_bytes| - %s: no record in available_filter_functions_addrs\n", name)
		}
		for _, ip := range ips {
			label := name
			if len(ips) > 1 {
				label += fmt.Sprintf(" (one of %d records of this name)", len(ips))
			}
			printBytes(kc, "site_bytes", strings.ReplaceAll(label, " ", "_"), ip, 16)
		}
		if m := trampRe.FindStringSubmatch(l); m != nil {
			t, _ := strconv.ParseUint(m[1], 16, 64)
			tramps[t] = l
		}
	}
	end("site_bytes")
	begin("tramp_bytes", "256 bytes at every trampoline named by enabled_functions")
	var ts []uint64
	for t := range tramps {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	for _, t := range ts {
		printBytes(kc, "tramp_bytes", "tramp", t, 256)
	}
	end("tramp_bytes")

	dumpFile("kprobe_events", tracing+"/kprobe_events")
	dumpFile("kprobes_list", "/sys/kernel/debug/kprobes/list")
	begin("kprobe_bytes", "16 bytes at every address of the kprobes list")
	for _, l := range lines("/sys/kernel/debug/kprobes/list") {
		fs := strings.Fields(l)
		if len(fs) < 3 {
			continue
		}
		a, err := strconv.ParseUint(fs[0], 16, 64)
		if err != nil {
			continue
		}
		printBytes(kc, "kprobe_bytes", fs[2], a, 16)
	}
	end("kprobe_bytes")

	begin("module_records", "available_filter_functions_addrs lines of modules")
	for _, l := range modRecs {
		fmt.Printf("module_records| %s\n", l)
	}
	end("module_records")

	begin("livepatch", "/sys/kernel/livepatch")
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
	end("livepatch")

	dumpFile("current_tracer", tracing+"/current_tracer")
	dumpFile("set_ftrace_filter", tracing+"/set_ftrace_filter")
	// the last 60 lines of the trace (read with a time limit). Recording is
	// switched off for the read (tracing_on 0; the ftrace sites stay as they
	// are): otherwise the reader's own vfs_read events keep overwriting the
	// small ring buffer under the non-consuming iterator, and under TCG the
	// read did not end within minutes.
	_ = write(tracing+"/tracing_on", "0")
	defer write(tracing+"/tracing_on", "1")
	begin("trace_tail", tracing+"/trace (last 60 lines)")
	done := make(chan []byte, 1)
	go func() {
		b, err := os.ReadFile(tracing + "/trace")
		if err != nil {
			logf("read trace: %v", err)
		}
		done <- b
	}()
	select {
	case b := <-done:
		ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(ls) > 60 {
			ls = ls[len(ls)-60:]
		}
		for _, l := range ls {
			fmt.Printf("trace_tail| %s\n", l)
		}
	case <-time.After(120 * time.Second):
		fmt.Printf("KDI-ERROR trace_tail: reading %s/trace took more than 120 s\n", tracing)
	}
	end("trace_tail")

	// VMCOREINFO: the location the kernel gives, and the text from memory.
	dumpFile("vmcoreinfo_location", "/sys/kernel/vmcoreinfo")
	begin("vmcoreinfo", "vmcoreinfo_data[0:vmcoreinfo_size] read through /proc/kcore")
	if d, s := ks.byName["vmcoreinfo_data"], ks.byName["vmcoreinfo_size"]; len(d) == 1 && len(s) == 1 {
		pb, err1 := kc.read(d[0], 8)
		sb, err2 := kc.read(s[0], 8)
		if err1 == nil && err2 == nil {
			p, n := binary.LittleEndian.Uint64(pb), binary.LittleEndian.Uint64(sb)
			if txt, err := kc.read(p, int(n)); err == nil {
				for _, l := range strings.Split(strings.TrimRight(string(bytes.TrimRight(txt, "\x00")), "\n"), "\n") {
					fmt.Printf("vmcoreinfo| %s\n", l)
				}
			} else {
				fmt.Printf("KDI-ERROR vmcoreinfo: %v\n", err)
			}
		}
	}
	end("vmcoreinfo")
	dumpFile("meminfo", "/proc/meminfo")
	fmt.Printf("KDI-TRUTH-END%s\n", suffix)
}

// waitLivepatch polls /sys/kernel/livepatch/*/transition until every patch
// has finished its transition (10 minutes at most).
func waitLivepatch() {
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
			logf("livepatch: no transition in progress (waited %v)", time.Since(t).Round(time.Millisecond))
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	logf("livepatch: still in transition after 10 minutes")
}

// runCommands runs the "write PATH VALUE" and "sleep DURATION" lines of a file.
func runCommands(path string) {
	for _, l := range lines(path) {
		fs := strings.SplitN(l, " ", 3)
		if len(fs) == 3 && fs[0] == "write" {
			if write(fs[1], fs[2]) == nil {
				logf("%s = %s", fs[1], fs[2])
			}
		} else if len(fs) >= 2 && fs[0] == "sleep" {
			d, _ := time.ParseDuration(fs[1])
			time.Sleep(d)
		} else {
			logf("%s: bad line %q", path, l)
		}
	}
}

// loop toggles the function tracer on every function forever.
func loop() {
	_ = write(tracing+"/set_ftrace_filter", "\n")
	logf("set_ftrace_filter emptied; looping function/nop")
	for i := 0; ; i++ {
		t := time.Now()
		_ = write(tracing+"/current_tracer", "function")
		t1 := time.Since(t)
		_ = write(tracing+"/current_tracer", "nop")
		fmt.Printf("KDI-LOOP %d function %v nop %v\n", i, t1.Round(time.Millisecond), (time.Since(t) - t1).Round(time.Millisecond))
	}
}

func main() {
	mount("proc", "/proc", "proc")
	mount("sysfs", "/sys", "sysfs")
	mount("devtmpfs", "/dev", "devtmpfs")
	mount("tracefs", tracing, "tracefs")
	mount("debugfs", "/sys/kernel/debug", "debugfs")
	_ = write("/proc/sys/kernel/kptr_restrict", "0")
	_ = write("/proc/sys/kernel/printk", "7")

	// /kdi/load.list: one "FILE [PARAMS...]" a line, dependencies first;
	// "!wait-livepatch" waits until no livepatch is in transition (a patch
	// cannot be enabled while another one is), "!sleep DURATION" sleeps.
	for _, line := range lines("/kdi/load.list") {
		switch {
		case line == "!wait-livepatch":
			waitLivepatch()
		case strings.HasPrefix(line, "!sleep "):
			d, _ := time.ParseDuration(strings.TrimPrefix(line, "!sleep "))
			time.Sleep(d)
		default:
			file, params, _ := strings.Cut(line, " ")
			loadModule(filepath.Join("/kdi/modules", file), params)
		}
	}

	// /kdi/pre-commands: "write PATH VALUE" lines run before ftrace and kprobes
	// (e.g. /proc/sys/debug/kprobes-optimization 0 keeps int3 kprobes int3).
	runCommands("/kdi/pre-commands")

	// Exercise a few module functions so that they have run at least once.
	if _, err := os.Stat("/proc/sys/net/ipv4/tcp_congestion_control"); err == nil {
		_ = write("/proc/sys/net/ipv4/tcp_congestion_control", "yeah")
		_ = write("/proc/sys/net/ipv4/tcp_congestion_control", "cubic")
	}

	// ftrace: /kdi/ftrace.filter lines go to set_ftrace_filter (one write
	// each, appended), then the function tracer; /kdi/kprobe.events lines go
	// to kprobe_events and are enabled.
	if fl := lines("/kdi/ftrace.filter"); len(fl) > 0 {
		// a small ring buffer: quick to read back under TCG
		_ = write(tracing+"/buffer_size_kb", "16")
		for _, l := range fl {
			if appendTo(tracing+"/set_ftrace_filter", l+"\n") == nil {
				logf("set_ftrace_filter += %s", l)
			}
		}
		if write(tracing+"/current_tracer", "function") == nil {
			logf("current_tracer = function")
		}
	}
	if kl := lines("/kdi/kprobe.events"); len(kl) > 0 {
		for _, l := range kl {
			if appendTo(tracing+"/kprobe_events", l+"\n") == nil {
				logf("kprobe_events += %s", l)
			}
		}
		if write(tracing+"/events/kprobes/enable", "1") == nil {
			logf("kprobes enabled")
		}
	}
	// /kdi/commands: extra "write PATH VALUE" / "sleep DURATION" lines run last.
	runCommands("/kdi/commands")
	time.Sleep(time.Second)

	printTruth("")
	unix.Sync()
	fmt.Println("KDI-READY")

	// commands come on the second serial port (the console, ttyS0, is
	// output only); no echo.
	in := os.Stdin
	if f, err := os.OpenFile("/dev/ttyS1", os.O_RDWR|unix.O_NOCTTY, 0); err == nil {
		if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			t.Lflag &^= unix.ECHO | unix.ECHONL
			_ = unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
		}
		in = f
		logf("reading commands from /dev/ttyS1")
	}
	sc := bufio.NewScanner(in)
	n := 0
	for sc.Scan() {
		switch cmd := strings.TrimSpace(sc.Text()); cmd {
		case "truth":
			n++
			printTruth(fmt.Sprintf("-%d", n))
			fmt.Println("KDI-READY")
		case "loop":
			loop()
		case "trace", "trace-stopped":
			// a debugging aid: how long reading the trace takes now
			if cmd == "trace-stopped" {
				_ = write(tracing+"/tracing_on", "0")
			}
			t := time.Now()
			b, err := os.ReadFile(tracing + "/trace")
			logf("read %s/trace: %d bytes in %v (err %v)", tracing, len(b), time.Since(t), err)
			_ = write(tracing+"/tracing_on", "1")
		case "sync":
			unix.Sync()
			fmt.Println("KDI-SYNCED")
		case "":
		default:
			logf("unknown command %q", cmd)
		}
	}
	logf("console closed; sleeping")
	for {
		time.Sleep(time.Hour)
	}
}
