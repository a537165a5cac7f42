package arm64_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/arch/arm64"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/stack"
)

// The arm64 corpus: Debian's 7.2.13 arm64 kernel dumped under QEMU
// (bench/arm64-corpus makes it, outside git), with truth.json written by
// the guest and drgn. Every value asserted here comes from truth.json.
func corpusDir(t *testing.T) string {
	d := os.Getenv("KDUMP_INSPECT_ARM64_CORPUS")
	if d == "" {
		d = "/work/corpora/arm64"
	}
	if _, err := os.Stat(d); err != nil {
		t.Skipf("arm64 corpus %s absent (set KDUMP_INSPECT_ARM64_CORPUS): %v", d, err)
	}
	return d
}

type truth map[string]any

func (t truth) at(path ...string) any {
	var v any = map[string]any(t)
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// wordsOf parses "90290c70 91144210 d61f0200".
func wordsOf(t *testing.T, v any) []uint32 {
	var out []uint32
	for _, f := range strings.Fields(fmt.Sprint(v)) {
		out = append(out, uint32(testcorpus.Hex(t, f)))
	}
	return out
}

func TestCorpus(t *testing.T) {
	root := corpusDir(t)
	type job struct{ dir, file string }
	var jobs []job
	for _, d := range []string{"distro-kaslr", "distro-nokaslr", "distro-kaslr-sysrq", "distro-a53"} {
		jobs = append(jobs, job{d, "vmcore.elf.zst"})
	}
	jobs = append(jobs, job{"distro-kaslr", "vmcore.kdump"}, job{"distro-kaslr", "vmcore-flat.kdump"})
	// Debian's 16K-page flavour (7.2.13+deb14-arm64-16k): every format
	// of the KASLR dump, the ELF and kdump of the nokaslr one.
	for _, f := range []string{"vmcore.elf.zst", "vmcore.kdump", "vmcore-flat.kdump"} {
		jobs = append(jobs, job{"distro16k-kaslr", f})
	}
	jobs = append(jobs, job{"distro16k-nokaslr", "vmcore.elf.zst"}, job{"distro16k-nokaslr", "vmcore.kdump"},
		job{"distro16k-va47", "vmcore.elf.zst"}, job{"distro16k-va47", "vmcore.kdump"})
	// distro16k-blocks: nokaslr rodata=off kfence.sample_interval=100 (KFENCE
	// initialised early, so the linear map is not forced to pages): 32 MiB
	// level-2 blocks in the linear map.
	jobs = append(jobs, job{"distro16k-blocks", "vmcore.elf.zst"}, job{"distro16k-blocks", "vmcore.kdump"})
	// The livepatch kernel built from source (bench/arm64-corpus/from-source),
	// with 4K pages and with 64K pages and 52-bit VA (FEAT_LVA: 3 levels,
	// TCR_EL1_T1SZ 12; k64-va52-nokaslr booted with rodata=off, its linear
	// map in 512 MiB blocks), and with 16K pages and 52-bit VA (FEAT_LPA2:
	// 4 levels, TCR_EL1_T1SZ 12; k16-va52-nokaslr booted with rodata=off,
	// its linear map in 32 MiB level-2 blocks).
	for _, d := range []string{"livepatch-kaslr", "livepatch-nokaslr", "k64-va52-kaslr", "k64-va52-nokaslr", "k16-va52-kaslr", "k16-va52-nokaslr"} {
		jobs = append(jobs, job{d, "vmcore.kdump"})
	}
	jobs = append(jobs, job{"k64-va52-kaslr", "vmcore.elf.zst"}, job{"k16-va52-kaslr", "vmcore.elf.zst"}, job{"k16-va52-nokaslr", "vmcore.elf.zst"})
	for _, j := range jobs {
		dir := filepath.Join(root, j.dir)
		path := filepath.Join(dir, j.file)
		if _, err := os.Stat(path); err != nil {
			t.Logf("%s absent: skipped", path)
			continue
		}
		t.Run(j.dir+"/"+j.file, func(t *testing.T) {
			var tr truth
			testcorpus.LoadTruthInto(t, dir, &tr)
			p, err := kernel.Open([]string{path}, kernel.Options{Vmlinux: filepath.Join(dir, "vmlinux.zst")})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			checkLayout(t, p, tr, dir)
			checkCPUs(t, p, tr)
			leaves := checkTranslations(t, p, tr, strings.HasPrefix(j.dir, "distro16k-") || strings.HasPrefix(j.dir, "k64-") || strings.HasPrefix(j.dir, "k16-"))
			if j.dir == "k64-va52-nokaslr" && leaves["PMD 524288K"] == 0 {
				t.Errorf("no 512 MiB PMD block among the translations of the rodata=off boot: %v", leaves)
			}
			if (j.dir == "k16-va52-nokaslr" || j.dir == "distro16k-blocks") && leaves["PMD 32768K"] == 0 {
				t.Errorf("no 32 MiB PMD block among the translations of the rodata=off boot: %v", leaves)
			}
			checkPages(t, p, tr)
			set := modules.Analyze(p)
			checkModules(t, p, set, tr)
			checkFtrace(t, p, set, tr)
			checkStacks(t, p, tr)
		})
	}
}

// VMCOREINFO, KASLR, symbols and variables read through the kimage map.
func checkLayout(t *testing.T, p *kernel.Program, tr truth, dir string) {
	vi, _ := tr.at("dump", "vmcoreinfo").(map[string]any)
	if len(vi) == 0 {
		t.Fatal("truth has no dump.vmcoreinfo")
	}
	for k, v := range vi {
		if got := p.Info.Raw[k]; got != v {
			t.Errorf("VMCOREINFO %s = %q, truth %q", k, got, v)
		}
	}
	off := uint64(0)
	if s, ok := vi["KERNELOFFSET"].(string); ok {
		off = testcorpus.Hex(t, s)
	}
	if p.KernelOffset != off || p.Arch.KernelOffset() != off {
		t.Errorf("KernelOffset %#x, truth KERNELOFFSET %#x", p.KernelOffset, off)
	}
	// The granule and VA size from the kernel's VMCOREINFO; the level
	// count from the kernel's config (CONFIG_PGTABLE_LEVELS) when the CPU
	// runs the full CONFIG_ARM64_VA_BITS (TCR_EL1_T1SZ = 64 - VA_BITS),
	// else ARM64_HW_PGTABLE_LEVELS(vabits_actual) = (va - 4) / (PAGE_SHIFT
	// - 3) of asm/pgtable-hwdef.h (distro16k-va47: no LPA2, 47 bits).
	pageSize, _ := strconv.ParseUint(fmt.Sprint(vi["PAGESIZE"]), 10, 64)
	t1sz := hexOrDec(t, vi["NUMBER(TCR_EL1_T1SZ)"])
	vaBits := hexOrDec(t, vi["NUMBER(VA_BITS)"])
	actual := 64 - t1sz
	levels := configNumber(t, dir, "CONFIG_PGTABLE_LEVELS")
	if actual != vaBits {
		shift := uint64(0)
		for 1<<shift < pageSize {
			shift++
		}
		levels = (actual - 4) / (shift - 3)
	}
	k, ok := p.Arch.(*arm64.Kernel)
	if !ok {
		t.Fatalf("arch %T", p.Arch)
	}
	if k.PageSize() != pageSize || uint64(k.VABitsActual) != actual || k.LPA2 != (actual == 52 && pageSize != 65536) || uint64(k.Levels) != levels {
		t.Errorf("arch: %d-byte pages, %d-bit VA, LPA2 %v, %d levels; truth PAGESIZE %d, TCR_EL1_T1SZ %d, VA_BITS %d, %d levels",
			k.PageSize(), k.VABitsActual, k.LPA2, k.Levels, pageSize, t1sz, vaBits, levels)
	}
	syms, _ := tr.at("guest", "kallsyms_vmlinux").(map[string]any)
	if len(syms) < 20 {
		t.Fatalf("truth guest.kallsyms_vmlinux has %d symbols", len(syms))
	}
	for name, v := range syms {
		if strings.HasPrefix(name, "kallsyms_") {
			continue // generated by the link: the vmlinux's own may differ
		}
		a, err := p.SymbolAddr(name)
		if err != nil || a != testcorpus.Hex(t, v) {
			t.Errorf("symbol %s = %#x (%v), guest kallsyms %v", name, a, err, v)
		}
	}
	vars, _ := tr.at("guest", "variables").(map[string]any)
	n := 0
	for _, name := range []string{"kimage_voffset", "memstart_addr", "module_direct_base", "module_plt_base",
		"ftrace_ops_list", "function_trace_op", "ftrace_trace_function", "ftrace_pages_start", "ftrace_pages", "vmcoreinfo_data"} {
		v, ok := vars[name].(map[string]any)
		if !ok {
			continue
		}
		addr := testcorpus.Hex(t, v["addr"])
		if a, err := p.SymbolAddr(name); err != nil || a != addr {
			t.Errorf("&%s = %#x (%v), guest %#x", name, a, err, addr)
		}
		got, err := p.ReadU64(addr)
		if err != nil || got != testcorpus.Hex(t, v["value"]) {
			t.Errorf("%s = %#x (%v), guest %v", name, got, err, v["value"])
		}
		n++
	}
	if n < 8 {
		t.Errorf("only %d variables compared", n)
	}
}

// PRSTATUS per CPU: the registers drgn read from the notes and the names
// of the PCs.
func checkCPUs(t *testing.T, p *kernel.Program, tr truth) {
	prs, _ := tr.at("dump", "elf", "prstatus").([]any)
	if len(prs) == 0 || len(prs) != len(p.Dump.CPUs) {
		t.Fatalf("%d CPUs, truth %d", len(p.Dump.CPUs), len(prs))
	}
	for i, x := range prs {
		want := x.(map[string]any)
		c := p.Dump.CPUs[i]
		if int(c.PID) != int(want["pid"].(float64)) || c.PC != testcorpus.Hex(t, want["pc"]) || c.SP != testcorpus.Hex(t, want["sp"]) ||
			c.Regs[29] != testcorpus.Hex(t, want["x29"]) || c.Regs[30] != testcorpus.Hex(t, want["x30"]) || c.Regs[33] != testcorpus.Hex(t, want["pstate"]) {
			t.Errorf("cpu %d: pid %d pc %#x sp %#x x29 %#x x30 %#x pstate %#x; truth %v", i, c.PID, c.PC, c.SP, c.Regs[29], c.Regs[30], c.Regs[33], want)
		}
	}
	cpus, _ := tr.at("dump", "cpus").([]any)
	for _, x := range cpus {
		want := x.(map[string]any)
		sym, _ := want["prstatus_pc_sym"].(string)
		i := int(want["cpu"].(float64))
		if sym == "" || i >= len(p.Dump.CPUs) {
			continue
		}
		if got := p.Resolver.Lookup(p.Dump.CPUs[i].PC).String(); got != sym {
			t.Errorf("cpu %d pc %#x is %s, drgn %s", i, p.Dump.CPUs[i].PC, got, sym)
		}
	}
}

// Module text bases, mod->arch, every PLT entry and ftrace trampoline word
// as the guest read them, and get_plt_entry() of each target.
func checkModules(t *testing.T, p *kernel.Program, set *modules.Set, tr truth) {
	pm, _ := tr.at("guest", "proc_modules").([]any)
	if len(pm) == 0 || len(pm) != len(set.Modules) {
		t.Fatalf("%d modules, /proc/modules %d", len(set.Modules), len(pm))
	}
	for _, x := range pm {
		want := x.(map[string]any)
		name := want["name"].(string)
		a := set.Find(name)
		if a == nil {
			t.Errorf("module %s missing", name)
			continue
		}
		base := uint64(0)
		for _, r := range a.Module.Regions {
			if r.Name == "MOD_TEXT" {
				base = r.Base
			}
		}
		if base != testcorpus.Hex(t, want["addr"]) {
			t.Errorf("%s text at %#x, /proc/modules %v", name, base, want["addr"])
		}
		ma, _ := tr.at("guest", "modarch", name).(map[string]any)
		// The PLT model (package modules) against the guest's mod->arch
		// and .plt words.
		if pl := a.PLT; pl == nil {
			t.Errorf("%s: no PLT model (%v)", name, a.PLTErr)
		} else {
			for _, c := range []struct {
				got int64
				key string
			}{{pl.Core.Shndx, "core.plt_shndx"}, {pl.Core.Num, "core.plt_num_entries"}, {pl.Core.Max, "core.plt_max_entries"},
				{pl.Init.Num, "init.plt_num_entries"}, {pl.Init.Max, "init.plt_max_entries"}} {
				if fmt.Sprint(c.got) != ma[c.key] {
					t.Errorf("%s mod->arch.%s = %d, guest %v", name, c.key, c.got, ma[c.key])
				}
			}
			slots, _ := tr.at("guest", "plt", name).([]any)
			if len(slots) != len(pl.Core.Slots) {
				t.Errorf("%s: %d .plt slots, guest %d", name, len(pl.Core.Slots), len(slots))
			}
			for i, x := range slots {
				ent := x.(map[string]any)
				if i >= len(pl.Core.Slots) {
					break
				}
				s := pl.Core.Slots[i]
				if s.Addr != testcorpus.Hex(t, ent["addr"]) || (ent["kind"] == "plt") != s.Template || s.Zero != (ent["kind"] == "zero") {
					t.Errorf("%s .plt[%d] at %#x template %v zero %v; guest %v", name, i, s.Addr, s.Template, s.Zero, ent)
				}
				if ent["kind"] == "plt" && s.Target != testcorpus.Hex(t, ent["target"]) {
					t.Errorf("%s .plt[%d] -> %#x, guest %v", name, i, s.Target, ent["target"])
				}
			}
			if len(pl.FtraceTramps) != 1 || string(pl.FtraceTramps[0].Bytes) != string(pl.FtraceTramps[0].Want) {
				t.Errorf("%s ftrace trampoline %+v", name, pl.FtraceTramps)
			}
		}

		for _, m := range []string{"ftrace_trampolines", "init_ftrace_trampolines"} {
			if v, ok := a.Module.Arch.Member(m); !ok || v != testcorpus.Hex(t, ma[m]) {
				t.Errorf("%s mod->arch.%s = %#x %v, guest %v", name, m, v, ok, ma[m])
			}
		}
	}
	ftraceAddr := testcorpus.Hex(t, tr.at("dump", "kernel", "FTRACE_ADDR"))
	n := 0
	for _, kind := range []string{"plt", "ftrace_tramp"} {
		byMod, _ := tr.at("guest", kind).(map[string]any)
		for name, x := range byMod {
			for _, e := range x.([]any) {
				ent := e.(map[string]any)
				addr := testcorpus.Hex(t, ent["addr"])
				want := wordsOf(t, ent["words"])
				var got []uint32
				for i := range want {
					w, err := p.ReadU32(addr + uint64(4*i))
					if err != nil {
						t.Fatalf("%s %s at %#x: %v", name, kind, addr, err)
					}
					got = append(got, w)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s %s at %#x: %08x, guest %08x", name, kind, addr, got, want)
				}
				n++
				if ent["kind"] != "plt" {
					continue
				}
				target := testcorpus.Hex(t, ent["target"])
				if kind == "ftrace_tramp" && target != ftraceAddr {
					t.Errorf("%s ftrace trampoline -> %#x, FTRACE_ADDR %#x", name, target, ftraceAddr)
				}
				e := arm64.GetPLTEntry(target, addr)
				if fmt.Sprint(e[:]) != fmt.Sprint(want) {
					t.Errorf("%s get_plt_entry(%#x, %#x) = %08x, guest %08x", name, target, addr, e, want)
				}
			}
		}
	}
	if n < 100 {
		t.Errorf("only %d PLT entries compared", n)
	}
}

// Every module record's site words, and the site model: the mov x9, x30,
// the branch (through the module's ftrace PLT when out of range) and the
// CALL_OPS literal the guest read.
func checkFtrace(t *testing.T, p *kernel.Program, set *modules.Set, tr truth) {
	st, err := ftrace.Load(set)
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := tr.at("guest", "module_records").(map[string]any)
	sites, _ := tr.at("guest", "site_words").(map[string]any)
	kprobed := map[uint64]bool{}
	for a := range tr.at("guest", "kprobe_words").(map[string]any) {
		kprobed[testcorpus.Hex(t, a)] = true
	}
	all := map[string]any{}
	for k, v := range recs {
		all[k] = v
	}
	for k, v := range sites {
		all[k] = v
	}
	checks := map[uint64]ftrace.SiteCheck{}
	owners := map[string]bool{"": true}
	for _, a := range set.Modules {
		owners[a.Module.Name] = true
	}
	nmod := 0
	for o := range owners {
		for _, sc := range st.SiteChecks(set, o) {
			checks[sc.Record.IP] = sc
			if o != "" {
				nmod++
			}
		}
	}
	if nmod != len(recs) {
		t.Errorf("%d module records, guest %d", nmod, len(recs))
	}
	for k, v := range all {
		ip := testcorpus.Hex(t, k)
		r := v.(map[string]any)
		at := testcorpus.Hex(t, r["words_at"])
		want := wordsOf(t, r["words"])
		for i, w := range want {
			got, err := p.ReadU32(at + uint64(4*i))
			if err != nil || got != w {
				t.Errorf("record %#x word at %#x = %08x (%v), guest %08x", ip, at+uint64(4*i), got, err, w)
			}
		}
		sc, ok := checks[ip]
		if !ok {
			t.Errorf("record %#x (%v) not found", ip, r["name"])
			continue
		}
		if sc.Unchecked != "" || sc.LiteralUnknown != "" {
			t.Errorf("record %#x (%v): unchecked: %s %s", ip, r["name"], sc.Unchecked, sc.LiteralUnknown)
			continue
		}
		// The guest's literal and branch are what the model expects.
		if lit := testcorpus.Hex(t, r["literal"]); !sc.LiteralChecked || sc.LiteralWant != lit {
			t.Errorf("record %#x (%v): literal expected %#x (%s), guest %#x (%v)", ip, r["name"], sc.LiteralWant, sc.LiteralWhy, lit, r["literal_sym"])
		}
		site := want[int(ip-at)/4]
		found := false
		for _, w := range sc.WantBytes {
			found = found || arm64.Order.Uint32(w) == site
		}
		if !found {
			t.Errorf("record %#x (%v): site %08x not among the expected %x (%s)", ip, r["name"], site, sc.WantBytes, sc.WantWhy)
		}
		if sc.Mismatch && !kprobed[ip-4] {
			t.Errorf("record %#x (%v): mismatch", ip, r["name"])
		}
	}
}

// hexOrDec parses a VMCOREINFO NUMBER() value as the kernel prints it
// (decimal; some values are printed as 0x...).
func hexOrDec(t *testing.T, v any) uint64 {
	t.Helper()
	str := fmt.Sprint(v)
	n, err := strconv.ParseUint(str, 0, 64)
	if err != nil {
		t.Fatalf("VMCOREINFO value %q: %v", str, err)
	}
	return n
}

// configNumber reads NAME=N from the config of the dump's kernel (the
// directory its Image symlink points into).
func configNumber(t *testing.T, dir, name string) uint64 {
	t.Helper()
	img, err := filepath.EvalSymlinks(filepath.Join(dir, "Image"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(img), "config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+"="); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("%s not in the kernel config", name)
	return 0
}

// checkTranslations: the page-table walk of every module region (first
// byte, second page, last byte), of kernel-image and linear-map addresses,
// against drgn's follow_phys(init_mm) (truth dump.translations; the 4K
// dumps made before truth-drgn.py wrote it have none unless must).
func checkTranslations(t *testing.T, p *kernel.Program, tr truth, must bool) map[string]int {
	ents, _ := tr.at("dump", "translations", "entries").([]any)
	if len(ents) == 0 {
		if must {
			t.Errorf("truth has no dump.translations (%v)", tr.at("dump", "translations", "error"))
		}
		return nil
	}
	k := p.Arch.(*arm64.Kernel)
	n := 0
	leaves := map[string]int{} // leaf level and size -> count
	for _, x := range ents {
		e := x.(map[string]any)
		if e["pa"] == nil {
			t.Logf("drgn could not translate %v: %v", e["what"], e["error"])
			continue
		}
		va, pa := testcorpus.Hex(t, e["va"]), testcorpus.Hex(t, e["pa"])
		w, err := k.Walk(va)
		if err != nil || w.PA != pa {
			t.Errorf("%v: walk of %#x = %#x (%v), drgn %#x", e["what"], va, w.PA, err, pa)
		}
		if w.LeafSize != 0 && w.LeafSize != k.PageSize() && w.LeafSize%k.PageSize() != 0 {
			t.Errorf("%v: leaf of %#x bytes", e["what"], w.LeafSize)
		}
		if len(w.Steps) > 0 {
			leaves[fmt.Sprintf("%s %dK", w.Steps[len(w.Steps)-1].Level, w.LeafSize>>10)]++
		}
		n++
	}
	if must && n < 40 {
		t.Errorf("only %d translations compared", n)
	}
	t.Logf("%d translations equal drgn's; leaves %v", n, leaves)
	return leaves
}

// checkStacks: each CPU's task and its stack by frame records, PC by PC,
// as drgn unwound it (dump.cpus[].stack; drgn repeats a PC for inlined
// frames).
func checkStacks(t *testing.T, p *kernel.Program, tr truth) {
	cpus, _ := tr.at("dump", "cpus").([]any)
	if len(cpus) == 0 {
		t.Fatal("truth has no dump.cpus")
	}
	us, err := analysis.New(p).Stacks()
	if err != nil {
		t.Logf("stacks: %v", err)
	}
	for _, x := range cpus {
		c := x.(map[string]any)
		cpu := int(c["cpu"].(float64))
		frames, ok := c["stack"].([]any)
		if !ok {
			t.Errorf("cpu %d: drgn stack %v", cpu, c["stack"])
			continue
		}
		var want []string
		for _, f := range frames {
			pc := fmt.Sprint(f.(map[string]any)["pc"])
			if len(want) == 0 || want[len(want)-1] != pc {
				want = append(want, pc)
			}
		}
		found := false
		for _, u := range us {
			if u.CPU != cpu || u.Stale || !u.HasTask {
				continue
			}
			found = true
			var got []string
			for _, f := range u.Frames {
				got = append(got, "0x"+strconv.FormatUint(f.PC, 16))
			}
			// Stopped at an exception vector (the IRQ taken, kernel_entry
			// not run: no pt_regs yet), x30 is the interrupted code's. drgn
			// has no CFI for vectors and goes on from the frame record at
			// x29; the unwinder shows x30 first, as for a leaf (KindLR),
			// since it lies in neither the vectors nor the first record's
			// return (k16-va52-nokaslr: x30 default_idle_call+0x28, stale
			// from ct_idle_exit, in the function the IRQ interrupted).
			sym, _ := c["prstatus_pc_sym"].(string)
			if strings.HasPrefix(sym, "vectors+") && len(got) == len(want)+1 && len(want) > 0 && got[0] == want[0] &&
				got[1] == fmt.Sprint(c["prstatus_x30"]) && u.Frames[1].Kind == stack.KindLR {
				t.Logf("CPU %d at %s: x30 %s (%v) shown as the interrupted code's, drgn goes on from x29", cpu, sym, got[1], c["prstatus_x30_sym"])
				got = append(got[:1], got[2:]...)
			}
			if strings.Join(got, " ") != strings.Join(want, " ") || u.Task.Addr != testcorpus.Hex(t, c["task"]) {
				t.Errorf("CPU %d (task %#x): %v (%v); drgn task %v %v", cpu, u.Task.Addr, got, u.Err, c["task"], want)
			}
		}
		if !found {
			t.Errorf("CPU %d not unwound", cpu)
		}
		t.Logf("CPU %d: %d frames compared", cpu, len(want))
	}
}

// checkPages: struct page of the kernel image's first page, of
// swapper_pg_dir's and of a module's text page (physical addresses from
// drgn's translations, else the image by kimage_voffset) at
// SYMBOL(vmemmap) + pfn * SIZE(page) of the kernel's VMCOREINFO (vmemmap
// is a macro on arm64: no variable to read); the image pages are
// PG_reserved (memblock-reserved at boot), the module page is not.
func checkPages(t *testing.T, p *kernel.Program, tr truth) {
	vi, _ := tr.at("dump", "vmcoreinfo").(map[string]any)
	vmemmap := testcorpus.Hex(t, vi["SYMBOL(vmemmap)"])
	size := hexOrDec(t, vi["SIZE(page)"])
	k := p.Arch.(*arm64.Kernel)
	type pg struct {
		what     string
		pa       uint64
		reserved bool
	}
	text, err := p.SymbolAddr("_text")
	if err != nil {
		t.Fatal(err)
	}
	pages := []pg{{"_text", text - testcorpus.Hex(t, vi["NUMBER(kimage_voffset)"]), true}}
	ents, _ := tr.at("dump", "translations", "entries").([]any)
	for _, x := range ents {
		e := x.(map[string]any)
		what := fmt.Sprint(e["what"])
		if e["pa"] != nil && (what == "swapper_pg_dir" || what == "tcp_vegas MOD_TEXT") {
			pages = append(pages, pg{what, testcorpus.Hex(t, e["pa"]), what == "swapper_pg_dir"})
		}
	}
	for _, c := range pages {
		pfn := c.pa >> k.PageShift()
		pi, err := p.DescribePage(pfn)
		if err != nil {
			t.Errorf("page of %s (pfn %#x): %v", c.what, pfn, err)
			continue
		}
		if pi.Page != vmemmap+pfn*size || !pi.InDump || pi.Phys != pfn<<k.PageShift() {
			t.Errorf("page of %s: pfn %#x struct page %#x in dump %v phys %#x; VMCOREINFO vmemmap %#x + pfn * %d", c.what, pfn, pi.Page, pi.InDump, pi.Phys, vmemmap, size)
		}
		reserved := false
		for _, f := range pi.FlagSet {
			reserved = reserved || f == "PG_reserved"
		}
		if reserved != c.reserved || pi.Refcount < 1 || pi.Class == "free" {
			t.Errorf("page of %s: flags %v refcount %d class %s; want PG_reserved %v, in use", c.what, pi.FlagSet, pi.Refcount, pi.Class, c.reserved)
		}
	}
	if len(pages) < 2 && len(ents) > 0 {
		t.Errorf("only %d pages described", len(pages))
	}
}
