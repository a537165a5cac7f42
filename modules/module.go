// Package modules reconstructs every loaded kernel module from a dump —
// `struct module`, its `mem[]` regions, section addresses (mod->sect_attrs),
// `mod->arch` (mod_arch_specific, every member by DWARF), the `.stubs`
// section as ppc64_stub_entry slots and the ftrace_ool_stub array at
// mod->arch.ool_stubs — and holds the model of the correct ppc64 module
// loader (arch/powerpc/kernel/module_64.c) that the audit compares them
// with.
//
// It reads and models; it does not judge (package audit does) nor print
// (package repl does). ELFv2 non-PCREL kernels are modelled; on others the
// reader still works and the model says it does not apply.
//
// Layer: models (docs/ARCHITECTURE.md).
package modules

import (
	"fmt"
	"sort"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// Region is one mod->mem[type] area.
type Region struct {
	Type  int
	Name  string // MOD_TEXT, MOD_DATA, ...
	Base  uint64
	Size  uint64
	IsROX bool
}

// Section is one section address from mod->sect_attrs.
type Section struct {
	Name string
	Addr uint64
}

// ArchMember is one member of mod->arch as DWARF describes it.
type ArchMember struct {
	Name   string
	Offset int64
	Type   string
	Value  uint64
	// Aggregate: a struct or array member (bug_list), with no value.
	Aggregate bool
}

// Arch is mod->arch with the members the models use; Has* say which exist
// in this kernel's DWARF.
type Arch struct {
	Members []ArchMember

	StubsSection uint64
	StubCount    uint64
	HasStubCount bool
	TocSection   uint64
	Tramp        uint64
	TrampRegs    uint64
	HasTramp     bool
	OOLStubs     uint64
	OOLStubCount uint64
	OOLStubIndex uint64
	HasOOL       bool
}

// Member returns the named member's value.
func (a *Arch) Member(name string) (uint64, bool) {
	for _, m := range a.Members {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

// SectionHeader is one Elf64_Shdr kept in mod->klp_info->sechdrs.
type SectionHeader struct {
	Index   int
	Name    string
	Type    uint32
	Flags   uint64
	Addr    uint64
	Size    uint64
	Link    uint32
	Info    uint32
	EntSize uint64
}

// Module is one struct module read from the dump.
type Module struct {
	Name      string
	Addr      uint64 // &struct module
	Obj       kernel.Object
	State     string
	Taints    uint64
	Livepatch bool
	Regions   []Region
	Sections  []Section
	Arch      Arch
	// KlpSechdrs: for livepatch modules, every section header the loader
	// kept (mod->klp_info->sechdrs), names from klp_info->secstrings.
	KlpSechdrs []SectionHeader
	Warnings   []string
}

func (m *Module) warnf(format string, args ...any) {
	m.Warnings = append(m.Warnings, fmt.Sprintf(format, args...))
}

// SectionAddr returns a section's address.
func (m *Module) SectionAddr(name string) (uint64, bool) {
	for _, s := range m.Sections {
		if s.Name == name {
			return s.Addr, true
		}
	}
	return 0, false
}

// SectionMap returns the section addresses by name.
func (m *Module) SectionMap() map[string]uint64 {
	out := make(map[string]uint64, len(m.Sections))
	for _, s := range m.Sections {
		out[s.Name] = s.Addr
	}
	return out
}

// Contains reports whether addr lies in one of the module's regions.
func (m *Module) Contains(addr uint64) bool {
	for _, r := range m.Regions {
		if r.Size > 0 && addr >= r.Base && addr-r.Base < r.Size {
			return true
		}
	}
	return false
}

// MaxModules bounds the walk of the modules list.
const MaxModules = 1 << 14

// List walks the `modules` list (kernel/module/main.c) and reads each
// struct module. A module that cannot be read is returned with what could
// be read and a warning; a broken list ends the walk with an error and the
// modules read so far.
func List(p *kernel.Program) ([]*Module, error) {
	head, err := p.SymbolAddr("modules")
	if err != nil {
		return nil, err
	}
	// A corrupt next pointer can lead into a long acyclic chain (a slab
	// free list); cap the walk at MaxModules, not the generic list cap.
	ctx := *p.Context
	ctx.MaxList = MaxModules
	var mods []*Module
	for obj, err := range kernel.ListForEachEntry(&ctx, head, "struct module", "list") {
		if err != nil {
			return mods, fmt.Errorf("walking the modules list at %#x: %w", head, err)
		}
		mods = append(mods, Read(p, obj))
	}
	return mods, nil
}

// Find returns the named module.
func Find(mods []*Module, name string) *Module {
	for _, m := range mods {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Read reads one struct module; errors become warnings on the Module.
func Read(p *kernel.Program, obj kernel.Object) *Module {
	m := &Module{Addr: obj.Addr, Obj: obj}
	if n, err := obj.Member("name"); err == nil {
		if s, err := n.CString(64); err == nil {
			m.Name = s
		} else {
			m.warnf("name: %v", err)
		}
	}
	if m.Name == "" {
		m.Name = fmt.Sprintf("module@%#x", obj.Addr)
	}
	if st, err := obj.Member("state"); err == nil {
		if v, err := st.Int(); err == nil {
			m.State = enumName(st.Type, v)
		}
	}
	if t, err := obj.Member("taints"); err == nil {
		m.Taints, _ = t.Uint()
	}
	if k, err := obj.Member("klp"); err == nil {
		v, _ := k.Uint()
		m.Livepatch = v != 0
	}
	m.readRegions(p)
	m.readSections(p)
	m.readArch()
	if m.Livepatch {
		m.readKlpInfo(p)
	}
	return m
}

var memNames = []string{"MOD_TEXT", "MOD_DATA", "MOD_RODATA", "MOD_RO_AFTER_INIT", "MOD_INIT_TEXT", "MOD_INIT_DATA", "MOD_INIT_RODATA"}

// readRegions reads the module's memory: mod->mem[MOD_*] (6.4 and later)
// or, before that, struct module_layout core_layout, init_layout (and
// data_layout where CONFIG_ARCH_WANTS_MODULES_DATA_IN_VMALLOC has it),
// detected from DWARF.
func (m *Module) readRegions(p *kernel.Program) {
	mem, err := m.Obj.Member("mem")
	if err != nil {
		if _, lerr := m.Obj.Member("core_layout"); lerr == nil {
			m.readLayouts()
			return
		}
		m.warnf("mem[]: %v", err)
		return
	}
	at, ok := symbols.Underlying(mem.Type).(*ctype.ArrayType)
	if !ok {
		m.warnf("mem is %s, not an array", mem.Type)
		return
	}
	n := at.Count
	for i := int64(0); i < n && i < 16; i++ {
		e, err := mem.Index(i)
		if err != nil {
			m.warnf("mem[%d]: %v", i, err)
			continue
		}
		r := Region{Type: int(i)}
		if i < int64(len(memNames)) {
			r.Name = memNames[i]
		}
		if b, err := e.Member("base"); err == nil {
			r.Base, _ = b.Uint()
		}
		if s, err := e.Member("size"); err == nil {
			r.Size, _ = s.Uint()
		}
		if x, err := e.Member("is_rox"); err == nil {
			v, _ := x.Uint()
			r.IsROX = v != 0
		}
		m.Regions = append(m.Regions, r)
	}
}

// readLayouts splits struct module_layout as the pre-6.4 loader laid it
// out (kernel/module/main.c layout_sections()): text first, then rodata
// up to ro_size, ro_after_init up to ro_after_init_size, then data up to
// size; init_layout the same way. The regions get the mem[] types they
// became in 6.4 so that the views and Contains treat both alike.
func (m *Module) readLayouts() {
	type part struct {
		typ        int
		start, end string // member names bounding it; "" is 0
	}
	layouts := []struct {
		name  string
		parts []part
	}{
		{"core_layout", []part{{0, "", "text_size"}, {2, "text_size", "ro_size"}, {3, "ro_size", "ro_after_init_size"}, {1, "ro_after_init_size", "size"}}},
		{"init_layout", []part{{4, "", "text_size"}, {6, "text_size", "ro_size"}, {5, "ro_after_init_size", "size"}}},
		{"data_layout", []part{{1, "", "size"}}},
	}
	for _, l := range layouts {
		lo, err := m.Obj.Member(l.name)
		if err != nil {
			continue // data_layout exists on some architectures only
		}
		base := memberUint(lo, "base")
		val := map[string]uint64{"": 0}
		for _, n := range []string{"size", "text_size", "ro_size", "ro_after_init_size"} {
			x, err := lo.Member(n)
			if err != nil {
				continue
			}
			v, err := x.Uint()
			if err != nil {
				m.warnf("%s.%s: %v", l.name, n, err)
				return
			}
			val[n] = v
		}
		if _, ok := val["ro_after_init_size"]; !ok {
			val["ro_after_init_size"] = val["ro_size"]
		}
		for _, pt := range l.parts {
			a, b := val[pt.start], val[pt.end]
			if b < a || b > val["size"] {
				m.warnf("%s: %s %#x .. %s %#x out of order (size %#x)", l.name, pt.start, a, pt.end, b, val["size"])
				continue
			}
			r := Region{Type: pt.typ, Name: memNames[pt.typ], Base: base + a, Size: b - a, IsROX: pt.typ == 0 || pt.typ == 4}
			if r.Size == 0 {
				r.Base = 0
			}
			m.Regions = append(m.Regions, r)
		}
	}
}

// maxSections bounds mod->sect_attrs.
const maxSections = 4096

// readSections reads mod->sect_attrs in either layout: older kernels have
// struct module_sect_attrs {grp; nsections; struct module_sect_attr
// {battr; address} attrs[]}; newer ones {grp; struct bin_attribute
// attrs[]} with the address in battr.private and the count given by the
// NULL-terminated grp.bin_attrs (kernel/module/sysfs.c). Detected from
// DWARF.
func (m *Module) readSections(p *kernel.Program) {
	sa, err := m.Obj.Member("sect_attrs")
	if err != nil {
		m.warnf("sect_attrs: %v", err)
		return
	}
	ptr, err := sa.Uint()
	if err != nil || ptr == 0 {
		m.warnf("sect_attrs pointer unreadable or NULL")
		return
	}
	attrs, err := sa.Deref()
	if err != nil {
		m.warnf("sect_attrs: %v", err)
		return
	}
	if ns, err := attrs.Member("nsections"); err == nil {
		n, _ := ns.Uint()
		if n > maxSections {
			m.warnf("sect_attrs->nsections = %d (limit %d)", n, maxSections)
			n = maxSections
		}
		arr, err := attrs.Member("attrs")
		if err != nil {
			m.warnf("sect_attrs->attrs: %v", err)
			return
		}
		for i := int64(0); i < int64(n); i++ {
			a, err := arr.Index(i)
			if err != nil {
				m.warnf("sect_attrs->attrs[%d]: %v", i, err)
				return
			}
			name := memberString(a, "battr.attr.name")
			addr := memberUint(a, "address")
			m.Sections = append(m.Sections, Section{Name: name, Addr: addr})
		}
		return
	}
	// Newer layout: walk grp.bin_attrs until NULL.
	ba, err := attrs.Member("grp.bin_attrs")
	if err != nil {
		m.warnf("sect_attrs->grp.bin_attrs: %v", err)
		return
	}
	for i := int64(0); i < maxSections; i++ {
		pe, err := ba.Index(i)
		if err != nil {
			m.warnf("sect_attrs bin_attrs[%d]: %v", i, err)
			return
		}
		v, err := pe.Uint()
		if err != nil {
			m.warnf("sect_attrs bin_attrs[%d]: %v", i, err)
			return
		}
		if v == 0 {
			return
		}
		b, err := pe.Deref()
		if err != nil {
			m.warnf("sect_attrs bin_attrs[%d]: %v", i, err)
			return
		}
		m.Sections = append(m.Sections, Section{Name: memberString(b, "attr.name"), Addr: memberUint(b, "private")})
	}
}

func memberString(o kernel.Object, path string) string {
	x, err := o.Member(path)
	if err != nil {
		return ""
	}
	if d, err := x.Deref(); err == nil {
		if s, err := d.CString(256); err == nil {
			return s
		}
	}
	s, _ := x.CString(256)
	return s
}

func memberUint(o kernel.Object, path string) uint64 {
	x, err := o.Member(path)
	if err != nil {
		return 0
	}
	v, _ := x.Uint()
	return v
}

func (m *Module) readArch() {
	arch, err := m.Obj.Member("arch")
	if err != nil {
		m.warnf("arch: %v", err)
		return
	}
	st, ok := symbols.Underlying(arch.Type).(*ctype.StructType)
	if !ok {
		m.warnf("mod->arch is not a struct")
		return
	}
	a := &m.Arch
	for _, f := range st.Field {
		mo, err := arch.Member(f.Name)
		if err != nil {
			m.warnf("arch.%s: %v", f.Name, err)
			continue
		}
		am := ArchMember{Name: f.Name, Offset: f.ByteOffset, Type: f.Type.String()}
		switch symbols.Underlying(f.Type).(type) {
		case *ctype.StructType, *ctype.ArrayType:
			// bug_list (a list_head) and the like: no value to show.
			am.Aggregate = true
			a.Members = append(a.Members, am)
			continue
		}
		v, err := mo.Uint()
		if err != nil {
			m.warnf("arch.%s: %v", f.Name, err)
		}
		am.Value = v
		a.Members = append(a.Members, am)
		switch f.Name {
		case "stubs_section":
			a.StubsSection = v
		case "stub_count":
			a.StubCount, a.HasStubCount = v, true
		case "toc_section":
			a.TocSection = v
		case "tramp":
			a.Tramp, a.HasTramp = v, true
		case "tramp_regs":
			a.TrampRegs = v
		case "ool_stubs":
			a.OOLStubs, a.HasOOL = v, true
		case "ool_stub_count":
			a.OOLStubCount = v
		case "ool_stub_index":
			a.OOLStubIndex = v
		}
	}
}

// readKlpInfo reads mod->klp_info: the ELF header's e_shnum, the section
// headers and their names.
func (m *Module) readKlpInfo(p *kernel.Program) {
	ki, err := m.Obj.Member("klp_info")
	if err != nil {
		return
	}
	if v, _ := ki.Uint(); v == 0 {
		m.warnf("livepatch module with NULL klp_info")
		return
	}
	info, err := ki.Deref()
	if err != nil {
		m.warnf("klp_info: %v", err)
		return
	}
	shnum := memberUint(info, "hdr.e_shnum")
	if shnum == 0 || shnum > maxSections {
		m.warnf("klp_info->hdr.e_shnum = %d", shnum)
		return
	}
	shdrs := memberUint(info, "sechdrs")
	strs := memberUint(info, "secstrings")
	const shdrSize = 64 // sizeof(Elf64_Shdr)
	raw, err := p.Read(shdrs, int(shnum)*shdrSize)
	if err != nil {
		m.warnf("klp_info->sechdrs at %#x: %v", shdrs, err)
		return
	}
	o := p.Order
	for i := 0; i < int(shnum); i++ {
		b := raw[i*shdrSize:]
		h := SectionHeader{
			Index: i, Type: o.Uint32(b[4:]), Flags: o.Uint64(b[8:]), Addr: o.Uint64(b[16:]),
			Size: o.Uint64(b[32:]), Link: o.Uint32(b[40:]), Info: o.Uint32(b[44:]), EntSize: o.Uint64(b[56:]),
		}
		nameOff := o.Uint32(b[0:])
		// byte-exact up to a NUL: a name may end just before a page the
		// dump lacks (makedumpfile -d 31)
		if name, err := p.Context.CStringAt(strs+uint64(nameOff), 128); err == nil {
			h.Name = name
		}
		m.KlpSechdrs = append(m.KlpSechdrs, h)
	}
}

// KlpSection returns a kept section header by name.
func (m *Module) KlpSection(name string) (SectionHeader, bool) {
	for _, h := range m.KlpSechdrs {
		if h.Name == name {
			return h, true
		}
	}
	return SectionHeader{}, false
}

func enumName(t ctype.Type, v int64) string {
	if et, ok := symbols.Underlying(t).(*ctype.EnumType); ok {
		for _, e := range et.Val {
			if e.Val == v {
				return e.Name
			}
		}
	}
	return fmt.Sprint(v)
}

// SortByAddr orders modules by struct module address.
func SortByAddr(mods []*Module) {
	sort.Slice(mods, func(i, j int) bool { return mods[i].Addr < mods[j].Addr })
}
