package repl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/triage"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// taskRow is one task with what ps, task and foreach select on.
type taskRow struct {
	kernel.Task
	kernel.TaskDetail
	CPU    int // -1 unless running on a CPU
	Active bool
}

// allTasks is every task: the processes on init_task.tasks and their
// threads (kernel.ForEachTask, capped and cycle-checked), then each CPU's
// current task that is on no list (the idle tasks of CPUs other than 0).
// The error says the list walk stopped early; the rows read until then
// are returned.
func (s *Session) allTasks() ([]taskRow, error) {
	onCPU := s.Prog.CurrentTasks()
	var out []taskRow
	seen := map[uint64]bool{}
	add := func(t kernel.Task) {
		if seen[t.Addr] {
			return
		}
		seen[t.Addr] = true
		r := taskRow{Task: t, CPU: -1}
		r.TaskDetail, _ = s.Prog.ReadTaskDetail(t.Addr)
		if cpu, ok := onCPU[t.Addr]; ok {
			r.CPU, r.Active = cpu, true
		}
		out = append(out, r)
	}
	var walkErr error
	for t, err := range s.Prog.ForEachTask() {
		if err != nil {
			walkErr = fmt.Errorf("task list incomplete: %w", err)
			break
		}
		add(t)
	}
	for _, cur := range sortedKeys(onCPU) {
		if !seen[cur] {
			if t, err := s.Prog.ReadTask(cur); err == nil {
				add(t)
			}
		}
	}
	return out, walkErr
}

// taskSelector is one ps/task/foreach argument: a PID (decimal), a
// task_struct address (0x…, or crash's bare hexadecimal of 8+ digits), a
// state (RU, IN, UN, ID, ...), `kernel`, `user` or `active`, or a command
// name (exact, or a shell pattern such as 'kworker/*').
type taskSelector struct {
	arg     string
	pid     int64
	isPID   bool
	addr    uint64
	isAddr  bool
	state   string
	special string // kernel, user, active
}

// crashStates are the ST names a selector may give (crash's, as ps shows
// them).
var crashStates = map[string]bool{"RU": true, "IN": true, "UN": true, "ST": true, "TR": true, "DE": true, "ZO": true, "ID": true}

func parseSelector(arg string, withStates bool) taskSelector {
	sel := taskSelector{arg: arg}
	switch {
	case withStates && crashStates[arg]:
		sel.state = arg
	case withStates && (arg == "kernel" || arg == "user" || arg == "active"):
		sel.special = arg
	case strings.HasPrefix(arg, "0x") || len(arg) >= 8 && isHex(arg):
		if a, err := parseNum(arg); err == nil {
			sel.addr, sel.isAddr = a, true
		}
	case isDigits(arg):
		if n, err := strconv.ParseInt(arg, 10, 64); err == nil {
			sel.pid, sel.isPID = n, true
		}
	}
	return sel
}

func (sel taskSelector) match(r taskRow) bool {
	switch {
	case sel.isPID:
		return r.PID == sel.pid
	case sel.isAddr:
		return r.Addr == sel.addr
	case sel.state != "":
		return taskState(r.State) == sel.state
	case sel.special == "kernel":
		return r.Kthread()
	case sel.special == "user":
		return !r.Kthread()
	case sel.special == "active":
		return r.Active
	}
	if ok, err := path.Match(sel.arg, r.Comm); err == nil && ok {
		return true
	}
	return r.Comm == sel.arg
}

// selectTasks keeps the rows any selector matches (every row without
// selectors); a PID or address that matches nothing is an error, as in
// crash ("invalid task or pid value").
func selectTasks(rows []taskRow, sels []taskSelector) ([]taskRow, error) {
	if len(sels) == 0 {
		return rows, nil
	}
	var out []taskRow
	for _, r := range rows {
		for _, sel := range sels {
			if sel.match(r) {
				out = append(out, r)
				break
			}
		}
	}
	for _, sel := range sels {
		if !sel.isPID && !sel.isAddr {
			continue
		}
		found := false
		for _, r := range out {
			if sel.match(r) {
				found = true
			}
		}
		if !found {
			return out, fmt.Errorf("%s: no such task (PID or task_struct address)", sel.arg)
		}
	}
	return out, nil
}

func psView(r taskRow) PsView {
	return PsView{PID: r.PID, TGID: r.TGID, PPID: r.PPID, CPU: r.CPU, Task: wire.Hex(r.Addr), State: taskState(r.State),
		Comm: r.Comm, Active: r.Active, KernelThread: r.Kthread()}
}

func cmdPs(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	if boolFlag(fs, "k") && boolFlag(fs, "u") {
		return &UsageError{Cmd: "ps", Msg: "-k and -u exclude each other"}
	}
	rows, walkErr := c.S.allTasks()
	var sels []taskSelector
	for _, a := range pos {
		sels = append(sels, parseSelector(a, false))
	}
	rows, selErr := selectTasks(rows, sels)
	var out []PsView
	for _, r := range rows {
		if boolFlag(fs, "k") && !r.Kthread() || boolFlag(fs, "u") && r.Kthread() {
			continue
		}
		out = append(out, psView(r))
	}
	err = errors.Join(walkErr, selErr)
	if err != nil {
		err = fmt.Errorf("ps: %w", err)
	}
	if boolFlag(fs, "json") {
		return c.JSONPartial(out, err)
	}
	c.Printf("   %5s  %6s  %3s  %-16s  %-2s  %s\n", "PID", "PPID", "CPU", "TASK", "ST", "COMM")
	for _, v := range out {
		if cerr := c.Ctx.Err(); cerr != nil {
			return cerr
		}
		c.Printf("%s\n", psLine(v))
	}
	return err
}

// psLine is one ps row as crash prints it: `>` for a task on a CPU, a
// kernel thread's name in brackets.
func psLine(v PsView) string {
	mark, cpu := " ", "-"
	if v.Active {
		mark, cpu = ">", strconv.Itoa(v.CPU)
	}
	comm := v.Comm
	if v.KernelThread {
		comm = "[" + comm + "]"
	}
	ppid := strconv.FormatInt(v.PPID, 10)
	if v.PPID < 0 {
		ppid = "?"
	}
	return fmt.Sprintf("%s  %5d  %6s  %3s  %016x  %-2s  %s", mark, v.PID, ppid, cpu, v.Task, v.State, comm)
}

// taskHeader is crash's line above a task's output in task and foreach.
func taskHeader(r taskRow) string {
	cpu := "-"
	if r.Active {
		cpu = strconv.Itoa(r.CPU)
	}
	return fmt.Sprintf("PID: %-6d TASK: %016x  CPU: %-2s  COMMAND: %q", r.PID, r.Addr, cpu, r.Comm)
}

// defaultTask is the task crash's commands use without one: the task of
// the crashing CPU as the triage finds it, else the task on the first
// register note's CPU.
func (s *Session) defaultTask(rows []taskRow) (taskRow, error) {
	e := triage.Explain(s.A, s.Report())
	for _, r := range rows {
		if e.HaveTask && r.Addr == e.Task.Addr {
			return r, nil
		}
	}
	for _, r := range rows {
		if r.Active && r.CPU == 0 {
			return r, nil
		}
	}
	return taskRow{}, errors.New("no crashing task and no task on CPU 0: name a PID or task")
}

func cmdTask(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	rows, walkErr := c.S.allTasks()
	var sel []taskRow
	if len(pos) == 0 {
		r, err := c.S.defaultTask(rows)
		if err != nil {
			return fmt.Errorf("task: %w", errors.Join(err, walkErr))
		}
		sel = []taskRow{r}
	} else {
		var sels []taskSelector
		for _, a := range pos {
			sels = append(sels, parseSelector(a, false))
		}
		if sel, err = selectTasks(rows, sels); err != nil {
			return fmt.Errorf("task: %w", errors.Join(err, walkErr))
		}
	}
	if boolFlag(fs, "json") {
		var out []TaskView
		for _, r := range sel {
			tv, err := c.S.taskView(r, stringFlag(fs, "R"))
			if err != nil {
				return c.JSONPartial(out, err)
			}
			out = append(out, tv)
		}
		if walkErr != nil {
			return c.JSONPartial(out, fmt.Errorf("task: %w", walkErr))
		}
		return c.JSON(out)
	}
	for i, r := range sel {
		if i > 0 {
			c.Printf("\n")
		}
		if err := c.S.printTask(c, r, stringFlag(fs, "R"), c.S.numFormat(fs)); err != nil {
			return err
		}
	}
	return nil
}

// printTask prints a task's header and its task_struct (or the members
// of -R), as crash's task does.
func (s *Session) printTask(c *Call, r taskRow, members string, f numFormat) error {
	c.Printf("%s\n", taskHeader(r))
	sp := structSpec{Type: "struct task_struct"}
	if members != "" {
		sp = parseStructSpec("struct", "task_struct."+members)
	}
	return s.printStruct(c, sp, r.Addr, 1, f, false)
}

// taskView is a task's identity and task_struct (or the members named) as
// task --json prints them.
func (s *Session) taskView(r taskRow, members string) (TaskView, error) {
	sp := structSpec{Type: "struct task_struct"}
	if members != "" {
		sp = parseStructSpec("struct", "task_struct."+members)
	}
	svs, err := s.structViews(sp, r.Addr, 1)
	if err != nil {
		return TaskView{}, err
	}
	tv := TaskView{PID: r.PID, Task: wire.Hex(r.Addr), Comm: r.Comm, Struct: svs[0]}
	if r.Active {
		cpu := r.CPU
		tv.CPU = &cpu
	}
	return tv, nil
}

// foreachCommands are the commands foreach runs per task.
var foreachCommands = map[string]bool{"bt": true, "task": true, "ps": true}

func cmdForeach(c *Call) error {
	// foreach parses its own arguments: the command's flags follow it.
	args := c.Args
	var sels []taskSelector
	i := 0
	for ; i < len(args) && !foreachCommands[args[i]]; i++ {
		sels = append(sels, parseSelector(args[i], true))
	}
	if i == len(args) {
		return &UsageError{Cmd: "foreach", Msg: "want a command: bt, task or ps"}
	}
	name, rest := args[i], args[i+1:]
	rows, walkErr := c.S.allTasks()
	// Selectors of one kind are alternatives (PIDs, addresses and names
	// are one kind); kinds combine (crash's `foreach kernel UN bt`: kernel
	// threads in UN).
	kinds := map[string][]taskSelector{}
	for _, sel := range sels {
		k := "task" // PIDs, addresses and names are alternatives
		switch {
		case sel.state != "":
			k = "state"
		case sel.special != "":
			k = sel.special
		}
		kinds[k] = append(kinds[k], sel)
	}
	for _, group := range kinds {
		var err error
		if rows, err = selectTasks(rows, group); err != nil {
			return fmt.Errorf("foreach: %w", err)
		}
	}
	cmd, _ := c.S.Lookup(name)
	if wantsJSON(rest) {
		return c.foreachJSON(cmd, rest, rows, walkErr)
	}
	for n, r := range rows {
		if err := c.Ctx.Err(); err != nil {
			return err
		}
		if name == "ps" {
			if n == 0 {
				c.Printf("   %5s  %6s  %3s  %-16s  %-2s  %s\n", "PID", "PPID", "CPU", "TASK", "ST", "COMM")
			}
			c.Printf("%s\n", psLine(psView(r)))
			continue
		}
		if n > 0 {
			c.Printf("\n")
		}
		sub := &Call{S: c.S, Ctx: c.Ctx, Out: c.Out, Cmd: cmd, Args: append(append([]string(nil), rest...), fmt.Sprintf("%#x", r.Addr))}
		if err := c.S.run(sub); err != nil {
			c.Printf("foreach: %s of PID %d: %v\n", name, r.PID, err)
		}
	}
	if walkErr != nil {
		return fmt.Errorf("foreach: %w", walkErr)
	}
	return nil
}

// ForeachItem is one task of `foreach ... CMD --json`: the task, and the
// document CMD printed for it (a bt, task or ps document).
type ForeachItem struct {
	PID  int64       `json:"pid"`
	Task wire.Hex    `json:"task"`
	Comm string      `json:"comm"`
	Doc  foreachDocs `json:"document"`
}

// foreachDocs is a task's document of the command foreach ran.
type foreachDocs json.RawMessage

// MarshalJSON writes the document as it is.
func (d foreachDocs) MarshalJSON() ([]byte, error) {
	if len(d) == 0 {
		return []byte("null"), nil
	}
	return d, nil
}

// UnmarshalJSON keeps the document.
func (d *foreachDocs) UnmarshalJSON(b []byte) error {
	*d = append((*d)[:0], b...)
	return nil
}

// JSONSchema: a bt, task or ps document (docs/schema/bt.json, task.json,
// ps.json).
func (foreachDocs) JSONSchema() map[string]any {
	return map[string]any{"anyOf": []any{map[string]any{"$ref": "bt.json"}, map[string]any{"$ref": "task.json"}, map[string]any{"$ref": "ps.json"}}}
}

func (c *Call) foreachJSON(cmd *Command, rest []string, rows []taskRow, walkErr error) error {
	var items []ForeachItem
	for _, r := range rows {
		if err := c.Ctx.Err(); err != nil {
			return err
		}
		var b bytes.Buffer
		if cmd.Name == "ps" {
			wire.Write(&b, wire.New("ps", []PsView{psView(r)}, nil), false)
		} else {
			sub := &Call{S: c.S, Ctx: c.Ctx, Out: &b, Cmd: cmd, Args: append(append([]string(nil), rest...), fmt.Sprintf("%#x", r.Addr)), jsonMode: true}
			if err := c.S.run(sub); err != nil && !sub.wrote {
				sub.writeDoc(nil, err)
			}
		}
		compact, err := wire.Marshal(json.RawMessage(b.Bytes()), false)
		if err != nil {
			return fmt.Errorf("foreach: %s of PID %d: %w", cmd.Name, r.PID, err)
		}
		items = append(items, ForeachItem{PID: r.PID, Task: wire.Hex(r.Addr), Comm: r.Comm, Doc: foreachDocs(compact)})
	}
	if walkErr != nil {
		return c.JSONPartial(items, fmt.Errorf("foreach: %w", walkErr))
	}
	return c.JSON(items)
}
