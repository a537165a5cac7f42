package kernel

import (
	"errors"
	"fmt"
)

// Bounds on run-queue walks over a crashed kernel's trees and lists.
const (
	maxRBDepth   = 64      // a red-black tree of 2^32 nodes is 64 deep
	maxRBNodes   = 1 << 16 // tasks on one CPU's queues
	maxGroupNest = 16      // nested task groups
)

// RBTreeError is a red-black tree that cannot be a kernel's: too deep, a
// node seen twice (a cycle), more nodes than the cap.
type RBTreeError struct {
	Root uint64
	Msg  string
}

func (e *RBTreeError) Error() string { return fmt.Sprintf("rbtree at %#x: %s", e.Root, e.Msg) }

// RBInOrder returns the nodes of the tree whose root node is root, in
// order (rb_first, rb_next), depth- and count-capped and cycle-checked;
// the nodes read before a fault or a bad link come with the error.
func (p *Program) RBInOrder(root uint64) ([]uint64, error) {
	n, err := NewObject(p.Context, "struct rb_node", 0)
	if err != nil {
		return nil, err
	}
	left, err1 := n.offsetOnly("rb_left")
	right, err2 := n.offsetOnly("rb_right")
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	var out []uint64
	seen := map[uint64]bool{}
	var walk func(node uint64, depth int) error
	walk = func(node uint64, depth int) error {
		if node == 0 {
			return nil
		}
		if depth > maxRBDepth {
			return &RBTreeError{Root: root, Msg: fmt.Sprintf("deeper than %d", maxRBDepth)}
		}
		if seen[node] {
			return &RBTreeError{Root: root, Msg: fmt.Sprintf("node %#x reached twice (a cycle)", node)}
		}
		if len(seen) >= maxRBNodes {
			return &RBTreeError{Root: root, Msg: fmt.Sprintf("more than %d nodes", maxRBNodes)}
		}
		seen[node] = true
		l, err := p.ReadU64(node + left.Addr)
		if err != nil {
			return err
		}
		r, err := p.ReadU64(node + right.Addr)
		if err != nil {
			return err
		}
		if err := walk(l, depth+1); err != nil {
			return err
		}
		out = append(out, node)
		return walk(r, depth+1)
	}
	return out, walk(root, 0)
}

// RunQueue is one CPU's struct rq (kernel/sched/sched.h), as crash's runq
// shows it.
type RunQueue struct {
	CPU       int
	Addr      uint64 // &per_cpu(runqueues, cpu)
	Curr      uint64 // rq->curr
	NrRunning uint64 // rq->nr_running
	// CFS are the tasks in the CFS (EEVDF) tree of rq->cfs and of the
	// task groups' run queues under it, in tree order; RT the tasks on
	// the RT priority array's lists; DL the deadline tree's tasks.
	CFS, RT, DL []QueuedTask
	Errs        []error
}

// QueuedTask is a task on a run queue.
type QueuedTask struct {
	Task  uint64
	Prio  int64 // task->prio
	Group int   // nesting of task groups (0: the CPU's root cfs_rq)
	// Server is a deadline server's sched_dl_entity (Task 0).
	Server uint64
}

// RunQueues reads every possible CPU's run queue.
func (p *Program) RunQueues() ([]RunQueue, error) {
	base, err := p.SymbolAddr("runqueues")
	if err != nil {
		return nil, err
	}
	var out []RunQueue
	for cpu := range max(p.NrCPUIDs(), 1) {
		rq := RunQueue{CPU: cpu}
		a, err := p.PerCPUPtr(base, cpu)
		if err != nil {
			rq.Errs = append(rq.Errs, err)
			out = append(out, rq)
			continue
		}
		rq.Addr = a
		p.readRunQueue(&rq)
		out = append(out, rq)
	}
	return out, nil
}

func (p *Program) readRunQueue(rq *RunQueue) {
	o, err := p.Object("struct rq", rq.Addr)
	if err != nil {
		rq.Errs = append(rq.Errs, err)
		return
	}
	fail := func(what string, err error) {
		if err != nil {
			rq.Errs = append(rq.Errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	var err1 error
	rq.Curr, err1 = uintMember(o, "curr")
	fail("curr", err1)
	rq.NrRunning, err1 = uintMember(o, "nr_running")
	fail("nr_running", err1)
	if cfs, err := o.Member("cfs"); err == nil {
		fail("cfs", p.cfsTasks(cfs, 0, &rq.CFS))
	}
	if rt, err := o.Member("rt.active.queue"); err == nil {
		fail("rt", p.rtTasks(rt, &rq.RT))
	}
	if dl, err := o.Member("dl.root.rb_root.rb_node"); err == nil {
		fail("dl", p.dlTasks(dl, &rq.DL))
	}
}

// cfsTasks collects the tasks of a cfs_rq's tasks_timeline: a sched_entity
// with my_q (CONFIG_FAIR_GROUP_SCHED) is a group, whose own cfs_rq is
// walked in turn; any other is a task's se.
func (p *Program) cfsTasks(cfs Object, depth int, out *[]QueuedTask) error {
	if depth > maxGroupNest {
		return fmt.Errorf("task groups nested deeper than %d", maxGroupNest)
	}
	root, err := uintMember(cfs, "tasks_timeline.rb_root.rb_node")
	if err != nil {
		return err
	}
	nodes, werr := p.RBInOrder(root)
	for _, n := range nodes {
		se, err := ContainerOf(p.Context, n, "struct sched_entity", "run_node")
		if err != nil {
			return err
		}
		if q, err := uintMember(se, "my_q"); err == nil && q != 0 {
			g, err := p.Object("struct cfs_rq", q)
			if err != nil {
				return err
			}
			if err := p.cfsTasks(g, depth+1, out); err != nil {
				return err
			}
			continue
		}
		t, err := ContainerOf(p.Context, se.Addr, "struct task_struct", "se")
		if err != nil {
			return err
		}
		*out = append(*out, p.queued(t.Addr, depth))
	}
	return werr
}

func (p *Program) queued(task uint64, group int) QueuedTask {
	q := QueuedTask{Task: task, Group: group, Prio: -1}
	if o, err := p.Object("struct task_struct", task); err == nil {
		if m, err := o.Member("prio"); err == nil {
			q.Prio, _ = m.Int()
		}
	}
	return q
}

// rtTasks collects the tasks on the RT priority array's lists
// (sched_rt_entity.run_list); without RT group scheduling every entity
// is a task's rt.
func (p *Program) rtTasks(queues Object, out *[]QueuedTask) error {
	c := *p.Context
	c.MaxList = maxRBNodes
	for i := int64(0); ; i++ {
		h, err := queues.Index(i)
		if err != nil {
			var ie *IndexError
			if errors.As(err, &ie) {
				return nil
			}
			return err
		}
		for rt, err := range ListForEachEntry(&c, h.Addr, "struct sched_rt_entity", "run_list") {
			if err != nil {
				return err
			}
			t, err := ContainerOf(p.Context, rt.Addr, "struct task_struct", "rt")
			if err != nil {
				return err
			}
			*out = append(*out, p.queued(t.Addr, 0))
		}
	}
}

// dlTasks collects the tasks of the deadline tree (sched_dl_entity.rb_node).
func (p *Program) dlTasks(root Object, out *[]QueuedTask) error {
	r, err := root.Pointer()
	if err != nil {
		return err
	}
	nodes, werr := p.RBInOrder(r)
	for _, n := range nodes {
		dl, err := ContainerOf(p.Context, n, "struct sched_dl_entity", "rb_node")
		if err != nil {
			return err
		}
		// A deadline server (rq->fair_server, v6.12+) is no task's dl.
		if srv, err := uintMember(dl, "dl_server"); err == nil && srv != 0 {
			*out = append(*out, QueuedTask{Server: dl.Addr, Prio: -1})
			continue
		}
		t, err := ContainerOf(p.Context, dl.Addr, "struct task_struct", "dl")
		if err != nil {
			return err
		}
		*out = append(*out, p.queued(t.Addr, 0))
	}
	return werr
}
