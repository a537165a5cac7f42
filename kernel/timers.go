package kernel

import (
	"errors"
	"fmt"
	"sort"
)

// Timer is one pending timer: a timer_list on a CPU's timer wheel
// (kernel/time/timer.c), or an hrtimer on a clock base's queue
// (kernel/time/hrtimer.c).
type Timer struct {
	Addr     uint64
	Expires  int64 // jiffies for the wheel, ns of its clock for hrtimers
	Function uint64
	HR       bool
	Base     int // timer_bases[] index, or the hrtimer clock base
}

// CPUTimers is one CPU's pending timers, soonest first.
type CPUTimers struct {
	CPU    int
	Wheel  []Timer
	HR     []Timer
	Clk    []uint64 // each wheel base's clk
	Errors []error
}

// maxTimers bounds the timers read per CPU.
const maxTimers = 1 << 16

// Timers reads every CPU's timer wheels (per_cpu(timer_bases)[], each
// vector an hlist of timer_list.entry) and hrtimer clock bases
// (per_cpu(hrtimer_bases).clock_base[], each an rbtree of timerqueue
// nodes; plain or linked, by type), capped and cycle-checked.
func (p *Program) Timers() ([]CPUTimers, error) {
	tb, err := p.Variable("timer_bases")
	if err != nil {
		return nil, err
	}
	var out []CPUTimers
	for cpu := range max(p.NrCPUIDs(), 1) {
		ct := CPUTimers{CPU: cpu}
		off, err := p.PerCPUOffset(cpu)
		if err != nil {
			ct.Errors = append(ct.Errors, err)
			out = append(out, ct)
			continue
		}
		bases := tb
		bases.Addr += off
		for i := int64(0); ; i++ {
			b, err := bases.Index(i)
			if err != nil {
				break
			}
			if err := p.wheelTimers(b, int(i), &ct); err != nil {
				ct.Errors = append(ct.Errors, fmt.Errorf("timer_bases[%d]: %w", i, err))
			}
		}
		if hb, err := p.Variable("hrtimer_bases"); err == nil {
			hb.Addr += off
			if err := p.hrTimers(hb, &ct); err != nil {
				ct.Errors = append(ct.Errors, fmt.Errorf("hrtimer_bases: %w", err))
			}
		}
		sort.SliceStable(ct.Wheel, func(i, j int) bool { return ct.Wheel[i].Expires < ct.Wheel[j].Expires })
		sort.SliceStable(ct.HR, func(i, j int) bool { return ct.HR[i].Expires < ct.HR[j].Expires })
		out = append(out, ct)
	}
	return out, nil
}

func (p *Program) wheelTimers(base Object, idx int, ct *CPUTimers) error {
	clk, err := uintMember(base, "clk")
	if err != nil {
		return err
	}
	ct.Clk = append(ct.Clk, clk)
	vecs, err := base.Member("vectors")
	if err != nil {
		return err
	}
	entry, err := ContainerOf(p.Context, 0, "struct timer_list", "entry")
	if err != nil {
		return err
	}
	adj := -entry.Addr // offsetof(struct timer_list, entry)
	for i := int64(0); ; i++ {
		v, err := vecs.Index(i)
		if err != nil {
			return nil
		}
		first, err := uintMember(v, "first")
		if err != nil {
			return err
		}
		// hlist_node.next is its first member: the link is at the
		// entry's own offset.
		for a, err := range WalkChain(p.Context, Chain{First: first, LinkOff: adj, Adjust: adj, NullEnds: true, Max: maxTimers}) {
			if err != nil {
				return fmt.Errorf("vector %d: %w", i, err)
			}
			if len(ct.Wheel) >= maxTimers {
				return fmt.Errorf("more than %d timers", maxTimers)
			}
			t := Timer{Addr: a, Base: idx}
			tl, err := p.Object("struct timer_list", a)
			if err != nil {
				return err
			}
			exp, err1 := uintMember(tl, "expires")
			fn, err2 := uintMember(tl, "function")
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			t.Expires, t.Function = int64(exp), fn
			ct.Wheel = append(ct.Wheel, t)
		}
	}
}

func (p *Program) hrTimers(hb Object, ct *CPUTimers) error {
	cbs, err := hb.Member("clock_base")
	if err != nil {
		return err
	}
	for i := int64(0); ; i++ {
		cb, err := cbs.Index(i)
		if err != nil {
			return nil
		}
		root, err := uintMember(cb, "active.rb_root.rb_root.rb_node")
		if err != nil {
			return err
		}
		nodes, werr := p.RBInOrder(root)
		for _, n := range nodes {
			h, err := ContainerOf(p.Context, n, "struct hrtimer", "node.node")
			if err != nil {
				return err
			}
			exp, err1 := uintMember(h, "node.expires")
			fn, err2 := uintMember(h, "function")
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			ct.HR = append(ct.HR, Timer{Addr: h.Addr, Expires: int64(exp), Function: fn, HR: true, Base: int(i)})
		}
		if werr != nil {
			return fmt.Errorf("clock_base[%d]: %w", i, werr)
		}
	}
}
