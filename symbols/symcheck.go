package symbols

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
)

// Symbol-table sanity.
//
// A symbol table has no checksum, and a damaged one still parses: a
// st_size flipped from 0x1a0 to 0x10001a0 made every address of the next
// 16 MiB "mm_alloc+0x..."; a st_value moved into the next function gave
// that function's first bytes the wrong name. What the ELF file itself
// says about its symbols is checked instead: a sized symbol must lie in
// the section its st_shndx names and end inside it, and must not reach
// into another sized symbol (no symbol of a linked kernel or module
// does: measured on the corpus vmlinux, 47 299 symbols, and its 27
// modules). A symbol that fails is marked Suspect, once per table a
// SymtabReport says which, and Table and Resolver do not name an address
// past a suspect symbol's plausible end after it (see Table.ByAddr).
//
// It cannot see a damaged st_name (the name becomes another string of
// .strtab) nor a st_value moved within the padding between functions:
// both read as a plausible table.

// SymbolProblem says why a symbol is suspect; 0 is none.
type SymbolProblem uint8

const (
	// SymOutsideSection: a sized symbol whose address is not in the
	// section its st_shndx names (or, linked, in no allocated section).
	SymOutsideSection SymbolProblem = 1 << iota
	// SymPastSection: a sized symbol that ends past its section's end.
	SymPastSection
	// SymOverlaps: a sized symbol that reaches into a sized symbol at a
	// greater address (it contains it, or the two overlap partly).
	SymOverlaps
	// SymBadName: a name with bytes that are not printable ASCII.
	SymBadName
)

func (p SymbolProblem) String() string {
	var s []string
	for _, x := range []struct {
		bit  SymbolProblem
		text string
	}{
		{SymOutsideSection, "outside its section"},
		{SymPastSection, "size past its section's end"},
		{SymOverlaps, "size reaching into the next symbol"},
		{SymBadName, "unprintable name"},
	} {
		if p&x.bit != 0 {
			s = append(s, x.text)
		}
	}
	return strings.Join(s, ", ")
}

// maxReportSymbols bounds the symbols a SymtabReport names.
const maxReportSymbols = 16

// SymtabReport is what the sanity check of one symbol table found.
type SymtabReport struct {
	File    string
	Count   int           // suspect symbols
	Kinds   SymbolProblem // every problem seen
	Symbols []Symbol      // the first maxReportSymbols suspect symbols
}

// String is a one-line warning: the file, how many, the first few with
// their ranges.
func (r *SymtabReport) String() string {
	if r == nil || r.Count == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: symbol table damaged? %d suspect symbol(s) (%s); names of addresses they cover are marked suspect:", r.File, r.Count, r.Kinds)
	for i, s := range r.Symbols {
		if i == 4 {
			b.WriteString(" ...")
			break
		}
		fmt.Fprintf(&b, " %s [%#x,+%#x) in %s (%s);", s.Name, s.Addr, s.Size, orNone(s.Section), s.Suspect)
	}
	return strings.TrimSuffix(b.String(), ";")
}

func orNone(s string) string {
	if s == "" {
		return "no section"
	}
	return s
}

// checkSymbols marks the suspect symbols of f.Symbols and returns the
// report (nil when none is suspect). Offsets of a relocatable .ko are
// section-relative, so each section is checked on its own.
func (f *ELFFile) checkSymbols() *SymtabReport {
	rel := f.File.Type == elfobj.ET_REL
	type ref struct {
		addr uint64
		i    int
		sec  int // index in f.Sections; 0: none
	}
	secIndex := map[string]int{}
	for i, s := range f.Sections {
		if _, ok := secIndex[s.Name]; !ok && i > 0 {
			secIndex[s.Name] = i
		}
	}
	sized := make([]ref, 0, len(f.Symbols))
	for i := range f.Symbols {
		s := &f.Symbols[i]
		if badName(s.Name) && !asmLocalLabel(s.Name) {
			s.Suspect |= SymBadName
		}
		if s.Size == 0 || !addressable(s) {
			continue
		}
		si := secIndex[s.Section]
		if s.Section == "" || si == 0 {
			if !rel && f.sectionIndexAt(s.Addr) == 0 {
				s.Suspect |= SymOutsideSection
			}
			sized = append(sized, ref{s.Addr, i, 0})
			continue
		}
		sec := f.Sections[si]
		if sec.Flags&elfobj.SHF_ALLOC == 0 {
			continue
		}
		start, end := sec.Addr, sec.Addr+sec.Size
		if rel {
			start, end = 0, sec.Size
		}
		switch {
		case s.Addr < start || s.Addr >= end:
			s.Suspect |= SymOutsideSection
		case s.Size > end-s.Addr:
			s.Suspect |= SymPastSection
		}
		sized = append(sized, ref{s.Addr, i, si})
	}
	// Overlaps: by section (a .ko's addresses are per section), then
	// address.
	slices.SortFunc(sized, func(x, y ref) int {
		if rel && x.sec != y.sec {
			return cmp.Compare(x.sec, y.sec)
		}
		if c := cmp.Compare(x.addr, y.addr); c != 0 {
			return c
		}
		return cmp.Compare(x.i, y.i)
	})
	for k := 0; k < len(sized); k++ {
		s := &f.Symbols[sized[k].i]
		end := s.Addr + s.Size
		if end < s.Addr {
			end = ^uint64(0)
		}
		for j := k + 1; j < len(sized); j++ {
			if rel && sized[j].sec != sized[k].sec {
				break
			}
			n := &f.Symbols[sized[j].i]
			if n.Addr >= end {
				break
			}
			if n.Addr == s.Addr {
				continue // an alias
			}
			if nestedByDesign(s.Name, n.Name) {
				continue
			}
			if s.Section == ".BTF_ids" && n.Section == ".BTF_ids" {
				// BTF_SET_START/BTF_SET8_START (include/linux/btf_ids.h)
				// size a set's symbol over the IDs that follow it: nested
				// by design.
				continue
			}
			// Either may be the damaged one: s's size grown, or n's
			// address moved into s.
			s.Suspect |= SymOverlaps
			n.Suspect |= SymOverlaps
			break
		}
	}
	var r *SymtabReport
	for i := range f.Symbols {
		s := f.Symbols[i]
		if s.Suspect == 0 {
			continue
		}
		if r == nil {
			r = &SymtabReport{File: f.Path}
		}
		r.Count++
		r.Kinds |= s.Suspect
		if len(r.Symbols) < maxReportSymbols {
			r.Symbols = append(r.Symbols, s)
		}
	}
	return r
}

func badName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return true
		}
	}
	return false
}

// nestedByDesign names symbol pairs the kernel overlaps on purpose:
// x86's return thunks (arch/x86/lib/retpoline.S: srso_safe_ret starts
// inside srso_untrain_ret, srso_alias_safe_ret inside
// srso_alias_untrain_ret, retbleed_return_thunk inside
// retbleed_untrain_ret), so that one sequence serves as both.
func nestedByDesign(outer, inner string) bool {
	// arm64's exception vectors (arch/arm64/kernel/hyp-stub.S,
	// arch/arm64/kvm/hyp/*/host.S, entry.S): each entry's symbol is
	// sized over the 128-byte slot the next one starts inside of.
	for _, pre := range []string{"hyp_stub_", "__kvm_nvhe_", "__bp_harden_", "vectors", "__kvm_hyp_vector"} {
		if strings.HasPrefix(outer, pre) && strings.HasPrefix(inner, pre) {
			return true
		}
	}
	// A vector table's symbol spans its entries (trans_pgd_stub_vectors
	// over the hyp stub's); arch/arm64/crypto/aes-modes.S's ESSIV entry
	// points fall through into the plain CBC routine they prefix.
	if strings.Contains(outer, "vectors") || strings.Replace(outer, "essiv_", "", 1) == inner {
		return true
	}
	switch outer + "/" + inner {
	case "srso_untrain_ret/srso_safe_ret", "srso_alias_untrain_ret/srso_alias_safe_ret",
		"retbleed_untrain_ret/retbleed_return_thunk", "srso_untrain_ret/srso_safe_ret_alias":
		return true
	}
	return false
}

// asmLocalLabel: an assembler local label (".L<n>" with GAS's \001 or
// \002 suffix for numbered and dollar labels) that a prefixing objcopy
// made into a symbol: arm64's nVHE hypervisor objects are linked with
// every symbol renamed __kvm_nvhe_*, local labels included
// (arch/arm64/kvm/hyp/nvhe/Makefile).
func asmLocalLabel(s string) bool {
	i := strings.Index(s, ".L")
	if i < 0 {
		return false
	}
	for j := 0; j < len(s); j++ {
		if (s[j] < 0x20 || s[j] > 0x7e) && s[j] != 1 && s[j] != 2 {
			return false
		}
	}
	return true
}
