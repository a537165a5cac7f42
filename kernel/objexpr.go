package kernel

// Named returns the object with expr as its name in error messages
// ("init_task.mm" rather than its type), for an evaluator that knows how
// the user wrote it (package cexpr).
func (o Object) Named(expr string) Object {
	o.expr = expr
	return o
}
