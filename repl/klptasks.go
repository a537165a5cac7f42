package repl

import (
	"fmt"
	"strconv"

	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// KlpTaskView is one task for the livepatch consistency model: its
// patch_state and the frames of its stack inside livepatched code.
type KlpTaskView struct {
	PID  int64    `json:"pid"`
	Comm string   `json:"comm"`
	Task wire.Hex `json:"task"`
	// State is task->patch_state by name (idle, unpatched, patched);
	// PatchState its value.
	State      klpState `json:"patch_state"`
	PatchState int64    `json:"-"`
	// Frames are the stack's frames inside a klp_func's old or new body.
	Frames []KlpFrameHit `json:"frames,omitempty"`
	// Error is why the stack walk stopped early.
	Error string `json:"error,omitempty"`
}

// klpState is a patch_state or klp_target_state on the wire (enum
// klp_transition_state without its KLP_TRANSITION_ prefix, lowercase; the
// number for a value it does not have).
type klpState string

func (klpState) EnumValues() []string { return []string{"idle", "unpatched", "patched"} }

// KlpFrameHit is a stack frame inside a function a livepatch replaces
// (old_func) or provides (new_func).
type KlpFrameHit struct {
	Level    int      `json:"level"`
	PC       wire.Hex `json:"pc"`
	Location string   `json:"location"`
	Func     string   `json:"func"`  // the klp_func's old_name
	Which    string   `json:"which"` // "old" or "new"
	Patch    string   `json:"patch"` // the livepatch module
}

// klpHits are the frames inside a livepatched body. Every frame counts,
// the NIP one too: klp_check_stack() checks every entry of the task's
// stack trace.
func klpHits(frames []BtFrame, ranges []ftrace.Body) []KlpFrameHit {
	var hits []KlpFrameHit
	for _, f := range frames {
		for _, r := range ranges {
			if pc := uint64(f.PC); pc >= r.Lo && pc < r.Hi {
				which := "old"
				if r.New {
					which = "new"
				}
				hits = append(hits, KlpFrameHit{Level: f.Level, PC: f.PC, Location: f.Location, Func: r.Func, Which: which, Patch: r.Patch})
			}
		}
	}
	return hits
}

func klpStateName(v int64) string {
	switch v {
	case -1:
		return "idle"
	case 0:
		return "unpatched"
	case 1:
		return "patched"
	}
	return strconv.FormatInt(v, 10)
}

// klpTasks holds every task's stack, as klp_check_stack() would, against
// the old and new bodies of every klp_func: the analysis's one enumeration
// and walk of every task (analysis.Stacks), which the KLP-TRANSITION rule
// reads too. A task running on a CPU whose registers the dump lacks is
// not walked (its thread.ksp is stale).
func (s *Session) klpTasks(lp *ftrace.Livepatch) ([]KlpTaskView, error) {
	ranges := lp.Bodies()
	us, walkErr := s.A.Stacks()
	var out []KlpTaskView
	for _, u := range us {
		if !u.HasTask {
			continue
		}
		t := u.Task
		if !t.HasPatchState {
			return nil, fmt.Errorf("task_struct has no patch_state (kernel without CONFIG_LIVEPATCH)")
		}
		v := KlpTaskView{PID: t.PID, Comm: t.Comm, Task: wire.Hex(t.Addr), PatchState: t.PatchState, State: klpState(klpStateName(t.PatchState))}
		var bv BtView
		s.fillBt(&bv, u.Frames, u.Err)
		v.Error = bv.Error
		if u.Stale {
			v.Error = fmt.Sprintf("running on CPU %d, whose registers the dump lacks: stack not walked", u.CPU)
		}
		v.Frames = klpHits(bv.Frames, ranges)
		out = append(out, v)
	}
	return out, walkErr
}

func (s *Session) writeKlpTasks(c *Call, lp *ftrace.Livepatch, tasks []KlpTaskView) {
	target := "idle"
	if lp.HasTargetState {
		target = klpStateName(lp.TargetState)
	}
	behind, onStack, failed := 0, 0, 0
	for _, t := range tasks {
		if lp.TransitionPatch != 0 && t.PatchState != lp.TargetState {
			behind++
		}
		if len(t.Frames) > 0 {
			onStack++
		}
		if t.Error != "" {
			failed++
		}
	}
	c.Printf("klp_transition_patch %#x, klp_target_state %s: %d tasks, %d not yet switched, %d with livepatched code on the stack, %d stacks not fully walked\n",
		lp.TransitionPatch, target, len(tasks), behind, onStack, failed)
	for _, t := range tasks {
		switched := lp.TransitionPatch == 0 || t.PatchState == lp.TargetState
		if switched && len(t.Frames) == 0 && t.Error == "" {
			continue
		}
		c.Printf("  PID %-6d %-16s task %x  patch_state %s", t.PID, t.Comm, t.Task, klpStateName(t.PatchState))
		if !switched {
			c.Printf("  (not yet %s)", target)
		}
		c.Printf("\n")
		for _, f := range t.Frames {
			c.Printf("    #%-2d %s at %x: %s body of %s (%s)\n", f.Level, f.Location, f.PC, f.Which, f.Func, f.Patch)
		}
		if t.Error != "" {
			c.Printf("    (stack walk stopped: %s)\n", t.Error)
		}
	}
}
