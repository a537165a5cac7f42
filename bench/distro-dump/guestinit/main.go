//go:build linux

// Command guestinit is the /init of the initramfs that bench/distro-dump
// boots under QEMU: it mounts proc, sysfs, devtmpfs, tracefs and debugfs,
// loads the modules listed in /modules/load.list with finit_module, turns on
// some ftrace (function tracer filtered to module functions plus kprobes),
// runs loopback TCP traffic with the congestion controls of /modules/tcp.cc,
// prints the ground truth (/proc/modules, section addresses, module symbols,
// enabled_functions, selected vmlinux symbols, VMCOREINFO, the trace tail,
// every module's .stubs bytes and the bytes around every enabled call site
// read from /proc/kcore, the size and SHA-256 of each /sys/kernel/btf
// file; see extra.go) between marker lines, prints KDI-READY and sleeps
// forever so that the host can dump the guest's memory from the QEMU
// monitor.
//
// Build: CGO_ENABLED=0 GOOS=linux GOARCH=ppc64le go build ./bench/distro-dump/guestinit
//
// Layer: bench, outside the tool (docs/ARCHITECTURE.md).
package main

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kdump-inspect/kdump-inspect/bench/internal/guestinit"
)

const tracing = guestinit.Tracing

// write and appendTo: this guest's writes (no O_TRUNC; a failed append is
// logged as "append").
func write(path, s string) error    { return guestinit.WriteFile(path, s, 0, "write") }
func appendTo(path, s string) error { return guestinit.WriteFile(path, s, os.O_APPEND, "append") }

func main() {
	guestinit.MountAll()
	_ = write("/proc/sys/kernel/kptr_restrict", "0")
	_ = write("/proc/sys/kernel/printk", "7")

	// /modules/load.list: one "FILE [PARAMS...]" a line, dependencies first.
	if list, err := guestinit.ReadLines("/modules/load.list"); err != nil {
		guestinit.Logf("%v", err)
	} else {
		guestinit.LoadList(list, "/modules")
	}

	// Exercise a few module functions so that they have run at least once.
	_ = write("/proc/sys/net/ipv4/tcp_congestion_control", "yeah")
	_ = write("/proc/sys/net/ipv4/tcp_congestion_control", "cubic")

	// ftrace: /modules/ftrace.filter lines go to set_ftrace_filter (one write
	// each, appended), then the function tracer; /modules/kprobe.events lines
	// go to kprobe_events and are enabled.
	if fl, err := guestinit.ReadLines("/modules/ftrace.filter"); err == nil {
		guestinit.AppendEach(appendTo, tracing+"/set_ftrace_filter", "set_ftrace_filter", fl)
		if write(tracing+"/current_tracer", "function") == nil {
			guestinit.Logf("current_tracer = function")
		}
	}
	if kl, err := guestinit.ReadLines("/modules/kprobe.events"); err == nil {
		guestinit.AppendEach(appendTo, tracing+"/kprobe_events", "kprobe_events", kl)
		if write(tracing+"/events/kprobes/enable", "1") == nil {
			guestinit.Logf("kprobes enabled")
		}
	}

	// Loopback TCP traffic with the congestion controls of /modules/tcp.cc
	// (with tracing on, so the trace shows module code running), then freeze
	// the ring buffer (the tracer and its patched sites stay as they are).
	runTCP()
	if write(tracing+"/tracing_on", "0") == nil {
		guestinit.Logf("tracing_on = 0")
	}

	guestinit.DumpFile("uname", "/proc/version")
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		fmt.Printf("KDI-BEGIN utsname uname(2)\nutsname| %s %s %s %s\nKDI-END utsname\n",
			unix.ByteSliceToString(uts.Sysname[:]), unix.ByteSliceToString(uts.Release[:]),
			unix.ByteSliceToString(uts.Version[:]), unix.ByteSliceToString(uts.Machine[:]))
	}
	guestinit.DumpFile("cmdline", "/proc/cmdline")
	guestinit.DumpFile("modules", "/proc/modules")
	for _, name := range guestinit.SectionModules() {
		fmt.Printf("KDI-BEGIN sections %s\n", name)
		guestinit.PrintSectionFiles(name, "*")
		fmt.Printf("KDI-END sections\n")
	}
	guestinit.DumpFile("enabled_functions", tracing+"/enabled_functions")
	guestinit.DumpFile("set_ftrace_filter", tracing+"/set_ftrace_filter")
	guestinit.DumpFile("kprobe_events", tracing+"/kprobe_events")
	guestinit.DumpFile("kprobes_list", "/sys/kernel/debug/kprobes/list")
	// module symbols (kallsyms lines carrying a [module] tag), and the
	// vmlinux symbols that locate BTF in memory
	fmt.Printf("KDI-BEGIN kallsyms_modules /proc/kallsyms\n")
	var btfSyms []string
	if f, err := os.Open("/proc/kallsyms"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "\t[") {
				fmt.Printf("kallsyms_modules| %s\n", sc.Text())
			}
			if f := strings.Fields(sc.Text()); len(f) == 3 && (f[2] == "__start_BTF" || f[2] == "__stop_BTF" || f[2] == "btf_modules" || f[2] == "btf_vmlinux") {
				btfSyms = append(btfSyms, sc.Text())
			}
		}
		f.Close()
	}
	fmt.Printf("KDI-END kallsyms_modules\n")
	// BTF as the kernel exports it: /sys/kernel/btf/vmlinux is the bytes
	// between __start_BTF and __stop_BTF, /sys/kernel/btf/MODULE a loaded
	// module's struct btf data (kernel/bpf/sysfs_btf.c, btf_module_notify):
	// name, size and SHA-256 of each.
	fmt.Printf("KDI-BEGIN btf /sys/kernel/btf\n")
	for _, l := range btfSyms {
		fmt.Printf("btf| symbol %s\n", l)
	}
	btfFiles, _ := filepath.Glob("/sys/kernel/btf/*")
	sort.Strings(btfFiles)
	for _, p := range btfFiles {
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Printf("KDI-ERROR btf %s: %v\n", p, err)
			continue
		}
		fmt.Printf("btf| file %s %d %x\n", filepath.Base(p), len(b), sha256.Sum256(b))
	}
	fmt.Printf("KDI-END btf\n")
	guestinit.DumpFile("meminfo", "/proc/meminfo")

	syms := readKallsyms()
	printWantedSymbols(syms)
	printConfig()
	guestinit.DumpFile("touched_functions", tracing+"/touched_functions")
	printFilterAddrs()
	printTraceTail(50)
	if k, err := openKcore(); err != nil {
		fmt.Printf("KDI-ERROR kcore: %v\n", err)
	} else {
		printKcoreSegs(k)
		printVmcoreinfo(k)
		areas := vmallocAreas()
		printModuleVmalloc(areas)
		printStubs(k, areas)
		printSites(k, syms)
	}
	unix.Sync()
	fmt.Println("KDI-READY")
	guestinit.SleepForever()
}
