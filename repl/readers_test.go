package repl

// The tests' program links the DWARF readers cmd/kdump-inspect links
// (symbols.LoadELFTypes and the line tables of dis -l and bt -l go
// through them).
import _ "github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
