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

// qemuCPUs reads -smp N from the corpus's qemu-cmdline.txt.
func qemuCPUs(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testcorpus.Dir(t, dir), "qemu-cmdline.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`-smp (\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no -smp in qemu-cmdline.txt")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestPrintExprCorpus: crash's p forms on buggy-radix, each against
// truth.json (drgn's reading and the guest's own output) or the QEMU
// command line.
func TestPrintExprCorpus(t *testing.T) {
	const dir = "buggy-radix"
	s := corpusSession(t, dir)
	tr := testcorpus.LoadTruth(t, testcorpus.Dir(t, dir))
	d := tr["dump"].(map[string]any)
	m := truthModule(t, dir, "klp_stub_bug")
	mod := m["struct_module"].(string)
	arch := m["arch"].(map[string]any)
	slot5 := m["stub_slots"].([]any)[5].(map[string]any)
	ool0 := m["ool_stubs_decoded"].([]any)[0].(map[string]any)
	stubs := m["stubs_section_addr"].(string)

	for line, want := range map[string]string{
		// drgn's init_uts_ns.name.release
		"p init_uts_ns.name.release": `init_uts_ns.name.release = "` + d["uts_release"].(string) + `"` + "\n",
		// drgn's address of ftrace_nop_ops, named as the guest's kallsyms name it
		"p &ftrace_nop_ops": "&ftrace_nop_ops = (const struct ftrace_ops *) " + d["ftrace_nop_ops"].(string) + " <ftrace_nop_ops>\n",
		// -smp 2: nr_cpu_ids is the number of possible CPUs
		"p nr_cpu_ids * 2": "nr_cpu_ids * 2 = " + strconv.Itoa(2*qemuCPUs(t, dir)) + "\n",
		"p/x nr_cpu_ids":   "nr_cpu_ids = " + "0x" + strconv.FormatInt(int64(qemuCPUs(t, dir)), 16) + "\n",
		// init/init_task.c: the idle task of CPU 0 has pid 0
		"p init_task->pid": "init_task->pid = 0\n",
		"p init_task.pid":  "init_task.pid = 0\n",
		// drgn's mod->arch.ool_stubs, a pointer into .stubs
		"p/x ((struct module *)" + mod + ")->arch.ool_stubs": "((struct module *)" + mod + ")->arch.ool_stubs = " + arch["ool_stubs"].(string) + " <klp_stub_bug:.stubs+0xc8>\n",
		"p ((struct module *)" + mod + ")->arch.stub_count":  "((struct module *)" + mod + ")->arch.stub_count = " + strconv.Itoa(int(arch["stub_count"].(float64))) + "\n",
		// truth's stub_slots[5]: the livepatch stub's magic ("stub") and funcdata
		"p ((struct ppc64_stub_entry *)" + stubs + ")[5].magic":                              "((struct ppc64_stub_entry *)" + stubs + ")[5].magic = " + slot5["magic"].(string) + "\n",
		"p ((struct ppc64_stub_entry *)&klp_stub_bug:.stubs)[5].funcdata.addr":               "((struct ppc64_stub_entry *)&klp_stub_bug:.stubs)[5].funcdata.addr = " + slot5["funcdata"].(string) + "\n",
		"p (*(struct ftrace_ool_stub *)" + ool0["addr"].(string) + ").ftrace_op":             "(*(struct ftrace_ool_stub *)" + ool0["addr"].(string) + ").ftrace_op = " + ool0["ftrace_op"].(string) + "\n",
		"p sizeof(struct ppc64_stub_entry) * 5 + " + stubs + " == " + slot5["addr"].(string): "sizeof(struct ppc64_stub_entry) * 5 + " + stubs + " == " + slot5["addr"].(string) + " = 1\n",
	} {
		if got := run(t, s, line); got != want {
			t.Errorf("%s:\n got %q\nwant %q", line, got, want)
		}
	}

	// The whole OOL stub, crash style: insn[] in hexadecimal words.
	out := run(t, s, "p *(struct ftrace_ool_stub *)"+ool0["addr"].(string))
	var insn []string
	for _, w := range ool0["insn"].([]any) {
		v, _ := strconv.ParseUint(w.(string), 16, 32)
		insn = append(insn, "0x"+strconv.FormatUint(v, 16))
	}
	if want := "insn = {" + strings.Join(insn, ", ") + "}"; !strings.Contains(out, want) {
		t.Errorf("p *(struct ftrace_ool_stub *): lacks %q:\n%s", want, out)
	}
	// p on a struct prints every arch member with truth's value.
	got := parseMembers(run(t, s, "p ((struct module *)"+mod+")->arch"))
	for k, v := range arch {
		if got[k] != testcorpus.Hex(t, v) {
			t.Errorf("p ...->arch: %s = %#x, truth %v", k, got[k], v)
		}
	}
	// p/x and p/d of one variable agree.
	x := strings.TrimPrefix(strings.TrimSpace(strings.SplitN(run(t, s, "p/x jiffies"), " = ", 2)[1]), "0x")
	dd := strings.TrimSpace(strings.SplitN(run(t, s, "p/d jiffies"), " = ", 2)[1])
	xv, _ := strconv.ParseUint(x, 16, 64)
	if strconv.FormatUint(xv, 10) != dd {
		t.Errorf("p/x jiffies = %s, p/d jiffies = %s", x, dd)
	}
	// eval: crash's four bases of 64 KiB (the corpus's page size).
	if out := run(t, s, "eval 1 << 16"); !strings.Contains(out, "hexadecimal: 10000  (64KB)") || !strings.Contains(out, "decimal: 65536") || !strings.Contains(out, "octal: 200000") {
		t.Errorf("eval 1 << 16:\n%s", out)
	}
}

// TestRedirectCorpus: `sym tgt_secret > FILE` writes the guest's own
// kallsyms address of tgt_secret to FILE; a misspelt symbol gets a
// suggestion.
func TestRedirectCorpus(t *testing.T) {
	const dir = "buggy-radix"
	s := corpusSession(t, dir)
	tr := testcorpus.LoadTruth(t, testcorpus.Dir(t, dir))
	var want string
	for _, l := range tr["guest"].(map[string]any)["blocks"].(map[string]any)["module kallsyms"].([]any) {
		f := strings.Fields(l.(string))
		if len(f) >= 4 && f[2] == "tgt_secret" && f[3] == "[klp_tgt]" {
			want = f[0]
		}
	}
	if want == "" {
		t.Fatal("the guest's kallsyms lack tgt_secret [klp_tgt]")
	}
	f := filepath.Join(t.TempDir(), "x")
	if out := run(t, s, "sym tgt_secret > "+f); out != "" {
		t.Errorf("output reached the terminal: %q", out)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), want+" ") || !strings.Contains(string(b), "tgt_secret") {
		t.Errorf("file holds %q, want the guest's address %s", b, want)
	}
	err = s.Exec(t.Context(), "p init_tsk.pid")
	if err == nil || !strings.Contains(err.Error(), "did you mean init_task") {
		t.Errorf("p init_tsk.pid: %v", err)
	}
	err = s.Exec(t.Context(), "rd tgt_secert")
	if err == nil || !strings.Contains(err.Error(), "did you mean tgt_secret") {
		t.Errorf("rd tgt_secert: %v", err)
	}
}
