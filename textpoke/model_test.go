package textpoke

import (
	"encoding/binary"
	"strings"
	"testing"
)

// call returns the 5 bytes of "call target" at ip (e8 rel32).
func call(ip, target uint64) []byte {
	b := []byte{opCall, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[1:], uint32(int32(target-(ip+5))))
	return b
}

func entry(i int, ip uint64, opcode byte, disp int32, newb, found []byte) Entry {
	e := Entry{Index: i, Addr: ip, Len: len(newb), Opcode: opcode, Disp: disp, New: newb, Found: found}
	copy(e.Text[:], newb)
	e.Emulation, e.EmulationProblem = emulation(&e)
	return e
}

// TestEmulation: __smp_text_poke_batch_add() sets opcode and disp from the
// text (a call's rel32; a 5-byte nop as JMP32 +0), and the int3 handler
// emulates exactly that; an entry whose emulation goes elsewhere than its
// text (seed 004: emulating a call to ftrace_regs_caller while the site
// becomes a call to the ops trampoline) is named.
func TestEmulation(t *testing.T) {
	const ip, tramp, regsCaller = 0xffffffff81000004, 0xffffffffc0415000, 0xffffffff8104ab00
	good := call(ip, tramp)
	if e := entry(0, ip, opCall, int32(binary.LittleEndian.Uint32(good[1:])), good, nil); e.EmulationProblem != "" {
		t.Errorf("call: %s", e.EmulationProblem)
	}
	if e := entry(0, ip, opJmp32, 0, nop5, nil); e.EmulationProblem != "" {
		t.Errorf("nop5 as jmp +0: %s", e.EmulationProblem)
	}
	bad := entry(0, ip, opCall, int32(regsCaller-(ip+5)), good, nil)
	if !strings.Contains(bad.EmulationProblem, "emulates call 0xffffffff8104ab00") {
		t.Errorf("seed 004 emulation mismatch not named: %q", bad.EmulationProblem)
	}
	if e := entry(0, ip, opCall, 0, nop5, nil); e.EmulationProblem == "" {
		t.Error("a nop emulated as a call: not named")
	}
	if e := entry(0, ip, 0x90, 0, nop5, nil); !strings.Contains(e.EmulationProblem, "BUG()") {
		t.Errorf("an opcode the handler does not emulate: %q", e.EmulationProblem)
	}
}

func batchOf(refs int32, es ...Entry) *Batch {
	b := &Batch{NrEntries: len(es), Entries: es, Refs: []int32{refs, refs}, RefErrs: []error{nil, nil}, Unsorted: -1}
	b.judge()
	return b
}

func int3(b []byte) []byte { return append([]byte{opInt3}, b[1:]...) }

// TestSteps: the three steps of smp_text_poke_batch_finish() in order over
// the vector; a site pattern no step leaves is inconsistent and names the
// entries that break it.
func TestSteps(t *testing.T) {
	ips := []uint64{0xffffffff81000004, 0xffffffff81000104, 0xffffffff81000204}
	olds := make([][]byte, 3)
	news := make([][]byte, 3)
	for i, ip := range ips {
		olds[i], news[i] = nop5, call(ip, 0xffffffffc0415000)
	}
	mk := func(refs int32, found ...[]byte) *Batch {
		var es []Entry
		for i, f := range found {
			es = append(es, entry(i, ips[i], opCall, int32(binary.LittleEndian.Uint32(news[i][1:])), news[i], f))
		}
		return batchOf(refs, es...)
	}
	for _, c := range []struct {
		name     string
		b        *Batch
		step     Step
		progress int
		broken   []int
	}{
		{"queued", mk(0, olds[0], olds[1], olds[2]), Queued, 0, nil},
		{"step 1", mk(1, int3(olds[0]), olds[1], olds[2]), Step1, 1, nil},
		{"step 2", mk(1, int3(news[0]), int3(olds[1]), int3(olds[2])), Step2, 1, nil},
		{"step 3", mk(1, news[0], news[1], int3(news[2])), Step3, 2, nil},
		{"done", mk(1, news[0], news[1], news[2]), Done, 3, nil},
		{"int3 out of order", mk(1, olds[0], int3(olds[1]), olds[2]), Inconsistent, 0, []int{1}},
		{"int3 while queued", mk(0, olds[0], int3(olds[1]), olds[2]), Inconsistent, 0, []int{1}},
		{"new before an old tail", mk(1, news[0], int3(olds[1]), int3(news[2])), Inconsistent, 0, []int{1}},
	} {
		if c.b.Step != c.step || c.step != Inconsistent && c.b.Progress != c.progress || len(c.b.Broken) != len(c.broken) {
			t.Errorf("%s: %s progress %d broken %v; want %s %d %v", c.name, c.b.Step, c.b.Progress, c.b.Broken, c.step, c.progress, c.broken)
		}
		for i := range c.b.Entries {
			_, ok := c.b.Explains(&c.b.Entries[i])
			if want := c.step != Inconsistent; ok != want {
				t.Errorf("%s: entry %d explained %v", c.name, i, ok)
			}
		}
	}
}

// FuzzJudge: any vector of entries and site bytes is judged without a
// panic, and an inconsistent batch explains no site.
func FuzzJudge(f *testing.F) {
	f.Add([]byte{0xe8, 1, 2, 3, 4, 0xcc, 2, 3, 4, 5, 0xe9, 0, 0, 0, 0}, int8(1))
	f.Fuzz(func(t *testing.T, data []byte, refs int8) {
		var es []Entry
		for i := 0; len(data) >= 11 && i < 64; i++ {
			n := int(data[0]%6) + 1
			e := Entry{Index: i, Addr: uint64(i) * 16, Len: n, Opcode: data[1], Disp: int32(binary.LittleEndian.Uint32(data[2:6]))}
			copy(e.Text[:], data[6:11])
			if n == 6 {
				e.New = append([]byte{0x0f}, e.Text[:]...)
			} else {
				e.New = append([]byte(nil), e.Text[:n]...)
			}
			data = data[11:]
			if len(data) >= n {
				e.Found, data = append([]byte(nil), data[:n]...), data[n:]
			}
			e.Emulation, e.EmulationProblem = emulation(&e)
			es = append(es, e)
		}
		b := batchOf(int32(refs), es...)
		_ = b.Summary()
		_ = b.WrongEmulations()
		for i := range b.Entries {
			if _, ok := b.Explains(&b.Entries[i]); ok && b.Step == Inconsistent {
				t.Fatal("an inconsistent batch explains a site")
			}
		}
	})
}
