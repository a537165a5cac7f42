// Package ftrace reconstructs the kernel's dynamic ftrace state from a
// dump — every dyn_ftrace record (ftrace_pages_start), every registered
// ftrace_ops with its filter and notrace hashes, the livepatch patches,
// objects, functions and klp_ops — and holds the model of what
// arch/powerpc/kernel/trace/ftrace.c (ftrace_init_nop, ftrace_init_ool_stub,
// ftrace_replace_code, ftrace_rec_set_ops) would have written at each
// ftrace site and out-of-line stub, so that package audit can hold the
// dump against it.
//
// It reads and models; it returns per-record comparisons with a short
// reason, never findings (package audit judges) nor printed text (package
// repl prints). Layouts come from the dump kernel's DWARF: the FTRACE_FL_*
// enumerators, struct ftrace_page, struct dyn_ftrace, struct ftrace_ops,
// struct klp_patch/klp_object/klp_func/klp_ops; values from the 7.2
// headers are a fallback with a warning.
//
// Layer: models (docs/ARCHITECTURE.md).
package ftrace
