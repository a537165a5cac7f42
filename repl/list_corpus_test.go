package repl

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// listNames runs a list command printing module.name and returns the
// names in order.
func listNames(t *testing.T, s *Session, line string) []string {
	t.Helper()
	var names []string
	for _, l := range strings.Split(run(t, s, line), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "name = "); ok {
			names = append(names, strings.Trim(v, `"`))
		}
	}
	return names
}

// TestListCorpus: crash's list forms on the modules list and the task
// list. The guest printed /proc/modules, which m_show() walks from the
// modules head (the newest module first); it was printed before
// modarch_dump (which prints the rest of the truth) was loaded, so that
// one module leads the list in the dump and is absent from the text.
// truth's struct_module addresses are the entries.
func TestListCorpus(t *testing.T) {
	const dir = "buggy-radix"
	s := corpusSession(t, dir)
	tr := testcorpus.LoadTruth(t, testcorpus.Dir(t, dir))
	var want []string
	for _, l := range tr["guest"].(map[string]any)["blocks"].(map[string]any)["/proc/modules"].([]any) {
		want = append(want, strings.Fields(l.(string))[0])
	}
	got := listNames(t, s, "list -o module.list -s module.name -H modules")
	if len(got) == 0 || got[0] != "modarch_dump" || !reflect.DeepEqual(got[1:], want) {
		t.Errorf("list -o module.list -H modules: %q, want modarch_dump then /proc/modules' %q", got, want)
	}
	if rev := listNames(t, s, "list -r module.list -s module.name -H modules"); !slices.Equal(rev, reversed(got)) {
		t.Errorf("list -r: %q", rev)
	}
	// -h START: the entry itself first, then around the ring; the
	// standalone head is taken for one more entry, as crash takes it (-H
	// is the form for such lists).
	if h := listNames(t, s, "list -s module.name -o list -h "+truthModule(t, dir, "klp_tgt")["struct_module"].(string)); len(h) != len(got)+1 || h[0] != "klp_tgt" {
		t.Errorf("list -h klp_tgt: %q", h)
	}
	var addrs []wire.Hex
	runDoc(t, s, "list module.list -H modules --json", &addrs)
	truthAddrs := map[uint64]bool{}
	for _, m := range tr.DumpModules() {
		truthAddrs[testcorpus.Hex(t, m["struct_module"])] = true
	}
	if len(addrs) != len(truthAddrs) {
		t.Errorf("%d entries, truth has %d modules", len(addrs), len(truthAddrs))
	}
	for _, a := range addrs {
		if !truthAddrs[uint64(a)] {
			t.Errorf("entry %#x is no module of truth.json", a)
		}
	}
	// The task list from init_task: rest_init() forks init, then
	// kthreadd; tasks joins the list in fork order.
	out := run(t, s, "list task_struct.tasks -s task_struct.pid -h "+systemMap(t, "7.2.13-buggy", "init_task"))
	if !strings.HasPrefix(out, strings.TrimPrefix(systemMap(t, "7.2.13-buggy", "init_task"), "0x")+"\n  pid = 0\n") || !strings.Contains(out, "  pid = 1\n") {
		t.Errorf("list task_struct.tasks -h init_task:\n%.300s", out)
	}
	// The plain form follows real_parent: kthreadd's child, kthreadd,
	// init_task, whose real_parent is itself: a cycle, said as one.
	kw := psJSON(t, s, "ps --json 3")[0]
	err := s.Exec(t.Context(), "list -o task_struct.real_parent -s task_struct.pid "+strconv.FormatUint(uint64(kw.Task), 16))
	if err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("real_parent chain: %v", err)
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}
