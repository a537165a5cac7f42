package symbols_test

import (
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// TestReturnLocationNoreturn: in the committed crash example, die() calls
// panic(), which calls vpanic() as its last instruction (both noreturn):
// the return address saved for panic's frame, 0xc00000000015f4b8, is
// panic's own end (its symbol's address + size in the vmlinux), the
// first byte of do_panic_on_target_cpu. ReturnLocation names the caller,
// panic, at the return address's offset into it; a return address inside
// a function is named as the plain lookup names it.
func TestReturnLocationNoreturn(t *testing.T) {
	path, err := container.Open(filepath.Join("..", "testdata", "example", "crash-ool-op-over-stub", "vmlinux.zst"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := symbols.OpenELF(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab := f.Table()
	panicSym, ok := tab.ByName("panic")
	if !ok {
		t.Fatal("no panic in the vmlinux")
	}
	next, ok := tab.ByName("do_panic_on_target_cpu")
	if !ok || next.Addr != panicSym.Addr+panicSym.Size {
		t.Fatalf("panic %#x+%#x, do_panic_on_target_cpu %#x: not adjacent in this vmlinux", panicSym.Addr, panicSym.Size, next.Addr)
	}
	const ret = 0xc00000000015f4b8 // bt's frame of panic() (the guest's trace: "do_panic_on_target_cpu+0x0/0x28")
	if ret != next.Addr {
		t.Fatalf("the example's return address %#x is not do_panic_on_target_cpu (%#x)", uint64(ret), next.Addr)
	}
	lookup := func(a uint64) symbols.Location {
		s, off, ok := tab.ByAddr(a)
		if !ok {
			return symbols.Location{Addr: a}
		}
		return symbols.Location{Addr: a, Symbol: &s, Off: off}
	}
	if got := symbols.ReturnLocation(lookup, ret); got.Symbol == nil || got.Symbol.Name != "panic" || got.Off != panicSym.Size {
		t.Errorf("ReturnLocation(%#x) = %v, want panic+%#x", uint64(ret), got, panicSym.Size)
	}
	inside := panicSym.Addr + 8
	if got := symbols.ReturnLocation(lookup, inside); got.Symbol == nil || got.Symbol.Name != "panic" || got.Off != 8 {
		t.Errorf("ReturnLocation(%#x) = %v, want panic+0x8", inside, got)
	}
}
