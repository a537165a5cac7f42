package kernel

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// startCacheDump is a dump without the VMCOREINFO note, for a dump-only
// open: a Debian 6.12 QEMU pseries dump of ../corpora/ppc64-distro, else
// bench/distro-dump's.
func startCacheDump(t *testing.T) string {
	t.Helper()
	distro, _ := testcorpus.CorporaDir("ppc64-distro")
	cands := []string{
		filepath.Join(distro, "deb13-6.12-4k-radix", "vmcore.elf"),
		filepath.Join(testcorpus.DistroDump(), "vmcore.elf"),
	}
	for _, c := range cands {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	t.Skip("no QEMU pseries dump of a BTF kernel (bench/distro-dump)")
	return ""
}

// TestDumpOnlyStartCache: a dump-only open that remembers where the
// VMCOREINFO page was and caches the kallsyms table gives the same
// program as the first (scanned, decoded) open; a location file that
// points at another page, or a damaged table, is passed over.
func TestDumpOnlyStartCache(t *testing.T) {
	path := startCacheDump(t)
	cache := t.TempDir()
	open := func() *Program {
		t.Helper()
		p, err := Open([]string{path}, Options{DumpOnly: true, CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	ref := open()
	if ref.Dump.VMCOREINFO != nil {
		t.Skip("the dump has a VMCOREINFO note: nothing to scan for")
	}
	key := symbols.StampKey(dumpIdentity([]string{path}, ref.Dump.MemoryOrder))
	loc := vmcoreinfoLocPath(cache, key)
	if _, err := os.Stat(loc); err != nil {
		t.Fatal("the VMCOREINFO page was not remembered:", err)
	}
	syms, _ := filepath.Glob(filepath.Join(cache, "kallsyms-*.sym"))
	if len(syms) != 1 {
		t.Fatalf("kallsyms cache files %v", syms)
	}
	same := func(what string, p *Program) {
		t.Helper()
		if p.InfoSource != ref.InfoSource || !reflect.DeepEqual(p.Info, ref.Info) {
			t.Errorf("%s: VMCOREINFO from %q, want %q (or it differs)", what, p.InfoSource, ref.InfoSource)
		}
		if !reflect.DeepEqual(p.Syms.Symbols(), ref.Syms.Symbols()) {
			t.Errorf("%s: kallsyms table differs", what)
		}
		for _, name := range []string{"init_task", "modules", "kallsyms_names", "schedule", "__start_BTF"} {
			a, aok := p.Syms.ByName(name)
			b, bok := ref.Syms.ByName(name)
			if a != b || aok != bok {
				t.Errorf("%s: %s = %+v %v, want %+v %v", what, name, a, aok, b, bok)
			}
		}
		if p.Release != ref.Release || p.KernelOffset != ref.KernelOffset {
			t.Errorf("%s: release %q offset %#x", what, p.Release, p.KernelOffset)
		}
	}
	same("warm", open())

	// A remembered page that is not it: the scan decides, and the file
	// is rewritten with the right page.
	good, _ := os.ReadFile(loc)
	pa, err := decodeVmciLoc(good, key)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"other page": encodeVmciLoc(key, pa+4096),
		"past end":   encodeVmciLoc(key, 1<<62),
		"truncated":  good[:len(good)-3],
		"other key":  encodeVmciLoc(append(bytes.Clone(key), 'x'), pa),
	} {
		os.WriteFile(loc, b, 0o600)
		same(name, open())
		if b2, _ := os.ReadFile(loc); !bytes.Equal(b2, good) && name != "other key" {
			t.Errorf("%s: location file not rewritten", name)
		}
	}
	// A damaged kallsyms table: read from the dump again.
	b, _ := os.ReadFile(syms[0])
	b[len(b)/2] ^= 0xff
	os.WriteFile(syms[0], b, 0o600)
	same("damaged kallsyms cache", open())
}

// FuzzDecodeVmciLoc: no location file makes the decoder panic; what it
// accepts is what encodeVmciLoc wrote.
func FuzzDecodeVmciLoc(f *testing.F) {
	key := []byte("some key")
	f.Add(encodeVmciLoc(key, 0x4000000))
	f.Add(encodeVmciLoc(nil, 0))
	f.Add([]byte("KDIVMCI1\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pa, err := decodeVmciLoc(b, key)
		if err == nil && !bytes.Equal(encodeVmciLoc(key, pa), b) {
			t.Fatalf("accepted %x, which encodes as %x", b, encodeVmciLoc(key, pa))
		}
	})
}
