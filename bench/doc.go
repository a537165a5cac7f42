// Package bench holds kdump-inspect's whole-tool benchmarks (go test -bench
// over the corpus dumps: type resolution, page reads, kernel.Open, the
// module list, the audit) and, under cmd/, the small programs the
// measurements in docs/PERFORMANCE.md run: startup (vmlinux-side start-up,
// for peak RSS), modarch (the canonical module/arch/.stubs output compared
// with drgn by vs-drgn) and corpusaudit (batch.Run with N workers and
// pages touched per dump).
//
// Nothing outside bench/ imports it; bench/internal/guestinit is what the
// corpus guests' /init programs (bench/*/guestinit) share. Benchmarks that
// need the corpus skip without it.
//
// Layer: bench, outside the tool (docs/ARCHITECTURE.md).
package bench
