package repl

import (
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// The printk log (crash's log): kernel.ReadLog reads the ring buffer.

func cmdLog(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	recs, skipped, err := kernel.ReadLog(c.S.Prog)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	if n := intFlag(fs, "n"); n > 0 && len(recs) > n {
		recs = recs[len(recs)-n:]
	}
	if boolFlag(fs, "json") {
		out := make([]LogView, len(recs))
		for i, r := range recs {
			out[i] = LogView{Seq: int64(r.Seq), TsNsec: int64(r.TsNsec), Level: int(r.Level), Text: strings.TrimRight(r.Text, "\n")}
		}
		if skipped > 0 {
			c.Warn("%d record(s) could not be read", skipped)
		}
		return c.JSON(out)
	}
	for _, r := range recs {
		if err := c.Ctx.Err(); err != nil {
			return err
		}
		text := strings.TrimRight(r.Text, "\n")
		if boolFlag(fs, "t") {
			c.Printf("%s\n", text)
			continue
		}
		c.Printf("[%5d.%06d] %s\n", r.TsNsec/1e9, r.TsNsec%1e9/1e3, text)
	}
	if skipped > 0 {
		fmt.Fprintf(c.S.Err, "log: %d record(s) could not be read\n", skipped)
	}
	return nil
}

// LogView is one printk record of `log --json`.
type LogView struct {
	Seq int64 `json:"seq"`
	// TsNsec is the record's timestamp in nanoseconds since boot.
	TsNsec int64 `json:"ts_nsec"`
	// Level is the console log level (0 KERN_EMERG ... 7 KERN_DEBUG).
	Level int    `json:"level"`
	Text  string `json:"text"`
}
