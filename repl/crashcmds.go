package repl

import "flag"

// crashCommands are the commands that give a crash user's muscle memory
// its forms (alias, eval, ascii, task, foreach, search, kmem, runq, ...);
// builtinCommands appends them to the table.
func crashCommands() []Command {
	return []Command{
		{Name: "alias", Usage: "alias [--json] | alias NAME [COMMAND...]",
			Help: "List the aliases, or define one, as crash's alias.\nNAME then runs COMMAND with the rest of the line appended. An alias may not hide a command; the built-in aliases (q, dmesg, ...) are listed too.",
			Run:  cmdAlias, Crash: "alias",
			Examples: []string{"alias", "alias mods mod -t", "alias stubs5 dis klp_stub_bug:.stubs+0xc8 10"}},
		{Name: "eval", Usage: "eval [-x|-d] [--json] EXPR", Complete: CompleteSymbol,
			Help: "Evaluate a C expression in four bases, as crash's eval.\nThe value prints in hexadecimal (with its size unit when it is a multiple of 1 KiB), decimal, octal and binary, as crash's eval does.\nThe expression is p's: symbols, casts, members, arithmetic.",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("x", false, "(ignored: every base is printed)")
				fs.Bool("d", false, "(ignored: every base is printed)")
				jsonFlag(fs)
			}, Run: cmdEval, Crash: "eval",
			Examples: []string{"eval 1 << 16", "eval sizeof(struct task_struct) * 43", "eval &init_task"}},
		{Name: "task", Usage: "task [-R MEMBER[,MEMBER]] [-x|-d] [--json] [PID|TASK|COMM...]", Complete: CompleteSymbol,
			Help: "Print a task's task_struct, as crash's task.\nThe struct prints under a line naming its PID, address, CPU and command; -R prints only the members named (paths such as thread.ksp or se.on_rq).\nWithout an argument the task is the crashing one (as `why` finds it), else the task on CPU 0.\n--json prints each task's identity and its task_struct (or the -R members) as a tree of typed values, as p --json.",
			Flags: func(fs *flag.FlagSet) {
				fs.String("R", "", "only these task_struct `MEMBER`s (comma-separated)")
				fs.Bool("x", false, "integers in hexadecimal")
				fs.Bool("d", false, "integers in decimal")
				jsonFlag(fs)
			}, Run: cmdTask, Crash: "task",
			Examples: []string{"task", "task 1", "task -R pid,comm,se.on_rq kthreadd", "task -x -R thread.ksp c0000000023aaa80", "task --json -R pid,comm 1"}},
		{Name: "foreach", Usage: "foreach [PID|TASK|COMM|STATE|kernel|user|active]... bt|task|ps [FLAGS]", Complete: CompleteSymbol,
			Help: "Run bt, task or ps for every task or the tasks selected, as crash's foreach.\nSelectors as crash's: PIDs, task addresses and command names (or patterns) are alternatives, as are states (RU IN UN ID ST TR DE ZO); `kernel` (kernel threads), `user` and `active` (running on a CPU) narrow the set. The command's own flags follow it (`foreach UN bt -l`, `foreach kworker/* task -R se.on_rq`).",
			Run:  cmdForeach, Crash: "foreach",
			Examples: []string{"foreach bt", "foreach UN bt", "foreach kernel ps", "foreach kworker/* task -R se.on_rq", "foreach 1 2 task -R pid"}},
		{Name: "search", Usage: "search [-s START [-e END | -l LEN]] [-k | -p | --module MODULE] [-m MASK] [-w|-h] [--within LEN] [--branch] [--max N] [--json] VALUE...", Complete: CompleteSymbol,
			Help:  "Search memory for values, pointers into a range, or branches to an address, as crash's search.\nVALUEs are addresses, symbols or expressions; aligned 64-bit words by default (-w 32-bit, -h 16-bit), the bits of -m MASK ignored, or with --within LEN every word in [VALUE, VALUE+LEN) (every pointer into a 40-byte stub slot).\n--branch matches the instructions whose relative or absolute branch (b, bl, bc and their forms) targets VALUE (or lands within LEN of it): the calls into a .stubs slot, which hold no pointer.\nWithout -s the search covers every module's memory (mod->mem[]) and the vmlinux image (_stext to _end); -k every page of RAM through the linear map and the modules; --module one module; -p the dump's physical memory. -s START searches to -e END, for -l LEN, or to the end of the module region or image holding START (else 16 MiB). Pages the dump lacks are skipped and counted, never read as zeros; Ctrl-C stops the search.",
			Flags: searchFlags, Run: cmdSearch, Crash: "search",
			Examples: []string{"search --branch klp_stub_bug:.stubs+0xc8", "search --within 40 klp_stub_bug:.stubs+0xc8", "search -k ftrace_nop_ops", "search -s init_task -l 0x1000 -m 0xffff init_task", "search -w 0x73747562 --module klp_stub_bug"}},
		{Name: "kmem", Usage: "kmem -i | -s [-a] [CACHE...] | ADDR... [--json]", Complete: CompleteSymbol,
			Help:  "Memory counters, slab caches, and what owns an address, as crash's kmem.\n-i the memory counters /proc/meminfo reads (_totalram_pages, vm_zone_stat, vm_node_stat, swap, vm_committed_as), each with the counter it came from; -s the SLUB caches on slab_caches with object size, stride, objects allocated and total, slabs and slab size (only caches with objects unless -a; CACHE names or name* prefixes select); ADDR says what owns an address: the module or vmlinux symbol, the vmalloc area (vm_struct, caller), the page frame and what it is used for, and for a slab page the object, its cache and whether it is free (on the slab's freelist or in a CPU's sheaf).\nThe slab counts follow mm/slub.c as the kernel's own types say it is built (feature-detected): TOTAL and SLABS are the nodes' total_objects and nr_slabs (CONFIG_SLUB_DEBUG); ALLOCATED subtracts the free objects of the partial slabs and those the CPUs hold (per-CPU slabs and their freelists, or sheaves and the barns' full sheaves); a part that cannot be read leaves it `?`.",
			Flags: kmemFlags, Run: cmdKmem, Crash: "kmem",
			Examples: []string{"kmem -i", "kmem -s", "kmem -s task_struct kmalloc-*", "kmem c0000000023aaa80", "kmem klp_stub_bug:.stubs"}},
		{Name: "runq", Usage: "runq [-c CPU[,CPU]] [--json]",
			Help:  "Each CPU's run queue: current task, RT, deadline and CFS queues, as crash's runq.\nThe queue is per_cpu(runqueues, cpu) (kernel/sched/sched.h): the current task (rq->curr), nr_running, the RT priority array's lists, the deadline tree and the CFS (EEVDF) tree of tasks in order, task groups' queues nested under their entity, each task with its prio, PID and command.\nThe trees are walked depth- and count-capped and cycle-checked; a link that cannot be read ends the walk with what was found and says so.",
			Flags: runqFlags, Run: cmdRunq, Crash: "runq",
			Examples: []string{"runq", "runq -c 0", "runq --json"}},
		{Name: "ascii", Usage: "ascii [--json] [HEXVALUE...]", Flags: jsonFlag,
			Help: "Spell a value's bytes as ASCII, as crash's ascii.\nThe bytes are read as they lie in memory (the dump's byte order: 62696c2f7273752f is /usr/lib on little-endian), as crash's ascii; non-printable bytes as <xx>. Without a value, the ASCII chart.",
			Run:  cmdAscii, Crash: "ascii", Examples: []string{"ascii 62696c2f7273752f", "ascii 0x73747562", "ascii"}},
		{Name: "irq", Usage: "irq [-a] [--json] [IRQ...]",
			Help:  "The interrupt descriptors with their handlers, as crash's irq.\nEach IRQ shows its irq_desc, hardware number, chip, the count summed over the CPUs' kstat_irqs, and every irqaction (name, handler, thread function). The descriptors come from sparse_irqs (a maple tree, v6.5+), irq_desc_tree (a radix tree) or irq_desc[] (feature-detected), walked with depth and node caps. Only IRQs with a handler unless -a or IRQ numbers are given.",
			Flags: irqFlags, Run: cmdIRQ, Crash: "irq", Examples: []string{"irq", "irq -a", "irq 16 --json"}},
		{Name: "timer", Usage: "timer [--json]",
			Help:  "The pending timers of every CPU, soonest first, as crash's timer (and timer -r).\nThe timer wheel of per_cpu(timer_bases) (each vector an hlist of timer_list, expiry in jiffies, with the base's clk and jiffies to compare) and the hrtimer clock bases of per_cpu(hrtimer_bases) (rbtrees of hrtimers, expiry in ns of their clock); each timer with its function. Lists and trees are capped and cycle-checked.",
			Flags: jsonFlag, Run: cmdTimer, Crash: "timer", Examples: []string{"timer", "timer --json"}},
	}
}
