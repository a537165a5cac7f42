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

// TestIRQCorpus: the guest's boot said "NR_IRQS: 512, nr_irqs: 512,
// preallocated irqs: 16": early_irq_init() (kernel/irq/irqdesc.c) made
// descriptors for IRQs 0..15 at boot, so sparse_irqs holds them; the hvc
// console requests its interrupt by the name "hvc_console" with
// hvc_handle_interrupt (drivers/tty/hvc/hvc_irq.c); no IRQ is at or above
// nr_irqs.
func TestIRQCorpus(t *testing.T) {
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			s := corpusSession(t, dir)
			b, err := os.ReadFile(filepath.Join(testcorpus.Dir(t, dir), "console.log"))
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`nr_irqs: (\d+), preallocated irqs: (\d+)`).FindSubmatch(b)
			if m == nil {
				t.Fatal("no nr_irqs line in the console")
			}
			nr, _ := strconv.ParseUint(string(m[1]), 10, 64)
			pre, _ := strconv.ParseUint(string(m[2]), 10, 64)
			var irqs []IRQView
			runDoc(t, s, "irq -a --json", &irqs)
			have := map[uint64]bool{}
			hvc := false
			for _, q := range irqs {
				have[uint64(q.IRQ)] = true
				if uint64(q.IRQ) >= nr {
					t.Errorf("IRQ %d >= nr_irqs %d", q.IRQ, nr)
				}
				if len(q.Errors) > 0 {
					t.Errorf("IRQ %d: %v", q.IRQ, q.Errors)
				}
				for _, a := range q.Actions {
					if a.Name == "hvc_console" && strings.HasPrefix(a.Handler, "hvc_handle_interrupt") {
						hvc = true
					}
				}
			}
			for i := range pre {
				if !have[i] {
					t.Errorf("preallocated IRQ %d missing", i)
				}
			}
			if !hvc {
				t.Errorf("no hvc_console action with hvc_handle_interrupt")
			}
		})
	}
}
