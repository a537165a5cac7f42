package kernel

import "fmt"

// VmapArea is one busy vmalloc area (struct vmap_area with its struct
// vm_struct), as /proc/vmallocinfo shows it.
type VmapArea struct {
	Start, End uint64 // va_start, va_end (the guard page included)
	VM         uint64 // the vm_struct, 0 for a vm_map_ram area
	Addr, Size uint64 // vm->addr, vm->size
	NrPages    uint64
	Caller     uint64 // vm->caller: who vmalloc'ed it
	Flags      uint64 // vm->flags (VM_ALLOC, VM_IOREMAP, ...)
}

// FindVmapArea returns the busy vmap area holding addr, walking the
// busy lists (capped and cycle-checked).
func (p *Program) FindVmapArea(addr uint64) (VmapArea, bool, error) {
	ctx := *p.Context
	ctx.MaxList = maxVmapAreas
	heads, err := p.vmapBusyHeads(&ctx)
	if err != nil {
		return VmapArea{}, false, err
	}
	for _, h := range heads {
		for va, err := range ListForEachEntry(&ctx, h, "struct vmap_area", "list") {
			if err != nil {
				return VmapArea{}, false, fmt.Errorf("vmap areas: %w", err)
			}
			start, err1 := uintMember(va, "va_start")
			end, err2 := uintMember(va, "va_end")
			if err1 != nil || err2 != nil || addr < start || addr >= end {
				continue
			}
			a := VmapArea{Start: start, End: end}
			if a.VM, err = uintMember(va, "vm"); err != nil || a.VM == 0 {
				return a, true, nil
			}
			vm, err := p.Object("struct vm_struct", a.VM)
			if err != nil {
				return a, true, err
			}
			a.Addr, _ = uintMember(vm, "addr")
			a.Size, _ = uintMember(vm, "size")
			a.NrPages, _ = uintMember(vm, "nr_pages")
			a.Caller, _ = uintMember(vm, "caller")
			a.Flags, _ = uintMember(vm, "flags")
			return a, true, nil
		}
	}
	return VmapArea{}, false, nil
}
