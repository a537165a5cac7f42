package debuginfo

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/kdump-inspect/kdump-inspect/elfobj"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// maxPrefix bounds what is decompressed of a compressed file to find its
// build-id: a module's notes come right after its ELF header.
const maxPrefix = 4 << 20

// NotELFError says a candidate is not an ELF file (nor a compressed one).
type NotELFError struct {
	Path  string
	Magic []byte
}

func (e *NotELFError) Error() string {
	return fmt.Sprintf("%s: not an ELF file (starts % x)", e.Path, e.Magic)
}

// ReadBuildID returns the GNU build-id of an ELF file, plain or
// whole-file compressed (zstd, xz, gzip, recognised by content), nil when
// it has none. A compressed file is decompressed only up to maxPrefix.
func ReadBuildID(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	magic := make([]byte, 6)
	n, _ := io.ReadFull(f, magic)
	magic = magic[:n]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var dec io.Reader
	switch {
	case bytes.HasPrefix(magic, []byte(elfobj.ELFMAG)):
		return symbols.ReadBuildID(f, path)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d, err := zstd.NewReader(bufio.NewReader(f), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer d.Close()
		dec = d
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		d, err := xz.NewReader(bufio.NewReader(f))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		dec = d
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		d, err := gzip.NewReader(bufio.NewReader(f))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer d.Close()
		dec = d
	default:
		return nil, &NotELFError{Path: path, Magic: magic}
	}
	prefix, err := io.ReadAll(io.LimitReader(dec, maxPrefix))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%s: decompressing: %w", path, err)
	}
	if !bytes.HasPrefix(prefix, []byte(elfobj.ELFMAG)) {
		return nil, &NotELFError{Path: path + " (decompressed)", Magic: prefix[:min(len(prefix), 6)]}
	}
	// The whole section header table inside the prefix: read it properly.
	if id, err := symbols.ReadBuildID(bytes.NewReader(prefix), path); err == nil {
		return id, nil
	}
	return scanBuildID(prefix), nil
}

// scanBuildID finds a GNU build-id note in the first bytes of an ELF file
// whose section headers lie beyond them: a 4-aligned note header with
// namesz 4, type NT_GNU_BUILD_ID (3), name "GNU\0" and a descriptor of 8 to
// 64 bytes.
func scanBuildID(b []byte) []byte {
	var order binary.ByteOrder = binary.LittleEndian
	if len(b) > elfobj.EI_DATA && elfobj.Data(b[elfobj.EI_DATA]) == elfobj.ELFDATA2MSB {
		order = binary.BigEndian
	}
	for off := 64; off+16 <= len(b); off += 4 {
		if order.Uint32(b[off:]) != 4 || order.Uint32(b[off+8:]) != 3 || !bytes.Equal(b[off+12:off+16], []byte("GNU\x00")) {
			continue
		}
		n := int(order.Uint32(b[off+4:]))
		if n < 8 || n > 64 || off+16+n > len(b) {
			continue
		}
		return append([]byte(nil), b[off+16:off+16+n]...)
	}
	return nil
}
