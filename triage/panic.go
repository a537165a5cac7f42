package triage

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// Panic is what the printk log says about the crash: the panic message,
// the oops (or BUG/WARN) header that led to it, the CPU and task it names,
// and the registers it printed.
type Panic struct {
	// Found: the log holds a "Kernel panic - not syncing:" record.
	Found   bool
	Message string // "Fatal exception", "sysrq triggered crash"
	// Oops is the first line of the report that led to the panic
	// ("Oops: Exception in kernel mode, sig: 4 [#1]", "BUG: Kernel NULL
	// pointer dereference on read at 0x00000000"); "" for a direct panic.
	Oops string
	// CPU, PID and Comm from the "CPU: 0 UID: 0 PID: 980 Comm: cat" line
	// (CPU -1 when absent).
	CPU  int
	PID  int64
	Comm string
	// Taint is the "Tainted: G W O K" flags of that line.
	Taint string
	// NIP and LR from the oops's register dump (HaveRegs).
	NIP, LR  uint64
	HaveRegs bool
	Trap     uint64
	// Lines are the log lines from the oops header (or the panic) to the
	// panic line, as printed.
	Lines  []string
	TsNsec uint64
}

var (
	cpuLine  = regexp.MustCompile(`^CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: (\S+)(?: Tainted: ([^\n]*?)\s+\S+ #)?`)
	nipLine  = regexp.MustCompile(`^NIP:\s+([0-9a-f]+) LR: ([0-9a-f]+)`)
	regsLine = regexp.MustCompile(`^REGS: [0-9a-f]+ TRAP: ([0-9a-f]+)`)
)

// oopsHeaders start the report of a kernel-mode fault or a BUG (what
// die(), __die() and report_bug() print first).
var oopsHeaders = []string{"Oops:", "BUG:", "kernel BUG at", "Unable to handle kernel", "Kernel attempted to"}

// FindPanic reads the last panic of the log and the report before it.
func FindPanic(recs []kernel.LogRecord) Panic {
	p := Panic{CPU: -1}
	last := -1
	for i := len(recs) - 1; i >= 0; i-- {
		if strings.HasPrefix(strings.TrimSpace(recs[i].Text), "---[ end ") {
			continue // panic()'s closing line repeats the message
		}
		if _, msg, ok := strings.Cut(recs[i].Text, "Kernel panic - not syncing: "); ok {
			p.Found, p.Message, p.TsNsec, last = true, strings.TrimSpace(msg), recs[i].TsNsec, i
			break
		}
	}
	end := last
	if end < 0 {
		end = len(recs) - 1
	}
	// The report that led to the panic: the last oops header before it,
	// within the lines such a report prints (a few hundred at most); a
	// WARNING only when the panic says it came from panic_on_warn.
	first := -1
	find := func(headers []string) {
		for i := end; i >= 0 && end-i < 400 && first < 0; i-- {
			t := strings.TrimSpace(recs[i].Text)
			for _, h := range headers {
				if strings.HasPrefix(t, h) {
					p.Oops, first = t, i
					break
				}
			}
		}
	}
	find(oopsHeaders)
	if first < 0 && strings.Contains(p.Message, "panic_on_warn") {
		find([]string{"WARNING:"})
	}
	// A report may open with several headers ("BUG: Unable to handle
	// kernel data access at ..." then "Oops: Kernel access of bad area");
	// the first says what happened.
	for i := first - 1; first > 0 && i >= 0 && first-i <= 3; i-- {
		t := strings.TrimSpace(recs[i].Text)
		for _, h := range oopsHeaders {
			if strings.HasPrefix(t, h) {
				p.Oops, first = t, i
				break
			}
		}
	}
	if first < 0 {
		first = last
	}
	if first < 0 || end < 0 {
		return p
	}
	for i := first; i <= end && i < len(recs); i++ {
		for _, l := range strings.Split(strings.TrimRight(recs[i].Text, "\n"), "\n") {
			p.Lines = append(p.Lines, l)
			t := strings.TrimSpace(l)
			if m := cpuLine.FindStringSubmatch(t); m != nil && p.CPU < 0 {
				p.CPU, _ = strconv.Atoi(m[1])
				p.PID, _ = strconv.ParseInt(m[2], 10, 64)
				p.Comm = m[3]
				p.Taint = strings.TrimSpace(m[4])
			}
			if m := nipLine.FindStringSubmatch(t); m != nil && !p.HaveRegs {
				p.NIP, _ = strconv.ParseUint(m[1], 16, 64)
				p.LR, _ = strconv.ParseUint(m[2], 16, 64)
				p.HaveRegs = true
			}
			if m := regsLine.FindStringSubmatch(t); m != nil && p.Trap == 0 {
				p.Trap, _ = strconv.ParseUint(m[1], 16, 64)
			}
		}
	}
	return p
}
