package repl

// The tests' program links the readers cmd/kdump-inspect links (main.go
// there): dis -l and bt -l read line tables through them.
import _ "github.com/kdump-inspect/kdump-inspect/symbols/dwarflines"
