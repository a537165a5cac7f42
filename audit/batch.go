package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/container"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// DumpResult is the audit of one dump, as the batch mode reports it (one
// JSON object per dump; one JSONL line each: see wire.go).
type DumpResult struct {
	Dump     string
	Vmlinux  string
	Release  string
	Format   string
	MMU      string
	Modules  int
	Findings []Finding
	Coverage []SubjectCoverage
	Warnings []string
	// Damage is what the dump file itself says is damaged ("" if
	// nothing).
	Damage string
	// Error is set when the dump could not be analysed at all.
	Error   string
	Seconds float64
	// complete is set from the report's coverage; after a JSON round
	// trip from the wire's "complete".
	complete bool
}

// Failed reports whether the dump could not be analysed.
func (d *DumpResult) Failed() bool { return d.Error != "" }

// Complete reports whether every selected, applicable rule ran on every
// module, the vmlinux and the system.
func (d *DumpResult) Complete() bool { return d.complete && !d.Failed() }

// Count returns the findings at or above sev.
func (d *DumpResult) Count(sev Severity) int {
	n := 0
	for _, f := range d.Findings {
		if f.Severity >= sev {
			n++
		}
	}
	return n
}

// CoverageLine is the report's one-line coverage summary.
func (d *DumpResult) CoverageLine() string {
	r := Report{Coverage: d.Coverage, Damage: d.Damage}
	return r.CoverageLine()
}

// NewDumpResult describes an audited program.
func NewDumpResult(p *kernel.Program, r *Report) DumpResult {
	res := DumpResult{Dump: strings.Join(p.Dump.Paths, ","), Vmlinux: p.VmlinuxPath(), Release: p.Release,
		Format: p.Dump.Format.String(), MMU: p.Arch.MMU(), Modules: r.Modules, Findings: r.Findings,
		Coverage: r.Coverage, Damage: r.Damage, Error: r.Fatal, complete: r.Complete()}
	res.Warnings = append(append(res.Warnings, p.Warnings...), r.Warnings...)
	if res.Findings == nil {
		res.Findings = []Finding{}
	}
	return res
}

// Job is one dump to audit: its file(s) and debuginfo (empty: beside it).
type Job struct {
	Paths   []string
	Options kernel.Options
}

// AuditDump opens one dump and audits it. It never panics on a bad dump:
// errors become DumpResult.Error.
func AuditDump(job Job, opts Options) (res DumpResult) {
	t0 := time.Now()
	defer func() {
		if r := recover(); r != nil {
			res.Error = fmt.Sprintf("internal error: %v", r)
		}
		res.Dump = strings.Join(job.Paths, ",")
		res.Seconds = time.Since(t0).Seconds()
	}()
	p, err := kernel.Open(job.Paths, job.Options)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer p.Close()
	a := analysis.New(p)
	defer a.Close()
	return NewDumpResult(p, Run(a, opts))
}

// IsDumpFile says whether a file name looks like a dump the batch mode
// takes: vmcore*, *.kdump, *.elf(.zst|.xz|.gz), the first part of a split
// dump (*.1).
func IsDumpFile(name string) bool {
	base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, ".zst"), ".xz"), ".gz")
	if strings.HasSuffix(base, ".2") || strings.HasSuffix(base, ".3") {
		return false
	}
	return strings.HasPrefix(base, "vmcore") || strings.HasSuffix(base, ".kdump") || strings.HasSuffix(base, ".elf")
}

// FindDumps walks a corpus tree for dumps, following symbolic links and
// link files (to files and directories; loops and a dump reached twice are
// taken once). Split dumps (NAME.1, NAME.2 ...) become one job.
// Directories named "kernels" or "modules" are not dump directories and
// are skipped.
func FindDumps(root string) ([]Job, error) {
	var jobs []Job
	seenDir := map[string]bool{}  // real paths of directories walked (symlink loops)
	seenFile := map[string]bool{} // real paths of dumps taken (two links to one file)
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		if depth > maxFindDepth {
			return
		}
		real, err := filepath.EvalSymlinks(dir)
		if err != nil || seenDir[real] {
			return
		}
		seenDir[real] = true
		ents, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			// A symlink or a link file (a small file holding a path, as
			// ../shared stores its links) stands for its target.
			target := container.FollowLinkFile(p)
			st, err := os.Stat(target)
			if err != nil {
				continue
			}
			if st.IsDir() {
				if e.Name() == "kernels" || e.Name() == "modules" || strings.HasPrefix(e.Name(), ".") {
					continue
				}
				walk(target, depth+1)
				continue
			}
			if !st.Mode().IsRegular() || !IsDumpFile(e.Name()) && !IsDumpFile(filepath.Base(target)) || !sniffDump(target) {
				continue
			}
			rp, err := filepath.EvalSymlinks(target)
			if err != nil || seenFile[rp] {
				continue
			}
			seenFile[rp] = true
			paths := []string{p}
			if strings.HasSuffix(p, ".1") {
				for i := 2; i < 64; i++ {
					q := strings.TrimSuffix(p, ".1") + fmt.Sprintf(".%d", i)
					if _, err := os.Stat(q); err != nil {
						break
					}
					paths = append(paths, q)
				}
			}
			jobs = append(jobs, Job{Paths: paths})
		}
	}
	if _, err := os.Stat(root); err != nil {
		return nil, err
	}
	walk(container.FollowLinkFile(root), 0)
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].Paths[0] < jobs[j].Paths[0] })
	return jobs, nil
}

// maxFindDepth bounds FindDumps's descent (a directory tree of links).
const maxFindDepth = 32

// Shard keeps the jobs of shard k of n (1-based), deterministically by the
// hash of each dump's path relative to root, so that independent workers
// (a Kubernetes Indexed Job, a Slurm array, GNU parallel over hosts) each
// take a disjoint part and together all of it.
func Shard(jobs []Job, root string, k, n int) ([]Job, error) {
	if n < 1 || k < 1 || k > n {
		return nil, fmt.Errorf("shard %d/%d: want 1 <= K <= N", k, n)
	}
	var out []Job
	for _, j := range jobs {
		rel, err := filepath.Rel(root, j.Paths[0])
		if err != nil {
			rel = j.Paths[0]
		}
		h := fnv.New32a()
		io.WriteString(h, filepath.ToSlash(rel))
		if int(h.Sum32()%uint32(n)) == k-1 {
			out = append(out, j)
		}
	}
	return out, nil
}

// RunBatch audits jobs with up to workers in parallel (0: one per CPU);
// results keep the jobs' order. progress, when set, is called after each.
func RunBatch(jobs []Job, workers int, opts Options, progress func(done, total int, r *DumpResult)) []DumpResult {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	res := make([]DumpResult, len(jobs))
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	ch := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				res[i] = AuditDump(jobs[i], opts)
				if progress != nil {
					mu.Lock()
					done++
					progress(done, len(jobs), &res[i])
					mu.Unlock()
				}
			}
		}()
	}
	for i := range jobs {
		ch <- i
	}
	close(ch)
	wg.Wait()
	return res
}

// ReadJSONL reads DumpResults written one per line (audit --jsonl), for
// merging the outputs of shards.
func ReadJSONL(r io.Reader) ([]DumpResult, error) {
	var out []DumpResult
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		var d DumpResult
		if err := json.Unmarshal([]byte(b), &d); err != nil {
			return out, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, d)
	}
	return out, sc.Err()
}

// UnmarshalText reads a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// Summary counts findings per rule and severity across dumps.
type Summary struct {
	Dumps, Failed int
	PerRule       map[string]int
	PerSeverity   map[Severity]int
	Seconds       float64
}

// Summarize folds results.
func Summarize(rs []DumpResult) Summary {
	s := Summary{PerRule: map[string]int{}, PerSeverity: map[Severity]int{}}
	for _, r := range rs {
		s.Dumps++
		s.Seconds += r.Seconds
		if r.Failed() {
			s.Failed++
		}
		for _, f := range r.Findings {
			s.PerRule[f.Rule]++
			s.PerSeverity[f.Severity]++
		}
	}
	return s
}

// Exit statuses of the audit (the CI contract).
const (
	ExitClean      = 0 // every applicable rule ran everywhere; no finding at or above --fail-on
	ExitFindings   = 1 // findings at or above --fail-on
	ExitCannot     = 2 // a dump could not be analysed at all
	ExitIncomplete = 3 // no finding at or above --fail-on, but not everything could be checked
)

// ExitCode is the CI contract: 2 when any dump could not be analysed, else
// 1 when any finding is at or above failOn, else 3 when some rule could not
// check some module (unless allowIncomplete), else 0.
func ExitCode(rs []DumpResult, failOn Severity, allowIncomplete bool) int {
	code := ExitClean
	incomplete := false
	for i := range rs {
		r := &rs[i]
		if r.Failed() {
			return ExitCannot
		}
		if r.Count(failOn) > 0 {
			code = ExitFindings
		}
		if !r.Complete() {
			incomplete = true
		}
	}
	if code == ExitClean && incomplete && !allowIncomplete {
		return ExitIncomplete
	}
	return code
}

// sniffDump reports whether a file starts like a dump (dump.Sniff).
func sniffDump(path string) bool {
	m, err := dump.Sniff(path)
	return err == nil && m != dump.NotDump
}
