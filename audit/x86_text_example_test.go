package audit

import (
	"fmt"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/textcheck"
)

// TestX86TextExample: on the x86 distro extract (Debian 7.2.13 amd64)
// every byte of geneve, sch_pie and tcp_yeah's text is held against its
// .ko with apply_relocate_add() and module_finalize()'s patches, and every
// difference is explained: the guest's enabled ftrace sites, the return
// thunk sites apply_returns() rewrote, the static calls, and the int3
// kprobe the guest put at tcp_yeah_cong_avoid+0x9 (kp->opcode 0x53).
func TestX86TextExample(t *testing.T) {
	p, a, _ := openX86Example(t)
	set := a.Modules()
	for _, name := range []string{"geneve", "sch_pie", "tcp_yeah"} {
		r := exampleText(t, a, name)
		if r.ByMech[textcheck.MechFtrace] == 0 || r.ByMech[textcheck.MechReturn] == 0 {
			t.Errorf("%s: explained by %v; want ftrace call sites and return thunk sites", name, r.ByMech)
		}
	}
	at, err := p.SymbolAddr("tcp_yeah_cong_avoid")
	if err != nil {
		s, ok := set.Find("tcp_yeah").Syms.ByName("tcp_yeah_cong_avoid")
		if !ok {
			t.Fatal("tcp_yeah_cong_avoid not found")
		}
		at = s.Addr
	}
	at += 9
	found := false
	for _, d := range a.Text(set.Find("tcp_yeah")).Diffs {
		if d.Addr == at {
			found = true
			if d.Explained == nil || d.Explained.Mech != textcheck.MechKprobe || len(d.Found) != 1 || d.Found[0] != 0xcc || d.Expected[0] != 0x53 {
				t.Errorf("tcp_yeah_cong_avoid+0x9: %+v, want int3 over 0x53 explained by the kprobe", d)
			}
		}
	}
	if !found {
		t.Errorf("no difference at tcp_yeah_cong_avoid+0x9 (%#x): the guest's int3 kprobe not seen", at)
	}
}

// TestX86TextPlantedByte: the same extract with one byte of sch_pie's
// pie_calculate_probability flipped (damage.Virt over the dump's physical
// memory) is audited with exactly one new finding, TEXT-UNEXPLAINED at
// that address, one byte long.
func TestX86TextPlantedByte(t *testing.T) {
	p, a, _ := openX86Example(t)
	base := Run(a, Options{})
	s, ok := a.Modules().Find("sch_pie").Syms.ByName("pie_calculate_probability")
	if !ok {
		t.Fatal("pie_calculate_probability not found")
	}
	at := s.Addr + 0x30
	b, err := p.Read(at, 1)
	if err != nil {
		t.Fatal(err)
	}
	v := damage.NewVirt(p)
	if err := v.Patch(at, []byte{b[0] ^ 0xff}); err != nil {
		t.Fatal(err)
	}
	q := openExample(t, "x86-distro-la57", v, nil)
	r := Run(analysis.New(q), Options{})
	f := plantedFinding(t, base, r, "sch_pie", at, 1, fmt.Sprintf("planted %#x over %#x at %#x", b[0]^0xff, b[0], at))
	if len(f.Words) != 1 || f.Words[0].Found != uint64(b[0]^0xff) || f.Words[0].Expected != uint64(b[0]) {
		t.Errorf("words %+v, want found %#x expected %#x", f.Words, b[0]^0xff, b[0])
	}
	t.Logf("%s", f.Message)
}
