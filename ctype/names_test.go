package ctype

import "testing"

func TestCanonicalBaseName(t *testing.T) {
	t.Parallel()
	// GCC's spellings (as in the corpus vmlinux's DW_TAG_base_type names)
	// and C's usual ones.
	for in, want := range map[string]string{
		"long unsigned int":      "unsigned long",
		"unsigned long":          "unsigned long",
		"long int":               "long",
		"long long int":          "long long",
		"long long unsigned int": "unsigned long long",
		"short unsigned int":     "unsigned short",
		"short int":              "short",
		"unsigned int":           "unsigned int",
		"unsigned":               "unsigned int",
		"signed int":             "int",
		"int":                    "int",
		"char":                   "char",
		"unsigned char":          "unsigned char",
		"signed char":            "signed char",
		"_Bool":                  "_Bool",
		"u64":                    "u64",
		"struct module":          "struct module",
		"long long long":         "long long long",
	} {
		if got := CanonicalBaseName(in); got != want {
			t.Errorf("CanonicalBaseName(%q) = %q, want %q", in, got, want)
		}
	}
}
