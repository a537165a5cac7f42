package repl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// consoleBlock returns the lines the guest printed between
// "=== CORPUS: BEGIN name ===" and its END line.
func consoleBlock(t *testing.T, dir, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testcorpus.Dir(t, dir), "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "=== CORPUS: BEGIN "+name+" ===")
	j := strings.Index(s, "=== CORPUS: END "+name+" ===")
	if i < 0 || j < i {
		t.Fatalf("%s: no %s block in console.log", dir, name)
	}
	return strings.Split(strings.TrimSpace(s[strings.Index(s[i:], "\n")+i:j]), "\n")
}

// TestFtraceEnabledCorpus: `ftrace --enabled` lists exactly the guest's
// enabled_functions, each with its reference count, and where the kernel
// names the single owning ops and handler ("ops: global_ops+0x0/0xc8
// (function_trace_call+0x0/0x1b0)") the same ops and handler.
func TestFtraceEnabledCorpus(t *testing.T) {
	s := corpusSession(t, "fixed-radix")
	var got []EnabledView
	runDoc(t, s, "ftrace --enabled --json", &got)
	byFunc := map[string]EnabledView{}
	for _, v := range got {
		byFunc[v.Func] = v
	}
	line := regexp.MustCompile(`^(\S+)(?: \[(\S+)\])? \((\d+)\)[^\t]*(?:\tops: (\S+?)(?:\+0x0/0x[0-9a-f]+)? \((\S+?)\+0x0/0x[0-9a-f]+(?: \[\S+\])?\))?`)
	lines := consoleBlock(t, "fixed-radix", "enabled_functions")
	if len(lines) != len(got) {
		t.Errorf("%d enabled records, the guest listed %d", len(got), len(lines))
	}
	for _, l := range lines {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("unparsed guest line %q", l)
			continue
		}
		v, ok := byFunc[m[1]]
		if !ok {
			t.Errorf("guest's %s not listed", m[1])
			continue
		}
		if v.Module != m[2] || jsonNum(v.Refs) != m[3] {
			t.Errorf("%s: module %q refs %d; guest %q (%s)", m[1], v.Module, v.Refs, m[2], m[3])
		}
		if m[4] == "" {
			continue
		}
		// The guest names the ops by symbol or, for a dynamic one, by
		// address.
		var names, handlers []string
		for _, o := range v.Ops {
			names = append(names, o.Name, hx(uint64(o.Addr)))
			handlers = append(handlers, o.Handler)
		}
		if ops := strings.Join(names, " "); !strings.Contains(" "+ops+" ", " "+m[4]+" ") {
			t.Errorf("%s: ops %v, guest %s", m[1], names, m[4])
		}
		if h := strings.Join(handlers, " "); !strings.Contains(h, m[5]) {
			t.Errorf("%s: handlers %v, guest %s", m[1], handlers, m[5])
		}
	}
}

// TestModTaintsCorpus: mod -t gives each module the taint letters the
// guest's /proc/modules shows in parentheses.
func TestModTaintsCorpus(t *testing.T) {
	s := corpusSession(t, "fixed-radix")
	var got []ModView
	runDoc(t, s, "mod -t --json", &got)
	taints := map[string]string{}
	for _, v := range got {
		taints[v.Name] = v.TaintLetters
	}
	for _, l := range consoleBlock(t, "fixed-radix", "/proc/modules") {
		f := strings.Fields(l)
		want := ""
		if last := f[len(f)-1]; strings.HasPrefix(last, "(") {
			want = strings.Trim(last, "()")
		}
		if taints[f[0]] != want {
			t.Errorf("%s: taints %q, /proc/modules %q", f[0], taints[f[0]], want)
		}
	}
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestFtraceEnabledOlderKernels: on Debian's 6.1 and 6.12 (flags without
// CALL_OPS/TOUCHED/MODIFIED; mprofile sites), ftrace --enabled lists the
// guest's enabled_functions, the R column ⇔ the REGS flag.
func TestFtraceEnabledOlderKernels(t *testing.T) {
	for _, ex := range []string{"deb12-6.1", "deb13-6.12"} {
		t.Run(ex, func(t *testing.T) {
			dir := "../testdata/example/" + ex + "/"
			b, err := os.ReadFile(dir + "guest-enabled_functions.txt")
			if err != nil {
				t.Fatal(err)
			}
			s := exampleSession(t, dir+"vmcore.zst")
			out, err := s.capture(t.Context(), "ftrace --enabled --json")
			if err != nil {
				t.Fatal(err)
			}
			var got []EnabledView
			if err := decodeDoc(out, &got); err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, v := range got {
				k := v.Func
				if v.Module != "" {
					k += " [" + v.Module + "]"
				}
				regs := false
				for _, f := range v.Flags.Names {
					regs = regs || f == "REGS"
				}
				if regs {
					k += " R"
				}
				have[k] = true
			}
			line := regexp.MustCompile(`^(\S+(?: \[\S+\])?) \(\d+\)\s*(R?)`)
			n := 0
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				m := line.FindStringSubmatch(l)
				if m == nil {
					t.Fatalf("guest line %q", l)
				}
				k := m[1]
				if m[2] == "R" {
					k += " R"
				}
				if !have[k] {
					t.Errorf("guest's %q not listed as such: %v", k, have)
				}
				n++
			}
			if n != len(got) {
				t.Errorf("%d enabled records, guest %d", len(got), n)
			}
		})
	}
}
