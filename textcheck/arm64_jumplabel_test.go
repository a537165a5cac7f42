package textcheck

import (
	"testing"

	a64 "github.com/kdump-inspect/kdump-inspect/arch/arm64"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// TestArm64JumpLabelFlipCorpus plants a legal change in a copy of the
// distro-kaslr arm64 dump: one of ext4's own static keys enabled (its
// struct static_key's enabled count set to 1) and every __jump_table site
// of that key rewritten as arch_jump_label_transform() would (b target
// where static_key_enabled() ^ branch, else nop): the text model explains
// every rewritten site by the jump label model and nothing is
// unexplained. Then the same sites rewritten with the key left alone:
// each is unexplained. Skipped without the arm64 corpus.
func TestArm64JumpLabelFlipCorpus(t *testing.T) {
	dir := testcorpus.Corpora(t, "arm64", "distro-kaslr")
	if testing.Short() {
		t.Skip("-short")
	}
	open := func(wrap *damage.Virt) (*kernel.Program, *modules.Set, *Env) { return openArm64(t, dir, wrap, false) }
	p, set, env := open(nil)
	m := set.Find("ext4")
	if m == nil {
		t.Fatal("ext4 not loaded")
	}
	img, err := BuildModuleImage(set, m)
	if err != nil {
		t.Fatal(err)
	}
	env.load()
	if env.jlErr != nil {
		t.Fatal(env.jlErr)
	}
	tab := img.Section("__jump_table")
	byKey := map[uint64][]JumpEntry{}
	var keys []uint64
	for _, j := range parseJumpTable(env.jl, img.Order, tab.Addr, tab.Want) {
		s := img.SectionAt(j.Code)
		if !m.Module.Contains(j.Key) || s == nil || !s.Compare {
			continue
		}
		if byKey[j.Key] == nil {
			keys = append(keys, j.Key)
		}
		byKey[j.Key] = append(byKey[j.Key], j)
	}
	var key uint64
	for _, k := range keys {
		if ks := env.keyState(k); ks.Err == nil && ks.Enabled == 0 {
			key = k
			break
		}
	}
	if key == 0 {
		t.Fatal("no disabled static key of ext4's own with sites in its text")
	}
	entries := byKey[key]
	t.Logf("key %s at %#x: %d sites", env.name(key), key, len(entries))
	plant := func(withKey bool) *Result {
		v := damage.NewVirt(p)
		for _, j := range entries {
			w := a64.Nop
			if !j.Branch { // enabled ^ branch: JUMP_LABEL_JMP
				var err error
				if w, err = a64.BranchImm(j.Code, j.Target, false); err != nil {
					t.Fatal(err)
				}
			}
			if err := v.Patch(j.Code, a64.Order.AppendUint32(nil, w)); err != nil {
				t.Fatal(err)
			}
		}
		if withKey {
			b := make([]byte, 4)
			p.Order.PutUint32(b, 1)
			if err := v.Patch(key+uint64(env.jl.enabled), b); err != nil {
				t.Fatal(err)
			}
		}
		_, set2, env2 := open(v)
		return env2.Module(set2.Find("ext4"))
	}
	r := plant(true)
	t.Logf("key enabled, sites flipped: %s", r.Summary())
	if len(r.Unexplained()) != 0 || r.ByMech[MechJumpLabel] != len(entries) {
		t.Errorf("flipped with the key: %d unexplained, %d jump label runs; want 0 and %d", len(r.Unexplained()), r.ByMech[MechJumpLabel], len(entries))
	}
	r = plant(false)
	t.Logf("key left disabled, sites flipped: %s", r.Summary())
	un := map[uint64]bool{}
	for _, d := range r.Unexplained() {
		un[d.Addr] = true
	}
	for _, j := range entries {
		if !un[j.Code] {
			t.Errorf("site %#x flipped without its key: not reported", j.Code)
		}
	}
	if len(un) != len(entries) {
		t.Errorf("%d unexplained runs, want %d", len(un), len(entries))
	}
}
