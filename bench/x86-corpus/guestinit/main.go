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
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kdump-inspect/kdump-inspect/bench/internal/guestinit"
)

const tracing = guestinit.Tracing

// openKcore opens /proc/kcore (nil, logged, when it cannot); a read
// outside every PT_LOAD fails with "ADDR not in /proc/kcore".
func openKcore() *guestinit.Kcore {
	kc := guestinit.KcoreOrNil()
	if kc == nil {
		return nil
	}
	kc.NotMapped = func(addr uint64, _ int) error { return fmt.Errorf("%#x not in /proc/kcore", addr) }
	return kc
}

// only returns the address of the one symbol of that name, 0 when there
// is none or more than one.
func only(ks *guestinit.Kallsyms, name string) uint64 {
	if s := ks.ByName[name]; len(s) == 1 {
		return s[0].Addr
	}
	return 0
}

func printBytes(kc *guestinit.Kcore, tag, label string, addr uint64, n int) {
	b, err := kc.Read(addr, n)
	if err != nil {
		fmt.Printf("%s| %016x %s error: %v\n", tag, addr, label, err)
		return
	}
	fmt.Printf("%s| %016x %s %s\n", tag, addr, label, hex.EncodeToString(b))
}

var trampRe = regexp.MustCompile(`tramp: 0x([0-9a-f]+)`)

// printTruth prints every truth block; suffix distinguishes repeated prints.
func printTruth(suffix string) {
	guestinit.TruthBegin(suffix)
	kc := openKcore()
	if kc != nil {
		defer kc.Close()
	}
	ks, _ := guestinit.ReadKallsyms()

	guestinit.DumpFile("uname", "/proc/version")
	guestinit.DumpFile("cmdline", "/proc/cmdline")
	// first CPU of /proc/cpuinfo (flags, address sizes: "57 bits virtual" = LA57)
	guestinit.PrintCPUInfo()
	guestinit.Begin("vulnerabilities", "/sys/devices/system/cpu/vulnerabilities")
	vs, _ := filepath.Glob("/sys/devices/system/cpu/vulnerabilities/*")
	sort.Strings(vs)
	for _, v := range vs {
		b, _ := os.ReadFile(v)
		fmt.Printf("vulnerabilities| %s: %s\n", filepath.Base(v), strings.TrimSpace(string(b)))
	}
	guestinit.End("vulnerabilities")
	guestinit.DumpFile("iomem", "/proc/iomem")
	guestinit.DumpFile("modules", "/proc/modules")

	guestinit.Begin("sections", "/sys/module/*/sections/*")
	for _, name := range guestinit.SectionModules() {
		guestinit.PrintSectionFiles(name, ".*")
	}
	guestinit.End("sections")

	guestinit.PrintKallsymsModules(ks)
	guestinit.PrintKallsymsVmlinux(ks, "/kdi/symbols.list")

	// The per-CPU offsets (for text_poke_array_refs and friends) and the
	// values of a few variables, read from memory.
	guestinit.PrintPercpu(kc, only(ks, "__per_cpu_offset"))

	guestinit.Begin("variables", "8 bytes at selected variables (little-endian u64)")
	for _, name := range []string{"page_offset_base", "vmalloc_base", "vmemmap_base", "phys_base", "__pgtable_l5_enabled", "pgdir_shift", "ptrs_per_p4d", "kaslr_offset", "vmcoreinfo_data", "vmcoreinfo_size", "sme_me_mask", "ftrace_trace_function", "function_trace_op", "ftrace_ops_list", "ftrace_number_of_pages", "ftrace_number_of_groups"} {
		for _, s := range ks.ByName[name] {
			if v, err := kc.U64(s.Addr); err == nil {
				fmt.Printf("variables| %s %016x %016x\n", name, s.Addr, v)
			}
		}
	}
	guestinit.End("variables")

	guestinit.DumpFile("enabled_functions", tracing+"/enabled_functions")

	// ip of every enabled record: enabled_functions prints names ("%ps",
	// module in brackets); available_filter_functions_addrs prints "ip name
	// [mod]" for every record. Join on the name; print every candidate.
	recs := guestinit.FilterRecords()
	var modRecs []string
	for _, r := range recs {
		if strings.Contains(r.Name, "[") {
			modRecs = append(modRecs, r.Line)
		}
	}
	guestinit.Begin("site_bytes", "ip name: 16 bytes at every enabled record's ip (/proc/kcore)")
	tramps := map[uint64]string{}
	for _, e := range guestinit.EnabledRecords(recs) {
		if len(e.IPs) == 0 {
			fmt.Printf("site_bytes| - %s: no record in available_filter_functions_addrs\n", e.Name)
		}
		for _, ip := range e.IPs {
			label := e.Name
			if len(e.IPs) > 1 {
				label += fmt.Sprintf(" (one of %d records of this name)", len(e.IPs))
			}
			printBytes(kc, "site_bytes", strings.ReplaceAll(label, " ", "_"), ip, 16)
		}
		if m := trampRe.FindStringSubmatch(e.Line); m != nil {
			t, _ := strconv.ParseUint(m[1], 16, 64)
			tramps[t] = e.Line
		}
	}
	guestinit.End("site_bytes")
	guestinit.Begin("tramp_bytes", "256 bytes at every trampoline named by enabled_functions")
	var ts []uint64
	for t := range tramps {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	for _, t := range ts {
		printBytes(kc, "tramp_bytes", "tramp", t, 256)
	}
	guestinit.End("tramp_bytes")

	guestinit.DumpFile("kprobe_events", tracing+"/kprobe_events")
	guestinit.DumpFile("kprobes_list", "/sys/kernel/debug/kprobes/list")
	guestinit.Begin("kprobe_bytes", "16 bytes at every address of the kprobes list")
	for _, p := range guestinit.KprobeAddrs() {
		printBytes(kc, "kprobe_bytes", p.Name, p.Addr, 16)
	}
	guestinit.End("kprobe_bytes")

	guestinit.Begin("module_records", "available_filter_functions_addrs lines of modules")
	for _, l := range modRecs {
		fmt.Printf("module_records| %s\n", l)
	}
	guestinit.End("module_records")

	guestinit.PrintLivepatch()

	guestinit.DumpFile("current_tracer", tracing+"/current_tracer")
	guestinit.DumpFile("set_ftrace_filter", tracing+"/set_ftrace_filter")
	// the last 60 lines of the trace (read with a time limit). Recording is
	// switched off for the read (tracing_on 0; the ftrace sites stay as they
	// are): otherwise the reader's own vfs_read events keep overwriting the
	// small ring buffer under the non-consuming iterator, and under TCG the
	// read did not end within minutes.
	_ = guestinit.Write(tracing+"/tracing_on", "0")
	defer guestinit.Write(tracing+"/tracing_on", "1")
	guestinit.PrintTraceTail(60, tracing+"/trace (last 60 lines)")

	// VMCOREINFO: the location the kernel gives, and the text from memory.
	guestinit.DumpFile("vmcoreinfo_location", "/sys/kernel/vmcoreinfo")
	guestinit.PrintVmcoreinfo(kc, only(ks, "vmcoreinfo_data"), only(ks, "vmcoreinfo_size"), false)
	guestinit.DumpFile("meminfo", "/proc/meminfo")
	guestinit.TruthEnd(suffix)
}

// loop toggles the function tracer on every function forever.
func loop() {
	_ = guestinit.Write(tracing+"/set_ftrace_filter", "\n")
	guestinit.Logf("set_ftrace_filter emptied; looping function/nop")
	for i := 0; ; i++ {
		t := time.Now()
		_ = guestinit.Write(tracing+"/current_tracer", "function")
		t1 := time.Since(t)
		_ = guestinit.Write(tracing+"/current_tracer", "nop")
		fmt.Printf("KDI-LOOP %d function %v nop %v\n", i, t1.Round(time.Millisecond), (time.Since(t) - t1).Round(time.Millisecond))
	}
}

func main() {
	// mounts; /kdi/load.list: one "FILE [PARAMS...]" a line, dependencies
	// first; "!wait-livepatch" waits until no livepatch is in transition (a
	// patch cannot be enabled while another one is), "!sleep DURATION"
	// sleeps; /kdi/pre-commands: "write PATH VALUE" lines run before ftrace
	// and kprobes (e.g. /proc/sys/debug/kprobes-optimization 0 keeps int3
	// kprobes int3).
	guestinit.StartKdi()

	// Exercise a few module functions so that they have run at least once.
	if _, err := os.Stat("/proc/sys/net/ipv4/tcp_congestion_control"); err == nil {
		_ = guestinit.Write("/proc/sys/net/ipv4/tcp_congestion_control", "yeah")
		_ = guestinit.Write("/proc/sys/net/ipv4/tcp_congestion_control", "cubic")
	}

	// ftrace: /kdi/ftrace.filter lines go to set_ftrace_filter (one write
	// each, appended), then the function tracer; /kdi/kprobe.events lines go
	// to kprobe_events and are enabled.
	guestinit.FtraceFilterFrom("/kdi/ftrace.filter")
	if kl := guestinit.KprobeEventsFrom("/kdi/kprobe.events"); len(kl) > 0 {
		if guestinit.Write(tracing+"/events/kprobes/enable", "1") == nil {
			guestinit.Logf("kprobes enabled")
		}
	}
	// /kdi/commands: extra "write PATH VALUE" / "sleep DURATION" lines run last.
	guestinit.RunCommands("/kdi/commands")
	guestinit.Ready(printTruth)

	// commands come on the second serial port (the console, ttyS0, is
	// output only); no echo.
	in, _ := guestinit.CommandInput("/dev/ttyS1", false)
	guestinit.Commands(in, printTruth, func(cmd string) bool {
		switch cmd {
		case "loop":
			loop()
		case "trace", "trace-stopped":
			// a debugging aid: how long reading the trace takes now
			if cmd == "trace-stopped" {
				_ = guestinit.Write(tracing+"/tracing_on", "0")
			}
			t := time.Now()
			b, err := os.ReadFile(tracing + "/trace")
			guestinit.Logf("read %s/trace: %d bytes in %v (err %v)", tracing, len(b), time.Since(t), err)
			_ = guestinit.Write(tracing+"/tracing_on", "1")
		default:
			return false
		}
		return true
	})
	guestinit.Logf("console closed; sleeping")
	guestinit.SleepForever()
}
