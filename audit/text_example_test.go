package audit

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// jumpSite is one __jump_table entry of a .ko, read with debug/elf alone:
// code and target from its two R_PPC64_REL32 relocations against .text,
// the key from the R_PPC64_REL64 one (the ppc64 arch_static_branch()
// layout of asm/jump_label.h: .long 1b - ., %l[l_yes] - .; .quad key - .).
type jumpSite struct {
	module       string
	code, target uint64 // .text offsets
	key          string
	branch       bool
}

func koJumpSites(t *testing.T, path, module string) []jumpSite {
	t.Helper()
	f := testcorpus.OpenELF(t, path)
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	var out []jumpSite
	for _, s := range f.Sections {
		if s.Name != ".rela__jump_table" {
			continue
		}
		b, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		byEntry := map[uint64]*jumpSite{}
		for off := 0; off+24 <= len(b); off += 24 {
			r, info, add := binary.LittleEndian.Uint64(b[off:]), binary.LittleEndian.Uint64(b[off+8:]), int64(binary.LittleEndian.Uint64(b[off+16:]))
			e := byEntry[r/16]
			if e == nil {
				e = &jumpSite{module: module}
				byEntry[r/16] = e
			}
			sym := syms[info>>32-1]
			switch r % 16 {
			case 0:
				e.code = uint64(add)
			case 4:
				e.target = uint64(add)
			case 8:
				e.key, e.branch = sym.Name, add&1 != 0
			}
		}
		for _, e := range byEntry {
			out = append(out, *e)
		}
	}
	return out
}

// coreFile is an ELF core opened for patching by physical address.
type coreFile struct {
	raw   []byte
	loads []elf.ProgHeader
}

func openCore(t *testing.T, path string) *coreFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := testcorpus.OpenELF(t, path)
	c := &coreFile{raw: raw}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			c.loads = append(c.loads, p.ProgHeader)
		}
	}
	return c
}

func (c *coreFile) put32(t *testing.T, pa uint64, v uint32) {
	t.Helper()
	for _, p := range c.loads {
		if pa >= p.Paddr && pa+4 <= p.Paddr+p.Filesz {
			binary.LittleEndian.PutUint32(c.raw[p.Off+pa-p.Paddr:], v)
			return
		}
	}
	t.Fatalf("physical %#x is not in the example's core", pa)
}

func (c *coreFile) write(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "vmcore")
	if err := os.WriteFile(path, c.raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTextJumpLabelFlip: on Debian 12's 6.1 kernel (the deb12-6.1
// example), every jump label of the subject modules hangs off the vmlinux
// key shared_processor, enabled on this pseries guest, so each site holds
// `b target` where the .ko has a nop. Plant the legal change — the key
// disabled (static_key.enabled, its first member, 0) and every one of its
// sites back to a nop, as static_key_disable() leaves them — and the audit
// explains all the text and reports nothing; plant the key's change with
// one site left as it was, and that site, and only it, is unexplained,
// the jump label model named as the nearest explanation.
func TestTextJumpLabelFlip(t *testing.T) {
	ex := filepath.Join("..", "testdata", "example", "deb12-6.1")
	plain, err := container.Open(filepath.Join(ex, "vmcore.zst"))
	if err != nil {
		t.Fatal(err)
	}
	opts := kernel.Options{Vmlinux: filepath.Join(ex, "vmlinux.zst"), ModuleDirs: []string{filepath.Join(ex, "modules")}}
	p, err := kernel.Open([]string{plain}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	an := analysis.New(p)
	base := Run(an, Options{})
	set := an.Modules()
	key, err := p.SymbolAddr("shared_processor")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.ReadU32(key); err != nil || v != 1 {
		t.Fatalf("shared_processor.enabled = %d (%v), want 1 on this pseries guest", v, err)
	}
	type site struct {
		at    uint64
		where string
	}
	var sites []site
	kos, _ := filepath.Glob(filepath.Join(ex, "modules", "*.ko"))
	for _, ko := range kos {
		name := strings.TrimSuffix(filepath.Base(ko), ".ko")
		m := set.Find(name)
		if m == nil {
			continue
		}
		text, ok := m.Module.SectionAddr(".text")
		if !ok {
			t.Fatalf("%s: no .text address", name)
		}
		for _, j := range koJumpSites(t, ko, name) {
			if j.key != "shared_processor" || j.branch {
				continue
			}
			at := text + j.code
			w, err := p.ReadU32(at)
			b := 0x48000000 | uint32(j.target-j.code)&0x03fffffc // b target (relative)
			if err != nil || w != b {
				t.Fatalf("%s: site %#x holds %#x (%v), want b %#x (key enabled)", name, at, w, err, text+j.target)
			}
			sites = append(sites, site{at, name})
		}
	}
	if len(sites) < 2 {
		t.Fatalf("%d jump label sites of shared_processor in the example's modules, want several", len(sites))
	}
	physOfKey := key - 0xc000000000000000 // the linear map (asm/page.h PAGE_OFFSET)

	count := func(r *Report) (text []Finding) {
		for _, f := range r.Findings {
			if f.Rule == "TEXT-UNEXPLAINED" {
				text = append(text, f)
			}
		}
		return
	}
	if n := len(count(base)); n != 0 {
		t.Fatalf("the example itself has %d TEXT-UNEXPLAINED findings", n)
	}
	audit := func(c *coreFile) *Report {
		q, err := kernel.Open([]string{c.write(t)}, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		return Run(analysis.New(q), Options{})
	}

	// The legal change.
	c := openCore(t, plain)
	c.put32(t, physOfKey, 0)
	for _, s := range sites {
		c.put32(t, physOf(t, p, s.at), 0x60000000) // nop
	}
	r := audit(c)
	if text := count(r); len(text) != 0 {
		t.Errorf("key disabled with all %d sites nop: %d TEXT-UNEXPLAINED, first %s", len(sites), len(text), text[0].Message)
	}
	if len(r.Findings) != len(base.Findings) {
		t.Errorf("legal change: %d findings, the example has %d", len(r.Findings), len(base.Findings))
	}

	// The key changed, one site left behind.
	c = openCore(t, plain)
	c.put32(t, physOfKey, 0)
	for _, s := range sites[1:] {
		c.put32(t, physOf(t, p, s.at), 0x60000000)
	}
	text := count(audit(c))
	if len(text) != 1 || len(text[0].Places) != 1 || text[0].Places[0].Addr != sites[0].at || text[0].Module != sites[0].where {
		t.Fatalf("one site left as `b`: %d TEXT-UNEXPLAINED %v, want one at %s %#x", len(text), text, sites[0].where, sites[0].at)
	}
	if !strings.Contains(text[0].Message, "nearest explanation: jump label") || !strings.Contains(text[0].Message, "JUMP_LABEL_NOP") {
		t.Errorf("message %q does not name the jump label model's expectation", text[0].Message)
	}
}
