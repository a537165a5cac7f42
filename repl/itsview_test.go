package repl

import (
	"encoding/hex"
	"strconv"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// TestITSExample: on the committed x86-its extract, `its MODULE --json`
// gives each module's thunks as decoded independently here from drgn's
// reading of every byte of its ITS pages (truth.json): runs of bytes that
// are not the int3 fill, each "jmp *%reg; int3" (ff e0+r cc, with 41 for
// r8-r15, its_init_thunk() in arch/x86/kernel/alternative.c), at the same
// address, through the same register.
func TestITSExample(t *testing.T) {
	const dir = "../testdata/example/x86-its"
	var truth struct {
		Modules map[string]struct {
			Num   int      `json:"num"`
			Pages []string `json:"page_addrs"`
			Bytes []string `json:"page_bytes"`
		} `json:"modules"`
	}
	testcorpus.LoadTruthInto(t, dir, &truth)
	if len(truth.Modules) < 3 {
		t.Fatalf("truth.json has %d modules", len(truth.Modules))
	}
	regs := []string{"%rax", "%rcx", "%rdx", "%rbx", "%rsp", "%rbp", "%rsi", "%rdi", "%r8", "%r9", "%r10", "%r11", "%r12", "%r13", "%r14", "%r15"}
	s := exampleSessions(t, "x86-its")["x86-its"]
	for name, m := range truth.Modules {
		t.Run(name, func(t *testing.T) {
			type thunk struct {
				addr uint64
				reg  string
			}
			var want []thunk
			for i, pg := range m.Pages {
				base, err := strconv.ParseUint(pg, 0, 64)
				if err != nil {
					t.Fatal(err)
				}
				raw, err := hex.DecodeString(m.Bytes[i])
				if err != nil {
					t.Fatal(err)
				}
				for j := 0; j < len(raw); j++ {
					switch {
					case raw[j] == 0xcc:
					case j+3 < len(raw) && raw[j] == 0x41 && raw[j+1] == 0xff && raw[j+2]&0xf8 == 0xe0 && raw[j+3] == 0xcc:
						want = append(want, thunk{base + uint64(j), regs[8+raw[j+2]&7]})
						j += 3
					case j+2 < len(raw) && raw[j] == 0xff && raw[j+1]&0xf8 == 0xe0 && raw[j+2] == 0xcc:
						want = append(want, thunk{base + uint64(j), regs[raw[j+1]&7]})
						j += 2
					default:
						t.Fatalf("truth: byte %#x at page %d offset %#x is neither int3 nor a thunk", raw[j], i, j)
					}
				}
			}
			var v ITSView
			jsonData(t, s, "its", "its --json "+name, &v)
			if len(v.Pages) != m.Num || len(v.Strays) != 0 {
				t.Errorf("%d pages, %d strays; drgn: %d pages", len(v.Pages), len(v.Strays), m.Num)
			}
			if len(v.Thunks) != len(want) || len(want) == 0 {
				t.Fatalf("thunks %+v, from drgn's bytes %+v", v.Thunks, want)
			}
			for i, w := range want {
				got := v.Thunks[i]
				if uint64(got.Addr) != w.addr || got.Reg != w.reg || got.Misplaced || len(got.Findings) > 0 {
					t.Errorf("thunk %d: %+v, from drgn's bytes %#x jmp *%s", i, got, w.addr, w.reg)
				}
			}
		})
	}
	var v ITSView
	jsonData(t, exampleSessions(t, "arm64-ftrace-ops")["arm64-ftrace-ops"], "its", "its --json kdi_ftrace", &v)
	if v.NotApplicable == "" || len(v.Thunks) != 0 {
		t.Errorf("arm64: %+v, want not applicable", v)
	}
}
