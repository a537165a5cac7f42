package textcheck

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	a64 "github.com/kdump-inspect/kdump-inspect/arch/arm64"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// a64VmlinuxPartial are the only incomplete parts the arm64 vmlinux model
// admits on the corpus: none (every alternative callback is modelled, and
// the runtime constants whose variable the compiler dropped are found in
// slab_caches), so the vmlinux is fully checked.
var a64VmlinuxPartial []string

func openArm64(t *testing.T, dir string, wrap *damage.Virt, noFtrace bool) (*kernel.Program, *modules.Set, *Env) {
	t.Helper()
	opt := kernel.Options{Vmlinux: filepath.Join(dir, "vmlinux.zst"), ModuleDirs: []string{filepath.Join(dir, "modules")}}
	if wrap != nil {
		opt.PhysWrap = wrap.Wrap
	}
	p, err := kernel.Open([]string{filepath.Join(dir, "vmcore.elf.zst")}, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	set := modules.Analyze(p)
	if noFtrace {
		return p, set, NewEnv(set, nil, errors.New("ftrace state withheld by the test"))
	}
	st, err := ftrace.Load(set)
	return p, set, NewEnv(set, st, err)
}

// TestArm64VmlinuxTextCorpus: on every arm64 corpus dump (outside git,
// skipped when absent) the vmlinux's resident text (.head.text, .text with
// the entry, idmap and hyp code, .rodata.text) is relocated by the KASLR
// offset and compared with nothing unexplained and no model problem,
// incomplete only where the model says partial (a64VmlinuxPartial); the
// guest's vmlinux kprobe (truth.json) is a brk #0x4 the kprobe model
// explains. Without the ftrace records the __mcount_loc fallback still
// leaves nothing unexplained.
func TestArm64VmlinuxTextCorpus(t *testing.T) {
	for _, dir := range Arm64CorpusDirs(t, "the arm64 corpus dumps take seconds each") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			kprobes := LoadArm64Kprobes(t, dir)
			for _, noFtrace := range []bool{false, true} {
				_, _, env := openArm64(t, dir, nil, noFtrace)
				r := env.Vmlinux()
				t.Logf("ftrace withheld %v: %s; %d bytes differ, %d explained", noFtrace, r.Summary(), r.Differing, r.Explained)
				if r.Compared < 16<<20 {
					t.Errorf("%d bytes compared", r.Compared)
				}
				for _, d := range r.Unexplained() {
					t.Errorf("unexplained %d bytes at %#x (%s): expected % x, found % x", len(d.Found), d.Addr, env.name(d.Addr), d.Expected, d.Found)
				}
				for _, s := range r.Problems {
					t.Errorf("problem: %s", s)
				}
				for _, s := range r.Incomplete {
					ok := noFtrace && strings.HasPrefix(s, "ftrace records not read")
					for _, p := range a64VmlinuxPartial {
						ok = ok || strings.HasPrefix(s, p)
					}
					if !ok {
						t.Errorf("incomplete: %s", s)
					}
				}
				for _, m := range []Mechanism{MechFtrace, MechFtracePrologue, MechAlternative, MechJumpLabel, MechRuntimeConst, MechHypReloc} {
					if r.ByMech[m] == 0 && !(noFtrace && m == MechFtracePrologue) {
						t.Errorf("no difference explained by %s", m)
					}
				}
				for _, k := range kprobes {
					if k.Mod == nil {
						CheckArm64Kprobe(t, k, r.Diffs)
					}
				}
			}
		})
	}
}

// TestArm64VmlinuxPlanted: in a copy of distro-kaslr's memory a brk #0
// planted in vfs_read, a jump label site of a disabled key turned into its
// branch, and one movz of a runtime constant (the second site of __filp_cache's) given
// another value than its sibling sites are each unexplained, and nothing
// else is.
func TestArm64VmlinuxPlanted(t *testing.T) {
	dir := testcorpus.Corpora(t, "arm64", "distro-kaslr")
	if testing.Short() {
		t.Skip("-short")
	}
	p, _, env := openArm64(t, dir, nil, false)
	env.load()
	vfsRead, err := p.SymbolAddr("vfs_read")
	if err != nil {
		t.Fatal(err)
	}
	brk := vfsRead + 0x40
	// a jump label of a disabled key, nop in the dump
	start, _ := p.SymbolAddr("__start___jump_table")
	stop, _ := p.SymbolAddr("__stop___jump_table")
	tab, err := readFile(p.Vmlinux.File, p.LinkAddr(start), int(stop-start))
	if err != nil {
		t.Fatal(err)
	}
	var jl JumpEntry
	for _, j := range parseJumpTable(env.jl, p.Order, start, tab) {
		if ks := env.keyState(j.Key); ks.Err == nil && ks.Enabled == 0 && !j.Branch {
			if w, err := p.ReadU32(j.Code); err == nil && w == a64.Nop && j.Code != brk {
				jl = j
				break
			}
		}
	}
	if jl.Code == 0 {
		t.Fatal("no nop jump label site of a disabled key")
	}
	jmp, err := a64.BranchImm(jl.Code, jl.Target, false)
	if err != nil {
		t.Fatal(err)
	}
	// the second site of runtime_ptr___filp_cache: its movz's immediate
	base, err := p.SymbolAddr("__start_runtime_ptr___filp_cache")
	if err != nil {
		t.Fatal(err)
	}
	rb, err := readFile(p.Vmlinux.File, p.LinkAddr(base+4), 4) // init data: freed, read the file
	if err != nil {
		t.Fatal(err)
	}
	rc := base + 4 + uint64(int64(int32(p.Order.Uint32(rb))))
	w, err := p.ReadU32(rc)
	if err != nil {
		t.Fatal(err)
	}
	// the first resident kvm_update_va_mask() site: its and's immediate changed
	initBegin, err := p.SymbolAddr("__init_begin")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := p.SymbolAddr("kvm_update_va_mask")
	if err != nil {
		t.Fatal(err)
	}
	alt, ab := altInstructions(t, p)
	var va uint64
	for off := 0; off+12 <= len(ab) && va == 0; off += 12 {
		ent := alt.Addr + p.KernelOffset + uint64(off)
		if ent+4+uint64(int64(int32(p.Order.Uint32(ab[off+4:])))) == cb {
			if at := ent + uint64(int64(int32(p.Order.Uint32(ab[off:])))); at < initBegin {
				va = at
			}
		}
	}
	vw, err := p.ReadU32(va)
	if va == 0 || err != nil {
		t.Fatalf("no kvm_update_va_mask site read (%#x): %v", va, err)
	}
	v := damage.NewVirt(p)
	for _, pl := range []struct {
		at uint64
		w  uint32
	}{{brk, 0xd4200000}, {jl.Code, jmp}, {rc, w ^ 0x20}, {va, vw ^ 1<<10}} {
		if err := v.Patch(pl.at, a64.Order.AppendUint32(nil, pl.w)); err != nil {
			t.Fatal(err)
		}
	}
	_, _, env2 := openArm64(t, dir, v, false)
	r := env2.Vmlinux()
	t.Logf("%s", r.Summary())
	checkPlanted(t, env2, r, map[uint64]bool{brk: true, jl.Code: true, rc: true, va: true})
}
