package dwarftypes

import (
	"debug/dwarf"
	"encoding/binary"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// TestFastIndexMatchesReference builds the name index of the corpus
// vmlinux twice — with the raw DIE walker and with debug/dwarf's Reader
// (buildIndex, the reference) — and requires the same index: every type,
// variable and enumerator at the same DIE offset, same unit count and
// pointer size.
func TestFastIndexMatchesReference(t *testing.T) {
	compareIndexes(t, filepath.Join(testcorpus.Require(t), "kernels", "7.2.13-fixed", "vmlinux.zst"))
}

// TestFastIndexMatchesReferenceDistro does the same on a Debian distro
// vmlinux (../shared/tools/fetch-distro-vmlinux) named by
// $KDUMP_INSPECT_DISTRO_VMLINUX; it takes tens of seconds.
func TestFastIndexMatchesReferenceDistro(t *testing.T) {
	compareIndexes(t, distroVmlinux(t))
}

// distroVmlinux is $KDUMP_INSPECT_DISTRO_VMLINUX (a Debian distro vmlinux,
// ../shared/tools/fetch-distro-vmlinux); the test skips without it.
func distroVmlinux(tb testing.TB) string {
	p := os.Getenv("KDUMP_INSPECT_DISTRO_VMLINUX")
	if p == "" {
		tb.Skip("KDUMP_INSPECT_DISTRO_VMLINUX not set")
	}
	return p
}

func compareIndexes(t *testing.T, path string) {
	f, err := OpenELF(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw, err := mapDWARF(fileOf(f))
	if err != nil {
		t.Fatal(err)
	}
	if raw == nil {
		t.Fatal("corpus vmlinux DWARF was not mapped (uncompressed sections expected)")
	}
	d, err := raw.whole()
	if err != nil {
		t.Fatal(err)
	}
	fast, err := buildIndexRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := buildIndex(d)
	if err != nil {
		t.Fatal(err)
	}
	if fast.Units != ref.Units || fast.PtrSize != ref.PtrSize {
		t.Errorf("units/ptrsize: fast %d/%d, reference %d/%d", fast.Units, fast.PtrSize, ref.Units, ref.PtrSize)
	}
	for _, m := range []struct {
		name      string
		fast, ref map[string]uint64
	}{
		{"types", offs(fast.Types), offs(ref.Types)},
		{"vars", offs(fast.Vars), offs(ref.Vars)},
		{"enumerators", enums(fast.Enumerators), enums(ref.Enumerators)},
	} {
		if len(m.fast) != len(m.ref) {
			t.Errorf("%s: fast has %d names, reference %d", m.name, len(m.fast), len(m.ref))
		}
		bad := 0
		for k, v := range m.ref {
			if got, ok := m.fast[k]; !ok || got != v {
				if bad++; bad <= 10 {
					t.Errorf("%s %q: fast %#x (present %v), reference %#x", m.name, k, got, ok, v)
				}
			}
		}
	}
	if !maps.Equal(fast.Enumerators, ref.Enumerators) {
		t.Error("enumerator values differ")
	}
}

func offs(m map[string]dwarf.Offset) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = uint64(v)
	}
	return out
}

func enums(m map[string]Enumerator) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = uint64(v.Enum)
	}
	return out
}

// tinyDWARF builds a DWARF 4 unit by hand (DWARF 5 §7.5): a compile unit
// holding "struct s" (with DW_AT_sibling), a declared and a defined
// variable "v" (the definition through DW_AT_specification), and "enum e"
// with enumerator E1 = 7.
func tinyDWARF() (info, abbrev []byte) {
	abbrev = []byte{
		1, 0x11, 1, 0x03, 0x08, 0, 0, // compile_unit, children: name string
		2, 0x13, 1, 0x03, 0x08, 0x01, 0x13, 0, 0, // structure_type, children: name, sibling ref4
		3, 0x0d, 0, 0x03, 0x08, 0, 0, // member: name
		4, 0x34, 0, 0x03, 0x08, 0x3c, 0x19, 0, 0, // variable: name, declaration flag_present
		5, 0x34, 0, 0x47, 0x13, 0x02, 0x18, 0, 0, // variable: specification ref4, location exprloc
		6, 0x04, 1, 0x03, 0x08, 0, 0, // enumeration_type: name
		7, 0x28, 0, 0x03, 0x08, 0x1c, 0x0b, 0, 0, // enumerator: name, const_value data1
		0,
	}
	var body []byte
	body = append(body, 1, 'c', 'u', 0)
	structOff := 11 + len(body)
	body = append(body, 2, 's', 0, 0, 0, 0, 0) // sibling patched below
	body = append(body, 3, 'm', 0, 0)          // member, end of children
	sib := 11 + len(body)
	body[structOff-11+3] = byte(sib)
	declOff := 11 + len(body)
	body = append(body, 4, 'v', 0)
	body = append(body, 5, byte(declOff), 0, 0, 0, 1, 0x9c)
	body = append(body, 6, 'e', 0, 7, 'E', '1', 0, 7, 0)
	body = append(body, 0)
	hdr := []byte{0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 8}
	n := len(hdr) - 4 + len(body)
	hdr[0] = byte(n)
	return append(hdr, body...), abbrev
}

func TestFastIndexTiny(t *testing.T) {
	info, abbrev := tinyDWARF()
	raw := &rawDWARF{info: info, abbrev: abbrev, order: binary.LittleEndian}
	ix, err := buildIndexRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dwarf.New(abbrev, nil, nil, info, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := buildIndex(d)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]dwarf.Offset{"struct s": 15}
	if !maps.Equal(ix.Types, ref.Types) || !maps.Equal(ix.Vars, ref.Vars) || !maps.Equal(ix.Enumerators, ref.Enumerators) {
		t.Errorf("fast %+v\nreference %+v", ix, ref)
	}
	if ix.Types["struct s"] != want["struct s"] || ix.Enumerators["E1"].Value != 7 || ix.Vars["v"] == 0 || ix.Units != 1 || ix.PtrSize != 8 {
		t.Errorf("index %+v", ix)
	}
}

// FuzzFastIndex feeds arbitrary .debug_info/.debug_abbrev/.debug_str to
// the raw walker: it must return an index or an error, never panic or
// loop.
func FuzzFastIndex(f *testing.F) {
	info, abbrev := tinyDWARF()
	f.Add(info, abbrev, []byte("x\x00"))
	f.Add(info[:20], abbrev, []byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 1, 8}, abbrev, []byte{})
	f.Fuzz(func(t *testing.T, info, abbrev, str []byte) {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			buildIndexRaw(&rawDWARF{info: info, abbrev: abbrev, str: str, lineStr: str, strOffsets: str, order: order})
		}
	})
}
