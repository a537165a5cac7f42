package dwarftypes

import (
	"debug/dwarf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// TestDWARFDamageConfined flips one byte of one unit of the corpus
// vmlinux's .debug_info (its unit_length, its version, the abbreviation
// code of its first DIE): that unit is lost, named with its offset, and
// every other unit's types are found as in the good file. Before, each of
// these flips failed LoadELFTypes for the whole vmlinux ("no usable
// DWARF").
func TestDWARFDamageConfined(t *testing.T) {
	root := testcorpus.Require(t)
	plain, err := container.Open(filepath.Join(root, "kernels", "7.2.13-fixed", "vmlinux.zst"))
	if err != nil {
		t.Skipf("corpus vmlinux: %v", err)
	}
	good, info, _, err := damage.ELFSection(plain, ".debug_info")
	if err != nil {
		t.Fatal(err)
	}
	gf, err := OpenELF(plain)
	if err != nil {
		t.Fatal(err)
	}
	defer gf.Close()
	gt, err := LoadELFTypes(gf, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := mapDWARF(fileOf(gf))
	if err != nil || raw == nil {
		t.Fatalf("mapDWARF: %v", err)
	}
	units, damaged, err := listUnits(raw)
	if err != nil || len(damaged) > 0 || len(gt.src.Damaged) > 0 {
		t.Fatalf("good vmlinux: %v %v %v", err, damaged, gt.src.Damaged)
	}
	// A unit in the middle, not one of the types looked up below.
	k := len(units) / 2
	u, next := units[k], units[k+1]
	names := []string{"struct module", "struct task_struct", "struct paca_struct", "struct mod_arch_specific", "struct ftrace_ops", "struct klp_patch"}
	sizes := map[string]int64{}
	for _, n := range names {
		sz, err := gt.Sizeof(n)
		if err != nil {
			t.Fatalf("good vmlinux: %s: %v", n, err)
		}
		if off := gt.src.ix.Types[n]; int(off) >= u && int(off) < next {
			t.Fatalf("%s is defined in the unit damaged below: pick another", n)
		}
		sizes[n] = sz
	}
	for _, c := range []struct {
		name  string
		delta int
		mask  byte
	}{
		{"unit_length", 0, 0x01},
		{"version", 4, 0xff},
		{"first DIE's abbreviation code", 13, 0xff},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			b[int64(info.Offset)+int64(u+c.delta)] ^= c.mask
			path := filepath.Join(t.TempDir(), "vmlinux")
			if err := os.WriteFile(path, b, 0o444); err != nil {
				t.Fatal(err)
			}
			f, err := OpenELF(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ty, err := LoadELFTypes(f, nil, "")
			if err != nil {
				t.Fatalf("LoadELFTypes: %v (the whole vmlinux lost)", err)
			}
			if len(ty.src.Damaged) != 1 || ty.src.Damaged[0].Off != u || ty.src.Damaged[0].End != next {
				t.Fatalf("damaged units %v, want [%#x,%#x)", ty.src.Damaged, u, next)
			}
			if w := ty.Warnings(); len(w) != 1 || !strings.Contains(w[0], fmt.Sprintf("offset %#x", u)) {
				t.Errorf("warnings %q do not name offset %#x", w, u)
			}
			for _, n := range names {
				if sz, err := ty.Sizeof(n); err != nil || sz != sizes[n] {
					t.Errorf("%s: size %d, %v; good vmlinux %d", n, sz, err, sizes[n])
				}
			}
			for m, idx := range []map[string]dwarf.Offset{ty.src.ix.Types, ty.src.ix.Vars} {
				for n, off := range idx {
					if int(off) >= u && int(off) < next {
						t.Errorf("index %d: %s at %#x, inside the damaged unit", m, n, off)
					}
				}
			}
		})
	}
}
