package kernel

// What a dump-only start-up remembers between runs (issue 20), in the
// same cache directory as the DWARF index and the vmlinux's symbol table
// (symbols/symcache.go), keyed by the dump file's identity:
//
//   - where the kernel's VMCOREINFO page was found in a dump without the
//     note (QEMU's pseries dumps): the scan of vmcoreinfo_scan.go reads
//     the first bytes of every page up to it, ~60 ms on the distro dump;
//     the remembered page is read and parsed as the scan would, and a
//     page that no longer passes falls back to the scan;
//   - the symbol table read from the dump's kallsyms (~45 ms to decode,
//     sort and index on the distro kernel), in the symbol cache's format.
//
// Both depend on nothing but the dump's bytes (and the code that read
// them: the key is stamped with the executable's identity, StampKey), so
// a dump file is identified by its resolved path, device, inode, size and
// modification time, as vmlinuxcache.go identifies a vmlinux. A damaged
// or stale file is ignored and rewritten.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// dumpIdentity identifies the contents of the dump's files (nil when a
// file cannot be identified: nothing is cached then).
func dumpIdentity(paths []string, order binary.ByteOrder) []byte {
	k := []byte("dump\x00")
	for _, p := range paths {
		abs, err := filepath.Abs(container.FollowLinkFile(p))
		if err != nil {
			return nil
		}
		if r, err := filepath.EvalSymlinks(abs); err == nil {
			abs = r
		}
		st, err := os.Stat(abs)
		if err != nil || !st.Mode().IsRegular() {
			return nil
		}
		k = append(k, abs...)
		k = append(k, 0)
		k = binary.LittleEndian.AppendUint64(k, uint64(st.Size()))
		k = binary.LittleEndian.AppendUint64(k, uint64(st.ModTime().UnixNano()))
		if s, ok := st.Sys().(*syscall.Stat_t); ok {
			k = binary.LittleEndian.AppendUint64(k, uint64(s.Dev))
			k = binary.LittleEndian.AppendUint64(k, uint64(s.Ino))
		}
	}
	if order != nil {
		k = append(k, order.String()...)
	}
	return k
}

// cacheID names a cache file by a digest of its key.
func cacheID(key []byte) []byte {
	h := sha256.Sum256(key)
	return h[:12]
}

const (
	vmciMagic = "KDIVMCI1"
	// maxVmciFile bounds the location file read (a key of a few hundred
	// bytes).
	maxVmciFile = 64 << 10
)

func vmcoreinfoLocPath(cacheDir string, key []byte) string {
	return filepath.Join(cacheDir, "vmcoreinfo-"+hex.EncodeToString(cacheID(key))+".loc")
}

// encodeVmciLoc is the location file: magic, key length (u32 LE), key,
// the page's physical address (u64 LE), CRC-32C of all that (u32 LE).
func encodeVmciLoc(key []byte, pa uint64) []byte {
	b := append([]byte(vmciMagic), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[len(vmciMagic):], uint32(len(key)))
	b = append(b, key...)
	b = binary.LittleEndian.AppendUint64(b, pa)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// decodeVmciLoc returns the address a location file holds for key.
func decodeVmciLoc(b, key []byte) (uint64, error) {
	n := len(vmciMagic) + 4
	if len(b) < n+8+4 || string(b[:len(vmciMagic)]) != vmciMagic {
		return 0, errors.New("not a VMCOREINFO location file")
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return 0, errors.New("CRC-32C mismatch (corrupt)")
	}
	kl := binary.LittleEndian.Uint32(b[len(vmciMagic):])
	if uint64(kl) != uint64(len(body)-n-8) {
		return 0, errors.New("key length does not match the file's length")
	}
	if string(body[n:n+int(kl)]) != string(key) {
		return 0, errors.New("made for another dump or by another executable")
	}
	return binary.LittleEndian.Uint64(body[n+int(kl):]), nil
}

// rememberedVMCOREINFO reads the VMCOREINFO text at the page remembered
// for this dump, as the scan would have read it there (nil when there is
// none or it does not pass).
func rememberedVMCOREINFO(phys dump.Memory, order binary.ByteOrder, cacheDir string, key []byte) (*dump.VMCOREINFO, uint64) {
	f, err := os.Open(vmcoreinfoLocPath(cacheDir, key))
	if err != nil {
		return nil, 0
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxVmciFile+1))
	if err != nil || len(b) > maxVmciFile {
		return nil, 0
	}
	pa, err := decodeVmciLoc(b, key)
	if err != nil {
		return nil, 0
	}
	info, _, err := vmcoreinfoAtPage(phys, order, pa, make([]byte, vmciHead))
	if err != nil {
		return nil, 0
	}
	return info, pa
}

// rememberVMCOREINFO saves pa as the VMCOREINFO page of this dump
// (atomically; failures are ignored: the scan runs again next time).
func rememberVMCOREINFO(cacheDir string, key []byte, pa uint64) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return
	}
	tmp, err := os.CreateTemp(cacheDir, ".vmcoreinfo-*")
	if err != nil {
		return
	}
	_, err = tmp.Write(encodeVmciLoc(key, pa))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), vmcoreinfoLocPath(cacheDir, key))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
}

// kallsymsCached is symbols.ReadKallsyms through the symbol cache: key
// identifies the dump and what was read from it before (nil: read, do
// not cache).
func kallsymsCached(mem symbols.Memory, order binary.ByteOrder, lookup func(string) (uint64, bool), cacheDir string, key []byte) (*symbols.Table, error) {
	if key == nil || cacheDir == "" {
		return symbols.ReadKallsyms(mem, order, lookup)
	}
	path := symbols.SymbolCachePath(cacheDir, "kallsyms", cacheID(symbols.StampKey(key)))
	if t, _, err := symbols.LoadCachedTable(path, key, ""); err == nil {
		return t, nil
	}
	t, err := symbols.ReadKallsyms(mem, order, lookup)
	if err != nil {
		return nil, err
	}
	symbols.SaveCachedTable(path, key, t, nil)
	return t, nil
}
