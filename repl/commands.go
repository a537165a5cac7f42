package repl

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// builtinCommands is the command table. Adding a command is one entry here
// (or one Register call from another package).
func builtinCommands() []Command {
	return withCrashDocs(slices.Concat(crashCommands(), textCommands(), textPokeCommands(), pltCommands(), itsCommands(), []Command{
		{Name: "help", Aliases: []string{"h", "?"}, Usage: "help [--json] [COMMAND]", Complete: CompleteCommand,
			Help:  "List the commands, or describe one.\n--json prints the command table (names, usage, flags, examples, whether a command takes --json) for tools.",
			Flags: jsonFlag, Run: cmdHelp},
		{Name: "quit", Aliases: []string{"q", "exit"}, Usage: "quit",
			Help: "Leave the session.", Run: func(c *Call) error { c.S.quit = true; return nil }},
		{Name: "set", Usage: "set [scroll on|off] [radix 10|16] [width N] [--json]", Flags: jsonFlag,
			Help: "Show or change session settings.\n`scroll` sends long output through $PAGER on a terminal (as crash's `set scroll`); `radix` is the default output base of integers in struct/p; `width` the columns text fits (0: unlimited), overriding --width, $COLUMNS and the terminal's width for the rest of the session.",
			Run:  cmdSet},
		{Name: "info", Usage: "info [--json]",
			Help:  "Describe the dump: format and quirks, byte order, page size, MMU, release, build-id, crash time, CPUs with NIP/LR, memory ranges, page counts.",
			Flags: jsonFlag, Run: cmdInfo},
		{Name: "sym", Usage: "sym [-l] [-m MODULE] [--json] [ADDR|NAME...]", Complete: CompleteSymbol,
			Help: "Translate addresses to symbols (module-aware: inside .stubs `MODULE:.stubs+0x..`) and names to addresses.\n-l lists every vmlinux symbol; -m MODULE lists a module's symbols and sections.",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("l", false, "list all vmlinux symbols")
				fs.String("m", "", "list the symbols and sections of `MODULE`")
				jsonFlag(fs)
			}, Run: cmdSym},
		{Name: "struct", Usage: "struct NAME[.member[,member]] [ADDR|SYMBOL] [COUNT] [-o] [-x|-d] [--json]", Complete: CompleteType,
			Help:  "Print a struct at an address, crash style (nested structs indented, arrays, enums by name, pointers with the symbol they hit), or its definition without an address.\nCOUNT prints consecutive structs (`struct ftrace_ool_stub ADDR 7`).\n--json prints each object as a tree of typed values (docs/OUTPUT.md, *Typed values*); without ADDR use whatis --json.",
			Flags: structFlags, Run: func(c *Call) error { return cmdStruct(c, "struct") }},
		{Name: "union", Usage: "union NAME[.member[,member]] [ADDR|SYMBOL] [COUNT] [-o] [-x|-d] [--json]", Complete: CompleteType,
			Help:  "Like struct, for unions.",
			Flags: structFlags, Run: func(c *Call) error { return cmdStruct(c, "union") }},
		{Name: "whatis", Usage: "whatis TYPE|SYMBOL [-o] [--json]", Complete: CompleteType,
			Help: "Show a type's definition or a variable's declaration.",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("o", false, "show member offsets")
				jsonFlag(fs)
			}, Run: cmdWhatis},
		{Name: "p", Aliases: []string{"print"}, Usage: "p[/x|/d] [-x|-d] [--json] EXPR", Complete: CompleteSymbol,
			Help: "Print a C expression: variables, casts, members, arithmetic, sizeof, as crash's p.\nThe evaluator (package cexpr) knows vmlinux variables, enumeration constants, symbols without type (`MODULE:NAME`, `MODULE:.stubs`, functions: take their address with &), casts `(struct module *)ADDR`, `->`, `.`, `[]`, unary `&` and `*`, + - * / % << >> & | ^ ~ ! && || ?: and comparisons with C's conversions, `sizeof(TYPE)` and `sizeof EXPR`.\nObjects print as crash prints them (pointers and unsigned words in hexadecimal, counts in decimal); a pointer value as `(TYPE) 0x… <symbol>`. `p/x` or -x prints every integer in hexadecimal, `p/d` or -d in decimal. Quote an expression holding ` > ` (or parenthesise it): a blank `>` is a redirection.\n--json prints the value as a tree of typed values (members, elements, pointers and integers as \"0x…\" strings, enumerations by name and value, bitfields with their position).",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("x", false, "integers in hexadecimal")
				fs.Bool("d", false, "integers in decimal")
				jsonFlag(fs)
			}, Run: cmdPrint},
		{Name: "rd", Usage: "rd [-8|-16|-32|-64] [-s] [-p] [--json] ADDR|SYMBOL [COUNT]", Complete: CompleteSymbol,
			Help: "Read memory: COUNT units (default 1) shown as hexadecimal words with ASCII, or with -s as symbols where they resolve.",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("8", false, "bytes")
				fs.Bool("16", false, "16-bit units")
				fs.Bool("32", false, "32-bit units")
				fs.Bool("64", false, "64-bit units (the default)")
				fs.Bool("s", false, "show symbols for words that resolve")
				fs.Bool("p", false, "ADDR is physical")
				jsonFlag(fs)
			}, Run: cmdRd},
		{Name: "dis", Usage: "dis [-r] [-l] [--json] ADDR|SYMBOL|MODULE:.stubs|MODULE:.plt [COUNT]", Complete: CompleteDis,
			Help: "Disassemble (GNU syntax, ISA 3.1 prefixed instructions included) with branch and addis/addi targets resolved to symbols.\nInside a module's .stubs every word shows as the loader laid it out twice: `ppc64[i]` at each 40-byte ppc64_stub_entry and `ftrace[j]` at each 24-byte ftrace_ool_stub, with the member each word belongs to (jump[3], magic, funcdata, ftrace_op, insn[1]), and `<<` where the words contradict the loader model (a call stub inside the OOL array, a NULL ftrace_op, an OOL stub not starting with mflr r0, a word differing from the template).\nOn arm64, inside a module's .plt and its ftrace trampoline (MODULE:.text.ftrace_trampoline) each struct plt_entry is labelled at its first word (`plt[i]`, `ftrace[i]`), its words named adrp/add/br, and at the br its target and what the slot is to module_emit_plt_entry() (used, free, skipped for erratum 843419, abandoned duplicate, written past plt_num_entries), as `plt MODULE` shows them; a branch to a PLT entry or an ftrace trampoline names the entry and where it goes (`plt[3] -> version_proc_show+0x0`).\nA symbol without COUNT disassembles the whole function; MODULE:.stubs or MODULE:.plt without COUNT the whole section; -r disassembles from the function start up to ADDR; -l prints `FILE: LINE` above the instructions of each source line, as crash does (module functions need the module's .ko: see mod -s).",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("r", false, "from the start of the function up to ADDR")
				fs.Bool("l", false, "show source FILE: LINE above the instructions (DWARF line tables of the vmlinux or the module's .ko)")
				jsonFlag(fs)
			}, Run: cmdDis},
		{Name: "bt", Usage: "bt [-a] [-c CPU[,CPU]] [-l] [-f] [--json] [PID|TASK...]", Complete: CompleteSymbol,
			Help: "Backtrace as the kernel's own unwinder walks the stack: the ppc64 back chain (show_stack()), x86_64's ORC tables (the vmlinux's and each module's, read from the dump's memory), arm64's frame records (x29, across exceptions at their pt_regs records, return addresses stripped of their pointer-authentication code by KERNELPACMASK). Without arguments every CPU from its NT_PRSTATUS registers (crash's bt -a); -c the named CPUs; a PID or task_struct address unwinds that task (from its CPU's registers when it is running, else from its saved context).\nEach frame shows its stack pointer, the function and the PC; `(LR)` marks a caller known only from the link register (ppc64's LR, arm64's x30: a leaf without a frame, or a CPU stopped before it saved one). On ppc64, where the vmlinux's .debug_frame covers a NIP, its call-frame information decides where the caller's return address is (LR, r0 in an epilogue, or the stack). Interrupt and exception frames (the \"REGS\" marker) print their registers, and the walk goes on in the interrupted context. A PC inside a ppc64 module's .stubs is named by its slot: `ftrace_ool_stub[j] of MODULE, for FUNCTION` or `ppc64_stub_entry[i] of MODULE (KIND to TARGET)`; an ftrace call site is marked as in dis.\n-l adds the source line of each call; -f each frame's words up to the next frame (on ppc64 the back chain at +0 and the LR save doubleword at +16), text addresses named.",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("a", false, "every CPU (the default without arguments, as crash's bt -a)")
				fs.String("c", "", "unwind these CPUs (comma-separated)")
				fs.Bool("l", false, "source FILE: LINE of each frame's call (DWARF line tables, as dis -l)")
				fs.Bool("f", false, "each frame's doublewords up to its back chain (at most 64), text addresses named")
				jsonFlag(fs)
			}, Run: cmdBt},
		{Name: "sys", Usage: "sys [--json]",
			Help:  "The system, as crash's sys shows it: vmlinux and dump files, online CPUs (__num_online_cpus), the task count, init_uts_ns (nodename, release, version, machine), memory (_totalram_pages), load average (avenrun), the newest printk timestamp, and the panic or oops message when the log holds one.",
			Flags: jsonFlag, Run: cmdSys},
		{Name: "ps", Usage: "ps [-k|-u] [--json] [PID|TASK|COMM...]",
			Help: "List the tasks, or those selected by PID, task address or name, as crash's ps.\nThe tasks are every process on init_task.tasks and its threads, plus each CPU's current task (paca_ptrs[cpu]->__current; the idle tasks of CPUs other than 0 are on no list). `>` marks a task running on a CPU; PPID is real_parent->tgid; ST is __state as /proc shows it (RU, IN, UN, ID, ST, TR, DE); a kernel thread's name is in brackets.\nArguments select tasks as crash's ps does: a PID (decimal), a task_struct address (hexadecimal), or a command name (or a shell pattern: 'kworker/*'). -k keeps the kernel threads (PF_KTHREAD in task->flags), -u the user tasks.",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("k", false, "only kernel threads")
				fs.Bool("u", false, "only user tasks")
				jsonFlag(fs)
			}, Run: cmdPs},
		{Name: "vtop", Usage: "vtop [--json] ADDR...", Complete: CompleteSymbol,
			Help:  "Translate kernel virtual addresses as the kernel's page tables do: the linear map by arithmetic; other addresses by every level of the walk (level, index, the entry's physical address and value) — ppc64 radix or hash, x86_64 4- or 5-level, arm64 with the dump's granule (4K, 16K, 64K), VA size and LPA2, block entries included; when the walk fails on a page-table page the dump lacks, the address by vm_struct->pages.",
			Flags: jsonFlag, Run: cmdVtop},
		{Name: "page", Usage: "page [-v] [--json] PADDR|pfn:N|VADDR...",
			Help: "Describe a page frame from its struct page (vmemmap[pfn]): flags by name (enum pageflags), page_type (enum pagetype), refcount, mapping, compound head, what the page is used for in makedumpfile's terms (free buddy block, slab and its kmem_cache, anonymous, page cache, page table, reserved, kernel), and whether the dump holds it. For a page the dump lacks that the kernel still used, it says why makedumpfile left it out when that is known (a slab folio's tail page taken for anonymous memory). -v takes a kernel virtual address.",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("v", false, "the arguments are kernel virtual addresses")
				jsonFlag(fs)
			}, Run: cmdPage},
		{Name: "mod", Usage: "mod [-s MODULE [FILE] | -S [DIR] | -t] [--json]", Complete: CompleteModule,
			Help: "List the loaded modules with crash's columns (MODULE NAME BASE SIZE OBJECT FILE) plus the .stubs size, stub_count and the OOL ftrace stubs.\n-s MODULE FILE loads that module's debuginfo from FILE (its build-id must match the loaded module's), or searches the module directories again without FILE; -S DIR loads every module's .ko from the tree DIR (without DIR: the directories the session opened with) and forgets earlier -s files. Both rerun the loader model and re-read .stubs, so the next stubs, dis, ftrace and audit use the new debuginfo.",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("s", false, "load one module's debuginfo: -s MODULE [FILE]")
				fs.Bool("S", false, "load every module's debuginfo from a tree: -S [DIR]")
				fs.Bool("t", false, "the modules' taints, as the kernel's taint_flags[] names them")
				jsonFlag(fs)
			}, Run: cmdMod},
		{Name: "stubs", Usage: "stubs MODULE [--overlay] [--json]", Complete: CompleteModule,
			Help: "A module's .stubs: every ppc64_stub_entry slot (kind, target, state against the loader model) and the ftrace_ool_stub array.\n--overlay shows every 4-byte word seen both as ppc64_stub_entry[] and as ftrace_ool_stub[] (seed 000's two-column table).",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("overlay", false, "word-by-word overlay of the two views")
				jsonFlag(fs)
			}, Run: cmdStubs},
		{Name: "log", Aliases: []string{"dmesg"}, Usage: "log [-t] [-n N] [--json]",
			Help: "The kernel log from the printk ring buffer (prb), oldest first, with [seconds.micros] timestamps.",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("t", false, "omit timestamps")
				fs.Int("n", 0, "only the last `N` records")
				jsonFlag(fs)
			}, Run: cmdLog},
		{Name: "list", Usage: "list [-o OFFSET|TYPE.member] [-s TYPE[.member,...]] [-r] [-e END] [--max N] [--json] -H HEAD | -h START | START", Complete: CompleteSymbol,
			Help:  "Walk a linked list and print each entry, as crash's list.\nEach entry prints as its address, with -s its members (or the whole struct). -H HEAD: HEAD is a standalone struct list_head (LIST_HEAD(modules)), not itself an entry; -h START: START is an entry whose list_head lies at -o (printed first); a plain START follows the pointer at -o, which holds the next entry's address, up to NULL or START again. -o is a byte offset, TYPE.member (`list -o module.list -s module.name -H modules`) or a member of -s's TYPE; -r follows prev; -e stops at an entry. Walks are cycle-checked and capped (--max).",
			Flags: listFlags, Run: cmdList},
		{Name: "ftrace", Usage: "ftrace [--enabled] [--module MODULE] [--func NAME] [--json] [MODULE]", Complete: CompleteModule,
			Help: "The dyn_ftrace records: each call site, its flags and what the site holds; --enabled keeps the records enabled_functions lists, with the ops that own each and their handler.",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("enabled", false, "only the enabled records (as /sys/kernel/tracing/enabled_functions)")
				fs.String("module", "", "only the records of `MODULE` (vmlinux for the kernel's)")
				fs.String("func", "", "only the records of function `NAME`")
				jsonFlag(fs)
			}, Run: cmdFtrace},
		{Name: "audit", Usage: "audit [--json] [--fail-on SEV] [--only RULE,..] [--skip RULE,..] [--allow-incomplete] [-v]",
			Help:  "Hold every module, the vmlinux and the system against the models of the correct loader, ftrace and livepatch; print the findings and what could not be checked (coverage).\nThe same rules, output and exit status as `kdump-inspect audit DUMP` (0 clean and fully checked, 1 findings at or above --fail-on, 3 nothing found but some rule could not check; with -c the session exits with it). -v lists every rule's status per module.",
			Flags: func(fs *flag.FlagSet) { new(AuditFlags).Register(fs) }, Run: cmdAudit},
		{Name: "trace", Usage: "trace [-n N] [--cpu CPU] [--json]",
			Help:  "Dump the ftrace ring buffer of the global trace array, as the trace file would show it: every CPU's events (function, function_graph entry/exit, trace_printk, and events by name) in time order with the task, CPU, latency flags and timestamp.\nThe buffer is read page by page from the reader page through the head page to the commit page (kernel/trace/ring_buffer.c); pages that cannot be read are said per CPU. Only crash's trace.so extension reads this today.",
			Flags: traceFlags, Run: cmdTrace},
		{Name: "tasks", Usage: "tasks [--json]",
			Help:  "The task states counted (ps's ST column) and the stack of every task in D (uninterruptible) state.",
			Flags: jsonFlag, Run: cmdTasks},
		{Name: "report", Usage: "report [-o DIR] [--json]",
			Help: "The first five minutes as one bundle: sys, the panic and the last 100 log lines, why, bt -a, the task states counted and every D-state task's stack, mod with taints, klp, the enabled ftrace records, and the audit with its coverage.\nWith -o DIR: one text file per part, an index, and report.json (every part's JSON in one document); else the text parts one after another, or the document with --json. `kdump-inspect report --compare A.json B.json ...` groups many reports by crash signature and findings.",
			Flags: func(fs *flag.FlagSet) {
				fs.String("o", "", "write the bundle into `DIR`")
				jsonFlag(fs)
			}, Run: cmdReport},
		{Name: "why", Usage: "why [--json]",
			Help:  "Explain the crash: the panic and the report before it in the log, the crashing CPU's trap, PC and LR held against the models (which .stubs slot, OOL stub, ftrace site or freed init text, what the loader or ftrace would have put there), the stack with each function's livepatch and ftrace state and the stubs its calls went through, every audit finding on that path, and a conclusion with the upstream fix — or that nothing connects the crash to stubs, ftrace or livepatch, with the ordinary triage.",
			Flags: jsonFlag, Run: cmdWhy},
		{Name: "klp", Usage: "klp [--tasks] [--json]",
			Help: "Livepatch state: klp_transition_patch and klp_target_state, then one row per klp_func: its patch (module, enabled/forced/replace), object (vmlinux or module, patched), old_func and new_func resolved to symbols, and the patched/transition/nop flags. --json prints the same data as JSON.\n--tasks holds every task against the consistency model instead: its patch_state against klp_target_state (a task not yet switched holds a transition up) and, from its backtrace (see bt), every frame inside the old or new body of a klp_func (old_func/old_size, new_func/new_size: what klp_check_stack() refuses to switch over). Only tasks not yet switched, with such frames, or whose stack could not be walked are listed.",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("tasks", false, "every task's patch_state and livepatched code on its stack")
				jsonFlag(fs)
			}, Run: cmdKlp},
	}))
}

func jsonFlag(fs *flag.FlagSet) { fs.Bool("json", false, "print JSON") }

func structFlags(fs *flag.FlagSet) {
	fs.Bool("o", false, "show member offsets")
	fs.Bool("x", false, "integers in hexadecimal")
	fs.Bool("d", false, "integers in decimal")
	jsonFlag(fs)
}

func boolFlag(fs *flag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	return f != nil && f.Value.String() == "true"
}

func intFlag(fs *flag.FlagSet, name string) int {
	if f := fs.Lookup(name); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			if v, ok := g.Get().(int); ok {
				return v
			}
		}
	}
	return 0
}

func stringFlag(fs *flag.FlagSet, name string) string {
	if f := fs.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

func cmdHelp(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	if boolFlag(fs, "json") {
		var out []HelpView
		for i := range c.S.cmds {
			if len(pos) == 0 || c.S.cmds[i].Name == pos[0] {
				out = append(out, helpView(&c.S.cmds[i]))
			}
		}
		if len(pos) > 0 && len(out) == 0 {
			cmd, ok := c.S.Lookup(pos[0])
			if !ok {
				return fmt.Errorf("help: %w", c.S.unknownCommand(pos[0]))
			}
			out = append(out, helpView(cmd))
		}
		return c.JSON(out)
	}
	if len(pos) > 0 {
		cmd, ok := c.S.Lookup(pos[0])
		if !ok {
			return fmt.Errorf("help: %w", c.S.unknownCommand(pos[0]))
		}
		writeCommandHelp(c.Out, cmd)
		return nil
	}
	for _, cmd := range c.S.cmds {
		c.Printf("  %-8s %s\n", cmd.Name, cmd.Summary())
	}
	c.Printf("\nhelp COMMAND for details and examples; `cmd > FILE`, `cmd >> FILE` and `cmd | shell command` redirect output; `!cmd` runs a shell command; `cmd; cmd` runs several.\n")
	return nil
}

// writeCommandHelp prints usage, aliases, help text and flags.
func writeCommandHelp(w io.Writer, cmd *Command) {
	fmt.Fprintf(w, "usage: %s\n", cmd.Usage)
	if len(cmd.Aliases) > 0 {
		fmt.Fprintf(w, "aliases: %s\n", strings.Join(cmd.Aliases, ", "))
	}
	fmt.Fprintf(w, "\n%s\n", cmd.Help)
	if fl := flagLines(cmd); len(fl) > 0 {
		fmt.Fprintf(w, "\nflags:\n")
		for _, l := range fl {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	writeCrashHelp(w, cmd)
}

// flagLines describes a command's flags, one per line.
func flagLines(cmd *Command) []string {
	fs := cmd.FlagSet()
	var out []string
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		dash := "-"
		if len(f.Name) > 1 && !isDigits(f.Name) {
			dash = "--"
		}
		l := dash + f.Name
		if name != "" {
			l += " " + name
		}
		l += "\t" + usage
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			l += " (default " + f.DefValue + ")"
		}
		out = append(out, l)
	})
	return out
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func cmdSet(c *Call) (err error) {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	if boolFlag(fs, "json") {
		defer func() {
			if err == nil {
				w := c.S.width
				err = c.JSON(SetView{Scroll: c.S.scroll, Radix: c.S.radix, Width: &w})
			}
		}()
	}
	if len(pos) == 0 {
		if !boolFlag(fs, "json") {
			c.Printf("scroll: %s\nradix: %d\nwidth: %s\n", onOff(c.S.scroll), c.S.radix, widthSetting(c.S.width, c.S.ttyWidth))
		}
		return nil
	}
	if len(pos) != 2 {
		return &UsageError{Cmd: "set", Msg: "want a setting and a value"}
	}
	switch pos[0] {
	case "scroll":
		switch pos[1] {
		case "on":
			c.S.scroll = true
		case "off":
			c.S.scroll = false
		default:
			return &UsageError{Cmd: "set", Msg: "scroll is on or off"}
		}
	case "radix":
		switch pos[1] {
		case "10":
			c.S.radix = 10
		case "16":
			c.S.radix = 16
		default:
			return &UsageError{Cmd: "set", Msg: "radix is 10 or 16"}
		}
	case "width":
		n, err := strconv.Atoi(pos[1])
		if err != nil || n < 0 || n > 10000 {
			return &UsageError{Cmd: "set", Msg: "width is a number of columns (0: unlimited)"}
		}
		// An explicit width holds for > file and | cmd too, as --width.
		c.S.width, c.S.ttyWidth = n, false
	default:
		return &UsageError{Cmd: "set", Msg: "unknown setting " + pos[0]}
	}
	return nil
}

// widthSetting describes the session's text width for `set`.
func widthSetting(w int, fromTerminal bool) string {
	switch {
	case w == 0:
		return "0 (unlimited)"
	case fromTerminal:
		return strconv.Itoa(w) + " (the terminal's)"
	}
	return strconv.Itoa(w)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// countArg is a command's COUNT when it is the last argument, pos[i]
// (parseCount), else def.
func countArg(pos []string, i, def int) (int, error) {
	if len(pos) != i+1 {
		return def, nil
	}
	return parseCount(pos[i])
}

func cmdStruct(c *Call, kind string) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	if len(pos) == 0 || len(pos) > 3 {
		return &UsageError{Cmd: kind, Msg: "want NAME[.member] [ADDR] [COUNT]"}
	}
	sp := parseStructSpec(kind, pos[0])
	if len(pos) == 1 && boolFlag(fs, "json") {
		return &UsageError{Cmd: kind, Msg: "--json wants an ADDR (whatis --json " + sp.Type + " prints the definition)"}
	}
	if len(pos) == 1 {
		t, ts, _, err := c.S.Prog.LookupType(sp.Type)
		if err != nil {
			return err
		}
		if len(sp.Members) > 0 {
			for _, m := range sp.Members {
				off, err := ts.Offsetof(sp.Type, m)
				if err != nil {
					return err
				}
				c.Printf("  [%#x] %s\n", off, m)
			}
			return nil
		}
		c.S.printDefinitionIn(c, t, ts, boolFlag(fs, "o"))
		return nil
	}
	addr, err := c.S.ParseAddr(pos[1])
	if err != nil {
		return err
	}
	count, err := countArg(pos, 2, 1)
	if err != nil {
		return err
	}
	if boolFlag(fs, "json") {
		out, err := c.S.structViews(sp, addr, count)
		if err != nil {
			return err
		}
		return c.JSON(out)
	}
	return c.S.printStruct(c, sp, addr, count, c.S.numFormat(fs), boolFlag(fs, "o"))
}

func cmdWhatis(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return &UsageError{Cmd: "whatis", Msg: "want a type or symbol"}
	}
	pos = []string{strings.Join(pos, " ")}
	if t, ts, err := c.S.lookupTypeIn(pos[0]); err == nil {
		if boolFlag(fs, "json") {
			return c.JSON(WhatisView{Name: pos[0], Kind: "type",
				Definition: c.textOf(func(c *Call) { c.S.printDefinitionIn(c, t, ts, boolFlag(fs, "o")) })})
		}
		c.S.printDefinitionIn(c, t, ts, boolFlag(fs, "o"))
		return nil
	}
	t, err := c.S.Prog.Types.VariableType(pos[0])
	if err != nil {
		return fmt.Errorf("whatis: %s is neither a type nor a variable", pos[0])
	}
	if boolFlag(fs, "json") {
		return c.JSON(WhatisView{Name: pos[0], Kind: "variable", Definition: declare(pos[0], t) + ";"})
	}
	c.Printf("%s;\n", declare(pos[0], t))
	return nil
}

// sortedKeys returns a map's keys sorted, for output that does not change
// from run to run.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
