package audit

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/textcheck"
)

// TestArm64TextExample: on the arm64 extract (Debian 7.2.13 arm64, KASLR,
// modules out of BL range) every byte of tcp_vegas, sch_fq_pie, kdi_ftrace
// and md4's text is held against its .ko with apply_relocate_add() (CALL26
// through the PLT entries module_emit_plt_entry() made, .plt and
// .text.ftrace_trampoline rebuilt) and every difference is explained with
// nothing left incomplete: the guest's enabled ftrace sites (bl through
// mod->arch.ftrace_trampolines), ftrace_init_nop()'s mov x9, x30, the
// CALL_OPS literals, and the alternatives the CPU's capabilities
// selected (sch_fq_pie, kdi_ftrace).
func TestArm64TextExample(t *testing.T) {
	_, a, _ := openArm64Example(t)
	set := a.Modules()
	for _, name := range []string{"tcp_vegas", "sch_fq_pie", "kdi_ftrace", "md4"} {
		r := exampleText(t, a, name)
		if r.ByMech[textcheck.MechFtrace] == 0 || r.ByMech[textcheck.MechFtracePrologue] == 0 {
			t.Errorf("%s: explained by %v; want ftrace call sites and their mov x9, x30", name, r.ByMech)
		}
		plt := false
		for _, s := range r.Sections {
			plt = plt || s.Name == ".plt" && s.Compared
		}
		if !plt {
			t.Errorf("%s: .plt not compared", name)
		}
	}
	for _, name := range []string{"sch_fq_pie", "kdi_ftrace"} {
		if r := a.Text(set.Find(name)); r.ByMech[textcheck.MechAlternative] == 0 {
			t.Errorf("%s: no alternative applied (%v)", name, r.ByMech)
		}
	}
}

// TestArm64TextPlantedWord: the same extract with one instruction word of
// tcp_vegas_pkts_acked replaced (damage.Virt over the dump's physical
// memory) is audited with exactly one new finding, TEXT-UNEXPLAINED at
// that address, one word, expected and found decoded as arm64.
func TestArm64TextPlantedWord(t *testing.T) {
	p, a, _ := openArm64Example(t)
	base := Run(a, Options{Subjects: arm64Subjects})
	for _, f := range base.Findings {
		t.Errorf("unplanted: finding %s %s: %s", f.Rule, f.Module, f.Message)
	}
	s, ok := a.Modules().Find("tcp_vegas").Syms.ByName("tcp_vegas_pkts_acked")
	if !ok {
		t.Fatal("tcp_vegas_pkts_acked not found")
	}
	at := s.Addr + 0x20
	b, err := p.Read(at, 4)
	if err != nil {
		t.Fatal(err)
	}
	orig := binary.LittleEndian.Uint32(b)
	const stray = 0xd4200000 // brk #0: no mechanism writes it
	v := damage.NewVirt(p)
	if err := v.Patch(at, binary.LittleEndian.AppendUint32(nil, stray)); err != nil {
		t.Fatal(err)
	}
	q := openExample(t, "arm64-ftrace-ops", v, nil)
	r := Run(analysis.New(q), Options{Subjects: arm64Subjects})
	f := plantedFinding(t, base, r, "tcp_vegas", at, 4, fmt.Sprintf("planted %#x over %#x at %#x", stray, orig, at))
	if len(f.Words) != 1 || f.Words[0].Found != stray || f.Words[0].Expected != uint64(orig) || f.Words[0].FoundAsm != "brk #0x0" {
		t.Errorf("words %+v, want found %#x (brk #0x0) expected %#x", f.Words, stray, orig)
	}
	t.Logf("%s", f.Message)
	t.Logf("expected %s, found %s", f.Words[0].ExpectedAsm, f.Words[0].FoundAsm)
}
