// Package batch audits corpora of dumps: the dumps under a directory tree
// (FindDumps: names, links and format magic by dump.Sniff), the shard of
// them one worker takes (Shard), the audits run in parallel (Run), and the
// JSONL outputs of shards read back for merging (ReadJSONL). One dump's
// audit, its result and the exit contract are package audit's
// (audit.AuditDump, audit.DumpResult, audit.ExitCode).
//
// Layer: judges (docs/ARCHITECTURE.md): it orchestrates package audit
// over many dumps and decides nothing itself.
package batch

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
	"strconv"
	"strings"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
)

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
func FindDumps(root string) ([]audit.Job, error) {
	var jobs []audit.Job
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
			jobs = append(jobs, audit.Job{Paths: paths})
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
func Shard(jobs []audit.Job, root string, k, n int) ([]audit.Job, error) {
	if n < 1 || k < 1 || k > n {
		return nil, fmt.Errorf("shard %d/%d: want 1 <= K <= N", k, n)
	}
	var out []audit.Job
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

// Run audits jobs (audit.AuditDump each) with up to workers in parallel (0: one per CPU);
// results keep the jobs' order. progress, when set, is called after each.
func Run(jobs []audit.Job, workers int, opts audit.Options, progress func(done, total int, r *audit.DumpResult)) []audit.DumpResult {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	res := make([]audit.DumpResult, len(jobs))
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	ch := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				res[i] = audit.AuditDump(jobs[i], opts)
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
func ReadJSONL(r io.Reader) ([]audit.DumpResult, error) {
	var out []audit.DumpResult
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		var d audit.DumpResult
		if err := json.Unmarshal([]byte(b), &d); err != nil {
			return out, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, d)
	}
	return out, sc.Err()
}

// sniffDump reports whether a file starts like a dump (dump.Sniff).
func sniffDump(path string) bool {
	m, err := dump.Sniff(path)
	return err == nil && m != dump.NotDump
}

// ParseShard reads a shard "K/N" (1 <= K <= N).
func ParseShard(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("--shard %q: want K/N", s)
	}
	return k, n, nil
}
