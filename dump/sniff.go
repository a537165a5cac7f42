package dump

import (
	"encoding/binary"
	"io"
	"os"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
)

// Magic is what a file is by its first bytes: the one place that knows the
// signatures of the formats Open reads.
type Magic int

const (
	// NotDump: no format Open reads.
	NotDump Magic = iota
	// MagicELF: an ELF core (kdump, QEMU, a process core).
	MagicELF
	// MagicKdump: makedumpfile's kdump-compressed (diskdump) "KDUMP   ".
	MagicKdump
	// MagicFlattened: makedumpfile's flattened format ("makedumpfile").
	MagicFlattened
	// MagicCompressed: a whole-file zstd, xz or gzip stream, which Open
	// decompresses first (package internal/container).
	MagicCompressed
)

// SniffBytes says what a file starting with b (16 bytes suffice) is.
func SniffBytes(b []byte) Magic {
	n := len(b)
	switch {
	case n >= 4 && string(b[:4]) == elfobj.ELFMAG:
		return MagicELF
	case n >= 12 && string(b[:12]) == flatSignature:
		return MagicFlattened
	case n >= 8 && string(b[:8]) == kdumpSignature:
		return MagicKdump
	case container.KindOf(b) != container.None:
		return MagicCompressed
	}
	return NotDump
}

// ELFType is e_type of an ELF file starting with b (18 bytes needed), read
// in the byte order its EI_DATA gives: ET_CORE for a dump, ET_EXEC or
// ET_DYN for a vmlinux. false when b does not start an ELF header.
func ELFType(b []byte) (elfobj.Type, bool) {
	if len(b) < 18 || string(b[:4]) != elfobj.ELFMAG {
		return 0, false
	}
	if elfobj.Data(b[elfobj.EI_DATA]) == elfobj.ELFDATA2MSB {
		return elfobj.Type(binary.BigEndian.Uint16(b[16:])), true
	}
	return elfobj.Type(binary.LittleEndian.Uint16(b[16:])), true
}

// Sniff says what the file at path is by its first bytes (a name alone,
// such as vmcoreinfo-location.txt, does not make a dump).
func Sniff(path string) (Magic, error) {
	f, err := os.Open(path)
	if err != nil {
		return NotDump, err
	}
	defer f.Close()
	var b [16]byte
	n, err := io.ReadFull(f, b[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return NotDump, err
	}
	return SniffBytes(b[:n]), nil
}
