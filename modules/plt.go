package modules

import (
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// Module PLTs as arm64's loader makes them (arch/arm64/kernel/module-plts.c,
// arch/arm64/include/asm/module.h): mod->arch.core and .init are struct
// mod_plt_sec {plt_shndx, plt_num_entries, plt_max_entries}; the section
// (.plt, .init.plt) holds plt_max_entries + 1 struct plt_entry, of which
// module_emit_plt_entry() fills the first plt_num_entries with
// get_plt_entry(dst, &plt[i]) — skipping (leaving zero) a slot whose adrp
// would sit at a forbidden offset (erratum 843419) — or, for ADRP
// veneers, module_emit_veneer_for_adrp(). mod->arch.ftrace_trampolines
// (and init_ftrace_trampolines) point at NR_FTRACE_PLTS entries that
// module_init_ftrace_plt() sets to get_plt_entry(FTRACE_ADDR, plt).
//
// The entry's shape comes from the architecture (arch.ModulePLT); the
// reader runs where mod_arch_specific has core.plt_num_entries.

// PLTSlot is one struct plt_entry.
type PLTSlot struct {
	Index int
	Addr  uint64
	Bytes []byte
	Zero  bool
	// Decoded: the bytes have the template's shape, branching to Target;
	// Template: they are exactly get_plt_entry(Target, Addr).
	Decoded, Template bool
	Target            uint64
	// Want is, for an ftrace trampoline, get_plt_entry(FTRACE_ADDR, Addr).
	Want []byte
}

// PLTSection is mod->arch.core or .init and its section's entries.
type PLTSection struct {
	Name            string // ".plt", ".init.plt"
	Addr            uint64 // from mod->sect_attrs; 0 when unknown
	Shndx, Num, Max int64
	Slots           []PLTSlot // plt_max_entries + 1, when read
	NotRead         string    // why Slots is empty
}

// PLTs is a module's PLT state.
type PLTs struct {
	Core, Init PLTSection
	EntrySize  int
	FtraceAddr uint64 // FTRACE_ADDR (ftrace_caller)
	// FtraceTramps are mod->arch.ftrace_trampolines[0..NR_FTRACE_PLTS)
	// (the text's; the init ones are freed with init memory).
	FtraceTramps    []PLTSlot
	FtraceTrampsPtr uint64
	NotReadTramps   string
}

// maxPLTEntries bounds a hostile plt_max_entries.
const maxPLTEntries = 1 << 16

// nrFtracePLTs is NR_FTRACE_PLTS (arch/arm64/include/asm/module.h).
const nrFtracePLTs = 1

// ReadPLTs reads a module's PLTs; nil, nil when the architecture or the
// kernel has none (no arch.ModulePLT, no mod->arch.core.plt_num_entries).
func ReadPLTs(p *kernel.Program, m *Module) (*PLTs, error) {
	mp, ok := p.Arch.(arch.ModulePLT)
	if !ok {
		return nil, nil
	}
	if _, err := m.Obj.Member("arch.core.plt_num_entries"); err != nil {
		return nil, nil
	}
	out := &PLTs{EntrySize: mp.PLTEntrySize()}
	if a, err := p.SymbolAddr("ftrace_caller"); err == nil {
		out.FtraceAddr = a
	}
	for _, s := range []struct {
		sec   *PLTSection
		field string
		name  string
	}{{&out.Core, "core", ".plt"}, {&out.Init, "init", ".init.plt"}} {
		s.sec.Name = s.name
		for _, f := range []struct {
			dst  *int64
			name string
		}{{&s.sec.Shndx, "plt_shndx"}, {&s.sec.Num, "plt_num_entries"}, {&s.sec.Max, "plt_max_entries"}} {
			o, err := m.Obj.Member("arch." + s.field + "." + f.name)
			if err != nil {
				return nil, fmt.Errorf("mod->arch.%s.%s: %w", s.field, f.name, err)
			}
			if *f.dst, err = o.Int(); err != nil {
				return nil, fmt.Errorf("mod->arch.%s.%s: %w", s.field, f.name, err)
			}
		}
		s.sec.Addr, _ = m.SectionAddr(s.name)
	}
	readSlots(p, mp, m, &out.Core)
	// Init memory is freed once the module is live (do_init_module()).
	out.Init.NotRead = "init memory (.init.plt) is freed once the module is live"
	if m.State == "MODULE_STATE_COMING" {
		readSlots(p, mp, m, &out.Init)
	}
	if v, ok := m.Arch.Member("ftrace_trampolines"); ok {
		out.FtraceTrampsPtr = v
		switch {
		case v == 0:
			out.NotReadTramps = "mod->arch.ftrace_trampolines is NULL"
		case out.FtraceAddr == 0:
			out.NotReadTramps = "no ftrace_caller in the vmlinux (FTRACE_ADDR unknown)"
		default:
			for i := range nrFtracePLTs {
				at := v + uint64(i*out.EntrySize)
				b, err := p.Read(at, out.EntrySize)
				if err != nil {
					out.NotReadTramps = fmt.Sprintf("ftrace_trampolines[%d] at %#x: %v", i, at, err)
					break
				}
				sl := pltSlotOf(mp, i, at, b)
				sl.Want = mp.PLTEntry(out.FtraceAddr, at)
				out.FtraceTramps = append(out.FtraceTramps, sl)
			}
		}
	} else {
		out.NotReadTramps = "mod_arch_specific has no ftrace_trampolines (no DYNAMIC_FTRACE)"
	}
	return out, nil
}

func readSlots(p *kernel.Program, mp arch.ModulePLT, m *Module, s *PLTSection) {
	switch {
	case s.Addr == 0:
		s.NotRead = "no " + s.Name + " section address in mod->sect_attrs"
		return
	case s.Max < 0 || s.Max >= maxPLTEntries:
		s.NotRead = fmt.Sprintf("plt_max_entries %d out of range", s.Max)
		return
	}
	n := mp.PLTEntrySize()
	b, err := p.Read(s.Addr, int(s.Max+1)*n)
	if err != nil {
		s.NotRead = fmt.Sprintf("%s at %#x unreadable: %v", s.Name, s.Addr, err)
		return
	}
	for i := 0; i <= int(s.Max); i++ {
		s.Slots = append(s.Slots, pltSlotOf(mp, i, s.Addr+uint64(i*n), b[i*n:(i+1)*n]))
	}
}

func pltSlotOf(mp arch.ModulePLT, i int, at uint64, b []byte) PLTSlot {
	sl := PLTSlot{Index: i, Addr: at, Bytes: append([]byte(nil), b...), Zero: true}
	for _, c := range b {
		if c != 0 {
			sl.Zero = false
		}
	}
	if t, ok := mp.DecodePLT(b, at); ok {
		sl.Decoded, sl.Target = true, t
		sl.Template = string(mp.PLTEntry(t, at)) == string(b)
	}
	return sl
}

// SlotUse is what one PLT slot is to module_emit_plt_entry().
type SlotUse int

const (
	// PLTUsed: below plt_num_entries and written.
	PLTUsed SlotUse = iota
	// PLTSkipped: below plt_num_entries but zero — the slot whose adrp
	// would sit at an offset erratum 843419 forbids
	// (is_forbidden_offset_for_adrp()), left unwritten.
	PLTSkipped
	// PLTFree: at or past plt_num_entries and zero.
	PLTFree
	// PLTDuplicate: just past plt_num_entries, holding the last used
	// entry's target: module_emit_plt_entry() writes the new entry before
	// it checks whether it duplicates the previous one (relocations are
	// sorted) and leaves it there, unused.
	PLTDuplicate
	// PLTStray: at or past plt_num_entries and written, not the
	// duplicate: nothing in the loader writes it.
	PLTStray
)

func (u SlotUse) String() string {
	switch u {
	case PLTUsed:
		return "used"
	case PLTSkipped:
		return "skipped (erratum 843419)"
	case PLTFree:
		return "free"
	case PLTDuplicate:
		return "abandoned duplicate"
	case PLTStray:
		return "written past plt_num_entries"
	}
	return fmt.Sprintf("SlotUse(%d)", int(u))
}

// Use says what slot i of s is (s.Slots[i]).
func (s *PLTSection) Use(sl PLTSlot) SlotUse {
	used := int64(sl.Index) < s.Num
	switch {
	case sl.Zero && used:
		return PLTSkipped
	case sl.Zero:
		return PLTFree
	case used:
		return PLTUsed
	}
	var last uint64
	for _, o := range s.Slots {
		if int64(o.Index) == s.Num-1 && o.Template {
			last = o.Target
		}
	}
	if sl.Template && last != 0 && sl.Target == last && int64(sl.Index) <= s.Num+1 {
		return PLTDuplicate
	}
	return PLTStray
}

// SlotAt returns the PLT entry holding addr: the array it belongs to
// (".plt", ".init.plt", or "ftrace" for mod->arch.ftrace_trampolines) and
// the slot.
func (p *PLTs) SlotAt(addr uint64) (array string, slot PLTSlot, ok bool) {
	if p == nil || p.EntrySize <= 0 {
		return "", PLTSlot{}, false
	}
	n := uint64(p.EntrySize)
	for _, sec := range []*PLTSection{&p.Core, &p.Init} {
		if len(sec.Slots) == 0 || addr < sec.Slots[0].Addr {
			continue
		}
		if i := (addr - sec.Slots[0].Addr) / n; i < uint64(len(sec.Slots)) {
			return sec.Name, sec.Slots[i], true
		}
	}
	for _, sl := range p.FtraceTramps {
		if addr >= sl.Addr && addr-sl.Addr < n {
			return "ftrace", sl, true
		}
	}
	return "", PLTSlot{}, false
}

// PLTAt returns the module whose PLT entries hold addr, with the array and
// the slot (PLTs.SlotAt).
func (set *Set) PLTAt(addr uint64) (*Analysis, string, PLTSlot, bool) {
	if set == nil {
		return nil, "", PLTSlot{}, false
	}
	for _, a := range set.Modules {
		if arr, sl, ok := a.PLT.SlotAt(addr); ok {
			return a, arr, sl, true
		}
	}
	return nil, "", PLTSlot{}, false
}
