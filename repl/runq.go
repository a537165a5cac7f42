package repl

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

func runqFlags(fs *flag.FlagSet) {
	fs.String("c", "", "only these `CPU`s (comma-separated)")
	jsonFlag(fs)
}

// RunqView is one CPU's run queue.
type RunqView struct {
	CPU int `json:"cpu"`
	// Runqueue is per_cpu(runqueues, cpu)'s address.
	Runqueue  wire.Hex       `json:"runqueue"`
	Current   RunqTaskView   `json:"current"`
	NrRunning int64          `json:"nr_running"`
	RT        []RunqTaskView `json:"rt"`
	DL        []RunqTaskView `json:"dl"`
	CFS       []RunqTaskView `json:"cfs"`
	Errors    []string       `json:"errors,omitempty"`
}

// RunqTaskView is a task on a run queue.
type RunqTaskView struct {
	Task wire.Hex `json:"task"`
	PID  int64    `json:"pid"`
	Comm string   `json:"comm"`
	Prio int64    `json:"prio"`
	// Group is the depth of the task group's queue it is on.
	Group int `json:"group_depth,omitempty"`
	// Server is a deadline server's sched_dl_entity (no task).
	Server wire.Hex `json:"dl_server,omitempty"`
}

func (s *Session) runqTask(q kernel.QueuedTask) RunqTaskView {
	v := RunqTaskView{Task: wire.Hex(q.Task), Prio: q.Prio, Group: q.Group, Server: wire.Hex(q.Server), PID: -1}
	if q.Task != 0 {
		if t, err := s.Prog.ReadTask(q.Task); err == nil {
			v.PID, v.Comm = t.PID, t.Comm
		}
	}
	return v
}

func cmdRunq(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	rqs, err := c.S.Prog.RunQueues()
	if err != nil {
		return fmt.Errorf("runq: %w", err)
	}
	only := map[int]bool{}
	if cs := stringFlag(fs, "c"); cs != "" {
		for _, f := range strings.Split(cs, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				return &UsageError{Cmd: "runq", Msg: "bad CPU " + f}
			}
			only[n] = true
		}
	}
	var out []RunqView
	for _, rq := range rqs {
		if len(only) > 0 && !only[rq.CPU] {
			continue
		}
		v := RunqView{CPU: rq.CPU, Runqueue: wire.Hex(rq.Addr), NrRunning: int64(rq.NrRunning), Current: c.S.runqTask(kernel.QueuedTask{Task: rq.Curr, Prio: -1})}
		if t, err := c.S.Prog.Object("struct task_struct", rq.Curr); err == nil {
			if m, err := t.Member("prio"); err == nil {
				v.Current.Prio, _ = m.Int()
			}
		}
		for _, q := range rq.RT {
			v.RT = append(v.RT, c.S.runqTask(q))
		}
		for _, q := range rq.DL {
			v.DL = append(v.DL, c.S.runqTask(q))
		}
		for _, q := range rq.CFS {
			v.CFS = append(v.CFS, c.S.runqTask(q))
		}
		for _, e := range rq.Errs {
			v.Errors = append(v.Errors, e.Error())
		}
		out = append(out, v)
	}
	var errs []error
	for _, v := range out {
		for _, e := range v.Errors {
			errs = append(errs, fmt.Errorf("cpu %d: %s", v.CPU, e))
		}
	}
	if boolFlag(fs, "json") {
		if len(errs) > 0 {
			return c.JSONPartial(out, fmt.Errorf("runq: %w", errors.Join(errs...)))
		}
		return c.JSON(out)
	}
	for i, v := range out {
		if i > 0 {
			c.Printf("\n")
		}
		c.Printf("CPU %d RUNQUEUE: %x\n", v.CPU, v.Runqueue)
		c.Printf("  CURRENT: %s\n", runqLine(v.Current))
		c.Printf("  NR_RUNNING: %d\n", v.NrRunning)
		for _, q := range []struct {
			name  string
			tasks []RunqTaskView
		}{{"RT PRIO_ARRAY", v.RT}, {"DL RB_ROOT", v.DL}, {"CFS RB_ROOT", v.CFS}} {
			c.Printf("  %s:\n", q.name)
			if len(q.tasks) == 0 {
				c.Printf("     [no tasks queued]\n")
			}
			for _, t := range q.tasks {
				c.Printf("     %s\n", runqLine(t))
			}
		}
		for _, e := range v.Errors {
			c.Printf("  (not read: %s)\n", e)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("runq: %w", errors.Join(errs...))
	}
	return nil
}

func runqLine(t RunqTaskView) string {
	if t.Server != 0 {
		return fmt.Sprintf("[dl_server] sched_dl_entity %x", t.Server)
	}
	prio := ""
	if t.Prio >= 0 {
		prio = fmt.Sprintf("[%3d] ", t.Prio)
	}
	indent := ""
	for range t.Group {
		indent += "  "
	}
	return fmt.Sprintf("%s%sPID: %-6d TASK: %016x  COMMAND: %q", indent, prio, t.PID, t.Task, t.Comm)
}
