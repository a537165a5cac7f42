package kernel

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/dump"
)

// listMem builds a list_head at head and struct modules (list at +8) at
// the given addresses, each next pointer as given (the last entry's next
// is nexts[len-1]); the head's next is the first module's list.
func listMem(head uint64, mods []uint64, lastNext uint64) *fakeMem {
	le := binary.LittleEndian
	m := &fakeMem{segs: map[uint64][]byte{}}
	h := make([]byte, 16)
	if len(mods) > 0 {
		le.PutUint64(h, mods[0]+8)
	} else {
		le.PutUint64(h, head)
	}
	m.segs[head] = h
	for i, a := range mods {
		b := make([]byte, 144)
		le.PutUint32(b[0:], uint32(i))
		next := lastNext
		if i+1 < len(mods) {
			next = mods[i+1] + 8
		}
		le.PutUint64(b[8:], next)
		m.segs[a] = b
	}
	return m
}

func TestListForEachEntry(t *testing.T) {
	t.Parallel()
	ts := synthTypes(t)
	const head = 0xc000000000100000
	mods := []uint64{0xc008000000010000, 0xc008000000020000, 0xc008000000030000}
	tests := []struct {
		name     string
		mem      *fakeMem
		max      int
		wantN    int
		wantKind ListErrorKind
		wantAt   uint64
	}{
		{"ok", listMem(head, mods, head), 0, 3, 0, 0},
		{"empty", listMem(head, nil, 0), 0, 0, 0, 0},
		{"cycle", listMem(head, mods, mods[1]+8), 0, 3, ListCycle, mods[1] + 8},
		{"self loop", listMem(head, mods[:1], mods[0]+8), 0, 1, ListCycle, mods[0] + 8},
		{"null", listMem(head, mods, 0), 0, 3, ListBadPointer, mods[2] + 8},
		{"unreadable", listMem(head, mods, 0xc00800000ff00000), 0, 3, ListBadPointer, 0xc00800000ff00000},
		{"too long", listMem(head, mods, head), 2, 2, ListTooLong, mods[2] + 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := &Context{Mem: tt.mem, Order: binary.LittleEndian, Types: ts, PtrSize: 8, MaxList: tt.max}
			n := 0
			var gotErr error
			for o, err := range ListForEachEntry(ctx, head, "struct module", "list") {
				if err != nil {
					gotErr = err
					break
				}
				// Entries come in list order with their own state = index.
				if o.Addr != mods[n] {
					t.Errorf("entry %d at %#x, want %#x", n, o.Addr, mods[n])
				}
				if v, err := mustMember(t, o, "state").Int(); err != nil || v != int64(n) {
					t.Errorf("entry %d state %d, %v", n, v, err)
				}
				n++
			}
			if n != tt.wantN {
				t.Errorf("%d entries, want %d", n, tt.wantN)
			}
			if tt.wantKind == 0 {
				if gotErr != nil {
					t.Errorf("error %v", gotErr)
				}
				return
			}
			var le *ListError
			if !errors.As(gotErr, &le) || le.Kind != tt.wantKind || le.Addr != tt.wantAt {
				t.Fatalf("error %v, want %v at %#x", gotErr, tt.wantKind, tt.wantAt)
			}
			if tt.name == "unreadable" {
				if _, ok := dump.IsFault(gotErr); !ok {
					t.Errorf("bad-pointer error does not wrap the fault: %v", gotErr)
				}
			}
		})
	}
}

func TestListForEachEntryBreak(t *testing.T) {
	t.Parallel()
	ts := synthTypes(t)
	const head = 0xc000000000100000
	mods := []uint64{0xc008000000010000, 0xc008000000020000}
	ctx := &Context{Mem: listMem(head, mods, head), Order: binary.LittleEndian, Types: ts, PtrSize: 8}
	n := 0
	for range ListForEachEntry(ctx, head, "struct module", "list") {
		n++
		break
	}
	if n != 1 {
		t.Errorf("break after 1 yielded %d", n)
	}
	for _, err := range ListForEachEntry(ctx, head, "struct module", "nosuch") {
		var me *MemberError
		if !errors.As(err, &me) {
			t.Errorf("unknown member: %v", err)
		}
	}
}

// FuzzObjectOverRandomMemory reads struct module members and walks its
// list over fuzz bytes: nothing may panic, and every failure is an error.
func FuzzObjectOverRandomMemory(f *testing.F) {
	f.Add(make([]byte, 160), uint8(0))
	seed := make([]byte, 160)
	binary.LittleEndian.PutUint64(seed[8:], 0x1000+8)
	f.Add(seed, uint8(3))
	ts := synthTypes(f)
	paths := []string{"arch.stub_count", "mem[MOD_DATA].base", "klp_info->sechdrs", "a", "s", "name", "namep", "arch.ool_stubs[2].insn[3]", "flex[100]"}
	f.Fuzz(func(t *testing.T, mem []byte, which uint8) {
		ctx := &Context{Mem: &fakeMem{segs: map[uint64][]byte{0x1000: mem}}, Order: binary.LittleEndian, Types: ts, PtrSize: 8, MaxList: 64}
		if which&1 != 0 {
			ctx.Order = binary.BigEndian
		}
		mod, err := NewObject(ctx, "struct module", 0x1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			if m, err := mod.Member(p); err == nil {
				m.Uint()
				m.Int()
				m.CString(32)
				m.Bytes()
				m.Fields()
			}
		}
		n := 0
		for _, err := range ListForEachEntry(ctx, 0x1000+8, "struct module", "list") {
			n++
			if err != nil {
				break
			}
		}
		if n > 65 {
			t.Fatalf("walk yielded %d > cap", n)
		}
	})
}
