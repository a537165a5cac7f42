package kernel

import (
	"debug/dwarf"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/dwarftest"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// koStruct is a struct type as a module's DWARF defines it.
type koStruct struct {
	size    int64
	members []koMember
}

type koMember struct {
	name string
	off  int64 // byte offset, or bit offset from the struct's start for a bitfield
	bits int64 // a bitfield's width, 0 for other members
}

// koStructs reads the named struct definitions of a debug .ko's DWARF
// (the -dbg package's, the compiler's record), straight from
// debug/dwarf's entries: name -> size and named members' offsets. A name
// defined twice with different layouts is dropped (two units may differ).
func koStructs(t *testing.T, path string) map[string]koStruct {
	d := testcorpus.ELFDWARF(t, path)
	out, bad := map[string]koStruct{}, map[string]bool{}
	r := d.Reader()
	for e := range dwarftest.Entries(t, r) {
		if e.Tag != dwarf.TagStructType {
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		size, hasSize := e.Val(dwarf.AttrByteSize).(int64)
		if decl, _ := e.Val(dwarf.AttrDeclaration).(bool); name == "" || decl || !hasSize || !e.Children {
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		s := koStruct{size: size}
		for {
			c, err := r.Next()
			if err != nil || c == nil || c.Tag == 0 {
				break
			}
			if c.Tag == dwarf.TagMember {
				mn, _ := c.Val(dwarf.AttrName).(string)
				m := koMember{name: mn}
				m.bits, _ = c.Val(dwarf.AttrBitSize).(int64)
				if m.bits > 0 {
					// DWARF 5 (gcc 11+): DW_AT_data_bit_offset from the
					// struct's start.
					if bo, ok := c.Val(dwarf.AttrDataBitOffset).(int64); ok {
						m.off = bo
					} else {
						m.name = "" // the DWARF 2 form: not compared
					}
				} else if v, ok := c.Val(dwarf.AttrDataMemberLoc).(int64); ok {
					m.off = v
				}
				if m.name != "" {
					s.members = append(s.members, m)
				}
			}
			if c.Children {
				r.SkipChildren()
			}
		}
		if prev, ok := out[name]; ok && (prev.size != s.size || len(prev.members) != len(s.members)) {
			bad[name] = true
		}
		out[name] = s
	}
	for n := range bad {
		delete(out, n)
	}
	return out
}

// moduleTypeDumps are the dumps with the debug .ko of their modules at
// hand: bench/distro-dump's 7.2.13 one and Debian 13's 6.12 ones of
// ../corpora/ppc64-distro (testcorpus.CorporaDir).
func moduleTypeDumps() map[string]string {
	out := map[string]string{}
	out["7.2.13"] = testcorpus.DistroDump()
	root, _ := testcorpus.CorporaDir("ppc64-distro")
	m, _ := filepath.Glob(filepath.Join(root, "deb13-*"))
	for _, x := range m {
		out[filepath.Base(x)] = x
	}
	for n, x := range out {
		st, err := os.Stat(filepath.Join(x, "vmcore.elf"))
		kos, _ := filepath.Glob(filepath.Join(x, "modules-dbg", "*.ko"))
		if err != nil || st.Size() == 0 || len(kos) == 0 {
			delete(out, n)
		}
	}
	return out
}

// TestModuleTypesFromMemory opens real distro dumps with nothing beside
// them (no vmlinux, no .ko: Options.DumpOnly) and looks up every struct
// that a loaded module's debug .ko defines in its DWARF (the -dbg
// package: ground truth the tool did not make) and the vmlinux's types
// lack: each must come from that module's BTF in memory (LookupType,
// btf_modules) with the DWARF's size and member offsets.
func TestModuleTypesFromMemory(t *testing.T) {
	dumps := moduleTypeDumps()
	if len(dumps) == 0 {
		t.Skip("no distro dump with modules-dbg/ (bench/distro-dump/make.sh, old-kernels.sh)")
	}
	for name, dir := range dumps {
		t.Run(name, func(t *testing.T) {
			p, err := Open([]string{filepath.Join(dir, "vmcore.elf")}, Options{DumpOnly: true, CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if !p.NoVmlinux() {
				t.Fatal("opened with a vmlinux")
			}
			m, err := p.ModuleBTF()
			if err != nil {
				t.Fatal(err)
			}
			loaded := map[string]bool{}
			for _, mb := range m.Modules {
				if mb.Err != nil {
					t.Errorf("%s: %v", mb.Name, mb.Err)
				}
				loaded[mb.Name] = true
			}
			kos, _ := filepath.Glob(filepath.Join(dir, "modules-dbg", "*.ko"))
			sort.Strings(kos)
			total := 0
			for _, ko := range kos {
				mod := strings.ReplaceAll(strings.TrimSuffix(filepath.Base(ko), ".ko"), "-", "_")
				if !loaded[mod] {
					continue
				}
				own, members, bitfields := 0, 0, 0
				for sname, want := range koStructs(t, ko) {
					if _, err := p.Types.Lookup("struct " + sname); err == nil {
						continue // the kernel's type (held against DWARF in package symbols)
					}
					ty, ts, from, err := p.LookupType("struct " + sname)
					if err != nil {
						t.Errorf("%s: struct %s (in its DWARF): %v", mod, sname, err)
						continue
					}
					if from != mod {
						// Two modules may define the same name; the first on
						// btf_modules answers. Only count the module's own.
						continue
					}
					full := ts.Complete(ty)
					if got := full.Size(); got != want.size {
						t.Errorf("%s: sizeof(struct %s) = %d from memory BTF, %d in DWARF", mod, sname, got, want.size)
					}
					st, _ := full.(*ctype.StructType)
					for _, mm := range want.members {
						if mm.bits > 0 {
							var f *ctype.StructField
							for _, x := range st.Field {
								if x.Name == mm.name {
									f = x
								}
							}
							if f == nil || f.BitSize != mm.bits || f.ByteOffset*8+f.DataBitOffset != mm.off {
								t.Errorf("%s: struct %s bitfield %s: %+v from memory BTF, %d bits at bit %d in DWARF", mod, sname, mm.name, f, mm.bits, mm.off)
							}
							members++
							bitfields++
							continue
						}
						off, err := ts.Offsetof("struct "+sname, mm.name)
						if err != nil || off != mm.off {
							t.Errorf("%s: offsetof(struct %s, %s) = %d (%v) from memory BTF, %d in DWARF", mod, sname, mm.name, off, err, mm.off)
						}
						members++
					}
					own++
				}
				t.Logf("%s: %d of its own structs (%d members, %d bitfields) typed from the BTF in memory as its DWARF has them", mod, own, members, bitfields)
				total += own
			}
			if total == 0 {
				t.Error("no module's own struct compared")
			}
		})
	}
}
