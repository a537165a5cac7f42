package kernel

import "fmt"

// PerCPUOffset is __per_cpu_offset(cpu): the __per_cpu_offset[] array
// where the kernel has one (asm-generic/percpu.h; ppc64 keeps it beside
// the PACA copy), else paca_ptrs[cpu]->data_offset (ppc64's
// arch/powerpc/include/asm/percpu.h). Feature-detected by symbol.
func (p *Program) PerCPUOffset(cpu int) (uint64, error) {
	if n := p.NrCPUIDs(); n > 0 && cpu >= n || cpu < 0 {
		return 0, fmt.Errorf("cpu %d: nr_cpu_ids is %d", cpu, p.NrCPUIDs())
	}
	// unsigned long __per_cpu_offset[NR_CPUS]: read by its symbol, so
	// that no debuginfo type is needed.
	if a, err := p.SymbolAddr("__per_cpu_offset"); err == nil {
		off, err := p.ReadU64(a + 8*uint64(cpu))
		if err != nil {
			return 0, fmt.Errorf("__per_cpu_offset[%d]: %w", cpu, err)
		}
		return off, nil
	}
	m, err := p.pacaMember(cpu, "data_offset")
	if err != nil {
		return 0, err
	}
	return m.Uint()
}

// PerCPUPtr is per_cpu_ptr(ptr, cpu): a per-CPU address (a percpu
// variable's symbol, or a __percpu pointer's value) for cpu.
func (p *Program) PerCPUPtr(ptr uint64, cpu int) (uint64, error) {
	off, err := p.PerCPUOffset(cpu)
	if err != nil {
		return 0, err
	}
	return ptr + off, nil
}
