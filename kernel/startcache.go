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
//     sort and index on the distro kernel), in the symbol cache's format;
//   - the vmlinux BTF read from the dump's memory (4.7 MB on the distro
//     kernel), mapped in place at the next start (btfCached).
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
	container.WriteAtomic(vmcoreinfoLocPath(cacheDir, key), ".vmcoreinfo", func(w io.Writer) error {
		_, err := w.Write(encodeVmciLoc(key, pa))
		return err
	})
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

const (
	btfCacheMagic = "KDIBTF01"
	// maxBTFCacheFile bounds a cached BTF file (maxMemoryBTF and a key).
	maxBTFCacheFile = maxMemoryBTF + 1<<20
)

func btfCachePath(cacheDir string, key []byte) string {
	return filepath.Join(cacheDir, "btf-"+hex.EncodeToString(cacheID(key))+".btf")
}

// encodeBTFCache is the cached vmlinux BTF of a dump: magic, key length
// (u32 LE), key, the BTF's address and length (u64 LE each), zero bytes
// to an 8-byte offset, the BTF, CRC-32C of all that (u32 LE).
func encodeBTFCache(key []byte, addr uint64, data []byte) []byte {
	b := make([]byte, 0, len(btfCacheMagic)+4+len(key)+16+8+len(data)+4)
	b = append(b, btfCacheMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(key)))
	b = append(b, key...)
	b = binary.LittleEndian.AppendUint64(b, addr)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(data)))
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	b = append(b, data...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// decodeBTFCache returns the BTF a cache file holds for key, address and
// length (a slice of b).
func decodeBTFCache(b, key []byte, addr, n uint64) ([]byte, error) {
	h := len(btfCacheMagic) + 4
	if len(b) < h+4 || string(b[:len(btfCacheMagic)]) != btfCacheMagic {
		return nil, errors.New("not a cached BTF file")
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, errors.New("CRC-32C mismatch (corrupt)")
	}
	kl := uint64(binary.LittleEndian.Uint32(b[len(btfCacheMagic):]))
	if kl > uint64(len(body)-h) || len(body)-h-int(kl) < 16 {
		return nil, errors.New("key runs past the end")
	}
	if string(body[h:h+int(kl)]) != string(key) {
		return nil, errors.New("made for another dump or by another executable")
	}
	off := h + int(kl)
	if binary.LittleEndian.Uint64(body[off:]) != addr || binary.LittleEndian.Uint64(body[off+8:]) != n {
		return nil, errors.New("made for another BTF range")
	}
	off += 16
	for off%8 != 0 {
		off++
	}
	if off > len(body) || uint64(len(body)-off) != n {
		return nil, errors.New("BTF length does not match the file's")
	}
	return body[off:], nil
}

// btfCached reads the n bytes of vmlinux BTF at addr through the cache:
// a warm dump-only start-up maps the copy it saved (4.7 MB on the distro
// kernel: read from the dump, they are a heap copy faulted in page by
// page) instead of reading the dump. key identifies the dump and what was
// read from it before (nil: read, do not cache). The bytes returned stay
// mapped for the life of the process (type names point into them).
func btfCached(mem Reader, addr, n uint64, cacheDir string, key []byte) ([]byte, error) {
	if key == nil || cacheDir == "" {
		return readBounded(mem, addr, n)
	}
	sk := symbols.StampKey(key)
	if sk == nil {
		return readBounded(mem, addr, n)
	}
	path := btfCachePath(cacheDir, sk)
	if b, unmap, err := container.MapFile(path, maxBTFCacheFile); err == nil {
		if data, err := decodeBTFCache(b, sk, addr, n); err == nil {
			return data, nil
		}
		unmap()
	}
	data, err := readBounded(mem, addr, n)
	if err != nil {
		return nil, err
	}
	// Failures are ignored: the BTF is read from the dump again next time.
	container.WriteAtomic(path, ".btf", func(w io.Writer) error {
		_, err := w.Write(encodeBTFCache(sk, addr, data))
		return err
	})
	return data, nil
}
