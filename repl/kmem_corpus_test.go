package repl

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// consoleKB reads the guest's boot line "Memory: A/BK available (...,
// RK reserved, ...)" and the "Freeing ... memory: NK" lines after it.
func consoleKB(t *testing.T, dir string) (phys, reserved, freed uint64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testcorpus.Dir(t, dir), "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Memory: \d+K/(\d+)K available \(.* (\d+)K reserved, 0K cma-reserved\)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("console.log has no Memory: line")
	}
	phys, _ = strconv.ParseUint(string(m[1]), 10, 64)
	reserved, _ = strconv.ParseUint(string(m[2]), 10, 64)
	for _, f := range regexp.MustCompile(`Freeing [^\n]* memory: (\d+)K`).FindAllSubmatch(b, -1) {
		n, _ := strconv.ParseUint(string(f[1]), 10, 64)
		freed += n
	}
	return
}

// TestKmemInfoCorpus: totalram_pages at the dump is what the guest's
// boot said: mem_init_print_info() prints physpages and physpages -
// totalram_pages() as "reserved" (mm/mm_init.c), and every "Freeing ...
// memory" line since (free_reserved_area(), mm/page_alloc.c) gave that
// many KiB back to totalram.
func TestKmemInfoCorpus(t *testing.T) {
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			s := corpusSession(t, dir)
			phys, reserved, freed := consoleKB(t, dir)
			var v struct {
				PageSize int64        `json:"page_size"`
				Rows     []MemInfoRow `json:"rows"`
			}
			runDoc(t, s, "kmem -i --json", &v)
			rows := map[string]MemInfoRow{}
			for _, r := range v.Rows {
				rows[r.Name] = r
			}
			if got, want := uint64(rows["TOTAL MEM"].Bytes/1024), phys-reserved+freed; got != want {
				t.Errorf("TOTAL MEM %d KiB, the console says %d - %d + %d = %d KiB", got, phys, reserved, freed, want)
			}
			if f, u := rows["FREE"], rows["USED"]; f.Pages == 0 || f.Pages+u.Pages != rows["TOTAL MEM"].Pages {
				t.Errorf("FREE %d + USED %d != TOTAL %d", f.Pages, u.Pages, rows["TOTAL MEM"].Pages)
			}
			if _, ok := rows["SLAB"]; !ok {
				t.Errorf("no SLAB row: %+v", v.Rows)
			}
		})
	}
}

// TestKmemSlabsCorpus: kmem -s against mm/slub.c and kernel/fork.c.
// Every cache's struct kmem_cache is an object of the "kmem_cache" cache
// (bootstrap() moves even the two boot caches there) and has one struct
// kmem_cache_node per node: both caches have as many objects allocated
// as slab_caches has entries. Every task_struct but the static init_task
// comes from "task_struct" (alloc_task_struct_node()), of
// sizeof(struct task_struct) (arch_task_struct_size); kmalloc-N caches
// hold N-byte objects.
func TestKmemSlabsCorpus(t *testing.T) {
	const dir = "buggy-radix"
	s := corpusSession(t, dir)
	var caches []SlabView
	runDoc(t, s, "kmem -s -a --json", &caches)
	by := map[string]SlabView{}
	for _, c := range caches {
		by[c.Name] = c
		if len(c.Errors) > 0 {
			t.Errorf("%s: %v", c.Name, c.Errors)
		}
		if m := regexp.MustCompile(`^kmalloc-(\d+)(k?)$`).FindStringSubmatch(c.Name); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			if m[2] == "k" {
				n *= 1024
			}
			if uint64(c.ObjectSize) != n {
				t.Errorf("%s: object size %d", c.Name, c.ObjectSize)
			}
		}
	}
	for _, name := range []string{"kmem_cache", "kmem_cache_node", "task_struct", "kmalloc-64", "mm_struct", "dentry", "inode_cache", "names_cache", "files_cache", "signal_cache", "sighand_cache"} {
		if _, ok := by[name]; !ok {
			t.Errorf("no cache %q (the kernel creates it at boot)", name)
		}
	}
	n := int64(len(caches))
	for _, name := range []string{"kmem_cache", "kmem_cache_node"} {
		if c := by[name]; c.Allocated == nil || *c.Allocated != n {
			t.Errorf("%s: allocated %v, want %d (one per cache)", name, c.Allocated, n)
		}
	}
	ts := by["task_struct"]
	size := strings.TrimSpace(strings.SplitN(run(t, s, "p sizeof(struct task_struct)"), "=", 2)[1])
	if strconv.FormatInt(ts.ObjectSize, 10) != size {
		t.Errorf("task_struct object size %d, sizeof %s", ts.ObjectSize, size)
	}
	tasks := len(psJSON(t, s, "ps --json"))
	if ts.Allocated == nil || int(*ts.Allocated) != tasks-1 {
		t.Errorf("task_struct allocated %v, want %d tasks - init_task", ts.Allocated, tasks)
	}
}

// TestKmemAddrCorpus: kmem ADDR places a task_struct in its slab (init's,
// an object start: allocated), init_task in the vmlinux image (System.map)
// and a .stubs slot in its module's text (truth's mem[0]).
func TestKmemAddrCorpus(t *testing.T) {
	const dir = "buggy-radix"
	s := corpusSession(t, dir)
	init := psJSON(t, s, "ps --json 1")[0]
	out := run(t, s, "kmem "+strconv.FormatUint(uint64(init.Task), 16))
	if !strings.Contains(out, "slab object 0x"+strconv.FormatUint(uint64(init.Task), 16)+" (+0x0)") || !strings.Contains(out, `"task_struct"`) || !strings.Contains(out, ": allocated") {
		t.Errorf("kmem init's task:\n%s", out)
	}
	out = run(t, s, "kmem "+systemMap(t, "7.2.13-buggy", "init_task"))
	if !strings.Contains(out, "vmlinux image: init_task") {
		t.Errorf("kmem init_task:\n%s", out)
	}
	m := truthModule(t, dir, "klp_stub_bug")
	text := m["mem"].([]any)[0].(map[string]any)
	out = run(t, s, "kmem "+m["stub_slots"].([]any)[5].(map[string]any)["addr"].(string))
	base := testcorpus.Hex(t, text["base"])
	want := "module klp_stub_bug, MOD_TEXT [0x" + strconv.FormatUint(base, 16) + "-0x" + strconv.FormatUint(base+uint64(text["size"].(float64)), 16) + ")"
	if !strings.Contains(out, want) || !strings.Contains(out, "vmalloc area") {
		t.Errorf("kmem slot 5 lacks %q:\n%s", want, out)
	}
}
