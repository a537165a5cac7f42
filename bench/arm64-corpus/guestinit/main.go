//go:build linux

// Command guestinit is the /init of the arm64 corpus initramfs
// (bench/arm64-corpus). It mounts proc, sysfs, devtmpfs, tracefs and
// debugfs; loads the modules of /kdi/load.list with finit_module; runs
// loopback TCP traffic with the congestion controls of /kdi/tcp.cc; turns the
// function tracer on for /kdi/ftrace.filter; adds the kprobes of
// /kdi/kprobe.events; loads /kdi/modules/modarch_dump.ko (when present) with
// the addresses of `modules` and `ftrace_pages_start`; prints the ground
// truth between marker lines (each line prefixed "TAG| ") on the console
// (ttyAMA0); prints KDI-READY; then reads commands from the second PL011
// (ttyAMA1):
//
//	truth        print the ground truth again (tags unchanged)
//	sync         sync and print KDI-SYNCED
//	crash-sysrq  echo c > /proc/sysrq-trigger
//	crash-klp    echo 1 > /sys/module/klp_stub_bug/parameters/crash; cat /proc/klp_tgt
//
// The host dumps the guest's memory from the QEMU monitor (QMP).
//
// /kdi/offsets (written on the host from the kernel's DWARF) gives
// offsetof(struct module, arch) and the layout of struct mod_arch_specific,
// so that the guest reads every module's mod->arch through /proc/kcore
// (block modarch_kcore) and, from it, the PLT and ftrace trampoline entries
// (blocks plt_kcore, ftrace_tramp_kcore) — also on a distro kernel, where no
// module of ours prints them.
//
// Build: CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build ./bench/arm64-corpus/guestinit
//
// Layer: bench, outside the tool (docs/ARCHITECTURE.md).
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kdump-inspect/kdump-inspect/bench/internal/guestinit"
)

const tracing = guestinit.Tracing

// arm64 decoders (arch/arm64/lib/insn.c, arch/arm64/kernel/module-plts.c).
func signExtend(v uint64, bits uint) int64 { return int64(v<<(64-bits)) >> (64 - bits) }

func branchTarget(pc uint64, insn uint32) (uint64, bool) {
	if insn&0x7c000000 != 0x14000000 { // b / bl
		return 0, false
	}
	return pc + uint64(signExtend(uint64(insn&0x03ffffff)<<2, 28)), true
}

func insnKind(insn uint32) string {
	switch {
	case insn == 0xd503201f:
		return "nop"
	case insn == 0xaa1e03e9:
		return "mov_x9_x30"
	case insn&0xfc000000 == 0x94000000:
		return "bl"
	case insn&0xfc000000 == 0x14000000:
		return "b"
	case insn&0xffe0001f == 0xd4200000:
		return fmt.Sprintf("brk_%#x", (insn>>5)&0xffff)
	case insn&0xffffff3f == 0xd503241f:
		return "bti"
	case insn == 0xd503233f:
		return "paciasp"
	}
	return "insn"
}

// pltDecode decodes adrp xN; add xN, xN, #lo12; (br x16 | b loc+4) at pc.
func pltDecode(w [3]uint32, pc uint64) (kind string, target uint64) {
	if w[0] == 0 && w[1] == 0 && w[2] == 0 {
		return "zero", 0
	}
	adrp, add, br := w[0], w[1], w[2]
	if adrp&0x9f000000 != 0x90000000 {
		return "other", 0
	}
	rd := adrp & 0x1f
	imm := uint64((adrp>>29)&3) | uint64((adrp>>5)&0x7ffff)<<2
	page := (pc &^ 0xfff) + uint64(signExtend(imm, 21)<<12)
	if add&0xffc00000 != 0x91000000 || add&0x1f != rd || (add>>5)&0x1f != rd {
		return "other", 0
	}
	target = page + uint64((add>>10)&0xfff)
	switch {
	case br == 0xd61f0200 && rd == 16:
		return "plt", target
	case br&0xfc000000 == 0x14000000:
		return "veneer", target
	}
	return "other", 0
}

func words(b []byte) []uint32 {
	w := make([]uint32, len(b)/4)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

func hexWords(w []uint32) string {
	s := make([]string, len(w))
	for i, x := range w {
		s[i] = fmt.Sprintf("%08x", x)
	}
	return strings.Join(s, " ")
}

// offsets from /kdi/offsets: "name value" lines (value in decimal or 0x hex).
func readOffsets() map[string]uint64 {
	m := map[string]uint64{}
	for _, l := range guestinit.Lines("/kdi/offsets") {
		fs := strings.Fields(l)
		if len(fs) == 2 {
			if v, err := strconv.ParseUint(fs[1], 0, 64); err == nil {
				m[fs[0]] = v
			}
		}
	}
	return m
}

func procModuleNames() []string {
	var out []string
	for _, l := range guestinit.Lines("/proc/modules") {
		out = append(out, strings.Fields(l)[0])
	}
	return out
}

// readPLTEntry reads the esz-byte PLT entry i of module m at a: its words,
// the first three of them, and their decoding (pltDecode); a read error is
// printed as a TAG line.
func readPLTEntry(kc *guestinit.Kcore, tag, m string, i, a, esz uint64) (w []uint32, w3 [3]uint32, kind string, target uint64, ok bool) {
	pb, err := kc.Read(a, int(esz))
	if err != nil {
		fmt.Printf("%s| %s %d %#x error %v\n", tag, m, i, a, err)
		return nil, w3, "", 0, false
	}
	w = words(pb)
	copy(w3[:], w)
	kind, target = pltDecode(w3, a)
	return w, w3, kind, target, true
}

// printModArch: every module's mod->arch, PLT entries and ftrace trampoline, via /proc/kcore.
func printModArch(kc *guestinit.Kcore, ks *guestinit.Kallsyms) {
	off := readOffsets()
	guestinit.Begin("modarch_kcore", "mod->arch of every module (struct module = __this_module [mod] from /proc/kallsyms; offsets from /kdi/offsets)")
	defer guestinit.End("modarch_kcore")
	need := []string{"module.arch", "mod_arch_specific.core", "mod_arch_specific.init", "mod_arch_specific.ftrace_trampolines",
		"mod_arch_specific.init_ftrace_trampolines", "mod_plt_sec.plt_shndx", "mod_plt_sec.plt_num_entries", "mod_plt_sec.plt_max_entries",
		"plt_entry.size", "NR_FTRACE_PLTS"}
	for _, n := range need {
		if _, ok := off[n]; !ok {
			fmt.Printf("KDI-ERROR modarch_kcore: /kdi/offsets has no %s\n", n)
			return
		}
	}
	for _, m := range procModuleNames() {
		ss := ks.ByName["__this_module ["+m+"]"]
		if len(ss) != 1 {
			fmt.Printf("modarch_kcore| %s no __this_module in kallsyms (%d)\n", m, len(ss))
			continue
		}
		mod := ss[0].Addr
		arch := mod + off["module.arch"]
		b, err := kc.Read(arch, int(off["mod_arch_specific.init_ftrace_trampolines"]+8))
		if err != nil {
			fmt.Printf("modarch_kcore| %s struct_module=%#x error %v\n", m, mod, err)
			continue
		}
		sec := func(base uint64) (int32, int32, int32) {
			g := func(o uint64) int32 { return int32(binary.LittleEndian.Uint32(b[base+o:])) }
			return g(off["mod_plt_sec.plt_shndx"]), g(off["mod_plt_sec.plt_num_entries"]), g(off["mod_plt_sec.plt_max_entries"])
		}
		cs, cn, cm := sec(off["mod_arch_specific.core"])
		is, in, im := sec(off["mod_arch_specific.init"])
		tr := binary.LittleEndian.Uint64(b[off["mod_arch_specific.ftrace_trampolines"]:])
		itr := binary.LittleEndian.Uint64(b[off["mod_arch_specific.init_ftrace_trampolines"]:])
		fmt.Printf("modarch_kcore| %s struct_module=%#x arch=%#x core.plt_shndx=%d core.plt_num_entries=%d core.plt_max_entries=%d init.plt_shndx=%d init.plt_num_entries=%d init.plt_max_entries=%d ftrace_trampolines=%#x init_ftrace_trampolines=%#x raw=%s\n",
			m, mod, arch, cs, cn, cm, is, in, im, tr, itr, hex.EncodeToString(b))
		var plt uint64
		for _, s := range guestinit.ModuleSections(m) {
			if s.Name == ".plt" {
				plt = s.Addr
			}
		}
		esz := off["plt_entry.size"]
		if plt != 0 && cm >= 0 {
			for i := uint64(0); i <= uint64(cm); i++ {
				a := plt + i*esz
				w, w3, kind, t, ok := readPLTEntry(kc, "plt_kcore", m, i, a, esz)
				if !ok {
					continue
				}
				used := "used"
				if int32(i) >= cn {
					used = "beyond_num_entries"
				}
				extra := ""
				if kind == "veneer" {
					bt, _ := branchTarget(a+8, w3[2])
					extra = fmt.Sprintf(" b_target=%#x b_target_sym=%s", bt, ks.Lookup(bt))
				}
				fmt.Printf("plt_kcore| %s %d %#x %s %s %s target=%#x target_sym=%s%s\n", m, i, a, hexWords(w), kind, used, t, ks.Lookup(t), extra)
			}
		} else {
			fmt.Printf("plt_kcore| %s no .plt section in sysfs\n", m)
		}
		if tr != 0 {
			for i := uint64(0); i < off["NR_FTRACE_PLTS"]; i++ {
				a := tr + i*esz
				w, _, kind, t, ok := readPLTEntry(kc, "ftrace_tramp_kcore", m, i, a, esz)
				if !ok {
					continue
				}
				fmt.Printf("ftrace_tramp_kcore| %s %d %#x %s %s target=%#x target_sym=%s\n", m, i, a, hexWords(w), kind, t, ks.Lookup(t))
			}
		}
	}
}

// siteLine prints the words from ALIGN_DOWN(ip-12, 8) to ip+4 (the CALL_OPS
// literal, the mov x9,x30 / nop at ip-4, the bl / nop at ip, the next word),
// and decodes them.
func siteLine(kc *guestinit.Kcore, ks *guestinit.Kallsyms, tag, label string, ip uint64) {
	lit := (ip - 12) &^ 7
	n := int(ip + 8 - lit)
	b, err := kc.Read(lit, n)
	if err != nil {
		fmt.Printf("%s| %#x %s error %v\n", tag, ip, label, err)
		return
	}
	w := words(b)
	k := int(ip-lit) / 4
	ops := binary.LittleEndian.Uint64(b[0:8])
	t, isb := branchTarget(ip, w[k])
	tgt := "-"
	if isb {
		tgt = fmt.Sprintf("%#x %s", t, ks.Lookup(t))
	} else {
		tgt = "- -"
	}
	fmt.Printf("%s| %#x %s words@%#x=%s ip-4=%s ip=%s target=%s literal=%#x %s\n", tag, ip, label, lit, hexWords(w),
		insnKind(w[k-1]), insnKind(w[k]), tgt, ops, ks.Lookup(ops))
}

func printTruth(suffix string) {
	// the kernel's own messages (a module's periodic pr_info) must not be
	// printed into the middle of the truth's lines: console loglevel 1
	// (KERN_EMERG only) while it prints, 7 again afterwards
	_ = guestinit.Write("/proc/sys/kernel/printk", "1")
	defer guestinit.Write("/proc/sys/kernel/printk", "7")
	guestinit.TruthBegin(suffix)
	kc := guestinit.KcoreOrNil()
	if kc != nil {
		defer kc.Close()
	}
	ks, _ := guestinit.ReadKallsyms()

	guestinit.DumpFile("uname", "/proc/version")
	guestinit.Begin("utsname", "uname(2)")
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		c := func(b []byte) string { return string(bytes.TrimRight(b, "\x00")) }
		fmt.Printf("utsname| %s %s %s %s %s\n", c(u.Sysname[:]), c(u.Nodename[:]), c(u.Release[:]), c(u.Version[:]), c(u.Machine[:]))
	}
	guestinit.End("utsname")
	guestinit.DumpFile("cmdline", "/proc/cmdline")
	guestinit.PrintCPUInfo()
	guestinit.DumpFile("iomem", "/proc/iomem")
	guestinit.Begin("kcore_loads", "/proc/kcore PT_LOADs: vaddr paddr memsz")
	if kc != nil {
		for _, p := range kc.Loads {
			fmt.Printf("kcore_loads| %#x %#x %#x\n", p.Vaddr, p.Paddr, p.Memsz)
		}
	}
	guestinit.End("kcore_loads")
	guestinit.DumpFile("modules", "/proc/modules")

	guestinit.Begin("sections", "/sys/module/*/sections/* (every file)")
	for _, name := range guestinit.SectionModules() {
		ss := guestinit.ModuleSections(name)
		sort.Slice(ss, func(i, j int) bool { return ss[i].Addr < ss[j].Addr })
		for _, s := range ss {
			fmt.Printf("sections| %s %s %#x\n", name, s.Name, s.Addr)
		}
	}
	guestinit.End("sections")

	guestinit.PrintKallsymsModules(ks)
	guestinit.PrintKallsymsVmlinux(ks, "/kdi/symbols.list")
	guestinit.PrintPercpu(kc, ks.First("__per_cpu_offset"))

	guestinit.Begin("variables", "name address value: 8 bytes at selected variables (little-endian u64)")
	for _, name := range guestinit.Lines("/kdi/variables.list") {
		if a := ks.First(name); a != 0 {
			if v, err := kc.U64(a); err == nil {
				fmt.Printf("variables| %s %016x %016x\n", name, a, v)
			} else {
				fmt.Printf("variables| %s %016x error %v\n", name, a, err)
			}
		} else {
			fmt.Printf("variables| %s - (not in /proc/kallsyms)\n", name)
		}
	}
	guestinit.End("variables")

	guestinit.DumpFile("enabled_functions", tracing+"/enabled_functions")
	guestinit.DumpFile("touched_functions", tracing+"/touched_functions")

	// every ftrace record: available_filter_functions_addrs "ip name [mod]"
	recs := guestinit.FilterRecords()
	guestinit.Begin("site_words", "ip name: words from ALIGN_DOWN(ip-12,8) to ip+4 of every enabled record (vmlinux and modules), read from /proc/kcore")
	seen := map[uint64]bool{}
	for _, e := range guestinit.EnabledRecords(recs) {
		name := strings.ReplaceAll(e.Name, " ", "_")
		if len(e.IPs) == 0 {
			fmt.Printf("site_words| - %s: no record in available_filter_functions_addrs\n", name)
		}
		for _, ip := range e.IPs {
			if !seen[ip] {
				seen[ip] = true
				siteLine(kc, ks, "site_words", name, ip)
			}
		}
	}
	guestinit.End("site_words")
	guestinit.Begin("module_records", "every module ftrace record: ip name [mod] and its words (as site_words)")
	for _, r := range recs {
		if strings.Contains(r.Name, "[") {
			siteLine(kc, ks, "module_records", strings.ReplaceAll(r.Name, " ", "_"), r.IP)
		}
	}
	guestinit.End("module_records")

	if kc != nil {
		printModArch(kc, ks)
	}

	guestinit.DumpFile("kprobe_events", tracing+"/kprobe_events")
	guestinit.DumpFile("kprobes_list", "/sys/kernel/debug/kprobes/list")
	guestinit.Begin("kprobe_words", "the words at ADDR-8 .. ADDR+8 of every address of the kprobes list")
	for _, p := range guestinit.KprobeAddrs() {
		b, err := kc.Read(p.Addr-8, 20)
		if err != nil {
			fmt.Printf("kprobe_words| %#x %s error %v\n", p.Addr, p.Name, err)
			continue
		}
		w := words(b)
		fmt.Printf("kprobe_words| %#x %s words@%#x=%s at=%s\n", p.Addr, p.Name, p.Addr-8, hexWords(w), insnKind(w[2]))
	}
	guestinit.End("kprobe_words")

	guestinit.PrintLivepatch()
	guestinit.DumpFile("klp_tgt", "/proc/klp_tgt")

	guestinit.DumpFile("current_tracer", tracing+"/current_tracer")
	guestinit.DumpFile("set_ftrace_filter", tracing+"/set_ftrace_filter")
	_ = guestinit.Write(tracing+"/tracing_on", "0")
	guestinit.PrintTraceTail(40, tracing+"/trace (last 40 lines, read with tracing_on 0)")

	guestinit.DumpFile("vmcoreinfo_location", "/sys/kernel/vmcoreinfo")
	guestinit.PrintVmcoreinfo(kc, ks.First("vmcoreinfo_data"), ks.First("vmcoreinfo_size"), true)
	guestinit.DumpFile("meminfo", "/proc/meminfo")
	guestinit.TruthEnd(suffix)
}

func main() {
	// mounts; /kdi/load.list: "FILE [PARAMS...]" lines, dependencies first;
	// "!wait-livepatch", "!sleep DURATION", "!cat FILE"; /kdi/pre-commands
	guestinit.StartKdi()

	if cc := guestinit.Lines("/kdi/tcp.cc"); len(cc) > 0 {
		guestinit.LoopbackUp()
		for _, c := range cc {
			guestinit.TCPTraffic(c, 4<<20)
		}
	}

	guestinit.FtraceFilterFrom("/kdi/ftrace.filter")
	if kl := guestinit.KprobeEventsFrom("/kdi/kprobe.events"); len(kl) > 0 {
		// enable each event's group (p:GROUP/NAME; default group kprobes):
		// a kprobe event's kprobe is registered only while it is enabled
		groups := map[string]bool{}
		for _, l := range kl {
			g := "kprobes"
			if f := strings.Fields(l); len(f) > 0 {
				if _, gn, ok := strings.Cut(f[0], ":"); ok {
					if grp, _, ok := strings.Cut(gn, "/"); ok {
						g = grp
					}
				}
			}
			groups[g] = true
		}
		for g := range groups {
			if guestinit.Write(tracing+"/events/"+g+"/enable", "1") == nil {
				guestinit.Logf("kprobe events of group %s enabled", g)
			}
		}
	}
	guestinit.RunCommands("/kdi/commands")
	// traffic again, now through the traced/probed sites
	for _, c := range guestinit.Lines("/kdi/tcp.cc") {
		guestinit.TCPTraffic(c, 1<<20)
	}

	if _, err := os.Stat("/kdi/modules/modarch_dump.ko"); err == nil {
		ks, _ := guestinit.ReadKallsyms()
		params := fmt.Sprintf("modules_addr=%#x", ks.First("modules"))
		if a := ks.First("ftrace_pages_start"); a != 0 {
			params += fmt.Sprintf(" ftrace_pages_start=%#x", a)
		}
		guestinit.LoadModule("/kdi/modules/modarch_dump.ko", params)
	}
	guestinit.Ready(printTruth)

	in, err := guestinit.CommandInput("/dev/ttyAMA1", true)
	if err != nil {
		guestinit.Logf("no /dev/ttyAMA1 (%v): reading commands from the console", err)
	}
	guestinit.Commands(in, printTruth, func(cmd string) bool {
		switch cmd {
		case "crash-sysrq":
			guestinit.Logf("crash: echo c > /proc/sysrq-trigger")
			_ = guestinit.Write("/proc/sys/kernel/sysrq", "1")
			_ = guestinit.Write("/proc/sysrq-trigger", "c")
		case "crash-klp":
			guestinit.Logf("crash: klp_stub_bug crash=1, read /proc/klp_tgt")
			_ = guestinit.Write("/proc/sys/kernel/panic_on_oops", "1")
			_ = guestinit.Write("/sys/module/klp_stub_bug/parameters/crash", "1")
			b, err := os.ReadFile("/proc/klp_tgt")
			guestinit.Logf("read /proc/klp_tgt: %q %v", b, err)
		default:
			return false
		}
		return true
	})
	guestinit.Logf("command input closed; sleeping")
	guestinit.SleepForever()
}
