package textcheck

import (
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/elfobj"

	"github.com/kdump-inspect/kdump-inspect/kernel"

	"sort"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
)

// Vmlinux compares the vmlinux's text in the dump with its ELF file.
func (e *Env) Vmlinux() *Result {
	e.load()
	r := &Result{Owner: "vmlinux"}
	p := e.Prog
	if p.NoVmlinux() {
		r.Incomplete = append(r.Incomplete, kernel.NoVmlinuxReason)
		return r
	}
	if p.Vmlinux.File == nil {
		r.Incomplete = append(r.Incomplete, "no vmlinux file")
		return r
	}
	f := p.Vmlinux.File
	if f.Machine == elfobj.EM_AARCH64 {
		return e.vmlinuxArm64(r, f)
	}
	if f.Machine == elfobj.EM_X86_64 {
		return e.x86Vmlinux(r, f)
	}
	if f.Machine != elfobj.EM_PPC64 {
		r.Incomplete = append(r.Incomplete, fmt.Sprintf("the text model covers ppc64, not %v", f.Machine))
		return r
	}
	img := &Image{Owner: "vmlinux", Order: f.ByteOrder}
	inInit := initMemory(p)
	secs, nobits := vmlinuxImageSections(r, f, 0, func(name string) bool { return strings.HasSuffix(name, "_fixup") })
	if !addVmlinuxSections(r, img, secs, nobits, p.VmlinuxPath(), func(is *ImageSection) string {
		switch {
		case !is.Exec:
			return skipTable
		case strings.HasPrefix(is.Name, ".init") || inInit(is.Addr):
			return skipInit
		}
		return ""
	}) {
		return r
	}
	cs := newCandidates()
	inText := func(addr uint64) bool {
		s := img.SectionAt(addr)
		return s != nil && s.Compare
	}
	if e.Ftrace != nil {
		ftraceCandidates(e, "", img, cs)
	} else {
		why := e.ftraceWhy()
		n, err := vmlinuxFtraceFallback(e, f, cs)
		if err != nil {
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("ftrace records not read (%s), and the call-site table not either: %v", why, err))
		} else {
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("ftrace records not read (%s): the %d call sites of __mcount_loc, and the OOL stub arrays, accept any ftrace state", why, n))
		}
	}
	start, err1 := p.SymbolAddr("__start___jump_table")
	stop, err2 := p.SymbolAddr("__stop___jump_table")
	switch {
	case err1 != nil || err2 != nil || stop == start:
		// no jump labels in this kernel (CONFIG_JUMP_LABEL off): nothing to model
	case stop < start || stop-start > 64<<20:
		r.Incomplete = append(r.Incomplete, fmt.Sprintf("__jump_table bounds %#x..%#x not believed", start, stop))
	case e.jlErr != nil:
		r.Incomplete = append(r.Incomplete, "jump labels not modelled: "+e.jlErr.Error())
	default:
		if b, err := readFile(f, start, int(stop-start)); err == nil {
			jumpCandidates(e, img.Order, parseJumpTable(e.jl, img.Order, start, b), inText, cs)
		} else {
			r.Incomplete = append(r.Incomplete, "__jump_table: "+err.Error())
		}
	}
	applyFixups(img, e.features, cs, r)
	kprobeCandidates(e, inText, cs)
	securityCandidates(e, func(addr uint64, n int) ([]byte, error) { return readFile(f, addr, n) }, cs, r)
	oolStubCandidates(e, img.Order, cs)
	ftraceTextCandidates(e, cs)
	dataInText(e, cs)
	optinsnCandidates(e, cs)

	compareExecSections(p, img, r, cs, 4, nil)
	return r
}

// compareExecSections is the comparison every vmlinux model ends with:
// each executable section of img read from the dump (what could not be
// read listed as incomplete) and compared with what the model expects,
// unit bytes at a time, the differences sorted by address. found, when
// not nil, sees each compared section's bytes first (x86_64: the KASLR
// relocations found from them).
func compareExecSections(p *kernel.Program, img *Image, r *Result, cs *candidates, unit int, found func(s *ImageSection, found []byte)) {
	for _, s := range img.Sections {
		if !s.Exec {
			continue
		}
		sr := SectionResult{Name: s.Name, Addr: s.Addr, Size: uint64(len(s.Want)), Compared: s.Compare, Skip: s.Skip}
		if s.Compare {
			b, skip, faults := readText(p, s.Addr, len(s.Want))
			sr.Faults = faults
			for _, f := range faults {
				r.Incomplete = append(r.Incomplete, fmt.Sprintf("%s: %s", s.Name, f))
			}
			if found != nil {
				found(s, b)
			}
			compareSection(r, s.Name, s.Addr, s.Want, b, skip, unit, cs)
		}
		r.Sections = append(r.Sections, sr)
	}
	sort.SliceStable(r.Diffs, func(i, j int) bool { return r.Diffs[i].Addr < r.Diffs[j].Addr })
}

// readFile reads [addr, addr+n) of the ELF file's loaded image.
func readFile(f *elfobj.File, addr uint64, n int) ([]byte, error) {
	for _, s := range f.Sections {
		if s.Flags&elfobj.SHF_ALLOC == 0 || s.Type == elfobj.SHT_NOBITS || addr < s.Addr || addr-s.Addr+uint64(n) > s.Size {
			continue
		}
		b := make([]byte, n)
		if _, err := s.ReadAt(b, int64(addr-s.Addr)); err != nil {
			return nil, fmt.Errorf("%s+%#x: %w", s.Name, addr-s.Addr, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%#x..%#x lies in no section of the file", addr, addr+uint64(n))
}

// vmlinuxFtraceFallback: without the ftrace records, the vmlinux's call
// sites are the __start_mcount_loc..__stop_mcount_loc table of its file
// (each a site address), and its OOL stub arrays (ftrace_ool_stub_text
// and _end, zeros in the file, written at boot) may hold anything ftrace
// writes: Loose claims.
func vmlinuxFtraceFallback(e *Env, f *elfobj.File, cs *candidates) (int, error) {
	p := e.Prog
	o := p.Order
	start, err1 := p.SymbolAddr("__start_mcount_loc")
	stop, err2 := p.SymbolAddr("__stop_mcount_loc")
	if err1 != nil || err2 != nil || stop < start || stop-start > 64<<20 {
		return 0, fmt.Errorf("no __start_mcount_loc..__stop_mcount_loc")
	}
	b, err := readFile(f, start, int(stop-start))
	if err != nil {
		return 0, err
	}
	ftraceWord := func(x []byte) bool {
		w := o.Uint32(x)
		return w == ppc64.PPC_RAW_NOP || w == ppc64.PPC_RAW_MFLR_R0 || w>>26 == 18
	}
	n := 0
	for off := 0; off+8 <= len(b); off += 8 {
		site := o.Uint64(b[off:])
		if site == 0 {
			continue
		}
		n++
		for _, a := range []uint64{site - 4, site, site + 4} {
			cs.add(&Candidate{Addr: a, Len: 4, Match: ftraceWord, Loose: true, Mech: MechFtrace,
				Why: "an ftrace call site of __mcount_loc, its record not read: a nop, mflr r0 or a branch", Mirrors: "ftrace_init_nop()/ftrace_make_call()"})
		}
	}
	for _, arr := range []string{"ftrace_ool_stub_text", "ftrace_ool_stub_text_end"} {
		base, err1 := p.SymbolAddr(arr)
		ca, err2 := p.SymbolAddr(arr + "_count")
		if err1 != nil || err2 != nil {
			continue
		}
		cb, err := readFile(f, ca, 4)
		if err != nil {
			continue
		}
		count := int(o.Uint32(cb))
		if count <= 0 || count > 1<<20 {
			continue
		}
		cs.add(&Candidate{Addr: base, Len: count * 24, Loose: true, Mech: MechOOLStub, Match: func([]byte) bool { return false },
			MatchAt: func(uint64, []byte) bool { return true },
			Why:     arr + ": OOL stubs written at boot, their records not read", Mirrors: "ftrace_init_ool_stub()"})
	}
	return n, nil
}

// noTextToCompare records the vmlinux's executable sections without bytes
// and says whether no section is left to compare (a debuginfo-only or
// trimmed vmlinux), recording why in r.
// The reasons a vmlinux section is not compared that every architecture's
// model gives.
const (
	skipTable = "table, not text"
	skipInit  = "init memory, freed after boot (free_initmem())"
)

// initMemory says whether an address is in the vmlinux's init memory,
// [__init_begin, __init_end), which free_initmem() gave back after boot
// (never, when the bounds are not known).
func initMemory(p *kernel.Program) func(addr uint64) bool {
	begin, _ := p.SymbolAddr("__init_begin")
	end, _ := p.SymbolAddr("__init_end")
	return func(addr uint64) bool { return begin < end && addr >= begin && addr < end }
}

// addVmlinuxSections puts the vmlinux's sections in img, each compared
// unless skip gives a reason not to (skip may also clear Exec), and says
// whether any text is left to compare (else noTextToCompare's note).
func addVmlinuxSections(r *Result, img *Image, secs []*ImageSection, nobits []string, path string, skip func(*ImageSection) string) bool {
	for _, is := range secs {
		if is.Skip = skip(is); is.Skip == "" {
			is.Compare = true
		}
		img.Sections = append(img.Sections, is)
	}
	return !noTextToCompare(r, img, nobits, path)
}

func noTextToCompare(r *Result, img *Image, nobits []string, path string) bool {
	for _, n := range nobits {
		r.Sections = append(r.Sections, SectionResult{Name: n, Skip: "no bytes in the file (SHT_NOBITS: a debuginfo-only or trimmed vmlinux)"})
	}
	for _, s := range img.Sections {
		if s.Compare {
			return false
		}
	}
	r.Incomplete = append(r.Incomplete, fmt.Sprintf("%s holds no text to compare (executable sections without bytes: %s)", path, strings.Join(nobits, ", ")))
	return true
}

// vmlinuxImageSections reads the vmlinux's SHF_ALLOC SHT_PROGBITS sections
// that hold text or a table keep names, within maxTextBytes, each an
// ImageSection at its run-time address (link address + off) with Orig and
// Want the file's bytes, for the caller to classify (Skip, Compare); a
// section too large or unreadable is listed in r.Incomplete. nobits are
// the executable SHT_NOBITS sections with a size (noTextToCompare: a
// debuginfo-only vmlinux).
func vmlinuxImageSections(r *Result, f *elfobj.File, off uint64, keep func(name string) bool) (secs []*ImageSection, nobits []string) {
	for i, s := range f.Sections {
		if i > 0 && s.Type == elfobj.SHT_NOBITS && s.Flags&elfobj.SHF_EXECINSTR != 0 && s.Size > 0 {
			nobits = append(nobits, s.Name)
		}
		if i == 0 || s.Flags&elfobj.SHF_ALLOC == 0 || s.Type != elfobj.SHT_PROGBITS {
			continue
		}
		exec := s.Flags&elfobj.SHF_EXECINSTR != 0
		if !exec && !keep(s.Name) {
			continue
		}
		if s.Size > maxTextBytes {
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("%s: %d bytes, past the bound", s.Name, s.Size))
			continue
		}
		data, err := s.Data()
		if err != nil {
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("%s at offset %#x: %v", s.Name, s.Offset, err))
			continue
		}
		secs = append(secs, &ImageSection{Index: i, Name: s.Name, Addr: s.Addr + off, Orig: data, Want: data, Exec: exec})
	}
	return secs, nobits
}
