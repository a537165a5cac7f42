package symbols

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/ctype"
)

// TestBTFDWARFOnDemand: BTF-backed Types with the DWARF of the same
// object behind them answer per-CPU variables from the BTF, declared ones
// from the declarations, every other variable from the DWARF — which is
// opened once, and only then: type lookups, hits and misses alike, and
// feature-detection probes never open it.
func TestBTFDWARFOnDemand(t *testing.T) {
	t.Parallel()
	for _, e := range []string{"le", "be"} {
		t.Run(e, func(t *testing.T) {
			bt, dt, _ := kernelishTypes(t, e)
			var opens atomic.Int32
			bt.SetDWARF(func() (*Types, error) {
				opens.Add(1)
				return dt, nil
			})
			bt.SetVariableDecls(func(ts *Types, name string) (ctype.Type, bool) {
				if name != "kernelish_btf_module" {
					return nil, false
				}
				ty, err := ts.Lookup("struct btf_module")
				return ty, err == nil
			})
			if !bt.HasDWARF() || bt.DWARFOpened() {
				t.Fatalf("HasDWARF %v, opened %v before any question", bt.HasDWARF(), bt.DWARFOpened())
			}
			for _, n := range []string{"struct module_like", "struct no_such_type", "enum mod_mem_type", "u64"} {
				bt.Lookup(n)
			}
			bt.EnumConstant("MOD_RODATA")
			bt.EnumConstant("NO_SUCH")
			bt.Offsetof("struct module_like", "mem[MOD_DATA].size")
			if ty, err := bt.VariableType("percpu_counter"); err != nil || ty.Size() != 8 {
				t.Errorf("per-CPU variable: %v, %v", ty, err)
			}
			if ty, err := bt.VariableType("kernelish_btf_module"); err != nil || ty.String() != "struct btf_module" {
				t.Errorf("declared variable: %v, %v", ty, err)
			}
			if opens.Load() != 0 || bt.DWARFOpened() {
				t.Fatalf("the DWARF was opened %d times before a question only it answers", opens.Load())
			}
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					ty, err := bt.VariableType("global_mod")
					if err != nil || Underlying(ty).(*ctype.StructType).StructName != "module_like" {
						t.Errorf("variable from the DWARF: %v, %v", ty, err)
					}
				})
			}
			wg.Wait()
			if opens.Load() != 1 || !bt.DWARFOpened() {
				t.Errorf("the DWARF was opened %d times", opens.Load())
			}
			// A variable neither has.
			_, err := bt.VariableType("no_such_variable")
			var le *LookupError
			if !errors.As(err, &le) || !errors.Is(err, ErrNotFound) || le.Source != "BTF or DWARF" {
				t.Errorf("missing variable: %v", err)
			}
			// The DWARF's Data, through the BTF-backed Types.
			if d, err := bt.Data(); err != nil || d == nil {
				t.Errorf("Data: %v, %v", d, err)
			}
			if got, err := bt.DWARF(); got != dt || err != nil {
				t.Errorf("DWARF() = %p, %v; want %p", got, err, dt)
			}
		})
	}
}

// TestBTFDWARFUnavailable: without DWARF behind them, or with DWARF that
// fails to open, BTF-backed Types say so and keep answering from the BTF.
func TestBTFDWARFUnavailable(t *testing.T) {
	t.Parallel()
	bt, _, _ := kernelishTypes(t, "le")
	if bt.HasDWARF() {
		t.Error("HasDWARF without SetDWARF")
	}
	if _, err := bt.Data(); !errors.Is(err, ErrNoDWARF) {
		t.Errorf("Data: %v", err)
	}
	if _, err := bt.VariableType("global_mod"); !errors.Is(err, ErrNotInBTF) {
		t.Errorf("variable: %v", err)
	}
	bad := errors.New("the file went away")
	bt2, _, _ := kernelishTypes(t, "le")
	bt2.SetDWARF(func() (*Types, error) { return nil, bad })
	_, err := bt2.VariableType("global_mod")
	if !errors.Is(err, ErrNotInBTF) || err == nil || !strings.Contains(err.Error(), "the file went away") {
		t.Errorf("variable with a failing DWARF: %v", err)
	}
	if _, err := bt2.Data(); !errors.Is(err, bad) {
		t.Errorf("Data with a failing DWARF: %v", err)
	}
	if ty, err := bt2.VariableType("percpu_counter"); err != nil || ty.Size() != 8 {
		t.Errorf("per-CPU variable after the DWARF failed: %v, %v", ty, err)
	}
}
