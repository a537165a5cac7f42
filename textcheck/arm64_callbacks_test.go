package textcheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	a64 "github.com/kdump-inspect/kdump-inspect/arch/arm64"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// TestA64VectorBranchEncoding: kvm_patch_vector_branch()'s sequence for
// hyp vectors at 0x456781231000 and a site whose PC[10:7] is 0xf (0x780):
// addr = 0x456781231000 | 0x780, + KVM_VECTOR_PREAMBLE 8 = 0x456781231788.
// The words are GNU as 2.47.50 (Debian sid binutils-aarch64-linux-gnu)
// assembling "movz x0, #0x1788; movk x0, #0x8123, lsl #16; movk x0,
// #0x4567, lsl #32; br x0".
func TestA64VectorBranchEncoding(t *testing.T) {
	got := a64VectorBranch(0x456781231000, 0xffff800080012f80)
	want := []uint32{0xd282f100, 0xf2b02460, 0xf2c8ace0, 0xd61f0000}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("word %d: %#08x, want %#08x", i, got[i], want[i])
		}
	}
}

// a64CallbackSites lists the runtime addresses of the alternative sites
// (struct alt_instr of the vmlinux's .altinstructions) whose replacement
// is the callback cb, with their instruction count.
func a64CallbackSites(t *testing.T, p *kernel.Program, cb string) map[uint64]int {
	t.Helper()
	addr, err := p.SymbolAddr(cb)
	if err != nil {
		t.Fatal(err)
	}
	alt, b := altInstructions(t, p)
	initBegin, _ := p.SymbolAddr("__init_begin")
	initEnd, _ := p.SymbolAddr("__init_end")
	out := map[uint64]int{}
	o := p.Order
	for off := 0; off+12 <= len(b); off += 12 {
		ent := alt.Addr + p.KernelOffset + uint64(off)
		if ent+4+uint64(int64(int32(o.Uint32(b[off+4:])))) != addr || o.Uint16(b[off+8:])&a64CBBit == 0 {
			continue
		}
		at := ent + uint64(int64(int32(o.Uint32(b[off:]))))
		if at >= initBegin && at < initEnd {
			continue // freed init text
		}
		out[at] = int(b[off+10]) / 4
	}
	if len(out) == 0 {
		t.Fatalf("no resident site of %s", cb)
	}
	return out
}

// TestArm64AltCallbacksCorpus: on each arm64 corpus dump, the words the
// three callbacks leave are derived independently of the model from what
// the guest printed (its "CPU features: detected:" lines, its kernel
// command line) and the kernel source's rules and encodings, and the dump
// holds exactly them at every resident site:
//   - spectre_v4_patch_fw_mitigation_enable(): no "mitigations=off" nor
//     "ssbd=force-off" on the command line (so cpu_mitigations AUTO and
//     __spectre_v4_policy its default SPECTRE_V4_POLICY_MITIGATION_DYNAMIC)
//     and "Speculative Store Bypassing Safe (SSBS)" not detected: nop
//     (d503201f, aarch64_insn_gen_nop()), else the vmlinux's own branch;
//   - kvm_patch_vector_branch(): "Spectre-v3a" not detected: the
//     vmlinux's own four words (every corpus CPU);
//   - kvm_compute_ich_hcr_trap_bits(): no kvm-arm.vgic_v3_*_trap
//     parameter, no "Cavium erratum 30115", no VHE so no broken-SEIS
//     check, and "ICV_DIR_EL1 trapping" (ARM64_HAS_ICH_HCR_EL2_TDIR) not
//     detected: common_trap alone, ICH_HCR_EL2.TC (bit 10,
//     arch/arm64/tools/sysreg): movz rd, #0x400 (GNU as: movz x3, #0x400
//     is d2808003).
//
// The model's candidate for each site is that word too, and the vmlinux
// result has nothing unexplained and nothing incomplete.
func TestArm64AltCallbacksCorpus(t *testing.T) {
	root := testcorpus.Corpora(t, "arm64")
	if testing.Short() {
		t.Skip("-short")
	}
	feat := regexp.MustCompile(`CPU features: detected: (.*)`)
	for _, d := range []string{"distro-kaslr", "distro-nokaslr", "distro-kaslr-sysrq", "distro-ftrace-ops", "distro-ftrace-ops-nokaslr", "distro-a53",
		"distro16k-kaslr", "distro16k-nokaslr", "distro16k-va47"} {
		dir := filepath.Join(root, d)
		con, err := os.ReadFile(filepath.Join(dir, "console.log"))
		if err != nil {
			t.Logf("%s: %v: skipped", d, err)
			continue
		}
		t.Run(d, func(t *testing.T) {
			detected := map[string]bool{}
			for _, m := range feat.FindAllStringSubmatch(string(con), -1) {
				detected[strings.TrimSpace(m[1])] = true
			}
			cmdline := regexp.MustCompile(`Kernel command line: (.*)`).FindStringSubmatch(string(con))
			if cmdline == nil || len(detected) == 0 {
				t.Fatal("console.log: no command line or no detected features")
			}
			for _, arg := range []string{"mitigations=", "ssbd=", "kvm-arm.vgic_v3_"} {
				if strings.Contains(cmdline[1], arg) {
					t.Fatalf("command line %q has %s: the derivation below assumes the defaults", cmdline[1], arg)
				}
			}
			for _, f := range []string{"Virtualization Host Extensions", "Cavium erratum 30115", "ICV_DIR_EL1 trapping", "Spectre-v3a"} {
				if detected[f] {
					t.Fatalf("guest detected %q: not the case derived here", f)
				}
			}
			p, _, env := openArm64(t, dir, nil, false)
			r := env.Vmlinux()
			if u := r.Unexplained(); len(u) != 0 || len(r.Incomplete) != 0 || len(r.Problems) != 0 {
				t.Errorf("vmlinux: %d unexplained, incomplete %q, problems %q", len(u), r.Incomplete, r.Problems)
			}
			fileWord := func(at uint64) uint32 {
				b, err := readFile(p.Vmlinux.File, p.LinkAddr(at), 4)
				if err != nil {
					t.Fatal(err)
				}
				return a64.Order.Uint32(b)
			}
			check := func(cb string, want func(at uint64, i int) uint32) {
				sites := a64CallbackSites(t, p, cb)
				for at, n := range sites {
					orig := make([]uint32, n)
					for i := range orig {
						orig[i] = fileWord(at + uint64(4*i))
					}
					addr, _ := p.SymbolAddr(cb)
					fn, _, ok := env.a64Callback(addr, at)
					if !ok {
						t.Fatalf("%s: no model", cb)
					}
					model, err := fn(orig)
					if err != nil {
						t.Fatalf("%s at %#x: %v", cb, at, err)
					}
					for i := range n {
						w := want(at, i)
						got, err := p.ReadU32(at + uint64(4*i))
						if err != nil {
							t.Fatal(err)
						}
						if got != w || model[i] != w {
							t.Errorf("%s site %#x (%s) word %d: dump %#08x, model %#08x, derived %#08x", cb, at, env.name(at), i, got, model[i], w)
						}
					}
				}
				t.Logf("%s: %d resident sites as derived", cb, len(sites))
			}
			ssbs := detected["Speculative Store Bypassing Safe (SSBS)"]
			check("spectre_v4_patch_fw_mitigation_enable", func(at uint64, i int) uint32 {
				if ssbs {
					return fileWord(at)
				}
				return 0xd503201f
			})
			check("kvm_patch_vector_branch", func(at uint64, i int) uint32 { return fileWord(at + uint64(4*i)) })
			check("kvm_compute_ich_hcr_trap_bits", func(at uint64, i int) uint32 {
				return 0xd2808000 | fileWord(at)&31
			})
		})
	}
}

// TestArm64AltCallbacksMutation: in a copy of distro-kaslr's memory, one
// site of each modelled callback given the other state the callback could
// have written (the spectre-v4 branch made a nop, the ICH_HCR trap bits
// with TDIR added, a vector branch site's first word a movz), and every
// site of the runtime constant __filp_cache given one consistent wrong
// value (which "the sites agree" alone could not see), are each
// unexplained, and nothing else is.
func TestArm64AltCallbacksMutation(t *testing.T) {
	dir := testcorpus.Corpora(t, "arm64", "distro-kaslr")
	if testing.Short() {
		t.Skip("-short")
	}
	p, _, _ := openArm64(t, dir, nil, false)
	first := func(cb string) uint64 {
		var best uint64
		for at := range a64CallbackSites(t, p, cb) {
			if best == 0 || at < best {
				best = at
			}
		}
		return best
	}
	v := damage.NewVirt(p)
	want := map[uint64]bool{}
	plant := func(at uint64, w uint32) {
		if err := v.Patch(at, a64.Order.AppendUint32(nil, w)); err != nil {
			t.Fatal(err)
		}
		want[at] = true
	}
	sv4 := first("spectre_v4_patch_fw_mitigation_enable")
	plant(sv4, a64.Nop)
	ich := first("kvm_compute_ich_hcr_trap_bits")
	w, err := p.ReadU32(ich)
	if err != nil {
		t.Fatal(err)
	}
	plant(ich, w|0x4000<<5) // + ICH_HCR_EL2.TDIR
	vb := first("kvm_patch_vector_branch")
	plant(vb, 0xd2800000)
	// every site of runtime_ptr___filp_cache: the pointer + 0x100
	base, err := p.SymbolAddr("__start_runtime_ptr___filp_cache")
	if err != nil {
		t.Fatal(err)
	}
	end, err := p.SymbolAddr("__stop_runtime_ptr___filp_cache")
	if err != nil || end <= base || end-base > 4096 {
		t.Fatalf("runtime_ptr___filp_cache %#x..%#x: %v", base, end, err)
	}
	tab, err := readFile(p.Vmlinux.File, p.LinkAddr(base), int(end-base))
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k+4 <= len(tab); k += 4 {
		at := base + uint64(k) + uint64(int64(int32(p.Order.Uint32(tab[k:]))))
		w, err := p.ReadU32(at)
		if err != nil {
			t.Fatal(err)
		}
		plant(at, w+0x100<<5) // movz: the low 16 bits of the pointer + 0x100
	}
	_, _, env := openArm64(t, dir, v, false)
	checkPlanted(t, env, env.Vmlinux(), want)
}
