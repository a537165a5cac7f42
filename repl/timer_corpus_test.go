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

// TestTimerCorpus: samples/livepatch/livepatch-shadow-mod.c keeps two
// delayed works re-arming themselves, alloc_dwork every ALLOC_PERIOD (1 s)
// and cleanup_dwork every CLEANUP_PERIOD (3 s); a delayed work's timer
// runs delayed_work_timer_fn (kernel/workqueue.c). So each dump's wheel
// holds both timers (at the works' addresses from the guest's kallsyms
// plus offsetof(struct delayed_work, timer)), due within their period of
// jiffies (CONFIG_HZ from the kernel's config).
func TestTimerCorpus(t *testing.T) {
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			s := corpusSession(t, dir)
			tr := testcorpus.LoadTruth(t, testcorpus.Dir(t, dir))
			kernelDir := "7.2.13-fixed"
			if strings.HasPrefix(dir, "buggy") {
				kernelDir = "7.2.13-buggy"
			}
			cfg, err := os.ReadFile(filepath.Join(testcorpus.Require(t), "kernels", kernelDir, "config"))
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`(?m)^CONFIG_HZ=(\d+)$`).FindSubmatch(cfg)
			if m == nil {
				t.Fatal("no CONFIG_HZ")
			}
			hz, _ := strconv.ParseInt(string(m[1]), 10, 64)
			works := map[string]uint64{}
			for _, l := range tr["guest"].(map[string]any)["blocks"].(map[string]any)["module kallsyms"].([]any) {
				f := strings.Fields(l.(string))
				if len(f) == 4 && f[3] == "[livepatch_shadow_mod]" && strings.HasSuffix(f[2], "_dwork") {
					works[f[2]], _ = strconv.ParseUint(f[0], 16, 64)
				}
			}
			off, err := s.Prog.Types.Offsetof("struct delayed_work", "timer")
			if err != nil || len(works) != 2 {
				t.Fatalf("offsetof: %v; works %v", err, works)
			}
			var v struct {
				Jiffies int64          `json:"jiffies"`
				CPUs    []TimerCPUView `json:"cpus"`
			}
			runDoc(t, s, "timer --json", &v)
			jiffies := v.Jiffies
			for name, period := range map[string]int64{"alloc_dwork": 1, "cleanup_dwork": 3} {
				want := works[name] + uint64(off)
				found := false
				for _, c := range v.CPUs {
					if len(c.Errors) > 0 {
						t.Errorf("cpu %d: %v", c.CPU, c.Errors)
					}
					for _, tm := range c.Wheel {
						if uint64(tm.Timer) != want {
							continue
						}
						found = true
						if !strings.HasPrefix(tm.Function, "delayed_work_timer_fn") {
							t.Errorf("%s: function %s", name, tm.Function)
						}
						if d := tm.Expires - jiffies; d <= 0 || d > period*hz {
							t.Errorf("%s: due in %d jiffies, not within %d s at HZ=%d", name, d, period, hz)
						}
					}
				}
				if !found {
					t.Errorf("%s.timer (%#x) not on any wheel", name, want)
				}
			}
		})
	}
}
