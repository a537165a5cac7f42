package kernel

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
)

// VMCOREINFO against memory and the vmlinux.
//
// A dump's VMCOREINFO note is a copy: makedumpfile writes it into the
// kdump header, QEMU's dump-guest-memory into a PT_NOTE, and a damaged or
// misattached note says a release or build-id the kernel never had. The
// kernel's own memory holds the truth it was built with: the vmlinux's
// .notes section (NT_GNU_BUILD_ID) is loaded with the kernel image, and
// init_uts_ns.name.release is what uname -r printed. Where the note
// disagrees with both memory and the vmlinux, memory and the vmlinux are
// believed, and the disagreement is a warning and a damage entry naming
// both values (Dump.AddVMCOREINFOProblem); it is never silent.

// maxNotesCompare bounds the .notes bytes compared with memory.
const maxNotesCompare = 64 << 10

// buildIDInMemory reports whether memory holds, at the addresses of the
// vmlinux's allocated note sections, exactly the bytes the file has there
// (its NT_GNU_BUILD_ID among them): the running kernel was built as this
// vmlinux, whatever a VMCOREINFO note says. ok is false when no such
// section could be compared (the reason in err).
func (p *Program) buildIDInMemory() (same bool, err error) {
	if len(p.Vmlinux.BuildID) == 0 {
		return false, fmt.Errorf("the vmlinux has no build-id")
	}
	compared := false
	for _, s := range p.Vmlinux.Sections {
		if s.Type != elfobj.SHT_NOTE || s.Flags&elfobj.SHF_ALLOC == 0 || s.Addr == 0 || s.Size == 0 {
			continue
		}
		want, err := p.Vmlinux.ReadAddr(p.LinkAddr(s.Addr), int(min(s.Size, maxNotesCompare)))
		if err != nil {
			return false, err
		}
		// The build-id must be in what is compared.
		if !bytes.Contains(want, p.Vmlinux.BuildID) {
			continue
		}
		got := make([]byte, len(want))
		if err := p.linearRead(got, s.Addr); err != nil {
			return false, fmt.Errorf("reading %s at %#x: %w", s.Name, s.Addr, err)
		}
		if !bytes.Equal(got, want) {
			return false, nil
		}
		compared = true
	}
	if !compared {
		return false, fmt.Errorf("no allocated note section of the vmlinux holds its build-id")
	}
	return true, nil
}

// vmcoreinfoBuildIDDamaged decides a disagreement between VMCOREINFO's
// BUILD-ID and the vmlinux's: when memory holds the vmlinux's build-id
// and linux_banner, the note is damaged (recorded, and the vmlinux is
// kept); otherwise the vmlinux does not belong to the dump.
func (p *Program) vmcoreinfoBuildIDDamaged(note, file string) bool {
	same, err := p.buildIDInMemory()
	if err != nil || !same {
		return false
	}
	if err := p.checkBanner(); err != nil {
		return false
	}
	msg := fmt.Sprintf("BUILD-ID %s disagrees with the kernel's memory and %s, which both say %s: believing memory (the note is damaged or not this kernel's)", note, p.vmlinuxPath, file)
	p.warnf("VMCOREINFO %s", msg)
	p.Dump.AddVMCOREINFOProblem(msg)
	return true
}

// unameRelease reads init_uts_ns.name.release from memory (what uname -r
// printed; include/linux/uts.h, kernel/utsname.c).
func (p *Program) unameRelease() (string, error) {
	a, err := p.SymbolAddr("init_uts_ns")
	if err != nil {
		return "", err
	}
	off, err := p.Types.Offsetof("struct uts_namespace", "name.release")
	if err != nil {
		return "", err
	}
	var b [65]byte // __NEW_UTS_LEN + 1
	if err := p.linearRead(b[:], a+uint64(off)); err != nil {
		return "", fmt.Errorf("reading init_uts_ns.name.release at %#x: %w", a+uint64(off), err)
	}
	n := bytes.IndexByte(b[:], 0)
	if n < 0 {
		return "", fmt.Errorf("init_uts_ns.name.release at %#x is not terminated", a+uint64(off))
	}
	return string(b[:n]), nil
}

// bannerRelease is the release in the vmlinux file's linux_banner
// ("Linux version 7.2.13 (...)"), "" when it cannot be read.
func (p *Program) bannerRelease() string {
	if p.Vmlinux == nil {
		return ""
	}
	s, ok := p.Syms.ByName("linux_banner")
	if !ok {
		return ""
	}
	b, err := p.Vmlinux.ReadAddr(p.LinkAddr(s.Addr), 256)
	if err != nil {
		return ""
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if f := strings.Fields(string(b)); len(f) >= 3 && f[0] == "Linux" && f[1] == "version" {
		return f[2]
	}
	return ""
}

// checkRelease compares VMCOREINFO's OSRELEASE with init_uts_ns in
// memory and with the vmlinux's linux_banner. On disagreement memory
// wins (when the vmlinux agrees with memory, or says nothing), p.Release
// is memory's, and the disagreement is recorded.
func (p *Program) checkRelease() {
	if p.Info == nil || p.Info.OSRELEASE == "" {
		return
	}
	mem, err := p.unameRelease()
	if err != nil {
		p.warnf("VMCOREINFO OSRELEASE=%s not checked against memory: %v", p.Info.OSRELEASE, err)
		return
	}
	if mem == p.Info.OSRELEASE {
		return
	}
	file := p.bannerRelease()
	if file != "" && file != mem {
		// Memory and the vmlinux disagree too: checkMatch's banner
		// comparison decides whether this vmlinux belongs here; say
		// what each source says.
		p.warnf("kernel release: VMCOREINFO says %s, init_uts_ns in memory %s, %s's linux_banner %s", p.Info.OSRELEASE, mem, p.vmlinuxPath, file)
		return
	}
	src := "the kernel's memory (init_uts_ns.name.release)"
	if file != "" {
		src += " and " + p.vmlinuxPath + " (linux_banner)"
	}
	msg := fmt.Sprintf("OSRELEASE=%s disagrees with %s, which say %s: believing %s", p.Info.OSRELEASE, src, mem, mem)
	p.warnf("VMCOREINFO %s", msg)
	p.Dump.AddVMCOREINFOProblem(msg)
	p.Release = mem
}

// hexID is a build-id as VMCOREINFO and MismatchError print it.
func hexID(b []byte) string { return hex.EncodeToString(b) }
