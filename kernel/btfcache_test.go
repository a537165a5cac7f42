package kernel

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// btfCacheExample is a committed dump whose kernel keeps its BTF in
// memory (the x86_64 distro extract: Debian 7.2.13, 5.2 MB of .BTF).
const btfCacheExample = "../testdata/example/x86-distro-la57/vmcore.zst"

// TestMemoryBTFCache: a dump-only open saves the vmlinux BTF it read from
// the dump's memory; the next open maps that copy and types the kernel
// the same; a damaged, cut-short or foreign copy is passed over (the BTF
// read from the dump again) and rewritten.
func TestMemoryBTFCache(t *testing.T) {
	cache := t.TempDir()
	open := func() *Program {
		t.Helper()
		p, err := Open([]string{btfCacheExample}, Options{DumpOnly: true, CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	ref := open()
	files, _ := filepath.Glob(filepath.Join(cache, "btf-*.btf"))
	if len(files) != 1 {
		t.Fatalf("cached BTF files %v, want one", files)
	}
	// The copy holds exactly the bytes between __start_BTF and
	// __stop_BTF in the dump's memory.
	start, err1 := ref.SymbolAddr("__start_BTF")
	stop, err2 := ref.SymbolAddr("__stop_BTF")
	if err1 != nil || err2 != nil || stop <= start {
		t.Fatalf("__start_BTF %#x %v, __stop_BTF %#x %v", start, err1, stop, err2)
	}
	want := make([]byte, stop-start)
	if err := dump.ReadFull(ref.Context.Mem, want, start); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(files[0])
	key := symbols.StampKey(dumpIdentity([]string{btfCacheExample}, ref.Dump.MemoryOrder))
	if got, err := decodeBTFCache(good, key, start, stop-start); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("cached BTF: %v; equal to the dump's %v", err, bytes.Equal(got, want))
	}
	// What the jobs read from the types, and a few enumerators.
	same := func(what string, p *Program) {
		t.Helper()
		for _, ty := range []string{"struct module", "struct dyn_ftrace", "struct ftrace_ops", "struct klp_patch"} {
			a, err1 := p.Types.Sizeof(ty)
			b, err2 := ref.Types.Sizeof(ty)
			if a != b || (err1 == nil) != (err2 == nil) {
				t.Errorf("%s: sizeof(%s) = %d %v, want %d %v", what, ty, a, err1, b, err2)
			}
		}
		for _, e := range []string{"MODULE_STATE_LIVE", "FTRACE_FL_ENABLED", "FTRACE_FL_CALL_OPS", "MOD_TEXT", "MOD_RO_AFTER_INIT"} {
			a, err1 := p.Types.EnumConstant(e)
			b, err2 := ref.Types.EnumConstant(e)
			if a != b || (err1 == nil) != (err2 == nil) {
				t.Errorf("%s: %s = %d %v, want %d %v", what, e, a, err1, b, err2)
			}
		}
	}
	same("warm", open())
	for name, b := range map[string][]byte{
		"damaged":   append(append([]byte{}, good[:len(good)/2]...), append([]byte{good[len(good)/2] ^ 0xff}, good[len(good)/2+1:]...)...),
		"cut short": good[:len(good)-100],
		"other key": encodeBTFCache(append(bytes.Clone(key), 'x'), start, want),
		"other BTF": encodeBTFCache(key, start+8, want[8:]),
	} {
		if err := os.WriteFile(files[0], b, 0o600); err != nil {
			t.Fatal(err)
		}
		same(name, open())
		if b2, _ := os.ReadFile(files[0]); !bytes.Equal(b2, good) {
			t.Errorf("%s: cached BTF not rewritten", name)
		}
	}
}

// TestBTFEnumeratorIndex: on a distro kernel's BTF (tens of thousands of
// enumeration constants), every constant EnumConstant finds is the one a
// plain walk of the types in ID order finds first (the first enum wins a
// name, as the DWARF index's lowest offset does).
func TestBTFEnumeratorIndex(t *testing.T) {
	p, err := Open([]string{btfCacheExample}, Options{DumpOnly: true, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	b := p.Types.BTF()
	if b == nil {
		t.Fatal("no BTF")
	}
	first := map[string]int64{}
	for id := b.StartID(); id < b.NumTypes(); id++ {
		ty, err := b.Type(id)
		if err != nil {
			continue
		}
		if e, ok := ty.(*ctype.EnumType); ok {
			for _, v := range e.Val {
				if _, had := first[v.Name]; !had && v.Name != "" {
					first[v.Name] = v.Val
				}
			}
		}
	}
	if len(first) < 10000 {
		t.Fatalf("%d enumerators in a distro kernel's BTF, want more than 10000", len(first))
	}
	for name, want := range first {
		if got, err := p.Types.EnumConstant(name); err != nil || got != want {
			t.Errorf("EnumConstant(%s) = %d, %v; want %d", name, got, err, want)
		}
	}
	if _, err := p.Types.EnumConstant("NO_SUCH_ENUMERATOR_X"); err == nil {
		t.Error("EnumConstant of an unknown name succeeded")
	}
}

// FuzzDecodeBTFCache: no cached BTF file makes the decoder panic; what it
// accepts is what encodeBTFCache wrote.
func FuzzDecodeBTFCache(f *testing.F) {
	key := []byte("some key")
	f.Add(encodeBTFCache(key, 0xffffffff82c30000, []byte("\x9f\xeb\x01\x00BTF")), uint64(0xffffffff82c30000), uint64(7))
	f.Add(encodeBTFCache(key, 0, nil), uint64(0), uint64(0))
	f.Add([]byte("KDIBTF01\xff\xff\xff\xff"), uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, addr, n uint64) {
		data, err := decodeBTFCache(b, key, addr, n)
		if err == nil && !bytes.Equal(encodeBTFCache(key, addr, data), b) {
			t.Fatalf("accepted %x, which encodes as %x", b, encodeBTFCache(key, addr, data))
		}
	})
}
