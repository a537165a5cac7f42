package symbols

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// btfJobTypes are the types the jobs read (grep the repository for
// Offsetof, Member, Lookup, Sizeof, NewObject and Variable), compared
// member by member between BTF and DWARF; absent ones (module_layout on
// a kernel with module_memory) are skipped.
var btfJobTypes = []string{
	// modules
	"struct module", "struct mod_arch_specific", "struct module_memory", "struct module_layout",
	"enum mod_mem_type", "enum module_state", "struct mod_kallsyms", "struct module_kobject",
	"struct module_sect_attrs", "struct module_sect_attr", "struct bin_attribute", "struct attribute",
	"struct kernel_symbol", "struct ppc64_stub_entry", "struct ftrace_ool_stub", "struct klp_modinfo",
	"struct elf64_sym", "struct elf64_shdr", "struct kobject",
	// ftrace and livepatch
	"struct dyn_ftrace", "struct dyn_arch_ftrace", "struct ftrace_page", "struct ftrace_ops",
	"struct ftrace_ops_hash", "struct ftrace_hash", "struct ftrace_func_entry",
	"struct klp_patch", "struct klp_object", "struct klp_func", "struct klp_state", "struct klp_ops",
	// lists
	"struct list_head", "struct hlist_head", "struct hlist_node",
	// tasks, stacks, CPUs
	"struct task_struct", "struct thread_struct", "struct thread_info", "struct pt_regs",
	"struct paca_struct", "struct signal_struct", "struct mm_struct", "struct cpu_spec",
	"struct mmu_psize_def", "struct inactive_task_frame", "struct rq", "struct pcpu_hot",
	// x86 text patching
	"struct smp_text_poke_array", "struct smp_text_poke_loc",
	// log, system summary
	"struct printk_ringbuffer", "struct prb_desc_ring", "struct prb_data_ring", "struct prb_desc",
	"struct printk_info", "struct dev_printk_info", "struct uts_namespace", "struct new_utsname",
	// memory
	"struct vmap_area", "struct vm_struct", "struct vmap_node", "struct page", "struct slab",
	"struct kmem_cache", "enum pageflags", "enum pagetype",
	// the ftrace ring buffer (package tracebuf)
	"struct trace_array", "struct trace_buffer", "struct ring_buffer_per_cpu", "struct buffer_page",
	"struct buffer_data_page", "struct trace_entry", "struct ftrace_entry", "struct print_entry",
	"struct bprint_entry", "struct ftrace_graph_ent_entry", "struct ftrace_graph_ret_entry",
	"struct trace_event_call", "struct tracer",
	// text integrity (package textcheck): jump labels, kprobes
	"struct jump_entry", "struct static_key", "struct kprobe",
	// BTF in memory (kernel/btf.go)
	"struct btf_module", "struct btf", "struct btf_header",
	// scalars the views read through typedefs
	"atomic_t", "atomic_long_t", "u64", "unsigned long",
}

// btfDistroVmlinux is the Debian distro vmlinux that
// ../shared/tools/fetch-distro-vmlinux fetches ($KDUMP_INSPECT_DISTRO_VMLINUX,
// else the first vmlinux-* in the tool's default directory); tb skips
// without one.
func btfDistroVmlinux(tb testing.TB) string {
	tb.Helper()
	p, ok := testcorpus.DistroVmlinux()
	if !ok {
		tb.Skip("no distro vmlinux with .BTF and DWARF: run ../shared/tools/fetch-distro-vmlinux (1 GB download) or set KDUMP_INSPECT_DISTRO_VMLINUX")
	}
	return p
}

// typeDiff is one difference between the BTF and the DWARF decoding of a
// type: where, what, and (when it is a known difference of the formats)
// why.
type typeDiff struct {
	Path, What, Why string
}

// btfComparer holds BTF types (a) against DWARF types (b) of the same
// kernel: kinds, names, sizes, members (names, offsets and bit positions
// as Fields normalises them, and the raw StructField shape), element
// counts, enumerators, prototypes, through by-value members fully and
// through pointers up to ptrHops pointers deep, each pair of nodes once.
type btfComparer struct {
	bt, dt    *Types
	order     binary.ByteOrder
	ptrHops   int
	seen      map[[2]ctype.Type]bool
	diffs     []typeDiff
	structs   int // struct/union pairs compared
	members   int
	bitfields int
	nodes     int
	explains  func(d typeDiff, a, b ctype.Type) string
}

// report fails t for each difference no known difference of the formats
// explains, and logs what was compared: n names (what they are), the
// structs, members and bitfields, and the explained differences.
func (c *btfComparer) report(t *testing.T, n int, what string) {
	t.Helper()
	for _, d := range c.diffs {
		if d.Why == "" {
			t.Errorf("%s: %s", d.Path, d.What)
		}
	}
	t.Logf("%d %s, %d structs/unions, %d members (%d bitfields), %d explained differences", n, what, c.structs, c.members, c.bitfields, len(c.diffs))
}

func (c *btfComparer) diff(path string, a, b ctype.Type, format string, args ...any) {
	d := typeDiff{Path: path, What: fmt.Sprintf(format, args...)}
	if c.explains != nil {
		d.Why = c.explains(d, a, b)
	}
	c.diffs = append(c.diffs, d)
}

// complete turns a declaration-shaped struct into its definition (BTF:
// the exact type behind a pointer's shell; DWARF: by name).
func complete(ts *Types, t ctype.Type) ctype.Type {
	if s, ok := t.(*ctype.StructType); ok && s.Incomplete {
		if def, ok := ts.Complete(s).(*ctype.StructType); ok && !def.Incomplete {
			return def
		}
	}
	return t
}

func (c *btfComparer) cmp(a, b ctype.Type, path string, hops int) {
	if a == nil || b == nil {
		if a != nil || b != nil {
			c.diff(path, a, b, "%v vs %v", a, b)
		}
		return
	}
	a, b = complete(c.bt, a), complete(c.dt, b)
	if c.seen[[2]ctype.Type{a, b}] {
		return
	}
	c.seen[[2]ctype.Type{a, b}] = true
	c.nodes++
	if ta, tb := fmt.Sprintf("%T", a), fmt.Sprintf("%T", b); ta != tb {
		c.diff(path, a, b, "kind %s %s vs %s %s", ta, TypeString(a), tb, TypeString(b))
		return
	}
	if a.Size() != b.Size() {
		c.diff(path, a, b, "size %d vs %d (%s)", a.Size(), b.Size(), TypeString(a))
	}
	if a.Common().Name != b.Common().Name {
		c.diff(path, a, b, "name %q vs %q", a.Common().Name, b.Common().Name)
	}
	switch x := a.(type) {
	case *ctype.StructType:
		y := b.(*ctype.StructType)
		if x.Kind != y.Kind || x.StructName != y.StructName || x.Incomplete != y.Incomplete {
			c.diff(path, a, b, "%s %q incomplete %v vs %s %q incomplete %v", x.Kind, x.StructName, x.Incomplete, y.Kind, y.StructName, y.Incomplete)
			return
		}
		c.structs++
		if len(x.Field) != len(y.Field) {
			c.diff(path, a, b, "%d members vs %d", len(x.Field), len(y.Field))
			return
		}
		fa, fb := Fields(x, c.order), Fields(y, c.order)
		for i, f := range fa {
			g := fb[i]
			c.members++
			if f.BitSize != 0 {
				c.bitfields++
			}
			p := path + "." + f.Name
			if f.Name == "" {
				p = fmt.Sprintf("%s.<anon %d>", path, i)
			}
			if f.Name != g.Name || f.BitOffset != g.BitOffset || f.BitSize != g.BitSize {
				c.diff(p, a, b, "member %q bit %d size %d vs %q bit %d size %d", f.Name, f.BitOffset, f.BitSize, g.Name, g.BitOffset, g.BitSize)
				continue
			}
			ra, rb := x.Field[i], y.Field[i]
			if ra.ByteOffset != rb.ByteOffset || ra.ByteSize != rb.ByteSize || ra.BitOffset != rb.BitOffset || ra.DataBitOffset != rb.DataBitOffset {
				c.diff(p, a, b, "raw member %+v vs %+v", *ra, *rb)
			}
			c.cmp(f.Type, g.Type, p, hops)
		}
	case *ctype.ArrayType:
		y := b.(*ctype.ArrayType)
		if inner, ok := y.Type.(*ctype.ArrayType); ok && x.Count != y.Count && x.Count == y.Count*inner.Count {
			// some pahole builds flatten T x[2][3] into T x[6].
			c.diff(path, a, b, "array [%d] vs [%d][%d] of %s", x.Count, y.Count, inner.Count, TypeString(x.Type))
			c.cmp(x.Type, inner.Type, path+"[]", hops)
			return
		}
		if x.Count != y.Count || x.StrideBitSize != y.StrideBitSize {
			c.diff(path, a, b, "array [%d] vs [%d] of %s", x.Count, y.Count, TypeString(x.Type))
		}
		c.cmp(x.Type, y.Type, path+"[]", hops)
	case *ctype.PtrType:
		y := b.(*ctype.PtrType)
		if TypeString(x.Type) != TypeString(y.Type) {
			c.diff(path, a, b, "pointer to %s vs %s", TypeString(x.Type), TypeString(y.Type))
			return
		}
		if hops < c.ptrHops {
			c.cmp(x.Type, y.Type, "(*"+path+")", hops+1)
		}
	case *ctype.TypedefType:
		c.cmp(x.Type, b.(*ctype.TypedefType).Type, path+"(typedef "+x.Name+")", hops)
	case *ctype.QualType:
		y := b.(*ctype.QualType)
		if x.Qual != y.Qual {
			c.diff(path, a, b, "qualifier %s vs %s", x.Qual, y.Qual)
		}
		c.cmp(x.Type, y.Type, path, hops)
	case *ctype.EnumType:
		y := b.(*ctype.EnumType)
		if x.EnumName != y.EnumName || len(x.Val) != len(y.Val) {
			c.diff(path, a, b, "enum %s (%d values) vs %s (%d)", x.EnumName, len(x.Val), y.EnumName, len(y.Val))
			return
		}
		for i, v := range x.Val {
			if *v != *y.Val[i] {
				c.diff(path, a, b, "enumerator %+v vs %+v", *v, *y.Val[i])
			}
		}
	case *ctype.FuncType:
		y := b.(*ctype.FuncType)
		if len(x.ParamType) != len(y.ParamType) {
			c.diff(path, a, b, "%d parameters vs %d", len(x.ParamType), len(y.ParamType))
			return
		}
		c.cmp(x.ReturnType, y.ReturnType, path+"()", hops)
		for i := range x.ParamType {
			c.cmp(x.ParamType[i], y.ParamType[i], fmt.Sprintf("%s(arg %d)", path, i), hops)
		}
	default:
		if a.String() != b.String() {
			c.diff(path, a, b, "%s vs %s", a, b)
		}
		ba, okA := a.(interface{ Basic() *ctype.BasicType })
		bb, okB := b.(interface{ Basic() *ctype.BasicType })
		if okA && okB && (ba.Basic().BitSize != bb.Basic().BitSize || ba.Basic().DataBitOffset != bb.Basic().DataBitOffset) {
			c.diff(path, a, b, "base type bits %d@%d vs %d@%d", ba.Basic().BitSize, ba.Basic().DataBitOffset, bb.Basic().BitSize, bb.Basic().DataBitOffset)
		}
	}
}

// btfDWARFVmlinuxes are the distro vmlinux files at hand that carry both
// .BTF and DWARF: the 7.2.13 one of ../shared/tools/fetch-distro-vmlinux
// and Debian 13's 6.12 (4K and 64K pages) of ../corpora/ppc64-distro
// (testcorpus.CorporaDir), by name.
func btfDWARFVmlinuxes() map[string]string {
	out := map[string]string{}
	if p, ok := testcorpus.DistroVmlinux(); ok {
		out[filepath.Base(p)] = p
	}
	dir, _ := testcorpus.CorporaDir("ppc64-distro")
	m, _ := filepath.Glob(filepath.Join(dir, "kernels", "*", "vmlinux"))
	for _, v := range m {
		f, err := OpenELF(v)
		if err != nil {
			continue
		}
		if _, ok := f.SectionByName(".BTF"); ok {
			out["vmlinux-"+filepath.Base(filepath.Dir(v))] = v
		}
		f.Close()
	}
	return out
}

// TestBTFMatchesDWARFDistro holds the .BTF of each distro vmlinux at hand
// (btfDWARFVmlinuxes: Debian's 7.2.13 and 6.12) against its DWARF on
// every type the jobs read (btfJobTypes, which TestJobTypesCovered keeps
// complete): each difference must be one the formats explain
// (btfExplain), and the jobs' own member paths, sizes and enumerators
// must be the same from both.
func TestBTFMatchesDWARFDistro(t *testing.T) {
	files := btfDWARFVmlinuxes()
	if len(files) == 0 {
		t.Skip("no distro vmlinux with .BTF and DWARF: run ../shared/tools/fetch-distro-vmlinux (1 GB download), set KDUMP_INSPECT_DISTRO_VMLINUX, or make ../corpora/ppc64-distro")
	}
	for name, path := range files {
		t.Run(name, func(t *testing.T) { btfMatchesDWARF(t, path) })
	}
}

func btfMatchesDWARF(t *testing.T, path string) {
	f, err := OpenELF(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bt, err := LoadELFBTFTypes(f)
	if err != nil {
		t.Fatal(err)
	}
	dt, err := LoadELFTypes(f, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	hops := 1
	if testing.Short() {
		hops = 0
	}
	if h := os.Getenv("BTF_COMPARE_HOPS"); h != "" {
		fmt.Sscan(h, &hops)
	}
	c := &btfComparer{bt: bt, dt: dt, order: f.ByteOrder, ptrHops: hops, seen: map[[2]ctype.Type]bool{}, explains: btfExplain}
	compared := 0
	for _, name := range btfJobTypes {
		a, errA := bt.Lookup(name)
		b, errB := dt.Lookup(name)
		if errA != nil || errB != nil {
			if (errA == nil) != (errB == nil) {
				t.Errorf("%s: BTF %v, DWARF %v", name, errA, errB)
			} else {
				t.Logf("%s: in neither (BTF: %v)", name, errA)
			}
			continue
		}
		compared++
		c.cmp(a, b, name, 0)
	}
	explained, where := map[string]int{}, map[string][]string{}
	for _, d := range c.diffs {
		if d.Why == "" {
			t.Errorf("%s: %s", d.Path, d.What)
			continue
		}
		explained[d.Why]++
		if len(where[d.Why]) < 3 {
			where[d.Why] = append(where[d.Why], d.Path)
		}
	}
	whys := make([]string, 0, len(explained))
	for w := range explained {
		whys = append(whys, w)
	}
	sort.Strings(whys)
	t.Logf("%d job types compared (%d pointer hops): %d type nodes, %d structs/unions, %d members (%d bitfields); %d differences, all explained:",
		compared, hops, c.nodes, c.structs, c.members, c.bitfields, len(c.diffs))
	for _, w := range whys {
		t.Logf("  %4d × %s (%s)", explained[w], w, strings.Join(where[w], ", "))
	}
	if compared < 50 {
		t.Errorf("only %d of %d job types found in both", compared, len(btfJobTypes))
	}

	// The jobs' own member paths: same offsets and sizes from both.
	paths := 0
	for _, p := range btfJobPaths {
		oa, errA := bt.Offsetof(p[0], p[1])
		ob, errB := dt.Offsetof(p[0], p[1])
		if errA != nil && errB != nil {
			continue // absent from this kernel
		}
		paths++
		if errA != nil || errB != nil || oa != ob {
			t.Errorf("offsetof(%s, %s): BTF %d %v, DWARF %d %v", p[0], p[1], oa, errA, ob, errB)
		}
	}
	t.Logf("%d of %d member paths in this kernel, same offsets from both", paths, len(btfJobPaths))
	if paths < 60 {
		t.Errorf("only %d member paths found", paths)
	}
	for _, name := range btfJobTypes {
		sa, errA := bt.Sizeof(name)
		sb, errB := dt.Sizeof(name)
		if (errA == nil) != (errB == nil) || sa != sb {
			t.Errorf("sizeof(%s): BTF %d %v, DWARF %d %v", name, sa, errA, sb, errB)
		}
	}
	for _, e := range []string{"MOD_TEXT", "MOD_DATA", "MOD_RODATA", "MOD_RO_AFTER_INIT", "MOD_INIT_TEXT", "MODULE_STATE_LIVE", "MODULE_STATE_GOING", "PG_head", "FTRACE_OPS_FL_ENABLED", "TASK_COMM_LEN"} {
		va, errA := bt.EnumConstant(e)
		vb, errB := dt.EnumConstant(e)
		if (errA == nil) != (errB == nil) || va != vb {
			t.Errorf("enumerator %s: BTF %d %v, DWARF %d %v", e, va, errA, vb, errB)
		}
	}
}

// btfJobPaths are member paths the jobs take (Offsetof, Member, FindField).
var btfJobPaths = [][2]string{
	{"struct module", "list"}, {"struct module", "name"}, {"struct module", "state"},
	{"struct module", "mem[MOD_TEXT].base"}, {"struct module", "mem[MOD_DATA].size"},
	{"struct module", "arch.ool_stubs"}, {"struct module", "arch.stub_count"},
	{"struct module", "arch.toc_section"}, {"struct module", "arch.tramp"},
	{"struct module", "arch.ool_stub_count"}, {"struct module", "arch.ool_stub_index"},
	{"struct module", "kallsyms"}, {"struct module", "core_kallsyms.symtab"},
	{"struct module", "sect_attrs"}, {"struct module", "syms"}, {"struct module", "num_syms"},
	{"struct module", "klp_info"}, {"struct module", "klp"}, {"struct module", "klp_alive"},
	{"struct module", "num_ftrace_callsites"}, {"struct module", "ftrace_callsites"},
	{"struct module", "btf_data"}, {"struct module", "btf_data_size"},
	{"struct module_sect_attrs", "grp"}, {"struct module_sect_attrs", "nsections"},
	{"struct module_sect_attrs", "attrs"}, {"struct module_sect_attr", "battr"},
	{"struct bin_attribute", "attr.name"}, {"struct bin_attribute", "private"},
	{"struct dyn_ftrace", "ip"}, {"struct dyn_ftrace", "flags"}, {"struct dyn_ftrace", "arch.ool_stub"},
	{"struct ftrace_page", "next"}, {"struct ftrace_page", "records"}, {"struct ftrace_page", "index"},
	{"struct ftrace_ops", "func"}, {"struct ftrace_ops", "flags"}, {"struct ftrace_ops", "func_hash"},
	{"struct ftrace_ops", "trampoline"}, {"struct ftrace_ops_hash", "filter_hash"},
	{"struct ftrace_hash", "buckets"}, {"struct ftrace_hash", "size_bits"}, {"struct ftrace_func_entry", "ip"},
	{"struct ftrace_ool_stub", "ftrace_op"}, {"struct ftrace_ool_stub", "insn"},
	{"struct klp_patch", "list"}, {"struct klp_patch", "objs"}, {"struct klp_patch", "enabled"},
	{"struct klp_object", "funcs"}, {"struct klp_object", "name"}, {"struct klp_func", "old_func"},
	{"struct klp_func", "new_func"}, {"struct klp_func", "transition"}, {"struct klp_ops", "func_stack"},
	{"struct task_struct", "thread.ksp"}, {"struct task_struct", "comm"}, {"struct task_struct", "pid"},
	{"struct task_struct", "tasks"}, {"struct task_struct", "stack"}, {"struct task_struct", "thread_info.cpu"},
	{"struct task_struct", "on_cpu"}, {"struct task_struct", "__state"}, {"struct task_struct", "patch_state"},
	{"struct task_struct", "mm"}, {"struct task_struct", "signal"}, {"struct task_struct", "thread.regs"},
	{"struct pt_regs", "gpr"}, {"struct pt_regs", "nip"}, {"struct pt_regs", "link"}, {"struct pt_regs", "trap"},
	{"struct paca_struct", "kernel_toc"}, {"struct paca_struct", "__current"}, {"struct paca_struct", "kstack"},
	{"struct paca_struct", "emergency_sp"}, {"struct paca_struct", "paca_index"},
	{"struct printk_ringbuffer", "desc_ring"}, {"struct printk_ringbuffer", "text_data_ring"},
	{"struct prb_desc_ring", "count_bits"}, {"struct prb_desc_ring", "descs"}, {"struct prb_desc_ring", "infos"},
	{"struct prb_desc_ring", "head_id"}, {"struct prb_desc_ring", "tail_id"}, {"struct prb_desc", "state_var"},
	{"struct prb_desc", "text_blk_lpos"}, {"struct printk_info", "seq"}, {"struct printk_info", "ts_nsec"},
	{"struct printk_info", "text_len"}, {"struct printk_info", "caller_id"}, {"struct printk_info", "dev_info"},
	{"struct vmap_area", "va_start"}, {"struct vmap_area", "vm"}, {"struct vmap_area", "list"},
	{"struct vm_struct", "pages"}, {"struct vm_struct", "nr_pages"}, {"struct vm_struct", "addr"},
	{"struct vmap_node", "busy"}, {"struct page", "flags"}, {"struct page", "compound_head"},
	{"struct mm_struct", "pgd"}, {"struct uts_namespace", "name.release"}, {"struct new_utsname", "machine"},
	{"struct kernel_symbol", "value_offset"}, {"struct kernel_symbol", "name_offset"},
	{"struct cpu_spec", "mmu_features"}, {"struct mmu_psize_def", "shift"},
	{"struct btf_module", "list"}, {"struct btf_module", "module"}, {"struct btf_module", "btf"},
	{"struct btf", "data"}, {"struct btf", "data_size"}, {"struct btf", "name"},
}

// btfExplain says why a difference between the BTF (a) and DWARF (b)
// decodings is expected, "" when it is not.
func btfExplain(d typeDiff, a, b ctype.Type) string {
	switch {
	case isDeclStruct(b) && !isDeclStruct(a) && (strings.HasPrefix(d.What, "size ") || strings.HasSuffix(d.What, "incomplete true")):
		return "a module's DWARF (one unit) only declares a struct the vmlinux defines; the module's split BTF has the vmlinux BTF's definition"
	case strings.HasPrefix(d.What, "size ") && b.Size() == -1 && isDeclStruct(a) && isDeclStruct(b):
		// "const struct kernel_symbol" behind a pointer.
		return "a pointer's struct is a declaration-shaped shell in BTF (it carries its size; Complete gives the definition), a declaration without a size in this DWARF unit; both complete to the same definition"
	case strings.HasPrefix(d.What, "array [") && strings.Contains(d.What, "] vs [") && strings.Count(d.What, "[") == 3:
		return "pahole encoded a multi-dimensional array flattened, T x[2][3] as T x[6] (seen with the fixtures' pahole 1.24 and in Debian 13's 6.12 builds; Debian's 7.2.13 build nests them as DWARF does)"
	case strings.HasPrefix(d.What, "array [0] vs [-1]"):
		return "flexible array: BTF's nelems 0 stands for both x[] and x[0]; debug/dwarf gives x[] Count -1 unless it ends its struct exactly (its zeroArray fix-up then makes it 0)"
	}
	return ""
}

// isDeclStruct: t is, under typedefs and qualifiers, a struct or union
// without members marked Incomplete.
func isDeclStruct(t ctype.Type) bool {
	s, ok := Underlying(t).(*ctype.StructType)
	return ok && s.Incomplete
}

// TestBTFDistroModulesMatchDWARF: each distro module of bench/distro-dump
// (Debian's own .ko files), its .BTF split over the distro vmlinux's,
// against the DWARF of the same module (modules-dbg/): every type the
// module's BTF defines itself, through one pointer; and its .BTF is the
// size the guest's /sys/kernel/btf/MODULE had (truth-btf.txt).
func TestBTFDistroModulesMatchDWARF(t *testing.T) {
	path := btfDistroVmlinux(t)
	dir := filepath.Join(filepath.Dir(path), "distro-dump")
	if d := os.Getenv("KDUMP_INSPECT_DISTRO_DUMP"); d != "" {
		dir = d
	}
	kos, _ := filepath.Glob(filepath.Join(dir, "modules", "*.ko"))
	if len(kos) == 0 {
		t.Skipf("no distro modules in %s/modules (bench/distro-dump/make.sh)", dir)
	}
	truth, _ := os.ReadFile(filepath.Join(dir, "truth-btf.txt"))
	vf, err := OpenELF(path)
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Close()
	base, err := LoadELFBTFTypes(vf)
	if err != nil {
		t.Fatal(err)
	}
	for _, ko := range kos {
		name := strings.TrimSuffix(filepath.Base(ko), ".ko")
		t.Run(name, func(t *testing.T) {
			f, err := OpenELF(ko)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			data, err := f.BTFSection()
			if err != nil {
				t.Fatal(err)
			}
			if len(truth) > 0 && !strings.Contains(string(truth), fmt.Sprintf("file %s %d ", name, len(data))) {
				t.Errorf(".BTF of %d bytes; the guest's /sys/kernel/btf/%s is not that size", len(data), name)
			}
			bt, err := LoadSplitBTFTypes(base, data)
			if err != nil {
				t.Fatal(err)
			}
			df, err := OpenELF(filepath.Join(dir, "modules-dbg", name+".ko"))
			if err != nil {
				t.Fatal(err)
			}
			defer df.Close()
			dt, err := LoadELFTypes(df, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			c := &btfComparer{bt: bt, dt: dt, order: f.ByteOrder, ptrHops: 1, seen: map[[2]ctype.Type]bool{}, explains: btfExplain}
			own := bt.BTF().btfOwnKeys()
			for _, n := range own {
				a, errA := bt.Lookup(n)
				b, errB := dt.Lookup(n)
				if errA != nil || errB != nil {
					t.Errorf("%s: BTF %v, DWARF %v", n, errA, errB)
					continue
				}
				c.cmp(a, b, n, 0)
			}
			c.report(t, len(own), "names of its own")
		})
	}
}
