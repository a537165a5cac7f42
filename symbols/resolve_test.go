package symbols

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

func TestTableByAddr(t *testing.T) {
	t.Parallel()
	tab := NewTable([]Symbol{
		{Name: "foo", Addr: 0x1000, Size: 0x100, Kind: 'T', Section: ".text"},
		{Name: "foo_alias", Addr: 0x1000, Size: 0x100, Kind: 't', Section: ".text"},
		{Name: ".Lfoo", Addr: 0x1000, Size: 0, Kind: 't', Section: ".text"},
		{Name: "bar", Addr: 0x1200, Size: 0x10, Kind: 't', Section: ".text"},
		{Name: "label", Addr: 0x1300, Kind: 't', Section: ".text"},
		{Name: "ext", Addr: 0x1300, Kind: 'U'},
		{Name: "dup", Addr: 0x2000, Size: 4, Kind: 'd', Section: ".data"},
		{Name: "dup", Addr: 0x2010, Size: 4, Kind: 'D', Section: ".data"},
		{Name: "big", Addr: 0x3000, Size: 0x1000, Kind: 'T', Section: ".text"},
		{Name: "inner", Addr: 0x3100, Size: 0x10, Kind: 't', Section: ".text"},
	}).WithSections([]SectionRange{{".text", 0x1000, 0x1400}, {".data", 0x2000, 0x2100}, {".text2", 0x3000, 0x5000}})
	tests := []struct {
		addr uint64
		name string
		off  uint64
		ok   bool
	}{
		{0xfff, "", 0, false},
		{0x1000, "foo", 0, true}, // global over local alias and label
		{0x10ff, "foo", 0xff, true},
		{0x1100, "", 0, false}, // gap after foo's end
		{0x1208, "bar", 8, true},
		{0x1210, "", 0, false},
		{0x1300, "label", 0, true}, // undefined "ext" never matches
		{0x13ff, "label", 0xff, true},
		{0x1400, "", 0, false}, // past .text: the size-0 label stops at its section end
		{0x2012, "dup", 2, true},
		{0x3108, "inner", 8, true},
		{0x3200, "big", 0x200, true}, // back past inner to the containing big
	}
	for _, tc := range tests {
		s, off, ok := tab.ByAddr(tc.addr)
		if ok != tc.ok || s.Name != tc.name || off != tc.off {
			t.Errorf("ByAddr(%#x) = %s+%#x %v, want %s+%#x %v", tc.addr, s.Name, off, ok, tc.name, tc.off, tc.ok)
		}
	}
	if s, ok := tab.ByName("dup"); !ok || s.Addr != 0x2010 {
		t.Errorf("ByName(dup) = %+v, want the global one at 0x2010", s)
	}
	if all := tab.AllByName("dup"); len(all) != 2 || all[0].Addr != 0x2000 {
		t.Errorf("AllByName(dup) = %+v", all)
	}
	if _, ok := tab.ByName("nope"); ok {
		t.Error("ByName(nope) found")
	}
}

func TestResolverSynthetic(t *testing.T) {
	t.Parallel()
	mod := NewTable([]Symbol{
		{Name: "mod_init", Addr: 0x10000, Size: 0x40, Kind: 't', Module: "m"},
		{Name: "mod_fn", Addr: 0x10040, Size: 0x20, Kind: 't', Module: "m"},
		{Name: "mod_data", Addr: 0x20000, Size: 0x10, Kind: 'd', Module: "m"},
		{Name: "printk", Addr: 0x500, Kind: 'u', Module: "m"},
	})
	vm := NewTable([]Symbol{{Name: "_stext", Addr: 0x100, Kind: 'T'}, {Name: "printk", Addr: 0x500, Kind: 'T'}, {Name: "_end", Addr: 0x9000, Kind: 'B'}})
	r := NewResolver()
	r.SetVmlinux(vm)
	r.AddModule(ModuleLayout{
		Name:     "m",
		Regions:  []Region{{Start: 0x10000, Size: 0x10000, Kind: "text"}, {Start: 0x20000, Size: 0x10000, Kind: "data"}},
		Sections: map[string]uint64{".text": 0x10000, ".stubs": 0x10060, ".init.text": 0x100a0, ".data": 0x20000, ".bss": 0x20100},
		Syms:     mod,
	})
	r.AddModule(ModuleLayout{
		Name:         "sized",
		Regions:      []Region{{Start: 0x40000, Size: 0x10000, Kind: "text"}},
		Sections:     map[string]uint64{".text": 0x40000, ".stubs": 0x40100},
		SectionSizes: map[string]uint64{".stubs": 0x50},
		Syms:         NewTable([]Symbol{{Name: "s_fn", Addr: 0x40000, Kind: 't', Module: "sized"}}),
	})
	tests := []struct {
		addr uint64
		want string
	}{
		{0x504, "printk+0x4"},
		{0x10008, "mod_init+0x8 [m]"},
		{0x10044, "mod_fn+0x4 [m]"},
		{0x10060, "m:.stubs+0x0"},
		{0x10088, "m:.stubs+0x28"},
		{0x1009c, "m:.stubs+0x3c"},    // up to .init.text: no size known
		{0x100a4, "m:.init.text+0x4"}, // no symbol there
		{0x20008, "mod_data+0x8 [m]"},
		{0x20010, "m:.data+0x10"}, // after mod_data's sized end
		{0x20104, "m:.bss+0x4"},
		// The size-0 s_fn covers .text, never .stubs; .stubs ends at
		// its known size.
		{0x400f0, "s_fn+0xf0 [sized]"},
		{0x40128, "sized:.stubs+0x28"},
		// Past .stubs' known end, in no known section (.text runs only
		// to the next section start): the region names it, not s_fn.
		{0x40150, "sized:[text]+0x150"},
		{0x9000, "0x9000"}, // at _end: not vmlinux
		{0x30000 - 8, "m:.bss+0xfef8"},
	}
	for _, tc := range tests {
		got := r.Lookup(tc.addr).String()
		if got != tc.want {
			t.Errorf("Lookup(%#x) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		addr uint64
		ok   bool
	}{
		{"printk", 0x500, true}, {"m:mod_fn", 0x10040, true}, {"m:.stubs", 0x10060, true},
		{"mod_data", 0x20000, true}, {"m:nope", 0, false}, {"nope", 0, false},
	} {
		a, ok := r.Address(tc.name)
		if a != tc.addr || ok != tc.ok {
			t.Errorf("Address(%q) = %#x %v, want %#x %v", tc.name, a, ok, tc.addr, tc.ok)
		}
	}
}

// modMemKinds names enum mod_mem_type (include/linux/module.h).
var modMemKinds = []string{"text", "data", "rodata", "ro_after_init", "init_text", "init_data", "init_rodata"}

func parseHex(t testing.TB, v any) uint64 {
	t.Helper()
	s, _ := v.(string)
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatalf("bad hex %v", v)
	}
	return n
}

// truthModuleKallsyms parses guest.blocks["module kallsyms"]: "ADDR TYPE
// NAME\t[module]".
func truthModuleKallsyms(t testing.TB, tr testcorpus.Truth) map[string][]Symbol {
	t.Helper()
	g, _ := tr["guest"].(map[string]any)
	b, _ := g["blocks"].(map[string]any)
	lines, _ := b["module kallsyms"].([]any)
	if len(lines) == 0 {
		t.Fatal(`truth.json has no guest.blocks["module kallsyms"]`)
	}
	out := map[string][]Symbol{}
	for _, l := range lines {
		s := l.(string)
		left, mod, ok := strings.Cut(s, "\t")
		fs := strings.Fields(left)
		if !ok || len(fs) != 3 || len(fs[1]) != 1 {
			t.Fatalf("bad module kallsyms line %q", s)
		}
		a, err := strconv.ParseUint(fs[0], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		mod = strings.Trim(mod, "[]")
		out[mod] = append(out[mod], Symbol{Name: fs[2], Addr: a, Kind: fs[1][0], Module: mod})
	}
	return out
}

// TruthLayouts builds ModuleLayouts from truth.json alone (sections from
// mod->sect_attrs, regions from mod->mem[], symbols from /proc/kallsyms
// without sizes).
func truthLayouts(t testing.TB, tr testcorpus.Truth, withStubsSize bool) []ModuleLayout {
	t.Helper()
	ks := truthModuleKallsyms(t, tr)
	var out []ModuleLayout
	for _, m := range tr.DumpModules() {
		name := m["name"].(string)
		l := ModuleLayout{Name: name, Sections: map[string]uint64{}, SectionSizes: map[string]uint64{}, Syms: NewTable(ks[name])}
		for k, v := range m["sections"].(map[string]any) {
			l.Sections[k] = parseHex(t, v)
		}
		for _, mm := range m["mem"].([]any) {
			mem := mm.(map[string]any)
			typ := int(mem["type"].(float64))
			size := uint64(mem["size"].(float64))
			if size > 0 && typ < len(modMemKinds) {
				l.Regions = append(l.Regions, Region{Start: parseHex(t, mem["base"]), Size: size, Kind: modMemKinds[typ]})
			}
		}
		if withStubsSize {
			sz := m["stubs_size_from_ko"].(map[string]any)
			l.SectionSizes[".stubs"] = uint64(sz["size"].(float64))
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		t.Fatal("truth.json has no dump.modules")
	}
	return out
}

// TestCorpusResolverSections: for every module of truth.json and every
// section of its sect_attrs, Lookup names that module and section; every
// word of .stubs resolves to MODULE:.stubs+0xOFF and never to a function.
func TestCorpusResolverSections(t *testing.T) {
	for _, dirName := range testcorpus.Dirs {
		for _, withSize := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/stubs-size-%v", dirName, withSize), func(t *testing.T) {
				tr := testcorpus.LoadTruth(t, testcorpus.Dir(t, dirName))
				r := NewResolver()
				sm := readSystemMap(t, filepath.Join(testcorpus.Require(t), "kernels", "7.2.13-fixed", "System.map"))
				var vs []Symbol
				for _, e := range sm {
					vs = append(vs, Symbol{Name: e.name, Addr: e.addr, Kind: e.kind})
				}
				r.SetVmlinux(NewTable(vs))
				layouts := truthLayouts(t, tr, withSize)
				for _, l := range layouts {
					r.AddModule(l)
				}
				for _, l := range layouts {
					// Sections sharing a start address: either name is right.
					byAddr := map[uint64][]string{}
					for n, a := range l.Sections {
						byAddr[a] = append(byAddr[a], n)
					}
					stale := 0
					for n, a := range l.Sections {
						if !inRegions(l.Regions, a) {
							// .symtab/.strtab/init sections: load-time
							// addresses in freed init memory.
							stale++
							if n != ".symtab" && n != ".strtab" && !strings.HasPrefix(n, ".init") {
								t.Errorf("%s: section %s at %#x outside the module's regions", l.Name, n, a)
							}
							continue
						}
						loc := r.Lookup(a)
						if loc.Module != l.Name {
							t.Errorf("%s %s at %#x: Lookup = %v (module %q)", l.Name, n, a, loc, loc.Module)
							continue
						}
						names := byAddr[a]
						sort.Strings(names)
						okName := false
						for _, c := range names {
							okName = okName || loc.Section == c
						}
						if !okName {
							t.Errorf("%s %s at %#x: Lookup section %q, want one of %v", l.Name, n, a, loc.Section, names)
						}
					}
					stubs, ok := l.Sections[".stubs"]
					if !ok {
						t.Errorf("%s: no .stubs section in truth", l.Name)
						continue
					}
					if got, want := r.Lookup(stubs).String(), l.Name+":.stubs+0x0"; got != want {
						t.Errorf("Lookup(.stubs %#x) = %q, want %q", stubs, got, want)
					}
					size := l.SectionSizes[".stubs"]
					if size == 0 {
						size = 0x28 * 2 // at least the first two 40-byte slots
					}
					for off := uint64(0); off < size; off += 4 {
						loc := r.Lookup(stubs + off)
						if loc.Symbol != nil || loc.Section != ".stubs" || loc.SectionOff != off || loc.Module != l.Name {
							t.Errorf("Lookup(%s .stubs+%#x) = %v, want %s:.stubs+%#x", l.Name, off, loc, l.Name, off)
							break
						}
					}
				}
				// vmlinux addresses stay vmlinux.
				if a, ok := r.Address("ftrace_caller"); !ok || r.Lookup(a+8).String() != "ftrace_caller+0x8" {
					t.Errorf("Lookup(ftrace_caller+8) = %v", r.Lookup(a+8))
				}
			})
		}
	}
}

// TestKallsymsAliasAndGap: where the kernel's kallsyms lookups and the
// ELF-side preference differ. find_kallsyms_symbol()
// (kernel/module/kallsyms.c) takes the first symbol-table entry at the
// best address, so a module's static init function listed before the
// global init_module alias is the name /proc and ftrace print; and
// kallsyms has no sizes, so an address past a sized symbol's end is named
// after it (the guest printed a record 0x10 past a 0xc-byte
// sys_ni_syscall as sys_ni_syscall+0x10 — bench/distro-dump).
func TestKallsymsAliasAndGap(t *testing.T) {
	syms := []Symbol{
		{Name: "tcp_vegas_register", Addr: 0x1000, Size: 0x60, Kind: 't'},
		{Name: "init_module", Addr: 0x1000, Size: 0x60, Kind: 'T'},
		{Name: "sys_ni_syscall", Addr: 0x2000, Size: 0xc, Kind: 'T'},
		// COND_SYSCALL's weak alias: by name alone it would win.
		{Name: "compat_sys_epoll_pwait", Addr: 0x2000, Size: 0xc, Kind: 'W'},
		{Name: "next_fn", Addr: 0x2020, Size: 0x40, Kind: 'T'},
		// Fewer leading underscores first, as scripts/kallsyms.c sorts.
		{Name: "__do_thing", Addr: 0x3000, Size: 0x10, Kind: 'T'},
		{Name: "do_thing", Addr: 0x3000, Size: 0x10, Kind: 'T'},
	}
	if s, _, ok := NewKallsymsTable(syms).ByAddr(0x1008); !ok || s.Name != "tcp_vegas_register" {
		t.Errorf("kallsyms table: %s, want the first in table order", s.Name)
	}
	if s, _, ok := NewTable(syms).ByAddr(0x1008); !ok || s.Name != "init_module" {
		t.Errorf("ELF table: %s, want the global alias", s.Name)
	}
	tab := NewTable(syms)
	if _, _, ok := tab.ByAddr(0x2010); ok {
		t.Error("ByAddr names an address past a sized symbol's end")
	}
	if s, _, ok := tab.ByAddr(0x2004); !ok || s.Name != "sys_ni_syscall" {
		t.Errorf("ByAddr(0x2004) = %s: the weak alias won", s.Name)
	}
	if s, _, ok := tab.ByAddr(0x3000); !ok || s.Name != "do_thing" {
		t.Errorf("ByAddr(0x3000) = %s, want do_thing", s.Name)
	}
	if s, off, ok := tab.Nearest(0x2010); !ok || s.Name != "sys_ni_syscall" || off != 0x10 {
		t.Errorf("Nearest(0x2010) = %s+%#x, %v; want sys_ni_syscall+0x10", s.Name, off, ok)
	}
	r := NewResolver()
	r.SetVmlinux(tab)
	if l := r.LookupKallsyms(0x2010); l.String() != "sys_ni_syscall+0x10" {
		t.Errorf("LookupKallsyms = %s", l)
	}
	if l := r.Lookup(0x2010); l.Symbol != nil {
		t.Errorf("Lookup = %s, want no symbol", l)
	}
}
