package modules

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/kdump-inspect/kdump-inspect/elfobj"

	"github.com/kdump-inspect/kdump-inspect/debuginfo"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// BuildID reads the module's NT_GNU_BUILD_ID note from its
// .note.gnu.build-id section in memory; nil when it has none.
func (m *Module) BuildID(p *kernel.Program) ([]byte, error) {
	a, ok := m.SectionAddr(".note.gnu.build-id")
	if !ok {
		return nil, nil
	}
	b, err := p.Read(a, 36)
	if err != nil {
		return nil, err
	}
	namesz, descsz, typ := p.Order.Uint32(b), p.Order.Uint32(b[4:]), p.Order.Uint32(b[8:])
	if typ != 3 || namesz != 4 || descsz == 0 || descsz > 64 {
		return nil, fmt.Errorf("%s: .note.gnu.build-id at %#x is not a GNU build-id note", m.Name, a)
	}
	d, err := p.Read(a+16, int(descsz))
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Debuginfo is a module's .ko matched to the loaded module.
type Debuginfo struct {
	Path  string
	ELF   *symbols.ELFFile
	Image *KoImage
	// Match says how the file was chosen and which were refused.
	Match debuginfo.Match
	Notes []string
}

// DebuginfoProblem says why a module has no usable .ko.
type DebuginfoProblem int

const (
	// NoKo: no candidate file fits (none found, or every one refused:
	// another build-id, not an ELF file).
	NoKo DebuginfoProblem = iota + 1
	// KoUnreadable: the chosen file cannot be read as a module (a
	// truncated or corrupt .ko).
	KoUnreadable
	// KoOtherModule: the file's .modinfo names another module.
	KoOtherModule
)

// DebuginfoError is why a module has no usable debuginfo: the search
// (Match: every directory searched, every file refused and why) and, for a
// file that was found but is unusable, the error reading it.
type DebuginfoError struct {
	Module  string
	Problem DebuginfoProblem
	Match   debuginfo.Match
	Err     error
}

func (e *DebuginfoError) Error() string {
	switch e.Problem {
	case KoUnreadable:
		return fmt.Sprintf("%s: %s is unusable: %v", e.Module, e.Match.Path, e.Err)
	case KoOtherModule:
		return fmt.Sprintf("%s: %s: %v", e.Module, e.Match.Path, e.Err)
	}
	return e.Match.Summary()
}

func (e *DebuginfoError) Unwrap() error { return e.Err }

// OpenDebuginfo finds and opens the module's .ko through the program's
// debuginfo index, by the build-id the module carries in memory. The
// error is a *DebuginfoError.
func OpenDebuginfo(p *kernel.Program, m *Module) (*Debuginfo, error) {
	id, err := m.BuildID(p)
	var notes []string
	if err != nil {
		notes = append(notes, fmt.Sprintf("build-id of the loaded module unreadable (%v): .ko chosen by name", err))
	}
	match := p.Debuginfo.Find(m.Name, id)
	if match.Path == "" {
		return nil, &DebuginfoError{Module: m.Name, Problem: NoKo, Match: match}
	}
	di, err := readModuleKo(m, match.Path)
	if err != nil {
		return nil, err
	}
	if err := di.checkName(m); err != nil {
		return nil, err
	}
	di.Match, di.Notes = match, notes
	if !match.BuildIDMatched {
		di.Notes = append(di.Notes, fmt.Sprintf("%s: %s", match.Path, match.How))
	}
	return di, nil
}

// readModuleKo opens and reads a module's .ko; errors are *DebuginfoError.
func readModuleKo(m *Module, path string) (*Debuginfo, error) {
	match := debuginfo.Match{Module: m.Name, Path: path}
	f, err := symbols.OpenELF(path)
	if err != nil {
		return nil, &DebuginfoError{Module: m.Name, Problem: KoUnreadable, Match: match, Err: err}
	}
	img, err := ReadKo(filepath.Base(path), f)
	if err != nil {
		f.Close()
		return nil, &DebuginfoError{Module: m.Name, Problem: KoUnreadable, Match: match, Err: err}
	}
	return &Debuginfo{Path: path, ELF: f, Image: img}, nil
}

// maxSyms bounds symbol tables read from memory.
const maxSyms = 1 << 20

// KlpRelasFromMemory returns the .klp.rela.* sections of a livepatch module
// as the kernel holds them: the headers in klp_info->sechdrs, the (already
// sorted) relocations in module memory, the symbols at the symbol table's
// sh_addr (for livepatch modules a full copy: core_kallsyms.symtab), their
// names in core_kallsyms.strtab. This is what the loader applied, even when
// the .ko at hand predates klp-convert.
func KlpRelasFromMemory(p *kernel.Program, m *Module) ([]RelaSection, error) {
	if len(m.KlpSechdrs) == 0 {
		return nil, nil
	}
	symndx := -1
	for _, h := range m.KlpSechdrs {
		if elfobj.SectionType(h.Type) == elfobj.SHT_SYMTAB {
			symndx = h.Index
		}
	}
	if symndx < 0 {
		return nil, fmt.Errorf("%s: klp_info has no symbol table section", m.Name)
	}
	sh := m.KlpSechdrs[symndx]
	n := sh.Size / 24
	if n > maxSyms {
		return nil, fmt.Errorf("%s: klp symbol table of %d entries", m.Name, n)
	}
	strtab := memberUint(m.Obj, "core_kallsyms.strtab")
	symAddr := sh.Addr
	if a := memberUint(m.Obj, "core_kallsyms.symtab"); a != 0 {
		symAddr = a
		if k := memberUint(m.Obj, "core_kallsyms.num_symtab"); k > 0 && k < n {
			n = k
		}
	}
	raw, err := p.Read(symAddr, int(n*24))
	if err != nil {
		return nil, fmt.Errorf("%s: klp symtab at %#x: %w", m.Name, symAddr, err)
	}
	o := p.Order
	syms := make([]KoSymbol, n)
	for i := range syms {
		b := raw[i*24:]
		syms[i] = KoSymbol{Index: i, Shndx: elfobj.SectionIndex(o.Uint16(b[6:])), Value: o.Uint64(b[8:]), Binding: elfobj.ST_BIND(b[4]), Other: b[5]}
		if nameOff := o.Uint32(b); nameOff != 0 && strtab != 0 {
			if name, err := p.Context.CStringAt(strtab+uint64(nameOff), 128); err == nil {
				syms[i].Name = name
			}
		}
	}
	var out []RelaSection
	for _, h := range m.KlpSechdrs {
		if elfobj.SectionFlag(h.Flags)&elfobj.SHF_RELA_LIVEPATCH == 0 || elfobj.SectionType(h.Type) != elfobj.SHT_RELA {
			continue
		}
		if h.Size/24 > maxRelas {
			return nil, fmt.Errorf("%s: %s claims %d relocations", m.Name, h.Name, h.Size/24)
		}
		if h.Name == "" {
			// .klp.rela.OBJ.SECTION names the object: without it the
			// relocations cannot be placed (the .ko's are used)
			return nil, fmt.Errorf("%s: the name of livepatch relocation section %d is unreadable (klp_info->secstrings)", m.Name, h.Index)
		}
		data, err := p.Read(h.Addr, int(h.Size))
		if err != nil {
			return nil, fmt.Errorf("%s: %s at %#x: %w", m.Name, h.Name, h.Addr, err)
		}
		rs := RelaSection{Index: h.Index, Name: h.Name, Target: int(h.Info), Livepatch: true, Object: klpRelaObject(h.Name), Syms: syms, FromMemory: true}
		if int(h.Info) < len(m.KlpSechdrs) {
			rs.TargetSec = m.KlpSechdrs[h.Info].Name
		}
		for off := 0; off+24 <= len(data); off += 24 {
			rs.Relas = append(rs.Relas, Rela{Off: o.Uint64(data[off:]), Info: o.Uint64(data[off+8:]), Addend: int64(o.Uint64(data[off+16:]))})
		}
		sortRelas(rs.Relas) // already sorted by the loader; sorting again is a no-op
		rs.Rel24Count = countRelocs(rs.Relas, R_PPC_REL24)
		out = append(out, rs)
	}
	return out, nil
}

// MergeKlp replaces the .ko's livepatch relocation sections (or its
// unconverted ones, flagged in Warnings) with those read from memory.
func (img *KoImage) MergeKlp(mem []RelaSection) {
	if len(mem) == 0 {
		return
	}
	targets := map[string]bool{}
	for _, r := range mem {
		targets[r.TargetSec] = true
	}
	// The .ko's own livepatch sections, by name and size: when memory
	// holds the same ones (a klp-converted .ko), taking memory's is no news.
	same := 0
	inKo := map[string]int{}
	for _, r := range img.Relas {
		if r.Livepatch {
			inKo[r.Name] = len(r.Relas)
		}
	}
	for _, r := range mem {
		if n, ok := inKo[r.Name]; ok && n == len(r.Relas) {
			same++
		}
	}
	var keep []RelaSection
	for _, r := range img.Relas {
		if r.Livepatch {
			continue
		}
		if len(img.Warnings) > 0 && targets[r.TargetSec] && hasNullRel24(r) {
			continue // the unconverted form of a section memory holds converted
		}
		keep = append(keep, r)
	}
	img.Relas = append(keep, mem...)
	sort.SliceStable(img.Relas, func(i, j int) bool { return img.Relas[i].Index < img.Relas[j].Index })
	if same != len(mem) || len(inKo) != len(mem) {
		img.Warnings = append(img.Warnings, fmt.Sprintf("%d livepatch relocation section(s) taken from the dump (klp_info): the .ko's differ", len(mem)))
	}
}

func hasNullRel24(r RelaSection) bool {
	for _, x := range r.Relas {
		if x.Type() == R_PPC_REL24 && x.Sym() == 0 {
			return true
		}
	}
	return false
}

var _ = hex.EncodeToString

// checkName refuses (and closes) a .ko whose .modinfo names another module.
func (di *Debuginfo) checkName(m *Module) error {
	if n := di.ELF.Module; n != "" && debuginfo.ModuleName(n) != debuginfo.ModuleName(m.Name) {
		di.ELF.Close()
		return &DebuginfoError{Module: m.Name, Problem: KoOtherModule, Match: debuginfo.Match{Module: m.Name, Path: di.Path}, Err: fmt.Errorf("its .modinfo names module %q", n)}
	}
	return nil
}
