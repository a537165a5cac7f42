package repl

import (
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestHelpExamplesCorpus: every command has examples, and every example
// `help CMD` shows runs without error on seed 000's dump (the addresses
// in them are this dump's).
func TestHelpExamplesCorpus(t *testing.T) {
	// A session of its own: examples change settings (set radix 16)
	// and define aliases.
	p, err := kernel.Open([]string{filepath.Join(testcorpus.Dir(t, "buggy-radix"), "vmcore-vmcoreinfo.kdump")}, kernel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := New(p, Options{PanicLog: t.TempDir()})
	t.Chdir(t.TempDir()) // examples that write files write them here
	for _, c := range s.cmds {
		if len(c.Examples) == 0 && c.Name != "quit" {
			t.Errorf("%s has no examples", c.Name)
		}
		for _, e := range c.Examples {
			if c.Name == "quit" {
				continue
			}
			s.Out, s.Err = discard{}, discard{}
			if err := s.Exec(t.Context(), e); err != nil {
				t.Errorf("help %s example %q: %v", c.Name, e, err)
			}
		}
	}
}
