package kernel

// BTF read from the dump's own memory (issue 20): types for a kernel
// whose vmlinux and modules are nowhere at hand, as long as it was built
// with CONFIG_DEBUG_INFO_BTF (Debian's, Fedora's, Ubuntu's kernels are).
//
// The vmlinux BTF is the .BTF section, SHF_ALLOC read-only data that the
// kernel parses in place (btf_parse_vmlinux) and exports as
// /sys/kernel/btf/vmlinux: the bytes between the symbols __start_BTF and
// __stop_BTF, which kallsyms keeps. A loaded module's BTF is not at
// mod->btf_data — the loader frees that copy and clears the pointer once
// the module is live (kernel/module/main.c free_mod_mem/do_init_module,
// leaving btf_data_size) — but in the struct btf that btf_module_notify()
// (kernel/bpf/btf.c, CONFIG_DEBUG_INFO_BTF_MODULES) made at
// MODULE_STATE_COMING and put on the btf_modules list: struct btf_module
// {list, module, btf, sysfs_attr, flags} -> struct btf {data, ...,
// data_size, ..., name}. btf->data is a copy of the module's .BTF, split
// BTF over the vmlinux's; for a module built with a distilled base
// (.BTF.base), btf_relocate() has already rewritten its type IDs and
// string offsets to the running vmlinux's, so it is split over the
// vmlinux BTF all the same.
//
// The layout of struct btf_module and struct btf is not assumed: it comes
// from the vmlinux BTF just read (both are in it, as every struct of the
// kernel is), so no DWARF is needed at any step. Everything read is
// bounded; a module whose BTF cannot be read or parsed is reported in its
// ModuleBTF and the walk goes on.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// ErrNoMemoryBTF says the kernel carries no BTF: it has no __start_BTF
// symbol (CONFIG_DEBUG_INFO_BTF is off, as in the corpus kernels).
var ErrNoMemoryBTF = errors.New("the kernel has no BTF (no __start_BTF symbol: built without CONFIG_DEBUG_INFO_BTF)")

// ErrNoBTFModules says the kernel keeps no module BTF: it has no
// btf_modules symbol (CONFIG_DEBUG_INFO_BTF_MODULES is off).
var ErrNoBTFModules = errors.New("the kernel keeps no module BTF (no btf_modules symbol: built without CONFIG_DEBUG_INFO_BTF_MODULES)")

const (
	// maxMemoryBTF bounds the vmlinux BTF read from memory (a distro
	// kernel's is ~5 MB).
	maxMemoryBTF = 256 << 20
	// maxModuleBTF bounds one module's btf->data_size.
	maxModuleBTF = 64 << 20
	// maxBTFModules caps the btf_modules walk.
	maxBTFModules = 1 << 16
	// moduleNameLen is MODULE_NAME_LEN (the size of btf->name).
	moduleNameLen = 56
)

// MemoryBTF is the BTF a dump's memory holds.
type MemoryBTF struct {
	// Vmlinux are the types of the vmlinux BTF.
	Vmlinux *symbols.Types
	// Start is __start_BTF, Size __stop_BTF - __start_BTF.
	Start, Size uint64
	// Modules are the loaded modules' BTF in btf_modules order (the most
	// recently loaded first: btf_module_notify adds at the head).
	Modules []ModuleBTF
	// ModulesErr says why the btf_modules walk did not reach the end of
	// the list (ErrNoBTFModules when the kernel has none), nil when it
	// did.
	ModulesErr error
}

// ModuleBTF is one loaded module's BTF.
type ModuleBTF struct {
	Name   string // btf->name, the module's name
	Entry  uint64 // the struct btf_module
	Module uint64 // btf_module->module, the struct module
	BTF    uint64 // btf_module->btf, the struct btf
	Data   uint64 // btf->data
	Size   uint64 // btf->data_size
	// Types are the module's own types over the vmlinux's (nil when Err
	// is set).
	Types *symbols.Types
	// Err says why the module's BTF could not be read or parsed.
	Err error
}

// Module returns the BTF of the loaded module named name, nil when the
// list has none.
func (m *MemoryBTF) Module(name string) *ModuleBTF {
	for i := range m.Modules {
		if m.Modules[i].Name == name {
			return &m.Modules[i]
		}
	}
	return nil
}

// MemoryBTFError is a failure to read BTF from memory, with the address
// it is about.
type MemoryBTFError struct {
	What string // "vmlinux BTF", "struct btf_module", ...
	Addr uint64
	Err  error
}

func (e *MemoryBTFError) Error() string {
	return fmt.Sprintf("%s at %#x: %v", e.What, e.Addr, e.Err)
}

func (e *MemoryBTFError) Unwrap() error { return e.Err }

// ReadMemoryBTF reads the vmlinux BTF and every loaded module's from
// kernel memory, locating them through sym (kallsyms or the vmlinux's
// symbol table: __start_BTF, __stop_BTF, btf_modules). order is the
// kernel's byte order (the BTF says its own; the list pointers are the
// kernel's). An error means no vmlinux BTF; module failures are in
// MemoryBTF.ModulesErr and each ModuleBTF.Err.
func ReadMemoryBTF(mem Reader, order binary.ByteOrder, sym func(name string) (uint64, error)) (*MemoryBTF, error) {
	m, err := readVmlinuxMemoryBTF(mem, sym)
	if err != nil {
		return nil, err
	}
	head, err := sym("btf_modules")
	if err != nil {
		m.ModulesErr = ErrNoBTFModules
		return m, nil
	}
	vt := m.Vmlinux
	m.Modules, m.ModulesErr = readBTFModules(&Context{Mem: mem, Order: order, Types: vt, PtrSize: vt.PtrSize, MaxList: maxBTFModules}, head, vt)
	return m, nil
}

// readVmlinuxMemoryBTF reads the vmlinux BTF alone (MemoryBTF.Modules
// left empty).
func readVmlinuxMemoryBTF(mem Reader, sym func(name string) (uint64, error)) (*MemoryBTF, error) {
	return readVmlinuxMemoryBTFWith(mem, sym, readBounded)
}

// readVmlinuxMemoryBTFWith is readVmlinuxMemoryBTF with the BTF's bytes
// read by read (btfCached: through the start-up cache).
func readVmlinuxMemoryBTFWith(mem Reader, sym func(name string) (uint64, error), read func(Reader, uint64, uint64) ([]byte, error)) (*MemoryBTF, error) {
	start, err1 := sym("__start_BTF")
	stop, err2 := sym("__stop_BTF")
	if err1 != nil || err2 != nil {
		return nil, ErrNoMemoryBTF
	}
	if stop <= start || stop-start > maxMemoryBTF {
		return nil, &MemoryBTFError{What: "vmlinux BTF", Addr: start, Err: fmt.Errorf("__stop_BTF %#x gives %d bytes (limit %d)", stop, int64(stop-start), maxMemoryBTF)}
	}
	data, err := read(mem, start, stop-start)
	if err != nil {
		return nil, &MemoryBTFError{What: "vmlinux BTF", Addr: start, Err: err}
	}
	vt, err := symbols.LoadBTFTypes(data)
	if err != nil {
		return nil, &MemoryBTFError{What: "vmlinux BTF", Addr: start, Err: err}
	}
	return &MemoryBTF{Vmlinux: vt, Start: start, Size: stop - start}, nil
}

// MemoryBTF reads the BTF in p's memory (ReadMemoryBTF), locating it
// through the vmlinux's symbols.
func (p *Program) MemoryBTF() (*MemoryBTF, error) {
	return ReadMemoryBTF(p.Context.Mem, p.Order, p.SymbolAddr)
}

// readBTFModules walks btf_modules (list_for_each_entry(btf_mod,
// &btf_modules, list)), the layouts from the vmlinux BTF.
func readBTFModules(ctx *Context, head uint64, vt *symbols.Types) ([]ModuleBTF, error) {
	for _, need := range [][2]string{{"struct btf_module", "list"}, {"struct btf_module", "module"}, {"struct btf_module", "btf"},
		{"struct btf", "data"}, {"struct btf", "data_size"}, {"struct btf", "name"}} {
		if _, err := vt.Offsetof(need[0], need[1]); err != nil {
			return nil, &MemoryBTFError{What: "btf_modules", Addr: head, Err: fmt.Errorf("the vmlinux BTF does not describe %s.%s: %w", need[0], need[1], err)}
		}
	}
	var mods []ModuleBTF
	for e, err := range ListForEachEntry(ctx, head, "struct btf_module", "list") {
		if err != nil {
			return mods, &MemoryBTFError{What: "btf_modules", Addr: head, Err: err}
		}
		mods = append(mods, readModuleBTF(ctx, e, vt))
	}
	return mods, nil
}

// readModuleBTF reads one struct btf_module and the BTF of its struct btf.
func readModuleBTF(ctx *Context, e Object, vt *symbols.Types) ModuleBTF {
	m := ModuleBTF{Entry: e.Addr}
	fail := func(what string, addr uint64, err error) ModuleBTF {
		m.Err = &MemoryBTFError{What: what, Addr: addr, Err: err}
		return m
	}
	var err error
	if m.Module, err = memberPointer(e, "module"); err != nil {
		return fail("struct btf_module", e.Addr, err)
	}
	if m.BTF, err = memberPointer(e, "btf"); err != nil {
		return fail("struct btf_module", e.Addr, err)
	}
	if m.BTF == 0 {
		return fail("struct btf_module", e.Addr, errors.New("btf is NULL"))
	}
	b, err := NewObject(ctx, "struct btf", m.BTF)
	if err != nil {
		return fail("struct btf", m.BTF, err)
	}
	if name, err := b.Member("name"); err == nil {
		m.Name, _ = name.CString(moduleNameLen)
	}
	if m.Data, err = memberPointer(b, "data"); err != nil {
		return fail("struct btf", m.BTF, err)
	}
	size, err := b.Member("data_size")
	if err == nil {
		m.Size, err = size.Uint()
	}
	if err != nil {
		return fail("struct btf", m.BTF, err)
	}
	if m.Data == 0 || m.Size == 0 || m.Size > maxModuleBTF {
		return fail("struct btf", m.BTF, fmt.Errorf("data %#x, data_size %d (limit %d)", m.Data, m.Size, maxModuleBTF))
	}
	data, err := readBounded(ctx.Mem, m.Data, m.Size)
	if err != nil {
		return fail("module BTF", m.Data, err)
	}
	if m.Types, err = symbols.LoadSplitBTFTypes(vt, data); err != nil {
		return fail("module BTF", m.Data, err)
	}
	return m
}

func memberPointer(o Object, name string) (uint64, error) {
	f, err := o.Member(name)
	if err != nil {
		return 0, err
	}
	return f.Pointer()
}

// readBounded reads n bytes at addr, growing the buffer past its first
// 16 MiB as the bytes are read (a corrupt size costs what memory holds,
// not what it claims). A vmlinux's BTF (~5 MB) is read into one buffer
// sized up front: growing it 1 MiB at a time copied it over and over
// (~10 ms of a dump-only start-up).
func readBounded(mem Reader, addr, n uint64) ([]byte, error) {
	const chunk = 1 << 20
	b := make([]byte, 0, min(n, 16*chunk))
	for off := uint64(0); off < n; off += chunk {
		k := min(chunk, n-off)
		b = slices.Grow(b, int(k))[:off+k]
		if err := dump.ReadFull(mem, b[off:], addr+off); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// KnownVariableTypes are the declared types of the kernel variables the
// tool reads, as the kernel source declares them, for Types that have no
// type for a variable: BTF has VAR records for per-CPU variables only. An
// array's length may be a number, an enumeration constant of the kernel
// ("[NR_VM_NODE_STAT_ITEMS]"), or empty: then it is the symbol's size
// over the element's when the symbol has a size (an ELF symbol table),
// else unknown (kallsyms), for arrays the tool only indexes within
// bounds it knows otherwise (nr_cpu_ids). A declaration is used only
// when its type resolves and, when the symbol has a size, has that size
// (knownDecls).
var KnownVariableTypes = map[string]string{
	"paca_ptrs":                 "struct paca_struct **",                 // arch/powerpc/include/asm/paca.h
	"prb":                       "struct printk_ringbuffer *",            // kernel/printk/printk.c
	"init_uts_ns":               "struct uts_namespace",                  // include/linux/utsname.h
	"init_task":                 "struct task_struct",                    // include/linux/sched/task.h
	"nr_cpu_ids":                "unsigned int",                          // include/linux/cpumask.h
	"nr_node_ids":               "unsigned int",                          // include/linux/nodemask.h
	"__num_online_cpus":         "atomic_t",                              // include/linux/cpumask.h
	"_totalram_pages":           "atomic_long_t",                         // include/linux/mm.h
	"avenrun":                   "unsigned long [3]",                     // kernel/sched/loadavg.c
	"vmemmap":                   "struct page *",                         // arch/powerpc/include/asm/book3s/64/pgtable.h
	"cur_cpu_spec":              "struct cpu_spec *",                     // arch/powerpc/include/asm/cputable.h
	"modules":                   "struct list_head",                      // kernel/module/main.c
	"klp_patches":               "struct list_head",                      // kernel/livepatch/core.c
	"btf_modules":               "struct list_head",                      // kernel/bpf/btf.c
	"ftrace_pages_start":        "struct ftrace_page *",                  // kernel/trace/ftrace.c
	"jiffies":                   "unsigned long",                         // include/linux/jiffies.h (volatile)
	"global_trace":              "struct trace_array",                    // kernel/trace/trace.c
	"kprobe_table":              "struct hlist_head [64]",                // kernel/kprobes.c: KPROBE_TABLE_SIZE, 1 << KPROBE_HASH_BITS (6)
	"powerpc_firmware_features": "unsigned long",                         // arch/powerpc/include/asm/firmware.h
	"boot_cpu_data":             "struct cpuinfo_x86",                    // arch/x86/include/asm/processor.h
	"total_swap_pages":          "long",                                  // include/linux/swap.h
	"nr_swap_pages":             "atomic_long_t",                         // include/linux/swap.h
	"vm_committed_as":           "struct percpu_counter",                 // include/linux/mman.h
	"vm_node_stat":              "atomic_long_t [NR_VM_NODE_STAT_ITEMS]", // include/linux/vmstat.h
	"vm_zone_stat":              "atomic_long_t [NR_VM_ZONE_STAT_ITEMS]", // include/linux/vmstat.h
	"__per_cpu_offset":          "unsigned long []",                      // include/asm-generic/percpu.h: [NR_CPUS]
	"taint_flags":               "struct taint_flag []",                  // include/linux/panic.h: [TAINT_FLAGS_COUNT]
}

// declaredType types a variable from its KnownVariableTypes declaration,
// size its symbol's size (0: unknown); ok false when the declaration does
// not resolve in ts or does not have that size.
func declaredType(ts *symbols.Types, decl string, size uint64) (ctype.Type, bool) {
	var ty ctype.Type
	if i := strings.LastIndexByte(decl, '['); i > 0 && strings.HasSuffix(decl, "]") {
		n := strings.TrimSpace(decl[i+1 : len(decl)-1])
		elem, err := ts.Lookup(strings.TrimSpace(decl[:i]))
		if err != nil {
			return nil, false
		}
		es := ts.Complete(elem).Size()
		if es <= 0 {
			return nil, false
		}
		count := int64(-1)
		switch c, err := symbols.ParseIndex(n, ts.EnumConstant); {
		case n == "" && size > 0:
			if size%uint64(es) != 0 {
				return nil, false
			}
			count = int64(size / uint64(es))
		case n == "":
		case err != nil || c < 0:
			return nil, false
		default:
			count = c
		}
		ty = &ctype.ArrayType{CommonType: ctype.CommonType{ByteSize: max(count, 0) * es}, Type: elem, Count: count}
	} else {
		var err error
		if ty, err = ts.Lookup(decl); err != nil {
			return nil, false
		}
	}
	if size > 0 && ts.Complete(ty).Size() != int64(size) {
		return nil, false
	}
	return ty, true
}

// VariableFallback is a TypeSource over Types (BTF-backed ones) whose
// VariableType answers, for a variable the BTF does not describe
// (symbols.ErrNotInBTF), with the type KnownVariableTypes names, looked
// up in the same Types. Program.Variable uses Context.Types'
// VariableType when it has one, so setting Context.Types to a
// VariableFallback types the variables the views read.
type VariableFallback struct{ *symbols.Types }

// VariableType is Types.VariableType with the fallback.
func (v VariableFallback) VariableType(name string) (ctype.Type, error) {
	t, err := v.Types.VariableType(name)
	if err == nil || !errors.Is(err, symbols.ErrNotInBTF) {
		return t, err
	}
	decl, ok := KnownVariableTypes[name]
	if !ok {
		return nil, err
	}
	ty, ok := declaredType(v.Types, decl, 0)
	if !ok {
		return nil, err
	}
	return ty, nil
}
