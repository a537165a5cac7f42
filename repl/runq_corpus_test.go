package repl

import (
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// TestRunqCorpus: each CPU's rq->curr is the task bt -a finds on that
// CPU (paca_ptrs[cpu]->__current, another word of the kernel's memory);
// one run queue per CPU QEMU was started with (-smp); every queue read
// without error.
func TestRunqCorpus(t *testing.T) {
	for _, dir := range testcorpus.Dirs {
		t.Run(dir, func(t *testing.T) {
			s := corpusSession(t, dir)
			var rqs []RunqView
			runDoc(t, s, "runq --json", &rqs)
			if len(rqs) != qemuCPUs(t, dir) {
				t.Errorf("%d run queues, QEMU had %d CPUs", len(rqs), qemuCPUs(t, dir))
			}
			var bts []BtView
			runDoc(t, s, "bt -a --json", &bts)
			onCPU := map[int]wire.Hex{}
			for _, b := range bts {
				onCPU[b.CPU] = b.Task
			}
			for _, rq := range rqs {
				if len(rq.Errors) > 0 {
					t.Errorf("cpu %d: %v", rq.CPU, rq.Errors)
				}
				if want, ok := onCPU[rq.CPU]; !ok || rq.Current.Task != want {
					t.Errorf("cpu %d: rq->curr %#x, bt -a's task %#x", rq.CPU, rq.Current.Task, want)
				}
				if int64(len(rq.CFS)+len(rq.RT)) > rq.NrRunning {
					t.Errorf("cpu %d: %d queued, nr_running %d", rq.CPU, len(rq.CFS)+len(rq.RT), rq.NrRunning)
				}
			}
		})
	}
}
