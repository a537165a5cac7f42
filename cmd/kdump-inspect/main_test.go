package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/repl"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

var update = flag.Bool("update", false, "rewrite docs/COMMANDS.md")

// TestCommandsDoc fails when docs/COMMANDS.md is not what the command
// table (including commands registered by this package) generates.
func TestCommandsDoc(t *testing.T) {
	var b bytes.Buffer
	repl.WriteDocs(&b, repl.Commands())
	path := filepath.Join("..", "..", "docs", "COMMANDS.md")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go generate ./cmd/kdump-inspect)", err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Errorf("docs/COMMANDS.md is stale: run go generate ./cmd/kdump-inspect")
	}
}

// TestSchemaFiles fails when docs/schema/ is not what the command table's
// JSON forms generate (package wire); -update rewrites it.
func TestSchemaFiles(t *testing.T) {
	files, err := repl.SchemaFiles(repl.Commands(), filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "docs", "schema")
	have, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range have {
			if files[filepath.Base(f)] == nil {
				os.Remove(f) // a command that lost its --json
			}
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for name, b := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("docs/schema/%s is stale or missing: run go generate ./cmd/kdump-inspect", name)
		}
	}
	for _, f := range have {
		if files[filepath.Base(f)] == nil {
			t.Errorf("%s: no command generates it: run go generate ./cmd/kdump-inspect", f)
		}
	}
}

func runMain(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// TestStdinScript drives the session through stdin with the issue's
// "Done means" script and checks the output against truth.json.
func TestStdinScript(t *testing.T) {
	dir := testcorpus.Dir(t, "buggy-radix")
	tr := testcorpus.LoadTruth(t, dir)
	mod := tr.DumpModule(t, "klp_stub_bug")
	addr := mod["struct_module"].(string)
	script := strings.Join([]string{
		"mod",
		"stubs klp_stub_bug --overlay",
		"dis klp_stub_bug:.stubs 60",
		"struct module.arch " + addr + " -x",
		"nosuchcommand",
		"log | tail -5",
		"help dis",
		"quit",
		"info", // after quit: not run
	}, "\n")
	out, errs, code := runMain(t, script, filepath.Join(dir, "vmcore-vmcoreinfo.kdump"))
	if code != exitFailed {
		t.Errorf("exit %d, want %d (one unknown command); stderr:\n%s", code, exitFailed, errs)
	}
	if !strings.Contains(errs, "nosuchcommand: unknown command") {
		t.Errorf("stderr lacks the unknown-command error: %s", errs)
	}
	arch := mod["arch"].(map[string]any)
	for _, want := range []string{
		strings.TrimPrefix(addr, "0x") + "  klp_stub_bug",
		"ppc64[5]   ftrace[0]",
		"<< OOL-OVERLAP: klp-call stub (slot 5 -> tgt_secret",
		"ool_stubs = " + arch["ool_stubs"].(string) + " <klp_stub_bug:.stubs+0xc8>",
		"stub_count = 0x" + strconv.FormatInt(int64(arch["stub_count"].(float64)), 16),
		"usage: dis",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "FORMAT:") {
		t.Errorf("a command after quit ran")
	}
}

func TestBatchAndSubcommands(t *testing.T) {
	dir := testcorpus.Dir(t, "buggy-radix")
	dumpf := filepath.Join(dir, "vmcore-vmcoreinfo.kdump")
	tr := testcorpus.LoadTruth(t, dir)
	mod := tr.DumpModule(t, "klp_stub_bug")

	out, errs, code := runMain(t, "", dumpf, "-c", "sym klp_stub_bug:.stubs; set scroll off")
	if code != exitOK || !strings.Contains(out, "klp_stub_bug:.stubs+0x0") {
		t.Errorf("-c: exit %d out %q err %q", code, out, errs)
	}

	// info --json: release from truth.
	out, errs, code = runMain(t, "", "info", "--json", dumpf)
	var v repl.InfoView
	if _, err := wire.DecodeData([]byte(out), &v); code != exitOK || err != nil {
		t.Fatalf("info: exit %d err %s", code, errs)
	}
	if want := tr["dump"].(map[string]any)["uts_release"]; v.Release != want {
		t.Errorf("info release %q, truth %v", v.Release, want)
	}

	// read: .stubs bytes equal truth's stubs_raw_hex.
	raw := mod["stubs_raw_hex"].(string)
	out, errs, code = runMain(t, "", "read", dumpf, mod["stubs_section_addr"].(string), strconv.Itoa(len(raw)/2))
	if code != exitOK {
		t.Fatalf("read: exit %d: %s", code, errs)
	}
	if got := hexOf([]byte(out)); got != raw {
		t.Errorf("read .stubs = %s…, truth %s…", got[:32], raw[:32])
	}

	// read of an unmapped address: exit 2 naming it.
	_, errs, code = runMain(t, "", "read", dumpf, "0xc00fffff00000000", "8")
	if code != exitBad || !strings.Contains(errs, "0xc00fffff00000000") {
		t.Errorf("read unmapped: exit %d, stderr %q", code, errs)
	}

	// A file that is not a dump: exit 2, one line, no panic.
	bad := filepath.Join(t.TempDir(), "notadump")
	os.WriteFile(bad, []byte("hello"), 0o644)
	_, errs, code = runMain(t, "", "info", bad)
	if code != exitBad || strings.Contains(errs, "goroutine") {
		t.Errorf("bad file: exit %d, stderr %q", code, errs)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
