package x86

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// TestCPUStateMethodsCorpus: on every bench/x86-corpus dump, each of the
// two ways to the KASLR offset from a CPU's state — the IDT's gates
// against the vmlinux, and the first mapped 2M step of the kernel image
// area — gives, alone, the guest's KERNELOFFSET (truth.json: the
// VMCOREINFO the guest printed), on every CPU; and phys_base is the
// guest's.
func TestCPUStateMethodsCorpus(t *testing.T) {
	root := testcorpus.Corpora(t, "x86")
	var syms map[string]uint64
	for _, d := range []string{"distro-nokaslr", "distro-kaslr-la57", "distro-its", "distro-inflight", "livepatch-kaslr", "livepatch-its"} {
		t.Run(d, func(t *testing.T) {
			dir := filepath.Join(root, d)
			b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
			if err != nil {
				t.Skip(err)
			}
			var tr struct {
				Guest struct {
					Blocks struct {
						VMCOREINFO []string `json:"vmcoreinfo"`
					} `json:"blocks"`
				} `json:"guest"`
			}
			if err := json.Unmarshal(b, &tr); err != nil {
				t.Fatal(err)
			}
			vi := map[string]string{}
			for _, l := range tr.Guest.Blocks.VMCOREINFO {
				if k, v, ok := strings.Cut(l, "="); ok {
					vi[k] = v
				}
			}
			wantOff, err1 := strconv.ParseUint(vi["KERNELOFFSET"], 16, 64)
			wantPB, err2 := strconv.ParseInt(vi["NUMBER(phys_base)"], 10, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("guest VMCOREINFO: %v %v", err1, err2)
			}
			// The distro dumps share one vmlinux, the livepatch ones another.
			syms = readSyms(t, filepath.Join(dir, "vmlinux"))
			sym := func(n string) (uint64, error) {
				if a, ok := syms[n]; ok {
					return a, nil
				}
				return 0, os.ErrNotExist
			}
			dm, err := dump.Open([]string{filepath.Join(dir, "vmcore.kdump")}, dump.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer dm.Close()
			states, errs := QEMUCPUStates(dm.Notes, le)
			if len(states) < 2 || len(errs) != 0 {
				t.Fatalf("%d QEMU states, %v", len(states), errs)
			}
			for i := range states {
				s := &states[i]
				w := &Kernel{Phys: dm.Phys, L5: s.LA57(), PGD: s.PGD()}
				idt, _, err := offsetFromIDT(w, le, sym, s)
				if err != nil || idt != wantOff {
					t.Errorf("CPU %d: the IDT gives %#x, %v; the guest %#x", i, idt, err, wantOff)
				}
				img, err := offsetFromImageMap(w, syms["_text"])
				if err != nil || img != wantOff {
					t.Errorf("CPU %d: the image mapping gives %#x, %v; the guest %#x", i, img, err, wantOff)
				}
				l, err := layoutFromCPU(dm.Phys, le, sym, i, s)
				if err != nil || l.physBase != uint64(wantPB) {
					t.Errorf("CPU %d: phys_base %#x, %v; the guest %#x", i, l.physBase, err, uint64(wantPB))
				}
			}
		})
	}
}

var symCache = map[string]map[string]uint64{}

func readSyms(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Skip(err)
	}
	if m, ok := symCache[real]; ok {
		return m
	}
	f := testcorpus.OpenELF(t, real)
	ss, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]uint64{}
	for _, s := range ss {
		m[s.Name] = s.Value
	}
	symCache[real] = m
	return m
}
