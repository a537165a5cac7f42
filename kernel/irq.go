package kernel

import (
	"errors"
	"fmt"
)

// IRQ is one interrupt descriptor (struct irq_desc), as /proc/interrupts
// and crash's irq show it.
type IRQ struct {
	Number  uint64 // irq_data.irq
	Desc    uint64
	HWIRQ   uint64
	Chip    string // irq_data.chip->name
	Count   uint64 // the per-CPU kstat_irqs summed
	Actions []IRQAction
	Errs    []error
}

// IRQAction is one handler on an IRQ (struct irqaction).
type IRQAction struct {
	Addr     uint64
	Name     string
	Handler  uint64
	ThreadFn uint64
}

// maxActions bounds one IRQ's action chain (shared IRQs have a few).
const maxActions = 256

// IRQs lists the interrupt descriptors: sparse_irqs (a maple tree, since
// v6.5), irq_desc_tree (a radix tree, before), or the irq_desc[] array
// (!CONFIG_SPARSE_IRQ); feature-detected by symbol.
func (p *Program) IRQs() ([]IRQ, error) {
	var descs []IndexedEntry
	var err error
	switch {
	case p.hasSymbol("sparse_irqs"):
		a, _ := p.SymbolAddr("sparse_irqs")
		descs, err = p.MapleEntries(a)
	case p.hasSymbol("irq_desc_tree"):
		a, _ := p.SymbolAddr("irq_desc_tree")
		descs, err = p.RadixEntries(a)
	case p.hasSymbol("irq_desc"):
		v, verr := p.Variable("irq_desc")
		if verr != nil {
			return nil, verr
		}
		for i := int64(0); ; i++ {
			e, ierr := v.Index(i)
			if ierr != nil {
				break
			}
			descs = append(descs, IndexedEntry{First: uint64(i), Last: uint64(i), Value: e.Addr})
		}
	default:
		return nil, errors.New("neither sparse_irqs, irq_desc_tree nor irq_desc")
	}
	var out []IRQ
	for _, d := range descs {
		out = append(out, p.readIRQ(d.Value))
	}
	return out, err
}

func (p *Program) hasSymbol(name string) bool {
	_, err := p.SymbolAddr(name)
	return err == nil
}

func (p *Program) readIRQ(desc uint64) IRQ {
	q := IRQ{Desc: desc}
	o, err := p.Object("struct irq_desc", desc)
	if err != nil {
		q.Errs = append(q.Errs, err)
		return q
	}
	fail := func(what string, err error) {
		if err != nil {
			q.Errs = append(q.Errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	q.Number, err = uintMember(o, "irq_data.irq")
	fail("irq", err)
	q.HWIRQ, _ = uintMember(o, "irq_data.hwirq")
	if chip, err := uintMember(o, "irq_data.chip"); err == nil && chip != 0 {
		if c, err := p.Object("struct irq_chip", chip); err == nil {
			if n, err := c.Member("name"); err == nil {
				q.Chip, _ = n.CString(64)
			}
		}
	}
	// kstat_irqs: per-CPU struct irqstat (cnt) since v6.10, per-CPU
	// unsigned int before.
	if ks, err := uintMember(o, "kstat_irqs"); err == nil && ks != 0 {
		for cpu := range max(p.NrCPUIDs(), 1) {
			a, err := p.PerCPUPtr(ks, cpu)
			if err != nil {
				fail("kstat_irqs", err)
				break
			}
			v, err := p.ReadU32(a) // irqstat.cnt is its first member
			if err != nil {
				fail(fmt.Sprintf("kstat_irqs of cpu %d", cpu), err)
				continue
			}
			q.Count += uint64(v)
		}
	}
	act, err := uintMember(o, "action")
	fail("action", err)
	for i := 0; act != 0; i++ {
		if i >= maxActions {
			fail("action", fmt.Errorf("more than %d actions (a cycle?)", maxActions))
			break
		}
		a, err := p.Object("struct irqaction", act)
		if err != nil {
			fail("action", err)
			break
		}
		ia := IRQAction{Addr: act}
		ia.Handler, _ = uintMember(a, "handler")
		ia.ThreadFn, _ = uintMember(a, "thread_fn")
		if n, err := a.Member("name"); err == nil {
			ia.Name, _ = n.CString(64)
		}
		q.Actions = append(q.Actions, ia)
		if act, err = uintMember(a, "next"); err != nil {
			fail("action.next", err)
			break
		}
	}
	return q
}
