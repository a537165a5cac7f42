package repl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/batch"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// contractRuns are the --json command lines the contract test runs on the
// committed extracts (testdata/example/): at least one per command with
// --json, each form of each command. fails marks the lines the extracts
// cannot answer (their vmlinux keeps only the types the audit reads): they
// still print one document, with data null and the error.
var contractRuns = []struct {
	dump, line string
	fails      bool
}{
	{"crash-ool-op-over-stub", "alias --json", false},
	{"x86-inflight-step1", "textpoke --json", false},
	{"crash-ool-op-over-stub", "ascii --json 62696c2f7273752f 0x73747562", false},
	{"crash-ool-op-over-stub", "audit --json", false},
	{"crash-ool-op-over-stub", "bt --json", false},
	{"crash-ool-op-over-stub", "bt -f --json 1", false},
	{"crash-ool-op-over-stub", "dis --json klp_stub_bug:.stubs 12", false},
	{"crash-ool-op-over-stub", "eval --json sizeof(struct module) * 3", false},
	{"crash-ool-op-over-stub", "foreach 1 2 bt --json", false},
	{"crash-ool-op-over-stub", "foreach 1 2 task --json -R pid,comm", false},
	{"crash-ool-op-over-stub", "ftrace --json --module klp_stub_bug", false},
	{"crash-ool-op-over-stub", "ftrace --enabled --json", false},
	{"crash-ool-op-over-stub", "help --json mod", false},
	{"crash-ool-op-over-stub", "info --json", false},
	{"crash-ool-op-over-stub", "irq --json", true},
	{"crash-ool-op-over-stub", "klp --json", false},
	{"crash-ool-op-over-stub", "klp --tasks --json", false},
	{"crash-ool-op-over-stub", "kmem -i --json", false},
	{"crash-ool-op-over-stub", "kmem -s --json", true},
	{"crash-ool-op-over-stub", "kmem --json klp_stub_bug:.stubs", false},
	{"crash-ool-op-over-stub", "list --json module.list -H modules", false},
	{"crash-ool-op-over-stub", "log -n 5 --json", false},
	{"crash-ool-op-over-stub", "mod --json", false},
	{"crash-ool-op-over-stub", "mod -t --json", false},
	{"crash-ool-op-over-stub", "p --json ((struct module *)0xc0080000007b0480)->arch", false},
	{"crash-ool-op-over-stub", "p --json (struct module *)0xc0080000007b0480", false},
	{"crash-ool-op-over-stub", "p --json nr_cpu_ids * 2", false},
	{"crash-ool-op-over-stub", "page -v --json klp_stub_bug:.stubs", true},
	{"crash-ool-op-over-stub", "ps --json", false},
	{"crash-ool-op-over-stub", "rd -s --json klp_stub_bug:.stubs 6", false},
	{"crash-ool-op-over-stub", "report --json", false},
	{"crash-ool-op-over-stub", "runq --json", true},
	{"crash-ool-op-over-stub", "search --json --branch klp_stub_bug:.stubs+0xc8", false},
	{"crash-ool-op-over-stub", "set --json", false},
	{"crash-ool-op-over-stub", "stubs --json --overlay klp_stub_bug", false},
	{"crash-ool-op-over-stub", "struct --json module.name,state,arch.stub_count,arch.ool_stubs 0xc0080000007b0480", false},
	{"crash-ool-op-over-stub", "struct --json ftrace_ool_stub 0xc0080000007901c8 2", false},
	{"crash-ool-op-over-stub", "sym --json tgt_secret 0xc0080000008201c8", false},
	{"crash-ool-op-over-stub", "sys --json", false},
	{"crash-ool-op-over-stub", "task --json -R pid,comm,__state,sched_reset_on_fork,thread_info 1", false},
	{"crash-ool-op-over-stub", "tasks --json", false},
	{"crash-ool-op-over-stub", "text --json klp_stub_bug", false},
	{"crash-ool-op-over-stub", "timer --json", true},
	{"crash-ool-op-over-stub", "trace -n 4 --json", false},
	// The extract's DWARF holds no named union: the document carries the
	// error (TestJSONContractCorpus and TestValueJSONCorpus read one).
	{"crash-ool-op-over-stub", "union --json thread_union 0xc0000000023aaa80", true},
	{"crash-ool-op-over-stub", "vtop --json klp_stub_bug:.stubs", false},
	{"crash-ool-op-over-stub", "whatis --json struct ftrace_ool_stub", false},
	{"crash-ool-op-over-stub", "why --json", false},
	{"crash-sysrq-c", "trace -n 6 --json", false},
	{"deb12-6.1", "ftrace --enabled --json", false},
	{"deb12-6.1", "mod --json", false},
}

// archRuns are the x86_64 and arm64 views on their committed extracts:
// the text-poke batch, ftrace, modules, the text checks that stand for
// ppc64's stubs (ITS thunks, return thunks, arm64 module PLTs and ftrace
// trampolines: text MODULE), bt, audit, info. They join contractRuns
// (schema, envelope, goldens) and TestJqRoundTrip.
var archRuns = []struct {
	dump, line string
	fails      bool
}{
	{"x86-distro-la57", "info --json", false},
	{"x86-distro-la57", "sys --json", false},
	{"x86-distro-la57", "mod --json", false},
	{"x86-distro-la57", "mod -t --json", false},
	{"x86-distro-la57", "textpoke --json", false},
	{"x86-distro-la57", "ftrace --enabled --json", false},
	{"x86-distro-la57", "ftrace --json --module geneve", false},
	{"x86-distro-la57", "text --json geneve", false},
	{"x86-distro-la57", "text --json vmlinux", false},
	{"x86-distro-la57", "bt --json", false},
	{"x86-distro-la57", "audit --json", false},
	{"x86-distro-la57", "why --json", false},
	{"x86-inflight-step1", "info --json", false},
	{"x86-inflight-step1", "mod --json", false},
	{"x86-inflight-step1", "text --json vmlinux", false},
	{"x86-inflight-step1", "bt --json", false},
	{"x86-inflight-step1", "audit --json", false},
	// The extract keeps no struct ftrace_page: one document with the error.
	{"x86-inflight-step1", "ftrace --enabled --json", true},
	{"x86-its", "info --json", false},
	{"x86-its", "mod --json", false},
	{"x86-its", "textpoke --json", false},
	{"x86-its", "text --json geneve", false},
	{"x86-its", "its --json geneve", false},
	{"x86-its", "text --json vmlinux", false},
	{"x86-its", "bt --json", false},
	{"x86-its", "audit --json", false},
	{"arm64-ftrace-ops", "info --json", false},
	{"arm64-ftrace-ops", "sys --json", false},
	{"arm64-ftrace-ops", "mod --json", false},
	{"arm64-ftrace-ops", "textpoke --json", false},
	{"arm64-ftrace-ops", "ftrace --enabled --json", false},
	{"arm64-ftrace-ops", "ftrace --json --module kdi_ftrace", false},
	{"arm64-ftrace-ops", "text --json kdi_ftrace", false},
	{"arm64-ftrace-ops", "plt --json kdi_ftrace", false},
	{"arm64-ftrace-ops", "plt --json sch_fq_pie", false},
	{"arm64-ftrace-ops", "text --json vmlinux", false},
	{"arm64-ftrace-ops", "bt --json", false},
	{"arm64-ftrace-ops", "audit --json", false},
	{"arm64-ftrace-ops", "why --json", false},
}

func init() { contractRuns = append(contractRuns, archRuns...) }

// exampleSessions opens the extracts the runs use, with t's lifetime (the
// decompressed files live in t's temporary directory).
func exampleSessions(t *testing.T, names ...string) map[string]*Session {
	t.Helper()
	out := map[string]*Session{}
	for _, n := range names {
		if out[n] == nil {
			out[n] = exampleSession(t, filepath.Join("..", "testdata", "example", n, "vmcore.zst"))
		}
	}
	return out
}

// schemas compiles docs/schema/*.json once.
var (
	schemaOnce sync.Once
	schemaMap  map[string]*jsonschema.Schema
	schemaErr  error
)

func commandSchema(t *testing.T, cmd string) *jsonschema.Schema {
	t.Helper()
	schemaOnce.Do(func() {
		dir, err := filepath.Abs(filepath.Join("..", "docs", "schema"))
		if err != nil {
			schemaErr = err
			return
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		c := jsonschema.NewCompiler()
		schemaMap = map[string]*jsonschema.Schema{}
		for _, f := range files {
			sch, err := c.Compile(f)
			if err != nil {
				schemaErr = fmt.Errorf("%s: %w", f, err)
				return
			}
			schemaMap[strings.TrimSuffix(filepath.Base(f), ".json")] = sch
		}
	})
	if schemaErr != nil {
		t.Fatal(schemaErr)
	}
	sch := schemaMap[cmd]
	if sch == nil {
		t.Fatalf("no docs/schema/%s.json (go generate ./cmd/kdump-inspect)", cmd)
	}
	return sch
}

// checkDocument holds one --json output to the contract: exactly one
// document, in the envelope, valid against docs/schema/CMD.json, without
// HTML escapes, every number exact in a double and every "0x…" string
// canonical and exact (what jq and JavaScript keep). It returns the
// document decoded with UseNumber.
func checkDocument(t *testing.T, cmd string, out []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("more than one document (%v)", err)
	}
	m, ok := doc.(map[string]any)
	if !ok || m["schema"] != wire.Schema || m["command"] != cmd {
		t.Fatalf("envelope: schema %v command %v, want %s %s", m["schema"], m["command"], wire.Schema, cmd)
	}
	if w, ok := m["warnings"].([]any); !ok || w == nil {
		t.Errorf("warnings is %T, want a list", m["warnings"])
	}
	for _, esc := range []string{`\u003c`, `\u003e`, `\u0026`} {
		if bytes.Contains(out, []byte(esc)) {
			t.Errorf("HTML escape %s in the output", esc)
		}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := commandSchema(t, cmd).Validate(inst); err != nil {
		t.Errorf("invalid against docs/schema/%s.json: %v", cmd, err)
	}
	walkJSON(doc, func(v any) {
		switch x := v.(type) {
		case json.Number:
			checkNumber(t, x)
		case string:
			if hexWord.MatchString(x) {
				n, err := strconv.ParseUint(x, 0, 64)
				if err != nil || fmt.Sprintf("%#x", n) != x {
					t.Errorf("address %q does not round-trip (%v)", x, err)
				}
			}
		}
	})
	return doc
}

var hexWord = regexp.MustCompile(`^0x[0-9a-fA-F]+$`)

// checkNumber: a JSON number must mean the same to a reader that decodes
// every number as a double (jq 1.6, JavaScript): an integer within 2^53,
// or a fraction.
func checkNumber(t *testing.T, n json.Number) {
	t.Helper()
	s := n.String()
	if strings.ContainsAny(s, ".eE") {
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			t.Errorf("number %s: %v", s, err)
		}
		return
	}
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil || i > 1<<53 || i < -(1<<53) {
		t.Errorf("integer %s is not exact in a double (an address or word written as a number?)", s)
		return
	}
	if int64(float64(i)) != i {
		t.Errorf("integer %s changes in a double", s)
	}
}

func walkJSON(v any, fn func(any)) {
	fn(v)
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			walkJSON(e, fn)
		}
	case []any:
		for _, e := range x {
			walkJSON(e, fn)
		}
	}
}

// volatileRE matches the values that change from run to run (timing, the
// time a report was made): the goldens hold a placeholder.
var volatileRE = regexp.MustCompile(`("(?:seconds|made)":\s*)("[^"]*"|[-0-9.eE+]+)`)

func goldenName(dump, line string) string {
	return "json/" + dump + "--" + strings.Trim(regexp.MustCompile(`[^A-Za-z0-9.]+`).ReplaceAllString(line, "_"), "_") + ".json"
}

// TestJSONContract runs every command with --json on the committed
// extracts and holds each document to the contract (checkDocument) and to
// its golden file (testdata/golden/json/, -update rewrites them).
func TestJSONContract(t *testing.T) {
	ran := map[string]bool{}
	var names []string
	for _, r := range contractRuns {
		names = append(names, r.dump)
	}
	sessions := exampleSessions(t, names...)
	for _, r := range contractRuns {
		t.Run(r.dump+"/"+r.line, func(t *testing.T) {
			s := sessions[r.dump]
			cmd, _ := s.Lookup(strings.Fields(r.line)[0])
			ran[cmd.Name] = true
			out, err := s.capture(t.Context(), r.line)
			if (err != nil) != r.fails {
				t.Fatalf("error %v, want failure %v", err, r.fails)
			}
			doc := checkDocument(t, cmd.Name, out)
			if r.fails {
				if m := doc.(map[string]any); m["error"] == nil {
					t.Errorf("a failed command's document has no error")
				}
			}
			golden(t, goldenName(r.dump, r.line), volatileRE.ReplaceAllString(string(out), `${1}"(volatile)"`))
		})
	}
	for _, c := range sessions["crash-ool-op-over-stub"].cmds {
		switch {
		case len(c.JSON) > 0 && TextOnly(c.Name) != "":
			t.Errorf("%s has --json forms and is listed as text-only", c.Name)
		case len(c.JSON) > 0 && !ran[c.Name]:
			t.Errorf("%s has --json but no contract run", c.Name)
		case len(c.JSON) == 0 && TextOnly(c.Name) == "":
			t.Errorf("%s has no --json and no reason in textOnly", c.Name)
		case len(c.JSON) == 0 && hasJSONFlag(&c):
			t.Errorf("%s takes --json but declares no JSON forms", c.Name)
		}
	}
}

func hasJSONFlag(c *Command) bool {
	return c.FlagSet().Lookup("json") != nil
}

// TestJSONContractCorpus: every contract run of the extracts, on the full
// corpus dump (where the commands the extracts cannot answer, page, kmem
// -s, irq, runq and timer, succeed), holds its document to the schema,
// the envelope and the 2^53 rule; and every command with --json has a run.
func TestJSONContractCorpus(t *testing.T) {
	s := corpusSession(t, "buggy-radix")
	lines := []string{"irq -a --json", "stubs --json klp_stub_bug", "ftrace --json", "textpoke --json", "plt --json klp_stub_bug", "its --json klp_stub_bug"}
	for _, r := range contractRuns {
		if r.dump == "crash-ool-op-over-stub" {
			lines = append(lines, r.line)
		}
	}
	ran := map[string]bool{}
	for _, line := range lines {
		ran[strings.Fields(line)[0]] = true
		t.Run(line, func(t *testing.T) {
			out, err := s.capture(t.Context(), line)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			cmd, _ := s.Lookup(strings.Fields(line)[0])
			checkDocument(t, cmd.Name, out)
		})
	}
	for _, c := range s.cmds {
		if len(c.JSON) > 0 && !ran[c.Name] {
			t.Errorf("%s has --json but no corpus run", c.Name)
		}
	}
}

// TestJqRoundTrip: every address of the documents reads back exactly in
// jq (a double-based reader) — the "0x…" strings go through unchanged and
// no number changes. jq's own output is compared with Go's reading of the
// same documents, value for value.
func TestJqRoundTrip(t *testing.T) {
	jq, err := exec.LookPath("jq")
	if err != nil {
		t.Skip("jq not installed")
	}
	type run struct{ dump, line string }
	var runs []run
	for _, line := range []string{"mod --json", "stubs --json --overlay klp_stub_bug", "ftrace --json --module klp_stub_bug", "klp --json", "bt --json", "info --json", "search --json --branch klp_stub_bug:.stubs+0xc8", "struct --json ftrace_ool_stub 0xc0080000007901c8 2"} {
		runs = append(runs, run{"crash-ool-op-over-stub", line})
	}
	var names []string
	for _, r := range archRuns {
		if !r.fails {
			runs = append(runs, run{r.dump, r.line})
		}
	}
	for _, r := range runs {
		names = append(names, r.dump)
	}
	sessions := exampleSessions(t, names...)
	for _, r := range runs {
		s, line := sessions[r.dump], r.line
		t.Run(r.dump+"/"+line, func(t *testing.T) {
			out, err := s.capture(t.Context(), line)
			if err != nil {
				t.Fatal(err)
			}
			// jq -c . re-prints every value as jq holds it.
			cmd := exec.Command(jq, "-c", ".")
			cmd.Stdin = bytes.NewReader(out)
			viaJq, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			da := json.NewDecoder(bytes.NewReader(out))
			da.UseNumber()
			db := json.NewDecoder(bytes.NewReader(viaJq))
			db.UseNumber()
			if err := da.Decode(&a); err != nil {
				t.Fatal(err)
			}
			if err := db.Decode(&b); err != nil {
				t.Fatal(err)
			}
			var as, bs []string
			walkJSON(a, func(v any) { as = append(as, leaf(v)) })
			walkJSON(b, func(v any) { bs = append(bs, leaf(v)) })
			sort.Strings(as)
			sort.Strings(bs)
			if strings.Join(as, "\n") != strings.Join(bs, "\n") {
				t.Errorf("jq changed values of %s", line)
			}
			n := 0
			for _, x := range as {
				if strings.HasPrefix(x, "s:0x") {
					n++
				}
			}
			// sys, why and a clean audit may hold no address at all, nor
			// text vmlinux on an extract whose vmlinux keeps no text.
			if n == 0 && !noAddressOK[line] {
				t.Errorf("%s: no address in the document", line)
			}
		})
	}
}

var noAddressOK = map[string]bool{"sys --json": true, "why --json": true, "audit --json": true, "text --json vmlinux": true}

func leaf(v any) string {
	switch x := v.(type) {
	case string:
		return "s:" + x
	case json.Number:
		return "n:" + x.String()
	case bool:
		return fmt.Sprint("b:", x)
	case nil:
		return "null"
	}
	return "" // containers: their leaves are walked
}

// TestSchemaRejects: the schemas are not vacuous — an address as a
// number, an unknown key, a missing warnings list, a wrong command name
// and null data without an error each fail validation.
func TestSchemaRejects(t *testing.T) {
	s := exampleSessions(t, "crash-ool-op-over-stub")["crash-ool-op-over-stub"]
	out, err := s.capture(t.Context(), "mod --json")
	if err != nil {
		t.Fatal(err)
	}
	sch := commandSchema(t, "mod")
	for name, mutate := range map[string]func(m map[string]any){
		"address as a number": func(m map[string]any) { m["data"].([]any)[0].(map[string]any)["module"] = 13837309855104893440.0 },
		"unknown key":         func(m map[string]any) { m["data"].([]any)[0].(map[string]any)["Module"] = "x" },
		"no warnings":         func(m map[string]any) { delete(m, "warnings") },
		"other command":       func(m map[string]any) { m["command"] = "ps" },
		"null data":           func(m map[string]any) { m["data"] = nil },
		"flags as a number":   func(m map[string]any) { m["data"].([]any)[0].(map[string]any)["taints"] = 4097.0 },
	} {
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(m); err != nil {
			t.Fatalf("unmutated: %v", err)
		}
		mutate(m)
		if err := sch.Validate(m); err == nil {
			t.Errorf("%s: validates", name)
		}
	}
}

// TestAuditJSONLRoundTrip: `audit --jsonl` writes one document per dump
// per line, each valid against docs/schema/audit.json, and audit merge's
// reader (batch.ReadJSONL) reads them back to the same results — the
// envelope does not break sharding. A bare result (the format before the
// envelope) still reads.
func TestAuditJSONLRoundTrip(t *testing.T) {
	s := exampleSessions(t, "crash-ool-op-over-stub")["crash-ool-op-over-stub"]
	res := audit.NewDumpResult(s.Prog, s.Report())
	two := []audit.DumpResult{res, res}
	two[1].Dump = "second"
	var b bytes.Buffer
	WriteAudit(&b, two, &AuditFlags{JSONL: true}, audit.Error)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	for _, l := range lines {
		checkDocument(t, "audit", []byte(l))
	}
	back, err := batch.ReadJSONL(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 {
		t.Fatalf("read %d results", len(back))
	}
	for i := range two {
		want, _ := json.Marshal(two[i])
		got, _ := json.Marshal(back[i])
		if !bytes.Equal(want, got) {
			t.Errorf("result %d does not round-trip:\n%s\n%s", i, want, got)
		}
	}
	bare, _ := json.Marshal(res)
	if old, err := batch.ReadJSONL(bytes.NewReader(bare)); err != nil || len(old) != 1 || old[0].Dump != res.Dump {
		t.Errorf("bare result: %v %d", err, len(old))
	}
}
