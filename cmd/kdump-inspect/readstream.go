package main

import (
	"fmt"
	"io"

	"github.com/kdump-inspect/kdump-inspect/dump"
)

// readChunk is how much `read` holds at a time.
const readChunk = 1 << 20

// streamRead writes n bytes of mem at addr to stdout a chunk at a time,
// so that a read of a gigabyte costs a megabyte of memory. On a fault the
// bytes before it have been written; the error names the address.
func streamRead(mem dump.Memory, addr, n uint64, stdout, stderr io.Writer) int {
	buf := make([]byte, min(n, readChunk))
	for done := uint64(0); done < n; {
		k := min(n-done, uint64(len(buf)))
		got, err := mem.ReadAt(buf[:k], addr+done)
		if _, werr := stdout.Write(buf[:got]); werr != nil {
			fmt.Fprintf(stderr, "kdump-inspect read: %v\n", werr)
			return exitBad
		}
		if uint64(got) < k {
			if err == nil {
				err = fmt.Errorf("short read")
			}
			fmt.Fprintf(stderr, "kdump-inspect read: cannot read %#x (%#x bytes written before it): %v\n", addr+done+uint64(got), done+uint64(got), err)
			return exitBad
		}
		done += k
	}
	return exitOK
}
