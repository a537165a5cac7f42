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

func write(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
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

func appendTo(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		logf("open %s: %v", path, err)
		return err
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		logf("append %q to %s: %v", s, path, err)
		return err
	}
	return nil
}

// dumpFile prints a file between BEGIN/END marker lines, each line prefixed
// so that it can be told apart from kernel messages on the same console.
func dumpFile(tag, path string) {
	fmt.Printf("KDI-BEGIN %s %s\n", tag, path)
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
	fmt.Printf("KDI-END %s\n", tag)
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

func main() {
	mount("proc", "/proc", "proc")
	mount("sysfs", "/sys", "sysfs")
	mount("devtmpfs", "/dev", "devtmpfs")
	mount("tracefs", tracing, "tracefs")
	mount("debugfs", "/sys/kernel/debug", "debugfs")
	_ = write("/proc/sys/kernel/kptr_restrict", "0")
	_ = write("/proc/sys/kernel/printk", "7")

	// /modules/load.list: one "FILE [PARAMS...]" a line, dependencies first.
	if list, err := os.ReadFile("/modules/load.list"); err != nil {
		logf("%v", err)
	} else {
		for _, line := range strings.Split(string(list), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			file, params, _ := strings.Cut(line, " ")
			loadModule(filepath.Join("/modules", file), params)
		}
	}

	// Exercise a few module functions so that they have run at least once.
	_ = write("/proc/sys/net/ipv4/tcp_congestion_control", "yeah")
	_ = write("/proc/sys/net/ipv4/tcp_congestion_control", "cubic")

	// ftrace: /modules/ftrace.filter lines go to set_ftrace_filter (one write
	// each, appended), then the function tracer; /modules/kprobe.events lines
	// go to kprobe_events and are enabled.
	if b, err := os.ReadFile("/modules/ftrace.filter"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				if appendTo(tracing+"/set_ftrace_filter", l+"\n") == nil {
					logf("set_ftrace_filter += %s", l)
				}
			}
		}
		if write(tracing+"/current_tracer", "function") == nil {
			logf("current_tracer = function")
		}
	}
	if b, err := os.ReadFile("/modules/kprobe.events"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				if appendTo(tracing+"/kprobe_events", l+"\n") == nil {
					logf("kprobe_events += %s", l)
				}
			}
		}
		if write(tracing+"/events/kprobes/enable", "1") == nil {
			logf("kprobes enabled")
		}
	}

	// Loopback TCP traffic with the congestion controls of /modules/tcp.cc
	// (with tracing on, so the trace shows module code running), then freeze
	// the ring buffer (the tracer and its patched sites stay as they are).
	runTCP()
	if write(tracing+"/tracing_on", "0") == nil {
		logf("tracing_on = 0")
	}

	dumpFile("uname", "/proc/version")
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		fmt.Printf("KDI-BEGIN utsname uname(2)\nutsname| %s %s %s %s\nKDI-END utsname\n",
			unix.ByteSliceToString(uts.Sysname[:]), unix.ByteSliceToString(uts.Release[:]),
			unix.ByteSliceToString(uts.Version[:]), unix.ByteSliceToString(uts.Machine[:]))
	}
	dumpFile("cmdline", "/proc/cmdline")
	dumpFile("modules", "/proc/modules")
	mods, _ := filepath.Glob("/sys/module/*/sections")
	sort.Strings(mods)
	for _, dir := range mods {
		name := filepath.Base(filepath.Dir(dir))
		secs, _ := filepath.Glob(dir + "/*")
		sort.Strings(secs)
		fmt.Printf("KDI-BEGIN sections %s\n", name)
		for _, s := range secs {
			b, err := os.ReadFile(s)
			if err != nil {
				continue
			}
			fmt.Printf("sections| %s %s %s\n", name, filepath.Base(s), strings.TrimSpace(string(b)))
		}
		fmt.Printf("KDI-END sections\n")
	}
	dumpFile("enabled_functions", tracing+"/enabled_functions")
	dumpFile("set_ftrace_filter", tracing+"/set_ftrace_filter")
	dumpFile("kprobe_events", tracing+"/kprobe_events")
	dumpFile("kprobes_list", "/sys/kernel/debug/kprobes/list")
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
	dumpFile("meminfo", "/proc/meminfo")

	syms := readKallsyms()
	printWantedSymbols(syms)
	printConfig()
	dumpFile("touched_functions", tracing+"/touched_functions")
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
	for {
		time.Sleep(time.Hour)
	}
}
