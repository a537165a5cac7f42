package ftrace

import (
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// KlpFunc is one struct klp_func (include/linux/livepatch.h).
type KlpFunc struct {
	Addr       uint64
	OldName    string
	NewFunc    uint64
	OldSympos  uint64
	OldFunc    uint64
	OldSize    uint64
	NewSize    uint64
	Nop        bool
	Patched    bool
	Transition bool
}

// KlpObject is one struct klp_object: Name "" is the vmlinux (obj->name
// NULL).
type KlpObject struct {
	Addr    uint64
	Name    string
	Mod     uint64
	ModName string
	Dynamic bool
	Patched bool
	Funcs   []KlpFunc
}

// KlpPatch is one struct klp_patch of klp_patches.
type KlpPatch struct {
	Addr    uint64
	Mod     uint64
	ModName string
	Enabled bool
	Forced  bool
	Replace bool
	Objects []KlpObject
}

// KlpOps is one struct klp_ops of the static klp_ops list
// (kernel/livepatch/patch.h): the ftrace_ops shared by every klp_func with
// the same old_func, and its func_stack (the active klp_func first).
type KlpOps struct {
	Addr    uint64
	Fops    *Ops
	Stack   []uint64 // klp_func addresses, top first
	OldFunc uint64   // the top func's old_func (klp_find_ops)
}

// Livepatch is the livepatch state: klp_patches, klp_ops and the
// transition (kernel/livepatch/core.c, patch.c, transition.c).
type Livepatch struct {
	Patches []KlpPatch
	Ops     []KlpOps
	// TransitionPatch is klp_transition_patch (0 when idle), TargetState
	// klp_target_state (KLP_TRANSITION_IDLE -1, UNPATCHED 0, PATCHED 1).
	TransitionPatch uint64
	TargetState     int64
	HasTargetState  bool
	Warnings        []string
}

func (lp *Livepatch) warnf(format string, args ...any) {
	lp.Warnings = append(lp.Warnings, fmt.Sprintf(format, args...))
}

// maxKlp bounds each livepatch list walk.
const maxKlp = 1 << 14

// ReadLivepatch reads the livepatch state; nil with no error when the
// kernel has no klp_patches (no CONFIG_LIVEPATCH). modName names a struct
// module address ("" if unknown).
func ReadLivepatch(p *kernel.Program, ol OpsLayout, modName func(uint64) string) (*Livepatch, error) {
	head, err := p.SymbolAddr("klp_patches")
	if err != nil {
		return nil, nil
	}
	lp := &Livepatch{}
	ctx := *p.Context
	ctx.MaxList = maxKlp
	for po, err := range kernel.ListForEachEntry(&ctx, head, "struct klp_patch", "list") {
		if err != nil {
			lp.warnf("klp_patches: %v", err)
			break
		}
		kp := KlpPatch{Addr: po.Addr}
		kp.Mod = memberUint(po, "mod")
		kp.ModName = modName(kp.Mod)
		kp.Enabled = memberBool(po, "enabled")
		kp.Forced = memberBool(po, "forced")
		kp.Replace = memberBool(po, "replace")
		objs, err := po.Member("obj_list")
		if err != nil {
			lp.warnf("klp_patch %#x: %v", po.Addr, err)
		} else {
			kp.Objects = readKlpObjects(&ctx, lp, objs.Addr, modName)
		}
		lp.Patches = append(lp.Patches, kp)
	}
	if a, err := p.SymbolAddr("klp_transition_patch"); err == nil {
		if v, err := p.ReadU64(a); err == nil {
			lp.TransitionPatch = v
		}
	}
	if a, err := p.SymbolAddr("klp_target_state"); err == nil {
		if v, err := p.ReadU32(a); err == nil {
			lp.TargetState, lp.HasTargetState = int64(int32(v)), true
		}
	}
	if a, err := p.SymbolAddr("klp_ops"); err == nil {
		fopsOff, err := p.Types.Offsetof("struct klp_ops", "fops")
		if err != nil {
			lp.warnf("struct klp_ops: %v", err)
			return lp, nil
		}
		for ko, err := range kernel.ListForEachEntry(&ctx, a, "struct klp_ops", "node") {
			if err != nil {
				lp.warnf("klp_ops: %v", err)
				break
			}
			k := KlpOps{Addr: ko.Addr}
			if o, err := ReadOps(&ctx, ko.Addr+uint64(fopsOff), ol); err == nil {
				k.Fops = o
			} else {
				lp.warnf("klp_ops %#x: %v", ko.Addr, err)
			}
			if fs, err := ko.Member("func_stack"); err == nil {
				for fo, err := range kernel.ListForEachEntry(&ctx, fs.Addr, "struct klp_func", "stack_node") {
					if err != nil {
						lp.warnf("klp_ops %#x func_stack: %v", ko.Addr, err)
						break
					}
					if len(k.Stack) == 0 {
						k.OldFunc = memberUint(fo, "old_func")
					}
					k.Stack = append(k.Stack, fo.Addr)
				}
			}
			lp.Ops = append(lp.Ops, k)
		}
	}
	return lp, nil
}

func readKlpObjects(ctx *kernel.Context, lp *Livepatch, head uint64, modName func(uint64) string) []KlpObject {
	var out []KlpObject
	for oo, err := range kernel.ListForEachEntry(ctx, head, "struct klp_object", "node") {
		if err != nil {
			lp.warnf("klp obj_list: %v", err)
			break
		}
		o := KlpObject{Addr: oo.Addr}
		o.Name = memberString(oo, "name", 64)
		o.Mod = memberUint(oo, "mod")
		if o.Mod != 0 {
			o.ModName = modName(o.Mod)
		}
		o.Dynamic = memberBool(oo, "dynamic")
		o.Patched = memberBool(oo, "patched")
		fl, err := oo.Member("func_list")
		if err != nil {
			lp.warnf("klp_object %#x: %v", oo.Addr, err)
			out = append(out, o)
			continue
		}
		for fo, err := range kernel.ListForEachEntry(ctx, fl.Addr, "struct klp_func", "node") {
			if err != nil {
				lp.warnf("klp_object %#x func_list: %v", oo.Addr, err)
				break
			}
			o.Funcs = append(o.Funcs, KlpFunc{
				Addr:       fo.Addr,
				OldName:    memberString(fo, "old_name", 128),
				NewFunc:    memberUint(fo, "new_func"),
				OldSympos:  memberUint(fo, "old_sympos"),
				OldFunc:    memberUint(fo, "old_func"),
				OldSize:    memberUint(fo, "old_size"),
				NewSize:    memberUint(fo, "new_size"),
				Nop:        memberBool(fo, "nop"),
				Patched:    memberBool(fo, "patched"),
				Transition: memberBool(fo, "transition"),
			})
		}
		out = append(out, o)
	}
	return out
}

func memberUint(o kernel.Object, path string) uint64 {
	m, err := o.Member(path)
	if err != nil {
		return 0
	}
	v, _ := m.Uint()
	return v
}

func memberBool(o kernel.Object, path string) bool {
	return memberUint(o, path) != 0
}

// memberString reads a char * member ("" for NULL or unreadable).
func memberString(o kernel.Object, path string, max int) string {
	m, err := o.Member(path)
	if err != nil {
		return ""
	}
	if v, _ := m.Uint(); v == 0 {
		return ""
	}
	s, _ := m.CString(max)
	return s
}
