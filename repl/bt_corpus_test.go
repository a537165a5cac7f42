package repl

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/stack"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

func btJSON(t *testing.T, s *Session, args string) []BtView {
	t.Helper()
	var v []BtView
	runDoc(t, s, "bt --json "+args, &v)
	return v
}

func funcName(loc string) string {
	if i := strings.IndexAny(loc, "+ "); i > 0 {
		return loc[:i]
	}
	return loc
}

// isLinkBranch: the instruction before a return address must be a branch
// that sets LR (Power ISA: bl/bla, bcl, bclrl, bcctrl, bctarl; LK=1).
func isLinkBranch(w uint32) bool {
	if w&1 == 0 {
		return false
	}
	switch w >> 26 {
	case 16, 18:
		return true
	case 19:
		xo := (w >> 1) & 0x3ff
		return xo == 16 || xo == 528 || xo == 560
	}
	return false
}

// TestBtCorpus holds bt against what the kernel's source and its own
// console say. Both CPUs were idle when QEMU stopped the VM (NT_PRSTATUS:
// NIP in plpar_hcall_norets_notrace). The idle paths are the kernel's:
// CPU 0 rest_init -> cpu_startup_entry -> do_idle (init/main.c), entered
// from start_kernel, called from start_here_common (head_64.S); CPU 1
// start_secondary -> cpu_startup_entry (arch/powerpc/kernel/smp.c), from
// start_secondary_prolog (head_64.S).
func TestBtCorpus(t *testing.T) {
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			s := corpusSession(t, dir)
			views := btJSON(t, s, "")
			if len(views) != 2 {
				t.Fatalf("%d CPUs, want 2 (-smp 2)", len(views))
			}
			// r13 holds the CPU's PACA in the kernel: it must name the CPU
			// QEMU wrote the note for (pr_pid is the vCPU index + 1).
			for i, pr := range s.Prog.Dump.CPUs {
				if cpu, ok := s.Prog.PacaCPU(pr.GPR[13]); !ok || cpu != int(pr.PID)-1 || views[i].CPU != cpu {
					t.Errorf("note %d: r13 %#x is the PACA of cpu %d (%v); QEMU's pr_pid %d; bt says cpu %d", i, pr.GPR[13], cpu, ok, pr.PID, views[i].CPU)
				}
			}
			wantPath := [][]string{
				{"do_idle", "cpu_startup_entry", "rest_init", "start_kernel", "start_here_common"},
				{"do_idle", "cpu_startup_entry", "start_secondary", "start_secondary_prolog"},
			}
			for cpu, v := range views {
				if v.Error != "" {
					t.Errorf("cpu %d: walk stopped: %s", cpu, v.Error)
				}
				if v.Comm != "swapper/"+strconv.Itoa(cpu) || v.PID != 0 {
					t.Errorf("cpu %d runs %q pid %d, want the idle task swapper/%d", cpu, v.Comm, v.PID, cpu)
				}
				var names []string
				for _, f := range v.Frames {
					names = append(names, funcName(f.Location))
				}
				if names[0] != "plpar_hcall_norets_notrace" || names[1] != "pseries_lpar_idle" || v.Frames[1].Kind != "LR" {
					t.Errorf("cpu %d: first frames %v, want NIP plpar_hcall_norets_notrace, then LR pseries_lpar_idle (a frameless hcall)", cpu, names[:2])
				}
				w := wantPath[cpu]
				if i := slices.Index(names, w[0]); i < 0 || !slices.Equal(names[i:], w) {
					t.Errorf("cpu %d: frames %v, want them to end %v", cpu, names, w)
				}
				for _, f := range v.Frames {
					if funcName(f.Location) == "start_kernel" && !strings.HasPrefix(f.Note, "[init text") {
						t.Errorf("cpu %d: start_kernel frame not marked as init text: %q", cpu, f.Note)
					}
				}
				checkReturnSites(t, s, v)
			}
		})
	}
}

// checkReturnSites: every return address follows a branch-and-link, except
// in init text (start_kernel's return address: free_initmem() gave that
// memory back, and the dump holds whatever reused it).
func checkReturnSites(t *testing.T, s *Session, v BtView) {
	t.Helper()
	for _, f := range v.Frames {
		if f.Kind == "NIP" || strings.HasPrefix(f.Note, "[init text") {
			continue
		}
		w, err := s.Prog.ReadU32(uint64(f.PC) - 4)
		if err != nil || !isLinkBranch(w) {
			t.Errorf("pid %d frame #%d %s: word before the return address is %#08x (%v), not a branch-and-link", v.PID, f.Level, f.Location, w, err)
		}
	}
}

// TestBtTasksCorpus: init (PID 1) sleeps in a system call. The kernel's
// own register dump of init's system call, printed on the console by the
// later sysrq crash, says where its pt_regs lie (REGS:, fixed at the top
// of init's kernel stack), the trap (3000, scv) and init's user NIP and LR;
// the dump's interrupt frame must say the same. The trace_events sample's
// kthread "event-sample" (samples/trace_events/trace-events-sample.c,
// kthread_run(simple_thread, ...)) must unwind through module code.
func TestBtTasksCorpus(t *testing.T) {
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			s := corpusSession(t, dir)
			con, err := os.ReadFile(filepath.Join(testcorpus.Dir(t, dir), "console.log"))
			if err != nil {
				t.Fatal(err)
			}
			num := func(re string) uint64 {
				m := regexp.MustCompile(re).FindSubmatch(con)
				if m == nil {
					t.Fatalf("console.log has no %s", re)
				}
				v, _ := strconv.ParseUint(string(m[1]), 16, 64)
				return v
			}
			regsAt, trap := num(`REGS: ([0-9a-f]+) TRAP`), num(`TRAP: ([0-9a-f]+)`)
			nip, lr := num(`NIP:  ([0-9a-f]+) LR`), num(` LR: ([0-9a-f]+) CTR`)

			v := btJSON(t, s, "1")[0]
			if v.Comm != "init" || v.Error != "" {
				t.Fatalf("bt 1: comm %q, error %q", v.Comm, v.Error)
			}
			last := v.Frames[len(v.Frames)-1]
			e := last.Exception
			if e == nil {
				t.Fatalf("bt 1: no interrupt frame at the bottom: %+v", last)
			}
			if uint64(e.Regs) != regsAt || uint64(e.Trap) != trap || uint64(e.NIP) != nip || uint64(e.LR) != lr || !e.User {
				t.Errorf("init's system call frame: regs %#x trap %#x nip %#x lr %#x user %v; console: REGS %#x TRAP %#x NIP %#x LR %#x", e.Regs, e.Trap, e.NIP, e.LR, e.User, regsAt, trap, nip, lr)
			}
			checkReturnSites(t, s, v)

			var ps []PsView
			runDoc(t, s, "ps --json", &ps)
			byPID := map[int64]PsView{}
			sample := int64(-1)
			for _, p := range ps {
				if _, dup := byPID[p.PID]; !dup {
					byPID[p.PID] = p
				}
				if p.Comm == "event-sample" {
					sample = p.PID
				}
			}
			if byPID[1].Comm != "init" || byPID[2].Comm != "kthreadd" {
				t.Errorf("ps: PID 1 %q, PID 2 %q; want init and kthreadd (rest_init starts them in that order)", byPID[1].Comm, byPID[2].Comm)
			}
			if sample < 0 {
				t.Fatal("ps: no event-sample kthread")
			}
			v = btJSON(t, s, strconv.FormatInt(sample, 10))[0]
			var inModule bool
			for _, f := range v.Frames {
				if funcName(f.Location) == "simple_thread" && strings.HasSuffix(f.Location, "[trace_events_sample]") {
					inModule = true
				}
			}
			if !inModule || funcName(v.Frames[len(v.Frames)-1].Location) != "start_kernel_thread" || v.Error != "" {
				t.Errorf("bt event-sample: %+v", v.Frames)
			}
			checkReturnSites(t, s, v)
		})
	}
}

// TestPCNoteStubsCorpus: bt names a PC inside .stubs by its slot. In the
// buggy kernel klp_stub_bug's livepatch relocation stub (slot 5, to
// tgt_secret) lies over ftrace_ool_stub[0]: seed 000's crash. Expected
// values from truth.json.
func TestPCNoteStubsCorpus(t *testing.T) {
	s := corpusSession(t, "buggy-radix")
	tr := testcorpus.LoadTruth(t, testcorpus.Dir(t, "buggy-radix"))
	mod := tr.DumpModule(t, "klp_stub_bug")
	hex := func(v any) uint64 { return testcorpus.Hex(t, v.(string)) }
	ool := mod["ool_stubs_decoded"].([]any)
	slots := mod["stub_slots"].([]any)
	slot := func(i int) map[string]any { return slots[i].(map[string]any) }

	o2 := ool[2].(map[string]any)
	fn := strings.SplitN(o2["func_sym"].(string), "+", 2)[0]
	if got, want := s.pcWhere(hex(o2["addr"])+12), "ftrace_ool_stub[2] of klp_stub_bug, for "+fn; got != want {
		t.Errorf("inside ool[2]: %q, want %q", got, want)
	}
	o0 := ool[0].(map[string]any)
	// The note names the module holding the target, as crash does: the
	// one whose memory (truth.json "mem") holds funcdata.
	target, owner := hex(slot(5)["funcdata"]), ""
	for _, m := range tr.DumpModules() {
		for _, r := range m["mem"].([]any) {
			r := r.(map[string]any)
			if b := hex(r["base"]); target >= b && target < b+uint64(r["size"].(float64)) {
				owner = m["name"].(string)
			}
		}
	}
	if got, want := s.pcWhere(hex(o0["addr"])+8), "ftrace_ool_stub[0] of klp_stub_bug, overlapped by ppc64_stub_entry[5] (klp-call to "+slot(5)["funcdata_sym"].(string)+" ["+owner+"])"; got != want {
		t.Errorf("inside ool[0]: %q, want %q", got, want)
	}
	// bt's note adds what the audit (the one judge) found there: truth's
	// summary lists slot 5 among the stub-magic slots inside the array.
	if got := s.pcNote(hex(o0["addr"]) + 8); !strings.Contains(got, "<< OOL-OVERLAP: klp-call stub (slot 5 -> tgt_secret") {
		t.Errorf("bt note inside ool[0] lacks the overlap finding: %q", got)
	}
	if got, want := s.pcWhere(hex(slot(0)["addr"])+4), "ppc64_stub_entry[0] of klp_stub_bug (call to "+slot(0)["funcdata_sym"].(string)+")"; got != want {
		t.Errorf("inside slot 0: %q, want %q", got, want)
	}
}

// TestPrintSizeofCorpus: p sizeof(...) against the kernel source's
// definitions: struct ppc64_stub_entry is u32 jump[7], u32 magic and an
// ELFv2 func_desc_t (one unsigned long): 40 bytes (module_64.c);
// struct ftrace_ool_stub is a pointer and u32 insn[4]: 24 bytes
// (asm/ftrace.h); a list_head is two pointers; comm is TASK_COMM_LEN (16).
func TestPrintSizeofCorpus(t *testing.T) {
	s := corpusSession(t, "fixed-radix")
	for line, want := range map[string]string{
		"p sizeof(struct ppc64_stub_entry)": "sizeof(struct ppc64_stub_entry) = 40\n",
		"p sizeof(struct ftrace_ool_stub)":  "sizeof(struct ftrace_ool_stub) = 24\n",
		"p sizeof modules":                  "sizeof modules = 16\n",
		"p sizeof(init_task.comm)":          "sizeof(init_task.comm) = 16\n",
		"p -x sizeof(struct module *)":      "sizeof(struct module *) = 0x8\n",
		// include/linux/ftrace.h: typedef void (*ftrace_func_t)(...): a
		// pointer, not the function it points to.
		"p sizeof(ftrace_func_t)":         "sizeof(ftrace_func_t) = 8\n",
		"whatis struct ftrace_ops_hash *": "type = struct ftrace_ops_hash *\nSIZE: 8\n",
	} {
		if got := run(t, s, line); got != want {
			t.Errorf("%s: %q, want %q", line, got, want)
		}
	}
}

// TestKlpTasksCorpus: no transition is in progress in any corpus dump
// (klp_transition_patch NULL), so every task's patch_state is
// KLP_TRANSITION_IDLE (-1): init_task starts so (init/init_task.c) and
// klp_complete_transition() sets every task back to it
// (kernel/livepatch/transition.c). The bodies checked are the kernel's:
// klp_init_object_loaded() takes old_size from kallsyms_lookup_size_offset(),
// which measures up to the next kallsyms symbol (get_symbol_pos()), not
// the ELF st_size.
func TestKlpTasksCorpus(t *testing.T) {
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			s := corpusSession(t, dir)
			var tasks []KlpTaskView
			runDoc(t, s, "klp --tasks --json", &tasks)
			var ps []PsView
			runDoc(t, s, "ps --json", &ps)
			if len(tasks) != len(ps) || len(tasks) < 30 {
				t.Errorf("klp --tasks holds %d tasks, ps lists %d", len(tasks), len(ps))
			}
			for _, tk := range tasks {
				if tk.State != "idle" || tk.Error != "" {
					t.Errorf("PID %d %s: patch_state %s, walk error %q; want idle (-1), a full walk", tk.PID, tk.Comm, tk.State, tk.Error)
				}
			}
			st, err := s.Ftrace()
			if err != nil {
				t.Fatal(err)
			}
			sym, ok := s.Prog.Syms.ByName("cmdline_proc_show")
			if !ok {
				t.Fatal("vmlinux has no cmdline_proc_show")
			}
			next := ^uint64(0)
			for _, o := range s.Prog.Syms.Symbols() {
				if o.Addr > sym.Addr && o.Addr < next && (o.Kind == 'T' || o.Kind == 't') {
					next = o.Addr
				}
			}
			found := false
			for _, r := range st.Livepatch.Bodies() {
				if !r.New && r.Func == "cmdline_proc_show" {
					found = true
					if r.Lo != sym.Addr || r.Hi != next {
						t.Errorf("old body of cmdline_proc_show [%#x, %#x), vmlinux symbols say [%#x, %#x)", r.Lo, r.Hi, sym.Addr, next)
					}
				}
			}
			if !found {
				t.Error("no old body of cmdline_proc_show (livepatch_sample patches it)")
			}
			// A task stopped inside the old body, or in livepatch_sample's
			// replacement, is reported against both patches of
			// cmdline_proc_show (livepatch_sample and test_klp_livepatch).
			// (test_klp_livepatch has a function of the same name.)
			repl, err := s.ParseAddr("livepatch_sample:livepatch_cmdline_proc_show")
			if err != nil {
				t.Fatal(err)
			}
			hits := klpHits([]BtFrame{{Level: 3, PC: wire.Hex(sym.Addr + 8)}, {Level: 4, PC: wire.Hex(repl + 4)}, {Level: 5, PC: wire.Hex(next)}}, st.Livepatch.Bodies())
			var got []string
			for _, h := range hits {
				got = append(got, fmt.Sprintf("#%d %s %s %s", h.Level, h.Which, h.Func, h.Patch))
			}
			slices.Sort(got)
			want := []string{"#3 old cmdline_proc_show livepatch_sample", "#3 old cmdline_proc_show test_klp_livepatch", "#4 new cmdline_proc_show livepatch_sample"}
			if !slices.Equal(got, want) {
				t.Errorf("hits %v, want %v", got, want)
			}
		})
	}
}

// TestBtLinesCorpus: bt -l names the files the kernel source defines these
// functions in (vmlinux line tables, and the module's .ko for
// trace_events_sample).
func TestBtLinesCorpus(t *testing.T) {
	s := corpusSession(t, "buggy-radix")
	want := map[string]string{
		"do_idle":           "kernel/sched/idle.c",
		"cpu_startup_entry": "kernel/sched/idle.c",
		"rest_init":         "init/main.c",
		"start_secondary":   "arch/powerpc/kernel/smp.c",
		"simple_thread":     "samples/trace_events/trace-events-sample.c",
		"kthread":           "kernel/kthread.c",
		"schedule":          "kernel/sched/core.c",
	}
	var ps []PsView
	runDoc(t, s, "ps --json", &ps)
	args := ""
	for _, p := range ps {
		if p.Comm == "event-sample" {
			args = strconv.FormatInt(p.PID, 10)
		}
	}
	seen := map[string]bool{}
	for _, line := range []string{"-l", "-l " + args} {
		for _, v := range btJSON(t, s, line) {
			for _, f := range v.Frames {
				fn := funcName(f.Location)
				if file, ok := want[fn]; ok {
					seen[fn] = true
					if !strings.HasSuffix(f.File, "/"+file) || f.Line <= 0 {
						t.Errorf("%s: %s:%d, want a line of %s", fn, f.File, f.Line, file)
					}
				}
			}
		}
	}
	if len(seen) != len(want) {
		t.Errorf("frames seen %v, want all of %v", seen, want)
	}
}

// TestSysCorpus: sys against the guest's own words: the "Linux version"
// banner on its console (release, and the version from '#'), QEMU's
// -smp 2 (qemu-cmdline.txt), UTS_MACHINE ppc64le (arch/powerpc/Makefile,
// little-endian), and as many tasks as ps lists.
func TestSysCorpus(t *testing.T) {
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			s := corpusSession(t, dir)
			d := testcorpus.Dir(t, dir)
			con, err := os.ReadFile(filepath.Join(d, "console.log"))
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`(?m)^Linux version (\S+) .*? (#\d+ .*)$`).FindSubmatch(con)
			if m == nil {
				t.Fatal("console.log has no Linux version banner")
			}
			qemu, _ := os.ReadFile(filepath.Join(d, "qemu-cmdline.txt"))
			smp := regexp.MustCompile(`-smp (\d+)`).FindSubmatch(qemu)
			var v SysView
			runDoc(t, s, "sys --json", &v)
			var ps []PsView
			decodeDoc([]byte(run(t, s, "ps --json")), &ps)
			if v.Release != string(m[1]) || v.Version != strings.TrimSpace(string(m[2])) || v.Machine != "ppc64le" ||
				smp == nil || strconv.Itoa(v.CPUs) != string(smp[1]) || v.Tasks != len(ps) || len(v.Errors) != 0 {
				t.Errorf("sys: %+v; console: release %q version %q; -smp %s; ps lists %d", v, m[1], m[2], smp[1], len(ps))
			}
		})
	}
}

// TestBtFrameWordsCorpus: bt -f shows each frame as the ELFv2 ABI lays it
// out: the back chain (the caller's SP) at +0 and, for a frame reached
// through a return address, that address in the LR save doubleword at +16.
func TestBtFrameWordsCorpus(t *testing.T) {
	s := corpusSession(t, "buggy-radix")
	n := 0
	for _, v := range append(btJSON(t, s, "-f -a"), btJSON(t, s, "-f 1")...) {
		n += checkFrameWords(t, v)
	}
	if n < 20 {
		t.Errorf("only %d frames had words", n)
	}
}

func checkFrameWords(t *testing.T, v BtView) (checked int) {
	t.Helper()
	fr := v.Frames
	for i, f := range fr {
		if len(f.Words) == 0 {
			continue
		}
		checked++
		if f.Kind == "return" && (len(f.Words) < 3 || f.Words[2] != f.PC) {
			t.Errorf("pid %d #%d: LR save doubleword %#x, PC %#x", v.PID, i, f.Words[min(2, len(f.Words)-1)], f.PC)
		}
		if i+1 < len(fr) && f.Exception == nil && f.Words[0] != fr[i+1].SP {
			t.Errorf("pid %d #%d: back chain %#x, next frame at %#x", v.PID, i, f.Words[0], fr[i+1].SP)
		}
	}
	return checked
}

// TestStubsOOLCallCorpus: an OOL stub's bl goes to the module's ftrace
// trampoline stub; the stubs view names that slot and its target as
// truth.json does (call_target_stub_slot, that slot's funcdata_sym), in
// every module of every corpus kernel.
func TestStubsOOLCallCorpus(t *testing.T) {
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			s := corpusSession(t, dir)
			n := 0
			for _, m := range testcorpus.LoadTruth(t, testcorpus.Dir(t, dir)).DumpModules() {
				var v StubsView
				runDoc(t, s, "stubs --json "+m["name"].(string), &v)
				slots := m["stub_slots"].([]any)
				for i, o := range m["ool_stubs_decoded"].([]any) {
					om := o.(map[string]any)
					k, ok := om["call_target_stub_slot"].(float64)
					if !ok || i >= len(v.OOL) {
						continue
					}
					sym, _ := slots[int(k)].(map[string]any)["funcdata_sym"].(string)
					want := fmt.Sprintf("ppc64[%d] (", int(k))
					if !strings.HasPrefix(v.OOL[i].Call, want) || !strings.Contains(v.OOL[i].Call, " to "+sym) {
						t.Errorf("%s ool[%d] calls %q, want %s... to %s", m["name"], i, v.OOL[i].Call, want, sym)
					}
					n++
				}
			}
			if n == 0 {
				t.Error("no OOL stub with a call target in truth.json")
			}
		})
	}
}

// TestBtCFICorpus holds the vmlinux's call-frame information (delve's
// reader over .debug_frame, the compiler's own account of every frame)
// against the stacks in the dump: at each return address, the CFA is r1
// plus exactly the distance from that frame to the next one on the back
// chain, and the return address of the function is saved at CFA+16 (the
// caller's LR save doubleword, as the ELFv2 ABI places it).
func TestBtCFICorpus(t *testing.T) {
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			s := corpusSession(t, dir)
			cfi := stack.VmlinuxCFI(s.Prog)
			if cfi == nil {
				t.Fatal("no .debug_frame in the corpus vmlinux")
			}
			views := btJSON(t, s, "")
			for _, p := range []string{"1", "2"} {
				views = append(views, btJSON(t, s, p)...)
			}
			checked := 0
			for _, v := range views {
				for i := 0; i+1 < len(v.Frames); i++ {
					f, next := v.Frames[i], v.Frames[i+1]
					if f.Kind != "return" || next.SP == f.SP || f.Exception != nil || strings.Contains(f.Note, "init text") || strings.Contains(f.Location, "[") {
						continue
					}
					r, ok := cfi.Rule(uint64(f.PC))
					if !ok {
						continue // assembly without CFI
					}
					checked++
					if uint64(r.CFAOffset) != uint64(next.SP-f.SP) || r.RA != stack.RAInMemory || r.RAOffset != 16 {
						t.Errorf("pid %d #%d %s: CFI %+v, stack says frame size %#x", v.PID, i, f.Location, r, next.SP-f.SP)
					}
				}
			}
			if checked < 15 {
				t.Errorf("only %d frames had CFI", checked)
			}
		})
	}
}
