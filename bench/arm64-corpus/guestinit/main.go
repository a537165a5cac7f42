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
	"bufio"
	"bytes"
	"debug/elf"
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
func loadModule(path, params string) bool {
	f, err := os.Open(path)
	if err != nil {
		logf("open %s: %v", path, err)
		return false
	}
	defer f.Close()
	flags := 0
	if strings.HasSuffix(path, ".xz") || strings.HasSuffix(path, ".zst") || strings.HasSuffix(path, ".gz") {
		flags |= unix.MODULE_INIT_COMPRESSED_FILE
	}
	t := time.Now()
	if err := unix.FinitModule(int(f.Fd()), params, flags); err != nil {
		logf("finit_module %s %q: %v", path, params, err)
		return false
	}
	logf("loaded %s %q in %v", path, params, time.Since(t).Round(time.Millisecond))
	return true
}

// kcore reads kernel virtual memory through /proc/kcore.
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
	return nil, fmt.Errorf("%#x+%d not in /proc/kcore", addr, n)
}

func (k *kcore) u64(addr uint64) (uint64, error) {
	b, err := k.read(addr, 8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// kallsyms: every line, by name, and sorted for address -> name.
type sym struct {
	addr uint64
	typ  string
	name string
	mod  string
}

type kallsyms struct {
	byName map[string][]sym
	sorted []sym
	lines  []string
}

func readKallsyms() *kallsyms {
	k := &kallsyms{byName: map[string][]sym{}}
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
		s := sym{addr: a, typ: fs[1], name: fs[2]}
		if len(fs) > 3 {
			s.mod = strings.Trim(fs[3], "[]")
		}
		k.byName[s.name] = append(k.byName[s.name], s)
		if s.mod != "" {
			k.byName[s.name+" ["+s.mod+"]"] = append(k.byName[s.name+" ["+s.mod+"]"], s)
		}
		k.sorted = append(k.sorted, s)
	}
	sort.SliceStable(k.sorted, func(i, j int) bool { return k.sorted[i].addr < k.sorted[j].addr })
	return k
}

// first returns the address of a vmlinux symbol (no module), 0 if absent.
func (k *kallsyms) first(name string) uint64 {
	for _, s := range k.byName[name] {
		if s.mod == "" {
			return s.addr
		}
	}
	return 0
}

// lookup names an address as sym+0xoff [mod] (the nearest symbol at or below it).
func (k *kallsyms) lookup(a uint64) string {
	i := sort.Search(len(k.sorted), func(i int) bool { return k.sorted[i].addr > a })
	if i == 0 || a == 0 {
		return "?"
	}
	s := k.sorted[i-1]
	r := s.name
	if a != s.addr {
		r += fmt.Sprintf("+%#x", a-s.addr)
	}
	if s.mod != "" {
		r += " [" + s.mod + "]"
	}
	return strings.ReplaceAll(r, " ", "_")
}

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
	for _, l := range lines("/kdi/offsets") {
		fs := strings.Fields(l)
		if len(fs) == 2 {
			if v, err := strconv.ParseUint(fs[1], 0, 64); err == nil {
				m[fs[0]] = v
			}
		}
	}
	return m
}

type modSec struct {
	name string
	addr uint64
}

func moduleSections(mod string) []modSec {
	var out []modSec
	fs, _ := os.ReadDir("/sys/module/" + mod + "/sections")
	for _, f := range fs {
		b, err := os.ReadFile("/sys/module/" + mod + "/sections/" + f.Name())
		if err != nil {
			continue
		}
		a, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"), 16, 64)
		if err == nil {
			out = append(out, modSec{f.Name(), a})
		}
	}
	return out
}

func procModuleNames() []string {
	var out []string
	for _, l := range lines("/proc/modules") {
		out = append(out, strings.Fields(l)[0])
	}
	return out
}

// printModArch: every module's mod->arch, PLT entries and ftrace trampoline, via /proc/kcore.
func printModArch(kc *kcore, ks *kallsyms) {
	off := readOffsets()
	begin("modarch_kcore", "mod->arch of every module (struct module = __this_module [mod] from /proc/kallsyms; offsets from /kdi/offsets)")
	defer end("modarch_kcore")
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
		ss := ks.byName["__this_module ["+m+"]"]
		if len(ss) != 1 {
			fmt.Printf("modarch_kcore| %s no __this_module in kallsyms (%d)\n", m, len(ss))
			continue
		}
		mod := ss[0].addr
		arch := mod + off["module.arch"]
		b, err := kc.read(arch, int(off["mod_arch_specific.init_ftrace_trampolines"]+8))
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
		for _, s := range moduleSections(m) {
			if s.name == ".plt" {
				plt = s.addr
			}
		}
		esz := off["plt_entry.size"]
		if plt != 0 && cm >= 0 {
			for i := uint64(0); i <= uint64(cm); i++ {
				a := plt + i*esz
				pb, err := kc.read(a, int(esz))
				if err != nil {
					fmt.Printf("plt_kcore| %s %d %#x error %v\n", m, i, a, err)
					continue
				}
				w := words(pb)
				var w3 [3]uint32
				copy(w3[:], w)
				kind, t := pltDecode(w3, a)
				used := "used"
				if int32(i) >= cn {
					used = "beyond_num_entries"
				}
				extra := ""
				if kind == "veneer" {
					bt, _ := branchTarget(a+8, w3[2])
					extra = fmt.Sprintf(" b_target=%#x b_target_sym=%s", bt, ks.lookup(bt))
				}
				fmt.Printf("plt_kcore| %s %d %#x %s %s %s target=%#x target_sym=%s%s\n", m, i, a, hexWords(w), kind, used, t, ks.lookup(t), extra)
			}
		} else {
			fmt.Printf("plt_kcore| %s no .plt section in sysfs\n", m)
		}
		if tr != 0 {
			for i := uint64(0); i < off["NR_FTRACE_PLTS"]; i++ {
				a := tr + i*esz
				pb, err := kc.read(a, int(esz))
				if err != nil {
					fmt.Printf("ftrace_tramp_kcore| %s %d %#x error %v\n", m, i, a, err)
					continue
				}
				w := words(pb)
				var w3 [3]uint32
				copy(w3[:], w)
				kind, t := pltDecode(w3, a)
				fmt.Printf("ftrace_tramp_kcore| %s %d %#x %s %s target=%#x target_sym=%s\n", m, i, a, hexWords(w), kind, t, ks.lookup(t))
			}
		}
	}
}

// siteLine prints the words from ALIGN_DOWN(ip-12, 8) to ip+4 (the CALL_OPS
// literal, the mov x9,x30 / nop at ip-4, the bl / nop at ip, the next word),
// and decodes them.
func siteLine(kc *kcore, ks *kallsyms, tag, label string, ip uint64) {
	lit := (ip - 12) &^ 7
	n := int(ip + 8 - lit)
	b, err := kc.read(lit, n)
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
		tgt = fmt.Sprintf("%#x %s", t, ks.lookup(t))
	} else {
		tgt = "- -"
	}
	fmt.Printf("%s| %#x %s words@%#x=%s ip-4=%s ip=%s target=%s literal=%#x %s\n", tag, ip, label, lit, hexWords(w),
		insnKind(w[k-1]), insnKind(w[k]), tgt, ops, ks.lookup(ops))
}

func printTruth(suffix string) {
	// the kernel's own messages (a module's periodic pr_info) must not be
	// printed into the middle of the truth's lines: console loglevel 1
	// (KERN_EMERG only) while it prints, 7 again afterwards
	_ = write("/proc/sys/kernel/printk", "1")
	defer write("/proc/sys/kernel/printk", "7")
	fmt.Printf("KDI-TRUTH-BEGIN%s %s\n", suffix, time.Now().UTC().Format(time.RFC3339Nano))
	kc := openKcore()
	if kc != nil {
		defer kc.f.Close()
	}
	ks := readKallsyms()

	dumpFile("uname", "/proc/version")
	begin("utsname", "uname(2)")
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		c := func(b []byte) string { return string(bytes.TrimRight(b, "\x00")) }
		fmt.Printf("utsname| %s %s %s %s %s\n", c(u.Sysname[:]), c(u.Nodename[:]), c(u.Release[:]), c(u.Version[:]), c(u.Machine[:]))
	}
	end("utsname")
	dumpFile("cmdline", "/proc/cmdline")
	begin("cpuinfo", "/proc/cpuinfo (cpu 0)")
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		first, _, _ := strings.Cut(string(b), "\n\n")
		for _, l := range strings.Split(first, "\n") {
			fmt.Printf("cpuinfo| %s\n", l)
		}
	}
	end("cpuinfo")
	dumpFile("iomem", "/proc/iomem")
	begin("kcore_loads", "/proc/kcore PT_LOADs: vaddr paddr memsz")
	if kc != nil {
		for _, p := range kc.progs {
			fmt.Printf("kcore_loads| %#x %#x %#x\n", p.Vaddr, p.Paddr, p.Memsz)
		}
	}
	end("kcore_loads")
	dumpFile("modules", "/proc/modules")

	mods, _ := filepath.Glob("/sys/module/*/sections")
	sort.Strings(mods)
	begin("sections", "/sys/module/*/sections/* (every file)")
	for _, dir := range mods {
		name := filepath.Base(filepath.Dir(dir))
		ss := moduleSections(name)
		sort.Slice(ss, func(i, j int) bool { return ss[i].addr < ss[j].addr })
		for _, s := range ss {
			fmt.Printf("sections| %s %s %#x\n", name, s.name, s.addr)
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

	begin("percpu", "__per_cpu_offset[cpu] for every possible cpu")
	if a := ks.first("__per_cpu_offset"); a != 0 {
		ncpu := 0
		if b, err := os.ReadFile("/sys/devices/system/cpu/possible"); err == nil {
			s := strings.TrimSpace(string(b))
			if _, hi, ok := strings.Cut(s, "-"); ok {
				ncpu, _ = strconv.Atoi(hi)
			}
			ncpu++
		}
		for c := 0; c < ncpu; c++ {
			if v, err := kc.u64(a + uint64(8*c)); err == nil {
				fmt.Printf("percpu| cpu%d %016x\n", c, v)
			}
		}
	}
	end("percpu")

	begin("variables", "name address value: 8 bytes at selected variables (little-endian u64)")
	for _, name := range lines("/kdi/variables.list") {
		if a := ks.first(name); a != 0 {
			if v, err := kc.u64(a); err == nil {
				fmt.Printf("variables| %s %016x %016x\n", name, a, v)
			} else {
				fmt.Printf("variables| %s %016x error %v\n", name, a, err)
			}
		} else {
			fmt.Printf("variables| %s - (not in /proc/kallsyms)\n", name)
		}
	}
	end("variables")

	dumpFile("enabled_functions", tracing+"/enabled_functions")
	dumpFile("touched_functions", tracing+"/touched_functions")

	// every ftrace record: available_filter_functions_addrs "ip name [mod]"
	type rec struct {
		ip   uint64
		name string
	}
	var recs []rec
	byName := map[string][]uint64{}
	if f, err := os.Open(tracing + "/available_filter_functions_addrs"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			a, rest, ok := strings.Cut(sc.Text(), " ")
			if !ok {
				continue
			}
			ip, err := strconv.ParseUint(a, 16, 64)
			if err != nil {
				continue
			}
			recs = append(recs, rec{ip, rest})
			byName[rest] = append(byName[rest], ip)
		}
		f.Close()
	}
	begin("site_words", "ip name: words from ALIGN_DOWN(ip-12,8) to ip+4 of every enabled record (vmlinux and modules), read from /proc/kcore")
	seen := map[uint64]bool{}
	for _, l := range lines(tracing + "/enabled_functions") {
		name := l
		if i := strings.Index(l, " ("); i > 0 {
			name = l[:i]
		}
		ips := byName[name]
		if len(ips) == 0 {
			fmt.Printf("site_words| - %s: no record in available_filter_functions_addrs\n", strings.ReplaceAll(name, " ", "_"))
		}
		for _, ip := range ips {
			if !seen[ip] {
				seen[ip] = true
				siteLine(kc, ks, "site_words", strings.ReplaceAll(name, " ", "_"), ip)
			}
		}
	}
	end("site_words")
	begin("module_records", "every module ftrace record: ip name [mod] and its words (as site_words)")
	for _, r := range recs {
		if strings.Contains(r.name, "[") {
			siteLine(kc, ks, "module_records", strings.ReplaceAll(r.name, " ", "_"), r.ip)
		}
	}
	end("module_records")

	if kc != nil {
		printModArch(kc, ks)
	}

	dumpFile("kprobe_events", tracing+"/kprobe_events")
	dumpFile("kprobes_list", "/sys/kernel/debug/kprobes/list")
	begin("kprobe_words", "the words at ADDR-8 .. ADDR+8 of every address of the kprobes list")
	for _, l := range lines("/sys/kernel/debug/kprobes/list") {
		fs := strings.Fields(l)
		if len(fs) < 3 {
			continue
		}
		a, err := strconv.ParseUint(fs[0], 16, 64)
		if err != nil {
			continue
		}
		b, err := kc.read(a-8, 20)
		if err != nil {
			fmt.Printf("kprobe_words| %#x %s error %v\n", a, fs[2], err)
			continue
		}
		w := words(b)
		fmt.Printf("kprobe_words| %#x %s words@%#x=%s at=%s\n", a, fs[2], a-8, hexWords(w), insnKind(w[2]))
	}
	end("kprobe_words")

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
	dumpFile("klp_tgt", "/proc/klp_tgt")

	dumpFile("current_tracer", tracing+"/current_tracer")
	dumpFile("set_ftrace_filter", tracing+"/set_ftrace_filter")
	_ = write(tracing+"/tracing_on", "0")
	begin("trace_tail", tracing+"/trace (last 40 lines, read with tracing_on 0)")
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
		if len(ls) > 40 {
			ls = ls[len(ls)-40:]
		}
		for _, l := range ls {
			fmt.Printf("trace_tail| %s\n", l)
		}
	case <-time.After(120 * time.Second):
		fmt.Printf("KDI-ERROR trace_tail: reading %s/trace took more than 120 s\n", tracing)
	}
	end("trace_tail")

	dumpFile("vmcoreinfo_location", "/sys/kernel/vmcoreinfo")
	begin("vmcoreinfo", "vmcoreinfo_data[0:vmcoreinfo_size] read through /proc/kcore")
	if d, s := ks.first("vmcoreinfo_data"), ks.first("vmcoreinfo_size"); d != 0 && s != 0 {
		p, err1 := kc.u64(d)
		n, err2 := kc.u64(s)
		if err1 == nil && err2 == nil {
			if txt, err := kc.read(p, int(n)); err == nil {
				fmt.Printf("vmcoreinfo| # vmcoreinfo_data=%#x vmcoreinfo_size=%d\n", p, n)
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

func runCommands(path string) {
	for _, l := range lines(path) {
		fs := strings.SplitN(l, " ", 3)
		switch {
		case len(fs) == 3 && fs[0] == "write":
			if write(fs[1], fs[2]) == nil {
				logf("%s = %s", fs[1], fs[2])
			}
		case len(fs) == 2 && fs[0] == "sleep":
			d, _ := time.ParseDuration(fs[1])
			time.Sleep(d)
		case len(fs) >= 2 && fs[0] == "cat":
			b, err := os.ReadFile(fs[1])
			logf("cat %s: %q %v", fs[1], strings.TrimSpace(string(b)), err)
		default:
			logf("%s: bad line %q", path, l)
		}
	}
}

func loopbackUp() {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		logf("socket: %v", err)
		return
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
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

// tcpTraffic sends n bytes over loopback TCP with congestion control cc.
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

func main() {
	mount("proc", "/proc", "proc")
	mount("sysfs", "/sys", "sysfs")
	mount("devtmpfs", "/dev", "devtmpfs")
	mount("tracefs", tracing, "tracefs")
	mount("debugfs", "/sys/kernel/debug", "debugfs")
	_ = write("/proc/sys/kernel/kptr_restrict", "0")
	_ = write("/proc/sys/kernel/printk", "7")

	// /kdi/load.list: "FILE [PARAMS...]" lines, dependencies first;
	// "!wait-livepatch", "!sleep DURATION", "!cat FILE".
	for _, line := range lines("/kdi/load.list") {
		switch {
		case line == "!wait-livepatch":
			waitLivepatch()
		case strings.HasPrefix(line, "!sleep "):
			d, _ := time.ParseDuration(strings.TrimPrefix(line, "!sleep "))
			time.Sleep(d)
		case strings.HasPrefix(line, "!cat "):
			b, err := os.ReadFile(strings.TrimPrefix(line, "!cat "))
			logf("%s: %q %v", line, strings.TrimSpace(string(b)), err)
		default:
			file, params, _ := strings.Cut(line, " ")
			loadModule(filepath.Join("/kdi/modules", file), params)
		}
	}
	runCommands("/kdi/pre-commands")

	if cc := lines("/kdi/tcp.cc"); len(cc) > 0 {
		loopbackUp()
		for _, c := range cc {
			tcpTraffic(c, 4<<20)
		}
	}

	if fl := lines("/kdi/ftrace.filter"); len(fl) > 0 {
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
			if write(tracing+"/events/"+g+"/enable", "1") == nil {
				logf("kprobe events of group %s enabled", g)
			}
		}
	}
	runCommands("/kdi/commands")
	// traffic again, now through the traced/probed sites
	for _, c := range lines("/kdi/tcp.cc") {
		tcpTraffic(c, 1<<20)
	}

	if _, err := os.Stat("/kdi/modules/modarch_dump.ko"); err == nil {
		ks := readKallsyms()
		params := fmt.Sprintf("modules_addr=%#x", ks.first("modules"))
		if a := ks.first("ftrace_pages_start"); a != 0 {
			params += fmt.Sprintf(" ftrace_pages_start=%#x", a)
		}
		loadModule("/kdi/modules/modarch_dump.ko", params)
	}
	time.Sleep(time.Second)

	printTruth("")
	unix.Sync()
	fmt.Println("KDI-READY")

	in := os.Stdin
	if f, err := os.OpenFile("/dev/ttyAMA1", os.O_RDWR|unix.O_NOCTTY, 0); err == nil {
		if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON
			t.Cc[unix.VMIN] = 1
			t.Cc[unix.VTIME] = 0
			_ = unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
		}
		in = f
		logf("reading commands from /dev/ttyAMA1")
	} else {
		logf("no /dev/ttyAMA1 (%v): reading commands from the console", err)
	}
	sc := bufio.NewScanner(in)
	n := 0
	for sc.Scan() {
		switch cmd := strings.TrimSpace(sc.Text()); cmd {
		case "truth":
			n++
			printTruth(fmt.Sprintf("-%d", n))
			fmt.Println("KDI-READY")
		case "sync":
			unix.Sync()
			fmt.Println("KDI-SYNCED")
		case "crash-sysrq":
			logf("crash: echo c > /proc/sysrq-trigger")
			_ = write("/proc/sys/kernel/sysrq", "1")
			_ = write("/proc/sysrq-trigger", "c")
		case "crash-klp":
			logf("crash: klp_stub_bug crash=1, read /proc/klp_tgt")
			_ = write("/proc/sys/kernel/panic_on_oops", "1")
			_ = write("/sys/module/klp_stub_bug/parameters/crash", "1")
			b, err := os.ReadFile("/proc/klp_tgt")
			logf("read /proc/klp_tgt: %q %v", b, err)
		case "":
		default:
			logf("unknown command %q", cmd)
		}
	}
	logf("command input closed; sleeping")
	for {
		time.Sleep(time.Hour)
	}
}
