package ftrace

import (
	"fmt"
	"math/bits"
	"strings"
)

// The FTRACE_FL_* flags of struct dyn_ftrace.flags (include/linux/ftrace.h,
// an anonymous enum: DWARF has the enumerators, not a type name).
const (
	FL_ENABLED     = "FTRACE_FL_ENABLED"
	FL_REGS        = "FTRACE_FL_REGS"
	FL_REGS_EN     = "FTRACE_FL_REGS_EN"
	FL_TRAMP       = "FTRACE_FL_TRAMP"
	FL_TRAMP_EN    = "FTRACE_FL_TRAMP_EN"
	FL_IPMODIFY    = "FTRACE_FL_IPMODIFY"
	FL_DISABLED    = "FTRACE_FL_DISABLED"
	FL_DIRECT      = "FTRACE_FL_DIRECT"
	FL_DIRECT_EN   = "FTRACE_FL_DIRECT_EN"
	FL_CALL_OPS    = "FTRACE_FL_CALL_OPS"
	FL_CALL_OPS_EN = "FTRACE_FL_CALL_OPS_EN"
	FL_TOUCHED     = "FTRACE_FL_TOUCHED"
	FL_MODIFIED    = "FTRACE_FL_MODIFIED"
)

// flagDefaults are the 7.2 values (include/linux/ftrace.h), used only when
// the DWARF lacks an enumerator.
var flagDefaults = []struct {
	name string
	val  uint64
}{
	{FL_ENABLED, 1 << 31}, {FL_REGS, 1 << 30}, {FL_REGS_EN, 1 << 29},
	{FL_TRAMP, 1 << 28}, {FL_TRAMP_EN, 1 << 27}, {FL_IPMODIFY, 1 << 26},
	{FL_DISABLED, 1 << 25}, {FL_DIRECT, 1 << 24}, {FL_DIRECT_EN, 1 << 23},
	{FL_CALL_OPS, 1 << 22}, {FL_CALL_OPS_EN, 1 << 21}, {FL_TOUCHED, 1 << 20},
	{FL_MODIFIED, 1 << 19},
}

// EnumSource resolves enumeration constants (*symbols.Types is one).
type EnumSource interface {
	EnumConstant(name string) (int64, error)
}

// FlagLayout is the dump kernel's FTRACE_FL_* values and reference-count
// mask. A flag the kernel does not have is 0 (never set).
type FlagLayout struct {
	Bits map[string]uint64
	// Order lists the flag names from the highest bit down.
	Order []string
	// RefMask is FTRACE_REF_MAX: the low bits below the lowest flag
	// (FTRACE_REF_MAX_SHIFT is a #define DWARF does not keep; in every
	// kernel the count sits below the lowest flag).
	RefMask  uint64
	Warnings []string
}

// DefaultFlagLayout is the 7.2 layout (include/linux/ftrace.h).
func DefaultFlagLayout() *FlagLayout {
	l := &FlagLayout{Bits: map[string]uint64{}}
	for _, d := range flagDefaults {
		l.Bits[d.name] = d.val
		l.Order = append(l.Order, d.name)
	}
	l.RefMask = 1<<19 - 1
	return l
}

// DetectFlagLayout takes every FTRACE_FL_* value from the DWARF
// enumerators; a missing one falls back to the 7.2 value with a warning,
// unless none is present at all (then all fall back, one warning). The
// values must be distinct single bits.
func DetectFlagLayout(es EnumSource) *FlagLayout {
	l := &FlagLayout{Bits: map[string]uint64{}}
	var missing []string
	found := 0
	for _, d := range flagDefaults {
		v, err := int64(0), error(nil)
		if es != nil {
			v, err = es.EnumConstant(d.name)
		} else {
			err = fmt.Errorf("no types")
		}
		if err != nil || v <= 0 || bits.OnesCount64(uint64(v)) != 1 {
			missing = append(missing, d.name)
			continue
		}
		found++
		l.Bits[d.name] = uint64(v)
	}
	switch {
	case found == 0:
		// No enumerator at all: types without them (a minimal or damaged
		// DWARF). The 7.2 layout is a guess, said as such.
		for _, d := range flagDefaults {
			l.Bits[d.name] = d.val
		}
		l.Warnings = append(l.Warnings, "no FTRACE_FL_* enumerators in the types: using the 7.2 values of include/linux/ftrace.h")
	case len(missing) > 0:
		// The kernel's enum has them or not: older kernels lack the
		// newer flags (6.1 has no CALL_OPS, TOUCHED, MODIFIED) and their
		// reference count reaches the bits those take in 7.2. A missing
		// flag is never set (0).
		for _, n := range missing {
			l.Bits[n] = 0
		}
	}
	// Distinct bits, ordered high to low.
	seen := map[uint64]string{}
	low := uint64(1) << 63
	for _, d := range flagDefaults {
		v := l.Bits[d.name]
		if v == 0 {
			continue
		}
		if o, dup := seen[v]; dup {
			l.Warnings = append(l.Warnings, fmt.Sprintf("%s and %s share the value %#x", o, d.name, v))
		}
		seen[v] = d.name
		if v < low {
			low = v
		}
	}
	l.Order = make([]string, 0, len(flagDefaults))
	for _, d := range flagDefaults {
		l.Order = append(l.Order, d.name)
	}
	sortByBit(l.Order, l.Bits)
	l.RefMask = low - 1
	return l
}

func sortByBit(names []string, b map[string]uint64) {
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && b[names[j]] > b[names[j-1]]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
}

// Flags is one dyn_ftrace.flags value with the layout to decode it.
type Flags struct {
	Raw    uint64
	Layout *FlagLayout
}

// Has reports whether the named FTRACE_FL_* flag is set.
func (f Flags) Has(name string) bool {
	if f.Layout == nil {
		return false
	}
	b := f.Layout.Bits[name]
	return b != 0 && f.Raw&b != 0
}

// Count is ftrace_rec_count(rec): the number of ops that want the record.
func (f Flags) Count() uint64 {
	if f.Layout == nil {
		return 0
	}
	return f.Raw & f.Layout.RefMask
}

// Names lists the set flags, highest bit first, without the prefix
// ("ENABLED", "IPMODIFY"), and any unknown bits above the count as hex.
func (f Flags) Names() []string {
	if f.Layout == nil {
		return nil
	}
	var out []string
	known := f.Layout.RefMask
	for _, n := range f.Layout.Order {
		b := f.Layout.Bits[n]
		known |= b
		if f.Raw&b != 0 {
			out = append(out, strings.TrimPrefix(n, "FTRACE_FL_"))
		}
	}
	if u := f.Raw &^ known; u != 0 {
		out = append(out, fmt.Sprintf("%#x", u))
	}
	return out
}

// Letters is the flag part of a line of /sys/kernel/tracing/
// enabled_functions, as t_show() (kernel/trace/ftrace.c) prints it after
// the function name: " (count)" then R (REGS), I (IPMODIFY), D (DIRECT),
// O (CALL_OPS), M (MODIFIED), each a space when clear.
func (f Flags) Letters() string {
	pick := func(name, set, clear string) string {
		if f.Has(name) {
			return set
		}
		return clear
	}
	return fmt.Sprintf(" (%d)%s%s%s%s%s", f.Count(),
		pick(FL_REGS, " R", "  "), pick(FL_IPMODIFY, " I", "  "),
		pick(FL_DIRECT, " D", "  "), pick(FL_CALL_OPS, " O", "  "),
		pick(FL_MODIFIED, " M ", "   "))
}

func (f Flags) String() string {
	n := f.Names()
	if len(n) == 0 { // no flag set: not "0x0 (; count 0)"
		return fmt.Sprintf("%#x (count %d)", f.Raw, f.Count())
	}
	return fmt.Sprintf("%#x (%s; count %d)", f.Raw, strings.Join(n, "|"), f.Count())
}
