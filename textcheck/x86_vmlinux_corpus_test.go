package textcheck_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/textcheck"
)

// TestX86VmlinuxTextCorpus: on the x86_64 corpus dumps with KASLR
// (bench/x86-corpus, outside git; skipped when absent) the vmlinux's .text
// is compared with its file and every difference is explained: the KASLR
// relocations, the boot-time patchers, ftrace, jump labels, static calls,
// runtime constants; nothing incomplete, no model problem. Then, on one
// dump, planted damage must be found: a byte of a function body that no
// mechanism touches, and a KASLR-moved field moved by a wrong amount (the
// offset plus 2 MiB).
func TestX86VmlinuxTextCorpus(t *testing.T) {
	root := testcorpus.Corpora(t, "x86")
	if testing.Short() {
		t.Skip("-short: each x86 corpus dump's vmlinux text takes seconds")
	}
	open := func(dir string, v func(p *kernel.Program) *damage.Virt) (*kernel.Program, *analysis.Analysis) {
		opts := kernel.Options{Vmlinux: filepath.Join(dir, "vmlinux"), ModuleDirs: []string{filepath.Join(dir, "modules")}}
		if v != nil {
			good, err := kernel.Open([]string{filepath.Join(dir, "vmcore.kdump")}, opts)
			if err != nil {
				t.Fatal(err)
			}
			w := v(good)
			opts.CacheDir, opts.PhysWrap = t.TempDir(), w.Wrap
			t.Cleanup(func() { good.Close() })
		}
		p, err := kernel.Open([]string{filepath.Join(dir, "vmcore.kdump")}, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p, analysis.New(p)
	}
	ran := 0
	for _, d := range []string{"distro-kaslr-la57", "distro-its", "livepatch-kaslr", "livepatch-its", "distro-inflight"} {
		dir := filepath.Join(root, d)
		if _, err := os.Stat(filepath.Join(dir, "vmcore.kdump")); err != nil {
			t.Logf("%s absent: skipped", dir)
			continue
		}
		ran++
		t.Run(d, func(t *testing.T) {
			p, a := open(dir, nil)
			r := a.Text(nil)
			t.Logf("vmlinux (KASLR offset %#x): %s", p.KernelOffset, r.Summary())
			if p.KernelOffset == 0 {
				t.Errorf("KERNELOFFSET 0: this dump was taken with KASLR")
			}
			if r.Compared < 10<<20 {
				t.Errorf("%d bytes compared, want all of .text", r.Compared)
			}
			for _, d := range r.Unexplained() {
				t.Errorf("unexplained %d bytes at %#x: expected % x, found % x", len(d.Found), d.Addr, d.Expected, d.Found)
			}
			for _, s := range r.Incomplete {
				t.Errorf("incomplete: %s", s)
			}
			for _, s := range r.Problems {
				t.Errorf("problem: %s", s)
			}
			for _, m := range []textcheck.Mechanism{textcheck.MechKASLR, textcheck.MechAlternative, textcheck.MechFtrace, textcheck.MechReturn, textcheck.MechStaticCall, textcheck.MechRuntimeConst} {
				if r.ByMech[m] == 0 {
					t.Errorf("no difference explained by %s", m)
				}
			}
		})
	}
	if ran == 0 {
		return
	}
	t.Run("without-ftrace", func(t *testing.T) {
		// ftrace state unreadable: the sites of __mcount_loc accept any
		// state, the result says so, and nothing is unexplained
		dir := filepath.Join(root, "distro-its")
		if _, err := os.Stat(filepath.Join(dir, "vmcore.kdump")); err != nil {
			t.Skip("distro-its absent")
		}
		_, a := open(dir, nil)
		r := textcheck.NewEnv(a.Modules(), nil, errors.New("planted: no ftrace state")).Vmlinux()
		t.Logf("%s; incomplete: %q", r.Summary(), r.Incomplete)
		for _, d := range r.Unexplained() {
			t.Errorf("unexplained %d bytes at %#x: expected % x, found % x", len(d.Found), d.Addr, d.Expected, d.Found)
		}
		if len(r.Incomplete) != 1 || !strings.Contains(r.Incomplete[0], "call sites of __mcount_loc accept any ftrace state") {
			t.Errorf("incomplete %q, want the ftrace fallback named", r.Incomplete)
		}
	})
	t.Run("planted", func(t *testing.T) {
		dir := filepath.Join(root, "distro-its")
		if _, err := os.Stat(filepath.Join(dir, "vmcore.kdump")); err != nil {
			t.Skip("distro-its absent")
		}
		_, good := open(dir, nil)
		gr := good.Text(nil)
		// a KASLR-moved field, and a byte 16 bytes past it that no
		// mechanism explains (both identical to the file before)
		var kaslr *textcheck.Diff
		for i := range gr.Diffs {
			if d := &gr.Diffs[i]; d.Explained != nil && d.Explained.Mech == textcheck.MechKASLR {
				kaslr = d
				break
			}
		}
		if kaslr == nil {
			t.Fatal("no KASLR relocation in the good dump")
		}
		var stray uint64
		for addr := kaslr.Addr + 64; addr < kaslr.Addr+4096; addr++ {
			clean := true
			for _, d := range gr.Diffs {
				if d.Addr <= addr+8 && addr <= d.Addr+uint64(len(d.Found))+8 {
					clean = false
					break
				}
			}
			if clean {
				stray = addr
				break
			}
		}
		if stray == 0 {
			t.Fatal("no clean byte near the relocation")
		}
		var orig []byte
		_, bad := open(dir, func(p *kernel.Program) *damage.Virt {
			v := damage.NewVirt(p)
			b, err := p.Read(stray, 1)
			if err != nil {
				t.Fatal(err)
			}
			orig = b
			if err := v.Patch(stray, []byte{b[0] ^ 0x40}); err != nil {
				t.Fatal(err)
			}
			// the field moved by the offset plus 2 MiB: bit 21 flipped
			w := append([]byte(nil), kaslr.Found...)
			w[0] ^= 0x20
			if err := v.Patch(kaslr.Addr, w); err != nil {
				t.Fatal(err)
			}
			return v
		})
		br := bad.Text(nil)
		un := br.Unexplained()
		var sawStray, sawField bool
		for _, d := range un {
			sawStray = sawStray || d.Addr <= stray && stray < d.Addr+uint64(len(d.Found))
		}
		for _, d := range un {
			sawField = sawField || d.Addr == kaslr.Addr
		}
		if !sawStray {
			t.Errorf("the byte at %#x changed from %#x: not unexplained (%d unexplained)", stray, orig[0], len(un))
		}
		if !sawField {
			t.Errorf("the KASLR field at %#x moved by a wrong amount: not unexplained", kaslr.Addr)
		}
		for _, d := range un {
			t.Logf("unexplained %d bytes at %#x: expected % x, found % x", len(d.Found), d.Addr, d.Expected, d.Found)
			if !(d.Addr <= stray && stray < d.Addr+uint64(len(d.Found))) && !(kaslr.Addr <= d.Addr && d.Addr < kaslr.Addr+uint64(len(kaslr.Found))) {
				t.Errorf("unexplained at %#x: not planted", d.Addr)
			}
		}
	})
}
