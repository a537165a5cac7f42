package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/elfobj"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
)

// fileKind is what a positional argument holds, by its first bytes.
type fileKind int

const (
	kindUnknown fileKind = iota
	kindDump             // ELF ET_CORE, kdump-compressed, flattened
	kindVmlinux          // ELF ET_EXEC or ET_DYN
)

// sniffLen is how much of a file sniffing reads.
const sniffLen = 64

// sniff reads the first bytes of path (through a link file, and through
// a whole-file .zst/.xz/.gz compression, streaming only that prefix) and
// says whether it is a dump or a vmlinux.
func sniff(path string) (fileKind, error) {
	path = container.FollowLinkFile(path)
	f, err := os.Open(path)
	if err != nil {
		return kindUnknown, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	switch {
	case strings.HasSuffix(path, ".zst"):
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return kindUnknown, err
		}
		defer d.Close()
		r = d
	case strings.HasSuffix(path, ".xz"):
		if r, err = xz.NewReader(r); err != nil {
			return kindUnknown, err
		}
	case strings.HasSuffix(path, ".gz"):
		g, err := gzip.NewReader(r)
		if err != nil {
			return kindUnknown, err
		}
		defer g.Close()
		r = g
	}
	head := make([]byte, sniffLen)
	n, _ := io.ReadFull(r, head)
	return classify(head[:n]), nil
}

// classify tells a dump from a vmlinux by the signatures package dump
// knows (dump.SniffBytes) and, for ELF, by e_type (dump.ELFType).
func classify(head []byte) fileKind {
	switch dump.SniffBytes(head) {
	case dump.MagicKdump, dump.MagicFlattened:
		return kindDump
	case dump.MagicELF:
		switch t, _ := dump.ELFType(head); t {
		case elfobj.ET_CORE:
			return kindDump
		case elfobj.ET_EXEC, elfobj.ET_DYN:
			return kindVmlinux
		}
	}
	return kindUnknown
}

// splitPositional takes the vmlinux out of the positional arguments, in
// either order (crash's `vmlinux vmcore`, or `vmcore vmlinux`): the one
// file whose first bytes are an ELF executable is the vmlinux (set into
// o.vmlinux); the rest are the dump (several for a split dump). A file
// that is neither stays with the dump, whose parser says what is wrong
// with it.
func (o *openFlags) splitPositional(pos []string) ([]string, error) {
	var dumps []string
	for _, p := range pos {
		k, err := sniff(p)
		if err != nil {
			return nil, err
		}
		if k != kindVmlinux {
			dumps = append(dumps, p)
			continue
		}
		if o.vmlinux != "" {
			return nil, fmt.Errorf("two vmlinux files: %s and %s", o.vmlinux, p)
		}
		o.vmlinux = p
	}
	if len(dumps) == 0 {
		return nil, fmt.Errorf("no dump among %s (only the vmlinux %s)", strings.Join(pos, " "), o.vmlinux)
	}
	return dumps, nil
}

// takeVmlinux lets a one-shot command take crash's order too
// (`kdump-inspect ps VMLINUX DUMP ARGS` or `ps DUMP VMLINUX ARGS`): a
// vmlinux by content among the first two arguments moves to o.vmlinux.
// Arguments that are no readable file are the command's.
func (o *openFlags) takeVmlinux(args []string) []string {
	for i := 0; i < len(args) && i < 2; i++ {
		if k, err := sniff(args[i]); err == nil && k == kindVmlinux && o.vmlinux == "" {
			o.vmlinux = args[i]
			return append(append([]string(nil), args[:i]...), args[i+1:]...)
		}
	}
	return args
}
