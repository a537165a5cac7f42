package repl

import (
	"debug/elf"
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// TestSearchCorpus: the use case of issue 21, on seed 000's dump. Slot 5
// of klp_stub_bug's .stubs (truth's stub_slots[5], which the buggy loader
// laid over ool_stubs[0]) is reached by one call: the livepatch
// relocation of .klp.rela.klp_tgt..klptext (R_PPC64_REL24 to tgt_secret)
// in the module's .klptext. Its place is read here from the .ko the guest
// loaded (debug/elf) and the section address the guest printed
// (truth's sections); search --branch must find exactly that bl. The
// words pointing into the slot are mod->arch.ool_stubs (truth's arch and
// arch_type_layout).
func TestSearchCorpus(t *testing.T) {
	const dir = "buggy-radix"
	s := corpusSession(t, dir)
	m := truthModule(t, dir, "klp_stub_bug")
	slot5 := m["stub_slots"].([]any)[5].(map[string]any)
	klptext := testcorpus.Hex(t, m["sections"].(map[string]any)[".klptext"])

	ko, err := elf.Open(filepath.Join(testcorpus.Require(t), "kernels", "7.2.13-buggy", "modules", "klp_stub_bug.ko"))
	if err != nil {
		t.Fatal(err)
	}
	defer ko.Close()
	rela := ko.Section(".klp.rela.klp_tgt..klptext")
	if rela == nil {
		t.Fatal("klp_stub_bug.ko has no .klp.rela.klp_tgt..klptext")
	}
	b, err := rela.Data()
	if err != nil || len(b) != 24 {
		t.Fatalf("one Elf64_Rela expected: %d bytes, %v", len(b), err)
	}
	info := ko.ByteOrder.Uint64(b[8:])
	if elf.R_PPC64(info&0xffffffff) != elf.R_PPC64_REL24 {
		t.Fatalf("relocation type %v", elf.R_PPC64(info&0xffffffff))
	}
	call := klptext + ko.ByteOrder.Uint64(b[0:])

	var v SearchView
	runDoc(t, s, "search --json --branch "+slot5["addr"].(string), &v)
	if len(v.Hits) != 1 || uint64(v.Hits[0].Addr) != call || uint64(v.Hits[0].Target) != testcorpus.Hex(t, slot5["addr"]) || v.Hits[0].Insn[:3] != "bl " {
		t.Errorf("search --branch slot 5: %+v; want the bl at %#x", v.Hits, call)
	}
	// --within 40 finds the same call for any address inside the slot.
	runDoc(t, s, "search --json --branch --within 40 --module klp_stub_bug klp_stub_bug:.stubs+0xc8", &v)
	if len(v.Hits) != 1 || uint64(v.Hits[0].Addr) != call {
		t.Errorf("search --branch --within 40 --module: %+v", v.Hits)
	}

	off := int64(-1)
	for _, f := range m["arch_type_layout"].([]any) {
		if f := f.(map[string]any); f["name"] == "ool_stubs" {
			off = int64(f["offset"].(float64))
		}
	}
	archOff, err := s.Prog.Types.Offsetof("struct module", "arch")
	if err != nil || off < 0 {
		t.Fatal(err, off)
	}
	want := testcorpus.Hex(t, m["struct_module"]) + uint64(archOff+off)
	runDoc(t, s, "search --json --module klp_stub_bug "+m["arch"].(map[string]any)["ool_stubs"].(string), &v)
	if len(v.Hits) != 1 || uint64(v.Hits[0].Addr) != want || v.Unreadable != 0 {
		t.Errorf("search ool_stubs in klp_stub_bug: %+v; want &mod->arch.ool_stubs = %#x", v, want)
	}
}
