package repl

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// mdfJSON is the part of fixed-radix/makedumpfile.json these tests use
// (keys match the field names but for the tagged ones).
type mdfJSON struct {
	Excluded []struct{ PA, PFN, Class string } `json:"excluded_faulting_pages"`
	Present  []struct{ PA, PFN, What string }  `json:"present_pages"`
	Stubs    []struct {
		Module  string
		StubsVA string `json:"stubs_va"`
		StubsPA string `json:"stubs_pa"`
	} `json:"stubs_physical"`
}

func loadMDF(t *testing.T) mdfJSON {
	t.Helper()
	var m mdfJSON
	testcorpus.LoadJSON(t, filepath.Join(testcorpus.Dir(t, "fixed-radix"), "makedumpfile.json"), &m)
	if len(m.Excluded) == 0 || len(m.Present) == 0 || len(m.Stubs) == 0 || m.Stubs[0].StubsVA == "" {
		t.Fatal("makedumpfile.json: missing lists")
	}
	return m
}

func openD31(t *testing.T) *Session {
	t.Helper()
	d := testcorpus.Dir(t, "fixed-radix")
	p, err := kernel.Open([]string{filepath.Join(d, "vmcore-d31-zstd.kdump")}, kernel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return New(p, Options{PanicLog: t.TempDir()})
}

// TestPageCorpus holds page against makedumpfile's own classification of
// the pages it excluded (makedumpfile.json: free, cache, user(anon)) and
// kept, and explains the module area's missing PUD table: a tail page of
// a PUD-cache slab, "pgtable-2^9" (arch/powerpc/mm/init-common.c names
// the caches pgtable-2^INDEX_SIZE; RADIX_PUD_INDEX_SIZE is 9 on 64K
// pages, book3s/64/radix-64k.h).
func TestPageCorpus(t *testing.T) {
	mdf := loadMDF(t)
	s := openD31(t)
	classOf := map[string]string{"free": "free", "cache": "file", "user(anon)": "anon"}
	for _, e := range mdf.Excluded {
		pi, err := s.Prog.DescribePage(testcorpus.Hex(t, e.PFN))
		if err != nil {
			t.Fatal(err)
		}
		if pi.InDump || pi.Class != classOf[e.Class] || pi.Phys != testcorpus.Hex(t, e.PA) {
			t.Errorf("pfn %s (makedumpfile: %s, excluded): in dump %v, class %q (%s), phys %#x", e.PFN, e.Class, pi.InDump, pi.Class, pi.Detail, pi.Phys)
		}
	}
	for _, p := range mdf.Present {
		if pi, err := s.Prog.DescribePage(testcorpus.Hex(t, p.PFN)); err != nil || !pi.InDump {
			t.Errorf("pfn %s (%s): in dump %v, %v", p.PFN, p.What, pi.InDump, err)
		}
	}

	// The PUD entry of the module area: vtop names the page-table page it
	// could not read.
	var vt []VtopView
	runDoc(t, s, "vtop --json "+mdf.Stubs[0].StubsVA, &vt)
	if len(vt) != 1 || len(vt[0].Steps) != 1 || vt[0].Steps[0].Level != "PGD" {
		t.Fatalf("vtop: %+v, want the walk to stop after the PGD entry", vt)
	}
	pud := uint64(vt[0].Steps[0].Entry) & 0x0ffffffffffff000 // RPN of the PGD entry
	pi, err := s.Prog.DescribePage(pud / s.Prog.PageSize)
	if err != nil {
		t.Fatal(err)
	}
	if pi.InDump || pi.Class != "slab" || !pi.Tail || !strings.HasSuffix(pi.Detail, "kmem_cache pgtable-2^9") || pi.ExclusionNote() == "" {
		t.Errorf("PUD table page %#x: %+v", pud, pi)
	}
}

// TestVtopCorpus: vtop of each module's .stubs gives the physical address
// the guest reported (makedumpfile.json stubs_physical), on the full dump
// by the page tables and on the -d 31 dump by vm_struct->pages.
func TestVtopCorpus(t *testing.T) {
	mdf := loadMDF(t)
	full := corpusSession(t, "fixed-radix")
	d31 := openD31(t)
	for _, c := range []struct {
		s   *Session
		how string
	}{{full, "page tables"}, {d31, "vm_struct->pages (the page-table walk failed)"}} {
		for _, st := range mdf.Stubs {
			var vt []VtopView
			if err := decodeDoc([]byte(run(t, c.s, "vtop --json "+st.StubsVA)), &vt); err != nil {
				t.Fatal(err)
			}
			if !vt[0].OK || uint64(vt[0].PA) != testcorpus.Hex(t, st.StubsPA) || vt[0].How != c.how {
				t.Errorf("%s .stubs %s: %+v, want %s by %s", st.Module, st.StubsVA, vt[0], st.StubsPA, c.how)
			}
		}
	}
}

// TestVtopStubsBytesCorpus: on every corpus kernel (radix and hash), the
// physical address vtop gives for a module's .stubs holds the bytes the
// kernel had there (truth.json stubs_raw_hex).
func TestVtopStubsBytesCorpus(t *testing.T) {
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			s := corpusSession(t, dir)
			tr := testcorpus.LoadTruth(t, testcorpus.Dir(t, dir))
			for _, m := range tr.DumpModules() {
				va := testcorpus.Hex(t, m["stubs_section_addr"].(string))
				want, err := hex.DecodeString(m["stubs_raw_hex"].(string))
				if err != nil || len(want) == 0 {
					t.Fatalf("%s: stubs_raw_hex: %v", m["name"], err)
				}
				var vt []VtopView
				runDoc(t, s, "vtop --json "+m["stubs_section_addr"].(string), &vt)
				if !vt[0].OK || vt[0].How != "page tables" || len(vt[0].Steps) < 2 {
					t.Fatalf("%s: vtop %#x: %+v", m["name"], va, vt[0])
				}
				got := make([]byte, len(want))
				// .stubs may cross a page: read page by page through vtop.
				for off := 0; off < len(want); {
					var v []VtopView
					decodeDoc([]byte(run(t, s, fmt.Sprintf("vtop --json %#x", va+uint64(off)))), &v)
					n := min(len(want)-off, int(s.Prog.PageSize-(va+uint64(off))%s.Prog.PageSize))
					if _, err := s.Prog.Phys.ReadAt(got[off:off+n], uint64(v[0].PA)); err != nil {
						t.Fatalf("%s: physical %#x: %v", m["name"], v[0].PA, err)
					}
					off += n
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: .stubs at physical %#x differs from truth.json", m["name"], vt[0].PA)
				}
			}
		})
	}
}

// TestBtWithoutRegistersCorpus: makedumpfile's -d 31 file holds no CPU
// register notes, but it is the same stopped VM as the full dump (corpus
// README), where CPU 0 runs swapper/0: bt of PID 0 must name CPU 0 and
// warn that thread.ksp is stale.
func TestBtWithoutRegistersCorpus(t *testing.T) {
	s := openD31(t)
	if len(s.Prog.Dump.CPUs) != 0 {
		t.Skipf("the -d 31 file has %d register notes", len(s.Prog.Dump.CPUs))
	}
	v := btJSON(t, s, "0")
	if len(v) != 1 || v[0].CPU != 0 || v[0].Comm != "swapper/0" || v[0].Warning == "" {
		t.Errorf("bt 0: %+v, want swapper/0 on CPU 0 with a stale-stack warning", v)
	}
}

// TestInfoDumpLevelCorpus: the -d 31 file says what makedumpfile was told
// (makedumpfile.json: "makedumpfile -z -d 31 ..."): every class left out.
func TestInfoDumpLevelCorpus(t *testing.T) {
	mdf, err := os.ReadFile(filepath.Join(testcorpus.Dir(t, "fixed-radix"), "makedumpfile.json"))
	if err != nil || !strings.Contains(string(mdf), "makedumpfile -z -d 31 vmcore-vmcoreinfo.elf vmcore-d31-zstd.kdump") {
		t.Fatalf("makedumpfile.json does not record the -d 31 command (%v)", err)
	}
	var v InfoView
	if err := decodeDoc([]byte(run(t, openD31(t), "info --json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.DumpLevel != 31 || len(v.Excluded) != 5 {
		t.Errorf("dump level %d, classes %v", v.DumpLevel, v.Excluded)
	}
}
