package ctype

import "strings"

// CanonicalBaseName spells a C integer type the one way the index uses:
// GCC's "long unsigned int" and "unsigned long" both become "unsigned
// long", "short int" becomes "short", "signed int" "int". Other names
// are returned unchanged. (It is the spelling of the type-name indexes of
// DWARF and BTF, and of a name a user types.)
func CanonicalBaseName(name string) string {
	var unsigned, signed, short, char, other bool
	longs := 0
	words := strings.Fields(name)
	for _, w := range words {
		switch w {
		case "unsigned":
			unsigned = true
		case "signed":
			signed = true
		case "short":
			short = true
		case "long":
			longs++
		case "char":
			char = true
		case "int":
		default:
			other = true
		}
	}
	if other || len(words) == 0 || longs > 2 || (short && (longs > 0 || char)) || (unsigned && signed) {
		return name
	}
	var parts []string
	switch {
	case char:
		if longs > 0 || slicesContains(words, "int") {
			return name
		}
		if unsigned {
			return "unsigned char"
		}
		if signed {
			return "signed char"
		}
		return "char"
	case unsigned:
		parts = append(parts, "unsigned")
	}
	if short {
		parts = append(parts, "short")
	}
	for range longs {
		parts = append(parts, "long")
	}
	if !short && longs == 0 {
		parts = append(parts, "int")
	}
	return strings.Join(parts, " ")
}

func slicesContains(s []string, w string) bool {
	for _, x := range s {
		if x == w {
			return true
		}
	}
	return false
}
