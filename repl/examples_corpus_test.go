package repl

import (
	"testing"
)

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestHelpExamplesCorpus: every command has examples, and every example
// `help CMD` shows runs without error on seed 000's dump (the addresses
// in them are this dump's).
func TestHelpExamplesCorpus(t *testing.T) {
	s := corpusSession(t, "buggy-radix")
	t.Chdir(t.TempDir()) // examples that write files write them here
	out, errw := s.Out, s.Err
	defer func() { s.Out, s.Err = out, errw }()
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
