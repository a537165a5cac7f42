package modules

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// koNames are the file names a module's debuginfo may have: the module
// name with '_' or '-', plain, split debug, or compressed.
func koNames(mod string) []string {
	var out []string
	for _, n := range []string{mod, strings.ReplaceAll(mod, "_", "-")} {
		for _, suf := range []string{".ko", ".ko.debug", ".ko.zst", ".ko.xz", ".ko.gz"} {
			out = append(out, n+suf)
		}
	}
	return out
}

// maxWalk bounds how many directory entries a debuginfo search visits.
const maxWalk = 200000

// FindKo searches dirs recursively for the module's .ko. Candidates whose
// build-id differs from want (when want is known) are skipped and named in
// the returned notes.
func FindKo(dirs []string, mod string, want []byte) (path string, notes []string) {
	names := map[string]bool{}
	for _, n := range koNames(mod) {
		names[n] = true
	}
	seen := 0
	for _, d := range dirs {
		d = container.FollowLinkFile(d)
		stop := fmt.Errorf("stop")
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			seen++
			if err != nil || seen > maxWalk {
				return nil
			}
			if e.IsDir() || !names[e.Name()] {
				return nil
			}
			if len(want) > 0 {
				f, err := symbols.OpenELF(p)
				if err != nil {
					notes = append(notes, fmt.Sprintf("%s: %v", p, err))
					return nil
				}
				id := f.BuildID
				f.Close()
				if len(id) > 0 && !bytes.Equal(id, want) {
					notes = append(notes, fmt.Sprintf("%s: build-id %x, the loaded module's is %x", p, id, want))
					return nil
				}
			}
			path = p
			return stop
		})
		if path != "" {
			return path, notes
		}
	}
	for _, d := range []string{"/usr/lib/debug/lib/modules", "/lib/modules"} {
		if _, err := os.Stat(d); err == nil && len(dirs) == 0 {
			return FindKo([]string{d}, mod, want)
		}
	}
	return "", notes
}

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
	Notes []string
}

// OpenDebuginfo finds and opens the module's .ko, checking its build-id
// against the one in memory.
func OpenDebuginfo(p *kernel.Program, m *Module) (*Debuginfo, error) {
	id, err := m.BuildID(p)
	if err != nil {
		m.warnf("build-id: %v", err)
	}
	path, notes := FindKo(p.ModuleDirs, m.Name, id)
	if path == "" {
		return nil, fmt.Errorf("%s: no matching .ko in %v%s", m.Name, p.ModuleDirs, noteSuffix(notes))
	}
	f, err := symbols.OpenELF(path)
	if err != nil {
		return nil, err
	}
	img, err := ReadKo(filepath.Base(path), f.File)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Debuginfo{Path: path, ELF: f, Image: img, Notes: notes}, nil
}

func noteSuffix(n []string) string {
	if len(n) == 0 {
		return ""
	}
	return " (" + strings.Join(n, "; ") + ")"
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
		if elf.SectionType(h.Type) == elf.SHT_SYMTAB {
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
		syms[i] = KoSymbol{Index: i, Shndx: elf.SectionIndex(o.Uint16(b[6:])), Value: o.Uint64(b[8:]), Binding: elf.ST_BIND(b[4])}
		if nameOff := o.Uint32(b); nameOff != 0 && strtab != 0 {
			if nb, err := p.Read(strtab+uint64(nameOff), 128); err == nil {
				if j := bytes.IndexByte(nb, 0); j >= 0 {
					syms[i].Name = string(nb[:j])
				}
			}
		}
	}
	var out []RelaSection
	for _, h := range m.KlpSechdrs {
		if h.Flags&SHF_RELA_LIVEPATCH == 0 || elf.SectionType(h.Type) != elf.SHT_RELA {
			continue
		}
		if h.Size/24 > maxRelas {
			return nil, fmt.Errorf("%s: %s claims %d relocations", m.Name, h.Name, h.Size/24)
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
	img.Warnings = append(img.Warnings, fmt.Sprintf("%d livepatch relocation section(s) taken from the dump (klp_info)", len(mem)))
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
