package repl

import (
	"fmt"
	"io"
)

// crashDocs are crash's equivalents and examples of the commands whose
// table entries predate these fields; an entry's own Crash and Examples
// win.
var crashDocs = map[string]struct {
	crash    string
	examples []string
}{
	"audit":  {"", []string{"audit", "audit --only OOL-OVERLAP -v", "audit --json > audit.json"}},
	"bt":     {"bt", []string{"bt", "bt -c 1", "bt 1", "bt -l -f c0000000023aaa80"}},
	"dis":    {"dis", []string{"dis klp_stub_bug:.stubs", "dis -l tgt_secret", "dis -r klp_call_secret+0xc", "dis 0xc0080000008201c8 10"}},
	"ftrace": {"", []string{"ftrace --enabled", "ftrace --module klp_tgt", "ftrace --func tgt_secret --json"}},
	"help":   {"help", []string{"help", "help kmem"}},
	"info":   {"help -D", []string{"info", "info --json"}},
	"klp":    {"", []string{"klp", "klp --tasks"}},
	"list":   {"list", []string{"list -o module.list -s module.name -H modules", "list task_struct.tasks -s task_struct.pid,comm -h init_task", "list -r module.list -H modules", "list -o ftrace_page.next -s ftrace_page.index (ftrace_pages_start)"}},
	"log":    {"log", []string{"log", "log -t -n 20", "log | grep -i oops"}},
	"mod":    {"mod", []string{"mod", "mod -t", "mod -s klp_tgt", "mod -S"}},
	"p":      {"p", []string{"p jiffies", "p/x init_task.thread.ksp", "p ((struct module *)0xc0080000008c0480)->arch", "p *(struct ftrace_ool_stub *)&klp_stub_bug:.stubs", "p &ftrace_nop_ops", "p nr_cpu_ids * 2", "p sizeof(struct ppc64_stub_entry)"}},
	"page":   {"kmem -p", []string{"page pfn:0x23a", "page -v c0000000023aaa80"}},
	"ps":     {"ps", []string{"ps", "ps 1", "ps -k", "ps -u", "ps kworker/*", "ps > /tmp/ps.txt"}},
	"quit":   {"q", []string{"quit"}},
	"rd":     {"rd", []string{"rd jiffies", "rd -s init_task 8", "rd -32 klp_stub_bug:.stubs 10", "rd -p 0x23a0000 4", "rd init_task.stack 4"}},
	"report": {"", []string{"report", "report -o bundle"}},
	"set":    {"set", []string{"set", "set radix 16", "set scroll off"}},
	"struct": {"struct", []string{"struct module.name,arch 0xc0080000008c0480", "struct ftrace_ool_stub -o", "struct ppc64_stub_entry klp_stub_bug:.stubs 6 -x"}},
	"stubs":  {"", []string{"stubs klp_stub_bug", "stubs klp_stub_bug --overlay"}},
	"sym":    {"sym", []string{"sym tgt_secret", "sym 0xc0080000008201c8", "sym -m klp_stub_bug", "sym -l | grep ftrace_"}},
	"sys":    {"sys", []string{"sys", "sys --json"}},
	"tasks":  {"ps -S; foreach UN bt", []string{"tasks"}},
	"trace":  {"trace show (trace.so extension)", []string{"trace", "trace -n 20 --cpu 0"}},
	"union":  {"union", []string{"union thread_union -o"}},
	"vtop":   {"vtop", []string{"vtop klp_stub_bug:.stubs", "vtop init_task"}},
	"whatis": {"whatis", []string{"whatis struct module", "whatis init_task", "whatis -o struct mod_arch_specific"}},
	"why":    {"", []string{"why", "why --json"}},
}

// withCrashDocs fills Crash and Examples from crashDocs where an entry
// leaves them empty.
func withCrashDocs(cmds []Command) []Command {
	for i := range cmds {
		d, ok := crashDocs[cmds[i].Name]
		if !ok {
			continue
		}
		if cmds[i].Crash == "" {
			cmds[i].Crash = d.crash
		}
		if len(cmds[i].Examples) == 0 {
			cmds[i].Examples = d.examples
		}
	}
	return cmds
}

// writeCrashHelp ends `help CMD` with crash's equivalent and examples.
func writeCrashHelp(w io.Writer, cmd *Command) {
	switch {
	case cmd.Crash != "":
		fmt.Fprintf(w, "\ncrash: %s\n", cmd.Crash)
	default:
		fmt.Fprintf(w, "\ncrash: none\n")
	}
	if len(cmd.Examples) > 0 {
		fmt.Fprintf(w, "\nexamples:\n")
		for _, e := range cmd.Examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}
