package extract

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"debug/dwarf"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
	"github.com/kdump-inspect/kdump-inspect/symbols/dwarftypes"
	"github.com/kdump-inspect/kdump-inspect/textpoke"
	"github.com/kdump-inspect/kdump-inspect/tracebuf"
	"github.com/kdump-inspect/kdump-inspect/triage"

	"github.com/klauspost/compress/zstd"

	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/gen/coregen"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/stack"
)

// Options say what to extract.
type Options struct {
	Dump     string // the corpus dump (any format the tool opens)
	Out      string // output directory (created)
	CacheDir string // DWARF name-index cache for the real vmlinux ("" default)
	// Vmlinux and ModuleDirs name the debuginfo when it is not beside the
	// dump as in the corpus ("" and nil: found as kernel.Open finds them).
	Vmlinux    string
	ModuleDirs []string
	// Ftrace also walks the dyn_ftrace records (ftrace_pages_start), so
	// the example holds them.
	Ftrace bool
	// Compress writes vmcore.zst and vmlinux.zst instead of plain files.
	Compress bool
	// Subjects, when set, limits the audit the job runs to these modules
	// (and "vmlinux", "system"), and the .ko files copied to these
	// modules': a distro kernel's xfs.ko and its 36,000 vmlinux call
	// sites would make the extract megabytes bigger.
	Subjects []string
	// DumpOnly also runs DumpOnlyJob on the source dump and keeps the
	// pages it reads (kallsyms' tables, the vmlinux and module BTF, the
	// VMCOREINFO note), so the example opens with the dump alone; it is
	// skipped, and said so, when the kernel has no BTF in its memory.
	DumpOnly bool
}

// File is one file read or written, for the README.
type File struct {
	Path   string
	Size   int64
	SHA256 string
}

// Result says what was extracted.
type Result struct {
	Pages, Segments      int
	Types, Vars, Consts  []string
	Modules              []string // loaded modules, in list order
	Kos                  []string // .ko files copied
	FtraceRecords        int
	FtraceErr            error
	Sources, Outputs     []File
	DumpBytes, DwarfSize int
	// Machine is the core's ELF machine; KeptVMCOREINFO says whether its
	// VMCOREINFO note was kept (architectures without an early map).
	Machine        string
	KeptVMCOREINFO bool
	// DumpOnlyPages is how many pages the dump-only session read
	// (DumpOnlyNew of them not read by the job with the vmlinux);
	// DumpOnlySkipped says why the example is not dump-only capable.
	DumpOnlyPages, DumpOnlyNew int
	DumpOnlySkipped            string
}

// Job is the work whose reads the example must support: what Open reads
// (with VMCOREINFO taken from memory, as the example has no VMCOREINFO
// note), modules.Analyze, and, optionally, the ftrace record walk.
func Job(p *kernel.Program, tr *TypeRecorder, withFtrace bool, subjects []string) (*modules.Set, int, error) {
	// kernel.Open ran DetectFeatures and, through p.Types directly,
	// modules.DetectLoaderFeatures and mmuFeatures do lookups that bypass
	// p.Context.Types: repeat them through the recorder.
	kernel.DetectFeatures(tr)
	tr.Sizeof("struct ppc64_stub_entry")
	tr.Sizeof("struct ftrace_ool_stub")
	tr.Offsetof("struct paca_struct", "kernel_toc")
	tr.Offsetof("struct cpu_spec", "mmu_features")
	tr.Offsetof("struct uts_namespace", "name.release") // the VMCOREINFO cross-check
	tr.EnumConstant("PAGE_SHIFT")
	// enum mod_mem_type, for views that index mod->mem[] by name
	// ("mem[MOD_TEXT]").
	tr.EnumConstant("MOD_TEXT")
	// vmcoreinfoFromMemory (kernel/program.go): vmcoreinfo_data points at
	// the text, vmcoreinfo_size is its length.
	if err := readVmcoreinfo(p); err != nil {
		return nil, 0, err
	}
	// mmuFeatures: cur_cpu_spec->mmu_features, the fallback for radix/hash.
	if a, err := p.SymbolAddr("cur_cpu_spec"); err == nil {
		if spec, err := p.ReadU64(a); err == nil {
			if off, err := tr.Offsetof("struct cpu_spec", "mmu_features"); err == nil {
				p.ReadU64(spec + uint64(off))
			}
		}
	}
	set := modules.Analyze(p)
	n := 0
	var ferr error
	if withFtrace {
		n, ferr = walkFtrace(p, set, tr)
	}
	// The audit's EXEC-IN-FLAGGED-STUB walks every CPU's and task's stack
	// (and bt and ps do); keep what they read.
	ferr = errors.Join(ferr, walkStacks(p))
	// The printk log (log, sys, why), and the whole audit and `why` on
	// it: every page they read (code around the crash PC, ...).
	if _, _, err := kernel.ReadLog(p); err != nil {
		ferr = errors.Join(ferr, fmt.Errorf("printk log: %w", err))
	}
	if withFtrace {
		a := analysis.FromSet(set)
		// The vmlinux's text is not kept (the minimal vmlinux has none:
		// its executable sections are SHT_NOBITS), the modules' is.
		triage.Explain(a, audit.Run(a, audit.Options{Subjects: subjects, Skip: []string{"TEXT-UNEXPLAINED"}}))
		for _, m := range set.Modules {
			if len(subjects) == 0 || slices.Contains(subjects, m.Module.Name) {
				a.Text(m)
			}
		}
		// mod -t's letters.
		p.Taints()
		// The ftrace ring buffer (trace, and why's last events).
		if _, err := tracebuf.Read(p, tracebuf.Options{}); err != nil {
			ferr = errors.Join(ferr, fmt.Errorf("trace ring buffer: %w", err))
		}
	}
	// ps, bt, sys: each CPU's current task, whatever the stack walk
	// managed.
	if _, err := p.CPUTasks(); err != nil {
		ferr = errors.Join(ferr, fmt.Errorf("CPU tasks: %w", err))
	}
	// The rules that read no ftrace state, also without the ftrace walk:
	// ITS-THUNK (the thunk pages and .retpoline_sites).
	if !withFtrace {
		audit.Run(analysis.FromSet(set), audit.Options{Subjects: subjects, Only: []string{"ITS-THUNK"}})
	}
	// TEXT-POKE and the ftrace site model: the x86 text-poke batch and
	// its sites.
	if _, err := textpoke.Read(p); err != nil && !errors.Is(err, textpoke.ErrNotModelled) {
		ferr = errors.Join(ferr, fmt.Errorf("text-poke batch: %w", err))
	}
	// sys: the variables it reads, whole (their members' types come
	// with the variable's type).
	for _, name := range []string{"__num_online_cpus", "init_uts_ns", "_totalram_pages", "avenrun", "nr_cpu_ids"} {
		if o, err := p.Variable(name); err == nil {
			if _, err := o.Bytes(); err != nil {
				ferr = errors.Join(ferr, fmt.Errorf("sys: %s: %w", name, err))
			}
		}
	}
	return set, n, ferr
}

// walkStacks unwinds every context as the audit's stack rules do.
func walkStacks(p *kernel.Program) error {
	_, err := stack.WalkAll(p)
	return err
}

func readVmcoreinfo(p *kernel.Program) error {
	da, err := p.SymbolAddr("vmcoreinfo_data")
	if err != nil {
		return err
	}
	sa, err := p.SymbolAddr("vmcoreinfo_size")
	if err != nil {
		return err
	}
	ptr, err := p.ReadU64(da)
	if err != nil {
		return err
	}
	size, err := p.ReadU64(sa)
	if err != nil {
		return err
	}
	if size == 0 || size > 1<<16 {
		return fmt.Errorf("vmcoreinfo_size %d", size)
	}
	text, err := p.Read(ptr, int(size))
	if err != nil {
		return fmt.Errorf("reading VMCOREINFO at %#x: %w", ptr, err)
	}
	_, err = dump.ParseVMCOREINFO(text)
	return err
}

// walkFtrace runs ftrace.Load (records, ops, livepatch). Load reads its
// layouts through p.Types directly, so the same detectors are run through
// the recorder first.
func walkFtrace(p *kernel.Program, set *modules.Set, tr *TypeRecorder) (int, error) {
	ftrace.DetectFlagLayout(tr)
	ftrace.DetectRecordLayout(tr, p.PageSize)
	ftrace.DetectOpsLayout(tr)
	tr.Offsetof("struct klp_ops", "fops") // ftrace.ReadLivepatch
	st, err := ftrace.Load(set)
	if st == nil {
		return 0, err
	}
	return len(st.Records), err
}

// Generate runs Job on the corpus dump with recorders in place and writes
// the example to opts.Out: vmcore (QEMU-style ELF core of the touched
// pages), vmlinux (minimal) and modules/*.ko (debug sections dropped).
func Generate(opts Options) (*Result, error) {
	var rec *PageRecorder
	p, err := kernel.Open([]string{opts.Dump}, kernel.Options{Vmlinux: opts.Vmlinux, ModuleDirs: opts.ModuleDirs, CacheDir: opts.CacheDir, PrivateVmlinux: true, Types: kernel.TypesDWARF, PhysWrap: func(m dump.Memory) dump.Memory {
		rec = NewPageRecorder(m)
		return rec
	}})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	tr := NewTypeRecorder(p.Types)
	p.Context.Types = tr
	set, nrec, ferr := Job(p, tr, opts.Ftrace, opts.Subjects)
	if set.ListErr != nil {
		return nil, fmt.Errorf("modules list: %w", set.ListErr)
	}
	res := &Result{FtraceRecords: nrec, FtraceErr: ferr}
	res.Types, res.Vars, res.Consts = tr.Names()
	pages := rec.Pages()
	if opts.DumpOnly {
		more, err := DumpOnlyJob(opts.Dump, opts.Subjects, opts.Ftrace)
		switch {
		case errors.Is(err, kernel.ErrNoMemoryBTF):
			res.DumpOnlySkipped = err.Error()
		case err != nil:
			return nil, err
		default:
			res.DumpOnlyPages = len(more)
			all := union(pages, more)
			res.DumpOnlyNew = len(all) - len(pages)
			pages = all
		}
	}
	if err := os.MkdirAll(filepath.Join(opts.Out, "modules"), 0o755); err != nil {
		return nil, err
	}

	// The dump.
	core, err := buildCore(p, pages, res)
	if err != nil {
		return nil, err
	}
	res.DumpBytes = len(core)
	if err := writeOut(opts, res, "vmcore", core, opts.Compress); err != nil {
		return nil, err
	}

	// The vmlinux: the types recorded on the real vmlinux, then those the
	// job still looks up when it runs on the example itself (a member
	// that is a pointer to a complete struct in the real DWARF points to a
	// declaration in the minimal one, and dereferencing it looks the
	// struct up by name), until nothing new is looked up.
	names := res.Types
	var vml []byte
	for iter := 0; ; iter++ {
		if iter == maxIterations {
			return nil, fmt.Errorf("type set still growing after %d passes", maxIterations)
		}
		res.Types = names
		if vml, err = buildVmlinux(p, res); err != nil {
			return nil, err
		}
		more, err := lookupsOnExample(core, vml, p.ModuleDirs, opts)
		if err != nil {
			return nil, fmt.Errorf("opening the example (pass %d): %w", iter+1, err)
		}
		grown := union(names, more)
		if len(grown) == len(names) {
			break
		}
		names = grown
	}
	if err := writeOut(opts, res, "vmlinux", vml, opts.Compress); err != nil {
		return nil, err
	}

	// The modules.
	res.Sources = append(res.Sources, fileInfo(opts.Dump), fileInfo(p.VmlinuxPath()))
	for _, a := range set.Modules {
		res.Modules = append(res.Modules, a.Module.Name)
		if a.Debuginfo == nil || !inList(opts.Subjects, a.Module.Name) {
			continue
		}
		raw, err := os.ReadFile(a.Debuginfo.Path)
		if err != nil {
			return nil, err
		}
		st, err := StripKo(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Debuginfo.Path, err)
		}
		base := filepath.Base(a.Debuginfo.Path)
		res.Kos = append(res.Kos, base)
		res.Sources = append(res.Sources, fileInfo(a.Debuginfo.Path))
		if err := writeOut(opts, res, filepath.Join("modules", base), st, false); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func buildCore(p *kernel.Program, pages []uint64, res *Result) ([]byte, error) {
	var segs []coregen.Segment
	buf := make([]byte, PageSize)
	for _, pg := range pages {
		// Read from the dump itself, not through the recorder.
		if err := dump.ReadFull(p.Dump.Phys, buf, pg); err != nil {
			return nil, fmt.Errorf("re-reading page %#x: %w", pg, err)
		}
		if k := len(segs) - 1; k >= 0 && segs[k].Paddr+uint64(len(segs[k].Data)) == pg {
			segs[k].Data = append(segs[k].Data, buf...)
			continue
		}
		segs = append(segs, coregen.Segment{Paddr: pg, Data: append([]byte(nil), buf...)})
	}
	// The VMCOREINFO note is left out (the example reads VMCOREINFO from
	// memory, as the tool must when a dump has none) unless the
	// architecture cannot find it there without it (no early map: a
	// relocated kernel image, x86_64's KASLR) or the example is
	// dump-only capable (EarlyFrom maps the image from the note's
	// numbers).
	reg, rerr := arch.For(p.Dump.Machine)
	keepInfo := rerr == nil && reg.Early == nil || res.DumpOnlyPages > 0
	res.Machine, res.KeptVMCOREINFO = p.Dump.Machine.String(), keepInfo
	var notes []coregen.Note
	for _, n := range p.Dump.Notes {
		if n.Name == "VMCOREINFO" && !keepInfo {
			continue
		}
		notes = append(notes, coregen.Note{Name: n.Name, Type: uint32(n.Type), Desc: n.Desc})
	}
	res.Pages, res.Segments = len(pages), len(segs)
	// The notes keep the source's byte order (a QEMU<8.0 dump of a
	// little-endian guest has big-endian headers and notes), so the
	// headers are written in it too.
	e := coregen.ELF{Order: p.Dump.HeaderOrder, Machine: elf.Machine(p.Dump.Machine), Segments: segs, Notes: notes}
	return e.Bytes(), nil
}

// baseTypeName strips pointer and array suffixes and qualifiers: the named
// type a lookup like "struct module *" or "char [16]" needs.
func baseTypeName(n string) string {
	s := strings.TrimSpace(n)
	for {
		t := strings.TrimSpace(strings.TrimRight(s, "*"))
		if strings.HasSuffix(t, "]") {
			if i := strings.LastIndexByte(t, '['); i >= 0 {
				t = t[:i]
			}
		}
		t = strings.TrimSpace(t)
		if t == s {
			break
		}
		s = t
	}
	for _, q := range []string{"const ", "volatile "} {
		s = strings.TrimPrefix(s, q)
	}
	return s
}

// maxIterations bounds the passes that grow the type set.
const maxIterations = 8

// lookupsOnExample opens the example (core and minimal vmlinux, in a
// temporary directory with its own DWARF index cache), runs the job with a
// type recorder, and returns the type names it looked up.
func lookupsOnExample(core, vml []byte, moduleDirs []string, opts Options) ([]string, error) {
	dir, err := os.MkdirTemp("", "mkexample-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "vmcore"), core, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "vmlinux"), vml, 0o644); err != nil {
		return nil, err
	}
	p, err := kernel.Open([]string{filepath.Join(dir, "vmcore")}, kernel.Options{ModuleDirs: moduleDirs, CacheDir: filepath.Join(dir, "cache"), PrivateVmlinux: true})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	tr := NewTypeRecorder(p.Types)
	p.Context.Types = tr
	// Errors of the optional walks are reported by the recording run.
	Job(p, tr, opts.Ftrace, opts.Subjects)
	types, _, _ := tr.Names()
	return types, nil
}

// union is the sorted set of a's and b's elements.
func union[T cmp.Ordered](a, b []T) []T {
	m := map[T]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		m[x] = true
	}
	out := make([]T, 0, len(m))
	for x := range m {
		out = append(out, x)
	}
	slices.Sort(out)
	return out
}

func buildVmlinux(p *kernel.Program, res *Result) ([]byte, error) {
	var in DWARFInput
	seen := map[ctype.Type]bool{}
	for _, n := range res.Types {
		t, err := p.Types.Lookup(baseTypeName(n))
		if err != nil || seen[t] {
			continue
		}
		seen[t] = true
		in.Types = append(in.Types, t)
	}
	for _, n := range res.Vars {
		t, err := p.Types.VariableType(n)
		if err != nil {
			continue
		}
		a, err := p.SymbolAddr(n)
		if err != nil {
			continue
		}
		in.Vars = append(in.Vars, Variable{Name: n, Type: t, Addr: a})
	}
	d, err := dwarfread.Data(p.Types)
	if err != nil {
		return nil, err
	}
	enums, err := findEnums(d, res.Consts)
	if err != nil {
		return nil, err
	}
	in.Enums = enums
	abbrev, info, err := WriteDWARF(in)
	if err != nil {
		return nil, err
	}
	res.DwarfSize = len(abbrev) + len(info)
	s, ok := p.Syms.ByName("linux_banner")
	if !ok {
		return nil, errors.New("no linux_banner in the vmlinux")
	}
	banner, err := p.Vmlinux.ReadAddr(p.LinkAddr(s.Addr), 256)
	if err != nil {
		return nil, err
	}
	if i := bytes.IndexByte(banner, 0); i >= 0 {
		banner = banner[:i+1]
	}
	plain, err := container.Open(p.VmlinuxPath())
	if err != nil {
		return nil, err
	}
	fh, err := os.Open(plain)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	ef, err := elf.NewFile(fh)
	if err != nil {
		return nil, err
	}
	return MinimalVmlinux(VmlinuxInput{Orig: ef, Raw: fh, BannerAddr: p.LinkAddr(s.Addr), Banner: banner, Abbrev: abbrev, Info: info})
}

// findEnums returns, for each wanted enumeration constant, the first
// enumeration type (in DIE order, as the symbols index picks) that defines
// it. It scans the top-level DIEs of every unit and stops when all are
// found.
func findEnums(d *dwarf.Data, want []string) ([]*ctype.EnumType, error) {
	left := map[string]bool{}
	for _, w := range want {
		left[w] = true
	}
	var offs []dwarf.Offset
	r := d.Reader()
	depth := 0
	var cur dwarf.Offset
	taken := false
	for len(left) > 0 {
		e, err := r.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			break
		}
		if e.Tag == 0 {
			depth--
			continue
		}
		switch {
		case e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit:
			if e.Children {
				depth = 1
			}
			continue
		case depth == 1 && e.Tag == dwarf.TagEnumerationType && e.Children:
			cur, taken = e.Offset, false
			depth++
			continue
		case depth == 2 && e.Tag == dwarf.TagEnumerator:
			n, _ := e.Val(dwarf.AttrName).(string)
			if left[n] {
				delete(left, n)
				if !taken {
					offs = append(offs, cur)
					taken = true
				}
			}
			continue
		}
		if e.Children {
			r.SkipChildren()
		}
	}
	var out []*ctype.EnumType
	for _, o := range offs {
		t, err := d.Type(o)
		if err != nil {
			return nil, err
		}
		if et, ok := dwarftypes.FromDWARF(t).(*ctype.EnumType); ok {
			out = append(out, et)
		}
	}
	return out, nil
}

func writeOut(opts Options, res *Result, name string, data []byte, compress bool) error {
	if compress {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		data = enc.EncodeAll(data, nil)
		enc.Close()
		name += ".zst"
	}
	path := filepath.Join(opts.Out, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	res.Outputs = append(res.Outputs, File{Path: name, Size: int64(len(data)), SHA256: sum(data)})
	return nil
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func fileInfo(path string) File {
	f := File{Path: path}
	fh, err := os.Open(path)
	if err != nil {
		return f
	}
	defer fh.Close()
	h := sha256.New() // streamed: a source dump may be larger than memory wants
	n, err := io.Copy(h, fh)
	if err != nil {
		return f
	}
	f.Size, f.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	return f
}

// SortFiles sorts files by path.
func SortFiles(fs []File) {
	sort.Slice(fs, func(i, j int) bool { return fs[i].Path < fs[j].Path })
}

// inList says whether name is in list, an empty list holding everything.
func inList(list []string, name string) bool {
	if len(list) == 0 {
		return true
	}
	for _, x := range list {
		if x == name {
			return true
		}
	}
	return false
}
