package audit

import (
	"fmt"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/arch/arm64"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// md4's PLTs in the arm64 corpus (distro-kaslr truth.json, guest.plt.md4,
// guest.ftrace_tramp.md4, guest.modarch.md4: core 4 of 4 entries).
var md4PLT = []struct {
	addr  uint64
	words [3]uint32
}{
	{0xffffacef364c5880, [3]uint32{0x90290c70, 0x91144210, 0xd61f0200}}, // -> memmove
	{0xffffacef364c588c, [3]uint32{0x90290c70, 0x911b2210, 0xd61f0200}}, // -> memset
	{0xffffacef364c5898, [3]uint32{0x90288150, 0x911a2210, 0xd61f0200}}, // -> __warn_printk
	{0xffffacef364c58a4, [3]uint32{0xd028b710, 0x91362210, 0xd61f0200}}, // -> crypto_unregister_shash
	{0xffffacef364c58b0, [3]uint32{}},                                   // spare
}

const (
	md4FtraceTramp  = 0xffffacef364c58bc
	ftraceAddrKASLR = 0xffffacef8744f7b8 // FTRACE_ADDR (ftrace_caller)
)

func pltSlot(k *arm64.Kernel, i int, at uint64, words [3]uint32) modules.PLTSlot {
	var b []byte
	for _, w := range words {
		b = arm64.Order.AppendUint32(b, w)
	}
	s := modules.PLTSlot{Index: i, Addr: at, Bytes: b, Zero: words == [3]uint32{}}
	if t, ok := k.DecodePLT(b, at); ok {
		s.Decoded, s.Target = true, t
		s.Template = string(k.PLTEntry(t, at)) == string(b)
	}
	return s
}

func md4PLTs(k *arm64.Kernel) *modules.PLTs {
	pl := &modules.PLTs{EntrySize: arm64.PLTEntrySize, FtraceAddr: ftraceAddrKASLR, FtraceTrampsPtr: md4FtraceTramp,
		Core: modules.PLTSection{Name: ".plt", Addr: md4PLT[0].addr, Shndx: 11, Num: 4, Max: 4},
		Init: modules.PLTSection{Name: ".init.plt", Shndx: 12, Num: 1, Max: 1, NotRead: "freed"}}
	for i, e := range md4PLT {
		pl.Core.Slots = append(pl.Core.Slots, pltSlot(k, i, e.addr, e.words))
	}
	t := pltSlot(k, 0, md4FtraceTramp, [3]uint32{0xd0287c50, 0x911ee210, 0xd61f0200})
	t.Want = k.PLTEntry(ftraceAddrKASLR, md4FtraceTramp)
	pl.FtraceTramps = []modules.PLTSlot{t}
	return pl
}

// arm64PLTExamples runs PLT-ENTRY and FTRACE-PLT on md4's real words
// (clean) and on mutations of them, and returns the example findings.
func arm64PLTExamples(t *testing.T) map[string]string {
	k := &arm64.Kernel{}
	run := func(pl *modules.PLTs) *Report {
		m := &modules.Module{Name: "md4"}
		return RunModules(&modules.Set{Resolver: symbols.NewResolver(), Modules: []*modules.Analysis{{Module: m, PLT: pl}}}, Options{})
	}
	find := func(r *Report, rule string) *Finding {
		for i := range r.Findings {
			if r.Findings[i].Rule == rule && r.Findings[i].Severity == Error {
				return &r.Findings[i]
			}
		}
		return nil
	}
	// md4's real words: no error (without a vmlinux the targets resolve
	// to no function, which is at most a warning).
	for _, f := range run(md4PLTs(k)).Findings {
		if (f.Rule == "PLT-ENTRY" || f.Rule == "FTRACE-PLT") && f.Severity != Warning {
			t.Errorf("md4's real PLTs: %s %s", f.Rule, f.Message)
		}
	}
	out := map[string]string{}
	// The spare slot 4 written with get_plt_entry(memmove) for its own
	// address while plt_num_entries stays 4.
	pl := md4PLTs(k)
	e := arm64.GetPLTEntry(0xffffacef88651510, md4PLT[4].addr)
	pl.Core.Slots[4] = pltSlot(k, 4, md4PLT[4].addr, e)
	if f := find(run(pl), "PLT-ENTRY"); f != nil && f.Places[0].Index == 4 {
		out["PLT-ENTRY"] = fmt.Sprintf("Example (md4's .plt from the arm64 corpus with the spare slot 4 written with get_plt_entry(memmove) while plt_num_entries stays 4):\n\n    %s %s: %s", f.Severity, f.Rule, f.Message)
	} else {
		t.Errorf("PLT-ENTRY did not fire on slot 4: %+v", f)
	}
	// crc16's trampoline words (another module's page) copied into md4's.
	pl = md4PLTs(k)
	w := pl.FtraceTramps[0].Want
	pl.FtraceTramps[0] = pltSlot(k, 0, md4FtraceTramp, [3]uint32{0x90287c30, 0x911ee210, 0xd61f0200})
	pl.FtraceTramps[0].Want = w
	if f := find(run(pl), "FTRACE-PLT"); f != nil {
		out["FTRACE-PLT"] = fmt.Sprintf("Example (md4's ftrace trampoline from the arm64 corpus overwritten with crc16's words, made for another address):\n\n    %s %s: %s", f.Severity, f.Rule, f.Message)
	} else {
		t.Error("FTRACE-PLT did not fire on a copied trampoline")
	}
	return out
}

func TestArm64PLTRules(t *testing.T) {
	if ex := arm64PLTExamples(t); len(ex) != 2 {
		t.Errorf("examples %v", ex)
	}
}
