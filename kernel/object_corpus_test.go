package kernel

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
)

// TestCorpusFeatures detects the features of the corpus's fixed vmlinux
// (config: PPC_FTRACE_OUT_OF_LINE=y, DYNAMIC_FTRACE_WITH_CALL_OPS=y,
// LIVEPATCH=y, ELFv2 little-endian, not PCREL; corpus README).
func TestCorpusFeatures(t *testing.T) {
	root := testcorpus.Require(t)
	path, err := container.Open(filepath.Join(root, "kernels", "7.2.13-fixed", "vmlinux.zst"))
	if err != nil {
		t.Fatal(err)
	}
	d := testcorpus.ELFDWARF(t, path)
	ts, err := dwarfread.LoadTypes(d, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	want := Features{
		OOLStubs:         true,
		StubCount:        true,
		GOTSection:       false, // not PCREL: toc_section instead
		StartOPD:         false, // ELFv2
		Tramp:            true,
		TrampRegs:        true,
		OOLFtraceOp:      true,
		DynFtraceOOLStub: true,
		ModuleKLPInfo:    true,
		ModuleMem:        true,
	}
	if got := DetectFeatures(ts); got != want {
		t.Errorf("DetectFeatures = %+v\nwant             %+v", got, want)
	}
}

// TestCorpusModuleObjects reads every module's struct module through the
// kernel's own page tables (modules live in vmalloc space) and compares
// name, state, every mod_arch_specific member and mem[] with what drgn read
// (truth.json dump.modules[]); then walks the kernel's `modules` list and
// finds exactly the truth's modules.
func TestCorpusModuleObjects(t *testing.T) {
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			d := testcorpus.Dir(t, dir)
			tr := testcorpus.LoadTruth(t, d)
			path := filepath.Join(d, "vmcore-vmcoreinfo.kdump")
			p, err := Open([]string{path}, Options{})
			if err != nil {
				t.Fatalf("kernel.Open(%s): %v", path, err)
			}
			defer p.Close()
			mods := tr.DumpModules()
			if len(mods) == 0 {
				t.Fatal("no modules in truth.json")
			}
			names := map[string]bool{}
			for _, m := range mods {
				name := m["name"].(string)
				names[name] = true
				addr := testcorpus.Hex(t, m["struct_module"])
				mod, err := NewObject(p.Context, "struct module", addr)
				if err != nil {
					t.Fatal(err)
				}
				if s, err := mustMember(t, mod, "name").CString(64); err != nil || s != name {
					t.Errorf("%#x name = %q, %v; truth %q", addr, s, err, name)
				}
				state, err := p.Types.EnumConstant(m["state"].(string))
				if err != nil {
					t.Fatal(err)
				}
				if v, err := mustMember(t, mod, "state").Int(); err != nil || v != state {
					t.Errorf("%s state = %d, %v; truth %s = %d", name, v, err, m["state"], state)
				}
				for k, v := range m["arch"].(map[string]any) {
					want := testcorpus.Hex(t, v)
					got, err := mustMember(t, mod, "arch."+k).Uint()
					if err != nil || got != want {
						t.Errorf("%s arch.%s = %#x, %v; truth %#x", name, k, got, err, want)
					}
				}
				for _, mm := range m["mem"].([]any) {
					e := mm.(map[string]any)
					i := int(e["type"].(float64))
					base := testcorpus.Hex(t, e["base"])
					size := testcorpus.Hex(t, e["size"])
					gb, err1 := mustMember(t, mod, fmt.Sprintf("mem[%d].base", i)).Uint()
					gs, err2 := mustMember(t, mod, fmt.Sprintf("mem[%d].size", i)).Uint()
					if err1 != nil || err2 != nil || gb != base || gs != size {
						t.Errorf("%s mem[%d] = %#x+%#x (%v, %v); truth %#x+%#x", name, i, gb, gs, err1, err2, base, size)
					}
				}
				// The enumeration constant indexes the same element.
				a, _ := mustMember(t, mod, "mem[MOD_TEXT].base").Uint()
				b, _ := mustMember(t, mod, "mem[0].base").Uint()
				if a != b {
					t.Errorf("%s mem[MOD_TEXT].base %#x != mem[0].base %#x", name, a, b)
				}
			}
			head, err := p.SymbolAddr("modules")
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for o, err := range ListForEachEntry(p.Context, head, "struct module", "list") {
				if err != nil {
					t.Fatalf("walking modules: %v", err)
				}
				s, err := mustMember(t, o, "name").CString(64)
				if err != nil {
					t.Fatal(err)
				}
				seen[s] = true
			}
			if len(seen) != len(names) {
				t.Errorf("modules list has %d modules, truth %d", len(seen), len(names))
			}
			for n := range names {
				if !seen[n] {
					t.Errorf("module %s not on the modules list", n)
				}
			}
		})
	}
}
