package repl

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// jsonData runs a --json line, checks the document against the contract
// and returns its data decoded into v.
func jsonData(t *testing.T, s *Session, cmd, line string, v any) {
	t.Helper()
	out, err := s.capture(t.Context(), line)
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	checkDocument(t, cmd, out)
	var doc struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(doc.Data, v); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
}

// member finds a member of a struct value by name.
func member(t *testing.T, v ValueView, name string) ValueView {
	t.Helper()
	for _, m := range v.Members {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("%s has no member %s", v.Type, name)
	return ValueView{}
}

func rawOf(t *testing.T, what string, v ValueView) uint64 {
	t.Helper()
	if v.Error != "" || v.Raw == nil {
		t.Fatalf("%s: no value (%s)", what, v.Error)
	}
	return uint64(*v.Raw)
}

// TestValueJSONTruth: struct --json and p --json read every module's
// struct module (name, core_layout, arch) of deb12-6.1 as drgn read them
// on the same dump (truth.json): strings, "0x…" words, counts as numbers
// where exact, bools; a whole struct by p and members by path by struct.
func TestValueJSONTruth(t *testing.T) {
	const dir = "../testdata/example/deb12-6.1"
	b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var truth struct {
		Modules []struct {
			Name         string         `json:"name"`
			StructModule string         `json:"struct_module"`
			CoreLayout   map[string]any `json:"core_layout"`
			Arch         map[string]any `json:"arch"`
		} `json:"modules"`
	}
	if err := json.Unmarshal(b, &truth); err != nil {
		t.Fatal(err)
	}
	if len(truth.Modules) < 10 {
		t.Fatalf("truth.json lists %d modules", len(truth.Modules))
	}
	s := exampleSessions(t, "deb12-6.1")["deb12-6.1"]
	for _, m := range truth.Modules {
		t.Run(m.Name, func(t *testing.T) {
			line := "struct --json module.name,core_layout.base,core_layout.size,core_layout.text_size,core_layout.ro_size,core_layout.ro_after_init_size " + m.StructModule
			var svs []StructView
			jsonData(t, s, "struct", line, &svs)
			if len(svs) != 1 || fmt.Sprintf("%#x", uint64(svs[0].Addr)) != m.StructModule || svs[0].Type != "struct module" {
				t.Fatalf("%+v", svs)
			}
			ms := svs[0].Members
			if len(ms) != 6 || ms[0].Kind != "string" || ms[0].String == nil || *ms[0].String != m.Name {
				t.Fatalf("name: %+v", ms[0])
			}
			for i, k := range []string{"base", "size", "text_size", "ro_size", "ro_after_init_size"} {
				mv := ms[i+1]
				if mv.Name != "core_layout."+k {
					t.Fatalf("member %d is %s", i+1, mv.Name)
				}
				want := testcorpus.Hex(t, m.CoreLayout[k])
				if got := rawOf(t, mv.Name, mv); got != want {
					t.Errorf("%s = %#x, drgn %#x", mv.Name, got, want)
				}
				if k == "base" {
					if mv.Kind != "pointer" || mv.Int != nil {
						t.Errorf("base: kind %s, int %v (a pointer has no int)", mv.Kind, mv.Int)
					}
				} else if mv.Int == nil || uint64(*mv.Int) != want {
					t.Errorf("%s: int %v, want %d", mv.Name, mv.Int, want)
				}
			}
			var pv PrintView
			jsonData(t, s, "p", "p --json ((struct module *)"+m.StructModule+")->arch", &pv)
			if pv.Value.Kind != "struct" || pv.Value.Type != "struct mod_arch_specific" {
				t.Fatalf("arch: %s %s", pv.Value.Kind, pv.Value.Type)
			}
			for k, v := range m.Arch {
				mv := member(t, pv.Value, k)
				if got, want := rawOf(t, k, mv), testcorpus.Hex(t, v); got != want {
					t.Errorf("arch.%s = %#x, drgn %#x", k, got, want)
				}
			}
			if tf := member(t, pv.Value, "toc_fixed"); tf.Kind != "bool" || tf.Bool == nil {
				t.Errorf("toc_fixed: %+v", tf)
			}
		})
	}
}

// TestValueJSONCorpus: on buggy-radix, p --json and struct --json read
// what the guest printed of each module before the dump (truth.json
// guest.modules: state, arch, mem[] with base, size and is_rox): enums by
// name and value, arrays of structs, bools, 64-bit words as strings; union
// --json reads a union; task --json the PID and command of init.
func TestValueJSONCorpus(t *testing.T) {
	s := corpusSession(t, "buggy-radix")
	b, err := os.ReadFile(filepath.Join("..", "..", "shared", "corpus", "buggy-radix", "truth.json"))
	if err != nil {
		t.Skip(err)
	}
	var truth struct {
		Guest struct {
			Modules []struct {
				Name         string         `json:"name"`
				StructModule string         `json:"struct_module"`
				State        int64          `json:"state"`
				Arch         map[string]any `json:"arch"`
				Mem          []struct {
					Base  string `json:"base"`
					Size  int64  `json:"size"`
					IsRox bool   `json:"is_rox"`
				} `json:"mem"`
			} `json:"modules"`
		} `json:"guest"`
	}
	if err := json.Unmarshal(b, &truth); err != nil {
		t.Fatal(err)
	}
	if len(truth.Guest.Modules) == 0 {
		t.Fatal("no guest modules in truth.json")
	}
	for _, m := range truth.Guest.Modules {
		t.Run(m.Name, func(t *testing.T) {
			var svs []StructView
			jsonData(t, s, "struct", "struct --json module "+m.StructModule, &svs)
			if len(svs) != 1 || svs[0].Value == nil {
				t.Fatalf("%+v", svs)
			}
			v := *svs[0].Value
			if n := member(t, v, "name"); n.String == nil || *n.String != m.Name {
				t.Errorf("name %+v", n)
			}
			// modarch_dump printed its own struct module from its init
			// function: still MODULE_STATE_COMING (1), its init memory
			// (mem[MOD_INIT_TEXT..]) not yet freed; the dump came after.
			self := m.Name == "modarch_dump"
			st := member(t, v, "state")
			if self && (st.Enum != "MODULE_STATE_LIVE" || m.State != 1) {
				t.Errorf("modarch_dump state %s, guest (in its init) %d", st.Enum, m.State)
			} else if !self && (st.Kind != "enum" || st.Int == nil || *st.Int != m.State || st.Enum == "") {
				t.Errorf("state: %+v, guest %d", st, m.State)
			}
			arch := member(t, v, "arch")
			for k, want := range m.Arch {
				if got := rawOf(t, k, member(t, arch, k)); got != testcorpus.Hex(t, want) {
					t.Errorf("arch.%s = %#x, guest %v", k, got, want)
				}
			}
			mem := member(t, v, "mem")
			if mem.Kind != "array" || mem.Count == nil || int(*mem.Count) != len(m.Mem) || len(mem.Elements) != len(m.Mem) {
				t.Fatalf("mem: %s count %v, %d elements, guest %d", mem.Kind, mem.Count, len(mem.Elements), len(m.Mem))
			}
			for i, g := range m.Mem {
				if self && i >= 4 {
					continue
				}
				e := mem.Elements[i]
				if got := rawOf(t, "base", member(t, e, "base")); got != testcorpus.Hex(t, g.Base) {
					t.Errorf("mem[%d].base = %#x, guest %s", i, got, g.Base)
				}
				if sz := member(t, e, "size"); sz.Int == nil || *sz.Int != g.Size {
					t.Errorf("mem[%d].size = %v, guest %d", i, sz.Int, g.Size)
				}
				if rx := member(t, e, "is_rox"); rx.Bool == nil || *rx.Bool != g.IsRox {
					t.Errorf("mem[%d].is_rox = %v, guest %v", i, rx.Bool, g.IsRox)
				}
			}
		})
	}
	t.Run("union", func(t *testing.T) {
		var svs []StructView
		jsonData(t, s, "union", "union --json thread_union init_task", &svs)
		if len(svs) != 1 || svs[0].Value == nil || svs[0].Value.Kind != "union" || len(svs[0].Value.Members) == 0 {
			t.Fatalf("%+v", svs)
		}
	})
	t.Run("task", func(t *testing.T) {
		var tvs []TaskView
		jsonData(t, s, "task", "task --json -R pid,comm 1", &tvs)
		if len(tvs) != 1 || tvs[0].PID != 1 || len(tvs[0].Struct.Members) != 2 {
			t.Fatalf("%+v", tvs)
		}
		if pid := tvs[0].Struct.Members[0]; pid.Int == nil || *pid.Int != 1 {
			t.Errorf("pid %+v", pid)
		}
		if c := tvs[0].Struct.Members[1]; c.String == nil || *c.String != tvs[0].Comm {
			t.Errorf("comm %+v, ps says %q", c, tvs[0].Comm)
		}
	})
}
