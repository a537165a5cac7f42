package arch

// The capabilities below are what an architecture's kernels have that
// others lack. The models of these mechanisms live above this layer (they
// read tasks, modules, ftrace state and DWARF); the architecture says only
// whether its kernels have them, so that the packages above ask it and
// never switch on an architecture's name.

// Feature is a kernel mechanism that only some architectures have.
type Feature int

const (
	// TextPokeBatch: live text patched in batches through an int3 at each
	// site (x86's text_poke_array, smp_text_poke_batch_finish()): package
	// textpoke models it, the TEXT-POKE rule and FTRACE-SITE ask it.
	TextPokeBatch Feature = iota + 1
	// OpsTrampolines: ftrace_ops trampolines allocated as copies of
	// ftrace_caller or ftrace_regs_caller (x86's create_trampoline()):
	// the FTRACE-OPS-TRAMP rule checks them, the unwinder maps addresses
	// in them to the code they copy (orc_ftrace_find()).
	OpsTrampolines
	// ITSThunks: module indirect branches through ITS thunk pages (x86's
	// its_alloc()): the ITS-THUNK rule.
	ITSThunks
	// TOCStubs: module code reaches data and other modules through the
	// TOC pointer (r2) and the loader's .stubs (ppc64's module_64.c): dis
	// shows .stubs word by word and follows the TOC arithmetic.
	TOCStubs
)

// Features is implemented by architectures with any Feature.
type Features interface {
	Has(Feature) bool
}

// Has says whether k's kernels have mechanism f (false for nil k or an
// architecture without Features).
func Has(k Kernel, f Feature) bool {
	fs, ok := k.(Features)
	return ok && fs.Has(f)
}

// Unwind names how an architecture's kernel stacks are unwound. The
// unwinders live in package stack (they read tasks, module tables and
// DWARF); the architecture names the one its kernels need.
type Unwind int

const (
	// UnwindBackChain: the back chain and the LR save doublewords, frames
	// laid out by the ABI (ppc64's show_stack()).
	UnwindBackChain Unwind = iota
	// UnwindORC: unwind_orc.c over the vmlinux's and modules' ORC tables
	// (x86_64).
	UnwindORC
	// UnwindFrameRecords: the frame records x29/x30 chain (arm64's
	// unwind_next_frame_record()).
	UnwindFrameRecords
)

// Unwinding is implemented by architectures that say how they unwind.
type Unwinding interface {
	Unwind() Unwind
}

// UnwindOf is k's unwinder: the back chain for nil k or an architecture
// that does not say (the synthetic programs of the tests are ppc64's).
func UnwindOf(k Kernel) Unwind {
	if u, ok := k.(Unwinding); ok {
		return u.Unwind()
	}
	return UnwindBackChain
}

// InsnWords is implemented by architectures whose instructions are fixed
// 4-byte words (ppc64, arm64): a text difference is shown, and searched
// for branches, word by word, each word decoded alone. A Disassembler
// without it has variable-length instructions (x86_64): a run of bytes is
// decoded from its first byte.
type InsnWords interface {
	Disassembler
	// DisasmWord decodes the word at b[:4] alone (a ppc64 prefix word is
	// shown as itself, not joined to its suffix).
	DisasmWord(b []byte, pc uint64) string
}
