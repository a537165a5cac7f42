// Package dump opens a ppc64 Linux crash dump and exposes what the file
// itself holds: physical memory (and the file's own virtual segments),
// ELF notes (NT_PRSTATUS per CPU, VMCOREINFO), the kdump header and page
// counts. It reads ELF64 cores in either byte order (kdump /proc/vmcore,
// QEMU dump-guest-memory, process cores), makedumpfile's kdump-compressed
// format (zlib, LZO, snappy, zstd; split files), and makedumpfile's
// flattened stream, through mmap and without reading whole files into
// memory. Whole-file-compressed dumps (.zst, .xz, .gz) are decompressed
// once through internal/container.
//
// Damage is never read as data: every compressed page is checked with
// what its codec carries (zlib's adler-32, zstd's content size and
// checksum, the exact end of LZO and snappy streams) and must decode to
// exactly one block, else the read faults Corrupt; Open checks every page
// descriptor and PT_LOAD against the file's size; and Dump.Damage says
// up front what is known to be wrong (a truncated file and the pages it
// lost, pages that failed their checks so far, VMCOREINFO problems).
//
// It does not interpret kernel data structures, translate kernel virtual
// addresses through page tables (see NewKernelSpace and package ppc64), or
// locate VMCOREINFO in memory by symbol: ReadVMCOREINFO reads it at a
// physical address the caller supplies.
//
// Layer: files (docs/ARCHITECTURE.md).
package dump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
)

// Format names the container format of a dump.
type Format int

const (
	// ELFKdump is an ELF vmcore as /proc/vmcore writes it: PT_LOADs with
	// physical and kernel-virtual addresses.
	ELFKdump Format = iota + 1
	// ELFQEMU is QEMU's dump-guest-memory ELF: physical PT_LOADs only.
	ELFQEMU
	// ELFProcess is a user-space process core: virtual PT_LOADs only.
	ELFProcess
	// KdumpCompressed is makedumpfile's "KDUMP   " diskdump format.
	KdumpCompressed
	// Flattened is makedumpfile's flattened stream of a kdump-compressed
	// file (what QEMU's dump-guest-memory -z writes).
	Flattened
)

func (f Format) String() string {
	switch f {
	case ELFKdump:
		return "ELF vmcore (kdump)"
	case ELFQEMU:
		return "ELF (QEMU dump-guest-memory)"
	case ELFProcess:
		return "ELF process core"
	case KdumpCompressed:
		return "kdump-compressed"
	case Flattened:
		return "makedumpfile flattened"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Options tune Open. The zero value is good.
type Options struct {
	// CachePages is the number of decompressed kdump blocks kept in the
	// LRU cache; 0 means 64.
	CachePages int
	// MemoryOrder, when set, overrides the detected byte order of the
	// guest's memory.
	MemoryOrder binary.ByteOrder
}

// Range is a physical address range [Start, End) the dump describes.
type Range struct {
	Start, End uint64
}

// PageCounts counts pages by what the dump holds for them, in units of
// Unit bytes: the block size for kdump formats, VMCOREINFO's PAGESIZE (or
// 4096 without it) for ELF.
type PageCounts struct {
	Unit     uint64 // bytes per counted page
	Total    uint64 // pages of memory the dump describes (1st bitmap, or PT_LOAD p_memsz)
	Present  uint64 // pages the dump holds (2nd bitmap, or PT_LOAD)
	Excluded uint64 // pages in memory that makedumpfile filtered out
	Zero     uint64 // present pages stored as the shared zero page (kdump) or beyond p_filesz (ELF)
}

// Note is one ELF note as the file holds it.
type Note struct {
	Name string
	Type uint32
	Desc []byte
	Off  int64 // file offset of the note header (logical file for kdump)
}

// UTSName is the new_utsname of the kdump header.
type UTSName struct {
	Sysname, Nodename, Release, Version, Machine, Domainname string
}

// KdumpInfo is what the kdump-compressed headers say beyond the common
// fields of Dump.
type KdumpInfo struct {
	HeaderVersion int32
	Status        uint32 // DUMP_DH_* flags
	DumpLevel     int32
	PhysBase      uint64
	MaxMapnr      uint64
	Parts         []KdumpPart
}

// KdumpPart is one file of a (possibly split) kdump-compressed dump.
type KdumpPart struct {
	Path             string
	StartPFN, EndPFN uint64
	Split            bool
}

// Dump is one opened dump.
type Dump struct {
	Paths       []string
	Format      Format
	Quirks      []string
	HeaderOrder binary.ByteOrder // byte order of the file's own headers
	// MemoryOrder is the byte order of the guest's memory; it differs from
	// HeaderOrder under the QEMU<8.0 pseries quirk.
	MemoryOrder binary.ByteOrder
	Machine     Machine
	Phys        Memory // physical memory (nil for a process core)
	Virt        Memory // PT_LOAD virtual segments, nil if the file has none
	VMCOREINFO  *VMCOREINFO
	// VMCOREINFORaw is the VMCOREINFO text as the file holds it.
	VMCOREINFORaw []byte
	CPUs          []PRStatus // NT_PRSTATUS, in file order
	Notes         []Note
	Ranges        []Range
	Pages         PageCounts
	BlockSize     uint64 // kdump header block_size: the dump's unit, not the kernel page size
	UTSName       *UTSName
	Kdump         *KdumpInfo
	Warnings      []string

	closers []io.Closer
	damage  damageLedger // behind Damage()
}

// Close releases the mappings and files of d.
func (d *Dump) Close() error {
	var errs []error
	for _, c := range d.closers {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	d.closers = nil
	return errors.Join(errs...)
}

func (d *Dump) warnf(format string, args ...any) {
	d.Warnings = append(d.Warnings, fmt.Sprintf(format, args...))
}

// Open opens one dump. Several paths are accepted only for the parts of a
// split kdump-compressed dump.
func Open(paths []string, opts Options) (*Dump, error) {
	if len(paths) == 0 {
		return nil, errors.New("dump.Open: no file given")
	}
	d := &Dump{Paths: paths}
	var files []*mappedFile
	fail := func(err error) (*Dump, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, err
	}
	for _, p := range paths {
		plain, err := container.Open(p)
		if err != nil {
			return fail(err)
		}
		f, err := mapFile(plain, p)
		if err != nil {
			return fail(err)
		}
		files = append(files, f)
	}
	if err := d.openMapped(files, opts); err != nil {
		return fail(err)
	}
	return d, nil
}

// openMapped parses already mapped files; d owns them on success. The
// parsers read headers straight from the mappings, so a file cut short
// while it is parsed faults: that fault becomes the error.
func (d *Dump) openMapped(files []*mappedFile, opts Options) (err error) {
	if files[0].f != nil {
		var perr error
		if gerr := guardFault(files, func() { perr = d.parseMapped(files, opts) }); gerr != nil {
			return gerr
		}
		return perr
	}
	return d.parseMapped(files, opts)
}

func (d *Dump) parseMapped(files []*mappedFile, opts Options) error {
	var magic [16]byte
	n, _ := files[0].ReadAt(magic[:], 0)
	var err error
	switch SniffBytes(magic[:n]) {
	case MagicELF:
		if len(files) != 1 {
			return fmt.Errorf("%s: an ELF dump is one file, got %d", files[0].Name(), len(files))
		}
		err = d.openELF(files[0], opts)
	case MagicFlattened, MagicKdump:
		err = d.openKdump(files, opts)
	default:
		msg := "not a dump file: unknown signature"
		if what := compressedKind(magic[:n]); what != "" {
			msg += " (this is a " + what + " stream: decompress it first)"
		}
		err = &FormatError{File: files[0].Name(), Off: 0, Msg: msg, Val: fmt.Sprintf("%q", magic[:n])}
	}
	if err != nil {
		return err
	}
	for _, f := range files {
		d.closers = append(d.closers, f)
	}
	if opts.MemoryOrder != nil {
		d.MemoryOrder = opts.MemoryOrder
	}
	if d.VMCOREINFO == nil && d.VMCOREINFORaw != nil {
		vi, err := ParseVMCOREINFO(d.VMCOREINFORaw)
		if err != nil {
			d.damage.vmcoreinfo(fmt.Sprintf("the note does not parse: %v", err))
			d.warnf("VMCOREINFO: %v", err)
		} else {
			d.VMCOREINFO = vi
		}
	}
	return nil
}

// compressedKind names the compression formats a file's first bytes
// show (zstd, xz and gzip files reach here only when internal/container
// could not decompress them).
func compressedKind(b []byte) string {
	for _, m := range []struct{ magic, name string }{
		{"\x28\xb5\x2f\xfd", "zstd"}, {"\xfd7zXZ\x00", "xz"}, {"\x1f\x8b", "gzip"},
		{"BZh", "bzip2"}, {"\x04\x22\x4d\x18", "lz4"}, {"\x89LZO\x00", "lzop"}, {"PK\x03\x04", "zip"},
	} {
		if bytes.HasPrefix(b, []byte(m.magic)) {
			return m.name
		}
	}
	return ""
}

// parseNotesInto decodes the notes of one note area into d.Notes, d.CPUs
// and VMCOREINFO.
func (d *Dump) parseNotesInto(data []byte, base int64, order binary.ByteOrder, file string) error {
	notes, err := parseNotes(data, base, order, file)
	d.Notes = append(d.Notes, notes...)
	if d.Machine == MachineNone {
		// A kdump header without a machine (QEMU leaves arm64's utsname
		// empty): the notes say it, before NT_PRSTATUS is decoded.
		d.Machine = machineFromNotes(notes)
		for _, n := range notes {
			if d.Machine == MachineNone && n.Name == "VMCOREINFO" {
				d.Machine = machineFromVMCOREINFO(n.Desc)
			}
		}
	}
	for _, n := range notes {
		switch {
		case n.Name == "CORE" && n.Type == ntPRStatus:
			pr, perr := ParsePRStatusFor(d.Machine, n.Desc, order)
			if perr != nil {
				d.warnf("NT_PRSTATUS at offset %#x: %v", n.Off, perr)
				continue
			}
			d.CPUs = append(d.CPUs, pr)
		case n.Name == "VMCOREINFO":
			if d.VMCOREINFORaw == nil {
				d.VMCOREINFORaw = trimNUL(n.Desc)
			}
		}
	}
	return err
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

func fileSize(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// openBytes parses in-memory file contents (tests and fuzzing).
func openBytes(names []string, contents [][]byte, opts Options) (*Dump, error) {
	d := &Dump{Paths: names}
	var files []*mappedFile
	for i := range contents {
		files = append(files, newMemFile(names[i], contents[i]))
	}
	if err := d.openMapped(files, opts); err != nil {
		return nil, err
	}
	return d, nil
}
