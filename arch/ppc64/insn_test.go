package ppc64

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// Disassembly lines from seed 000 (/work/shared/seeds/000_*.txt, crash's
// `dis` of an ool_stubs array at 0xc008000007d70dd0 = xfs_stats_format+0x558).
func TestDisasmSeed000(t *testing.T) {
	t.Parallel()
	const base = 0xc008000007d70dd0 - 0x558 // xfs_stats_format
	tests := []struct {
		word uint32
		off  uint64 // offset from xfs_stats_format
		want string
	}{
		{0x7c0802a6, 0x560, "mflr r0"},
		// crash: "bl 0xc008000007d70d80"; 0x4bffffa5 is insn[1] in the
		// seed's struct ftrace_ool_stub dump.
		{0x4bffffa5, 0x564, "bl 0xc008000007d70d80"},
		{0x7c0803a6, 0x568, "mtlr r0"},
		// crash: "b 0xc008000007d70014"; 0x4bfff230 is the seed's insn[3].
		{0x4bfff230, 0x56c, "b 0xc008000007d70014"},
		// The magic "stub" and the halves of funcdata 0xc0080000054e92b8
		// (little-endian) decoded as instructions.
		{STUB_MAGIC, 0x59c, "andi. r20,r27,30050"},
		{0x054e92b8, 0x5a0, ".long 0x54e92b8"},
		{0xc0080000, 0x5a4, "lfs f0,0(r8)"},
		{0, 0x558, ".long 0x0"},
	}
	for _, tc := range tests {
		if got := Disasm(tc.word, base+tc.off); got != tc.want {
			t.Errorf("Disasm(%#08x, %#x) = %q, want %q", tc.word, base+tc.off, got, tc.want)
		}
	}
}

// The seed's livepatch call stub: `addis r11,r2,4 / addi r11,r11,-29448 /
// std r2,24(r1) / ld r12,32(r11) / mtctr r12 / bctr` is what create_stub()
// writes for reladdr = 4<<16 - 29448.
func TestCallStubWordsSeed000(t *testing.T) {
	t.Parallel()
	const r2 = 0xc008000007e58100
	reladdr := int64(4<<16 - 29448)
	words, err := CallStubWords(ELFv2, r2+uint64(reladdr), r2)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"addis r11,r2,4", "addi r11,r11,-29448", "std r2,24(r1)", "ld r12,32(r11)", "mtctr r12", "bctr"}
	if len(words) != len(want) {
		t.Fatalf("%d words, want %d", len(words), len(want))
	}
	for i, w := range words {
		if got := Disasm(w, 0); got != want[i] {
			t.Errorf("word %d %#08x = %q, want %q", i, w, got, want[i])
		}
	}
	if _, err := CallStubWords(ELFv2, r2+0x80000000, r2); err == nil {
		t.Error("stub 2 GiB above r2 accepted")
	}
}

func TestCallStubVariants(t *testing.T) {
	t.Parallel()
	// ELFv1: std r2,40(r1) and ld r2,40(r11) (module_64.c ppc64_stub_insns
	// under CONFIG_PPC64_ELF_ABI_V1).
	w, err := CallStubWords(ELFv1, 0x1000, 0x1000)
	if err != nil {
		t.Fatal(err)
	}
	wantV1 := []string{"addis r11,r2,0", "addi r11,r11,0", "std r2,40(r1)", "ld r12,32(r11)", "ld r2,40(r11)", "mtctr r12", "bctr"}
	for i := range wantV1 {
		if i >= len(w) || Disasm(w[i], 0) != wantV1[i] {
			t.Fatalf("ELFv1 stub = %v, want %v", w, wantV1)
		}
	}
	// PCREL: PPC_PREFIX_8LS | __PPC_PRFX_R(1), PPC_INST_PLD | RT(12) |
	// IMM_L(32) (ppc-opcode.h: 0x04000000, 1<<20, 0xe4000000).
	w, err = CallStubWords(PCREL, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 4 || w[0] != 0x04100000 || w[1] != 0xe5800020 || w[2] != 0x7d8903a6 || w[3] != 0x4e800420 {
		t.Errorf("PCREL stub = %#x", w)
	}
	if got := DisasmPrefixed(w[0], w[1], 0x1000); !strings.HasPrefix(got, "pld r12,32") || !strings.Contains(got, "0x1020") {
		t.Errorf("DisasmPrefixed(pld) = %q, want pld r12,32 with target 0x1020", got)
	}
}

func TestBranch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		word   uint32
		pc     uint64
		target uint64
		link   bool
		ok     bool
	}{
		{0x4bffffa5, 0xc008000007d70ddc, 0xc008000007d70d80, true, true},
		{0x4bfff230, 0xc008000007d70de4, 0xc008000007d70014, false, true},
		{0x48000064, 0x1000, 0x1064, false, true},
		{0x49fffffc, 0x1000, 0x1000 + 0x1fffffc, false, true},
		{0x4a000000, 0x4000000, 0x2000000, false, true},
		{0x48000102, 0x5000, 0x100, false, true},  // ba 0x100
		{0x41820010, 0x1000, 0x1010, false, true}, // beq +16
		{0x4082fff1, 0x1000, 0xff0, true, true},   // bnel -16
		{PPC_RAW_NOP, 0x1000, 0, false, false},
		{PPC_RAW_BCTR, 0x1000, 0, false, false},
	}
	for _, tc := range tests {
		target, link, ok := BranchTarget(tc.word, tc.pc)
		if ok != tc.ok || (ok && (target != tc.target || link != tc.link)) {
			t.Errorf("BranchTarget(%#08x, %#x) = %#x, %v, %v; want %#x, %v, %v", tc.word, tc.pc, target, link, ok, tc.target, tc.link, tc.ok)
		}
		if !tc.ok || tc.word&2 != 0 || tc.word>>26 != 18 {
			continue
		}
		w, err := EncodeBranch(tc.pc, tc.target, tc.link)
		if err != nil || w != tc.word {
			t.Errorf("EncodeBranch(%#x, %#x, %v) = %#08x, %v; want %#08x", tc.pc, tc.target, tc.link, w, err, tc.word)
		}
	}
	for _, to := range []uint64{0x1000 + 0x2000000, 0xfffffffffe000ffc, 0x1002} {
		if _, err := EncodeBranch(0x1000, to, false); err == nil {
			t.Errorf("EncodeBranch(0x1000, %#x) accepted", to) // +32M, -32M-4, unaligned
		}
	}
}

func TestHALOAndAddisAddi(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v      int64
		ha, lo uint16
	}{
		{0x38cf8, 4, 0x8cf8},
		{-0x280c0, 0xfffd, 0x7f40},  // modarch_dump's stub 0 (corpus)
		{-0x75b048, 0xff8a, 0x4fb8}, // ftrace_caller - .TOC. (corpus)
		{0x7fff, 0, 0x7fff},
		{0x8000, 1, 0x8000},
		{0, 0, 0},
	}
	for _, tc := range tests {
		if PPC_HA(tc.v) != tc.ha || PPC_LO(tc.v) != tc.lo {
			t.Errorf("HA/LO(%#x) = %#x/%#x, want %#x/%#x", tc.v, PPC_HA(tc.v), PPC_LO(tc.v), tc.ha, tc.lo)
		}
		rt, ra, off, ok := DecodeAddisAddi(ppcRawADDIS(11, 2, tc.ha), ppcRawADDI(11, 11, tc.lo))
		if !ok || rt != 11 || ra != 2 || off != tc.v {
			t.Errorf("DecodeAddisAddi(HA/LO(%#x)) = r%d, r%d, %#x, %v", tc.v, rt, ra, off, ok)
		}
	}
	// The seed's pair.
	if rt, ra, off, ok := DecodeAddisAddi(0x3d620004, 0x396b8cf8); !ok || rt != 11 || ra != 2 || off != 4<<16-29448 {
		t.Errorf("DecodeAddisAddi(seed) = r%d, r%d, %d, %v", rt, ra, off, ok)
	}
	if _, _, _, ok := DecodeAddisAddi(0x3d620004, 0x396c8cf8); ok { // addi r11,r12: wrong base
		t.Error("mismatched addis/addi pair accepted")
	}
	if _, _, _, ok := DecodeAddisAddi(PPC_RAW_NOP, 0x396b8cf8); ok {
		t.Error("nop accepted as addis")
	}
}

func TestOOLStubErrors(t *testing.T) {
	t.Parallel()
	if _, err := OOLStubWords(0xc008000000000000, 0xc008000004000000, 0xc008000000000100); err == nil {
		t.Error("tramp 64 MiB away accepted")
	}
	if _, err := FtraceTrampStubWords(0x10, 0xc000000000000000, 0xc000000100000000); err == nil {
		t.Error("target 4 GiB from the TOC accepted")
	}
}

// .TOC. of the corpus kernels (kernels/7.2.13-*/System.map) and
// offsetof(struct paca_struct, kernel_toc) as the corpus kernels' ftrace
// stubs encode it (ld r12,16(r13)).
const (
	corpusKernelTOC   = 0xc0000000007a8000
	corpusPacaKernTOC = 16
)

func hexWord(t *testing.T, s string) uint32 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 32)
	if err != nil {
		t.Fatalf("bad hex word %q: %v", s, err)
	}
	return uint32(v)
}

// TestStubTemplatesCorpus rebuilds every call stub, ftrace trampoline stub
// and OOL ftrace stub the corpus kernels wrote, from the addresses in
// truth.json, and compares the words.
func TestStubTemplatesCorpus(t *testing.T) {
	t.Parallel()
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			tr := testcorpus.LoadTruth(t, testcorpus.Dir(t, dir))
			var nCall, nFtrace, nOOL int
			for _, m := range tr.DumpModules() {
				name, _ := m["name"].(string)
				arch, _ := m["arch"].(map[string]any)
				secs, _ := m["sections"].(map[string]any)
				slots, _ := m["stub_slots"].([]any)
				for _, s := range slots {
					slot := s.(map[string]any)
					if slot["magic"] != fmt.Sprintf("%#x", STUB_MAGIC) {
						continue
					}
					jumpAny, _ := slot["jump"].([]any)
					var jump []uint32
					for _, j := range jumpAny {
						jump = append(jump, hexWord(t, j.(string)))
					}
					addr := testcorpus.Hex(t, slot["addr"])
					sym, _ := slot["funcdata_sym"].(string)
					var want []uint32
					var err error
					switch sym {
					case "ftrace_caller", "ftrace_regs_caller":
						want, err = FtraceTrampStubWords(corpusPacaKernTOC, corpusKernelTOC, testcorpus.Hex(t, slot["funcdata"]))
						nFtrace++
					default:
						toc, ok := secs[".toc"]
						if !ok {
							continue
						}
						r2 := testcorpus.Hex(t, toc)&^0xff + 0x8000 // my_r2()
						want, err = CallStubWords(ELFv2, addr, r2)
						nCall++
					}
					if err != nil {
						t.Errorf("%s slot %v: %v", name, slot["index"], err)
						continue
					}
					for i, w := range want {
						if i >= len(jump) || jump[i] != w {
							t.Errorf("%s slot %v (%s) word %d = %#08x, want %#08x (truth %v)", name, slot["index"], sym, i, w, jumpAny[i], jumpAny)
							break
						}
					}
				}
				ools, _ := m["ool_stubs_decoded"].([]any)
				for _, o := range ools {
					ool := o.(map[string]any)
					insnAny, _ := ool["insn"].([]any)
					if len(insnAny) != 4 || ool["call_target"] == nil || ool["return_target"] == nil {
						continue
					}
					if hexWord(t, insnAny[0].(string)) != PPC_RAW_MFLR_R0 {
						continue // overwritten (buggy-radix's klp_stub_bug)
					}
					stub := testcorpus.Hex(t, ool["addr"]) + 8 // &insn[0], after ftrace_op
					tramp := testcorpus.Hex(t, arch["tramp"])
					ip := testcorpus.Hex(t, ool["return_target"]) - MCOUNT_INSN_SIZE
					want, err := OOLStubWords(stub, tramp, ip)
					if err != nil {
						t.Errorf("%s ool %v: %v", name, ool["index"], err)
						continue
					}
					for i := range want {
						if got := hexWord(t, insnAny[i].(string)); got != want[i] {
							t.Errorf("%s ool %v insn[%d] = %#08x, want %#08x", name, ool["index"], i, want[i], got)
						}
					}
					// And decoding goes the other way.
					if tgt, link, ok := BranchTarget(want[1], stub+4); !ok || !link || tgt != testcorpus.Hex(t, ool["call_target"]) {
						t.Errorf("%s ool %v: bl target %#x, truth %v", name, ool["index"], tgt, ool["call_target"])
					}
					nOOL++
				}
			}
			if nCall == 0 || nFtrace == 0 || nOOL == 0 {
				t.Errorf("checked %d call stubs, %d ftrace stubs, %d OOL stubs: expected some of each", nCall, nFtrace, nOOL)
			}
			t.Logf("%d call stubs, %d ftrace stubs, %d OOL stubs match", nCall, nFtrace, nOOL)
		})
	}
}

// FuzzDisasm: any word or pair disassembles without panicking, to a
// non-empty line.
func FuzzDisasm(f *testing.F) {
	for _, w := range []uint32{0x4bffffa5, 0x73747562, 0x04100000, 0x06000000, 0, 0xffffffff, 0x7c0802a6} {
		var b [8]byte
		binary.LittleEndian.PutUint32(b[:], w)
		binary.LittleEndian.PutUint32(b[4:], 0xe5800020)
		f.Add(b[:], uint64(0xc008000000000000))
	}
	f.Fuzz(func(t *testing.T, b []byte, pc uint64) {
		if len(b) < 4 {
			return
		}
		w := binary.BigEndian.Uint32(b)
		if Disasm(w, pc) == "" {
			t.Fatalf("empty disassembly of %#08x", w)
		}
		s, n := DisasmBytes(b, pc, binary.LittleEndian)
		if s == "" || (n != 4 && n != 8) {
			t.Fatalf("DisasmBytes(%s) = %q, %d", hex.EncodeToString(b), s, n)
		}
		_, _, _ = BranchTarget(w, pc) // must not panic
	})
}
