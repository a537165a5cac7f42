package symbols

import (
	"sort"
	"strings"
	"sync"
)

// Type names for completion (`struct mod<TAB>` in the REPL): a sorted list
// of the name index's keys, built once per Types on first use and searched
// by prefix. It lives in this file, beside the index, and keeps its cache
// outside Types so that the index code stays as it is.

// MaxNames bounds one Names answer when the caller passes no limit.
const MaxNames = 1000

var (
	sortedNamesMu sync.Mutex
	sortedNames   = map[*Types][]string{} // the index's type keys, sorted
)

// typeKeys returns the sorted keys of t's type index ("struct module",
// "u64", ...), computed once.
func (t *Types) typeKeys() []string {
	sortedNamesMu.Lock()
	defer sortedNamesMu.Unlock()
	if k, ok := sortedNames[t]; ok {
		return k
	}
	var keys []string
	if t.btf != nil {
		keys = t.btf.btfKeys()
	} else if t.dw != nil {
		keys = t.dw.TypeKeys()
	}
	sort.Strings(keys)
	sortedNames[t] = keys
	return keys
}

// Names returns the type names of the DWARF name index that start with
// prefix, sorted, at most limit of them (MaxNames when limit <= 0);
// truncated says more would have matched.
//
// kind selects the namespace: "struct", "union" or "enum" return bare tag
// names ("module" for struct module); "typedef" the typedef and base type
// names ("u64", "unsigned long"); "" every key as the index spells it
// ("struct module", "u64"), so that a bare prefix finds typedefs and
// "struct mo" finds structs.
func (t *Types) Names(prefix, kind string, limit int) (names []string, truncated bool) {
	if t == nil {
		return nil, false
	}
	if limit <= 0 {
		limit = MaxNames
	}
	keys := t.typeKeys()
	search := prefix
	strip := ""
	switch kind {
	case "struct", "union", "enum":
		strip = kind + " "
		search = strip + prefix
	case "typedef", "":
	default:
		return nil, false
	}
	for i := sort.SearchStrings(keys, search); i < len(keys) && strings.HasPrefix(keys[i], search); i++ {
		k := keys[i]
		if kind == "typedef" && isTagged(k) {
			continue
		}
		if len(names) == limit {
			return names, true
		}
		names = append(names, strings.TrimPrefix(k, strip))
	}
	return names, false
}

func isTagged(k string) bool {
	return strings.HasPrefix(k, "struct ") || strings.HasPrefix(k, "union ") || strings.HasPrefix(k, "enum ")
}
