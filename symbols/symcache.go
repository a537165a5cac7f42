package symbols

// The symbol cache (issue 20): a built Table — its symbols in address
// order with their suspect marks, the order of their names, and the
// SymtabReport — saved once and read back at the next start-up instead of
// being built again. Building it from a distro vmlinux's .symtab (137 701
// symbols: debug/elf's Symbols, checkSymbols, the sort and the name map)
// was ~85% of a BTF-typed start-up's CPU; from the dump's kallsyms most
// of a dump-only one.
//
// A cache file is input like any other (a disk error, a truncated write,
// a copied-in file), read with the rules of the DWARF index's format
// (indexfile.go): every count bounded by the bytes left before anything
// is allocated, a CRC-32C over the whole file, and what the decoded table
// claims checked before it is used (addresses ascending, the name order a
// sorted permutation, every section name and report entry in range). A
// file that fails any of it, or whose key or version differs, is ignored
// and the table built again from the source, then the file rewritten.
//
// The key says what the table was built from and by what: the caller's
// identity of the source (a vmlinux's build-id, size and modification
// time; a dump file's identity for its kallsyms), to which the cache adds
// the identity of the running executable (its path, size and modification
// time): a rebuilt tool, whose symbol checks or alias preferences may
// have changed, does not read the tables an older one saved.
//
// Layout (integers unsigned LEB128 varints unless said otherwise):
//
//	"KDISYMTB"                          8-byte magic
//	version
//	len, key bytes
//	flags                               bit 0: kallsyms order (NewKallsymsTable)
//	len, module name                    every symbol's Module
//	n, n × (len, name)                  section names; index 0 is ""
//	n                                   symbols
//	len                                 name bytes
//	m, m × (index, local entry)         local entries rec.local cannot hold
//	descs                               1 if the symbols have descriptors
//	a                                   symbols that have an address
//	zero bytes to an 8-byte file offset
//	n × 40-byte symbol (recSize: little-endian address, size, name
//	     offset, name length, section index, module 0, kind, suspect,
//	     local entry or 0xff, 5 zero bytes) — rec's own layout
//	[n × 8-byte descriptor]             when descs
//	a × 4-byte index                    the symbols that have an address
//	n × 4-byte index                    the name order (by name, then index)
//	name bytes                          every name, in table order
//	report count, report kinds, m, m × (name len, name, address, size,
//	     kind byte, suspect byte, section index, local entry, descriptor)
//	CRC-32C (Castagnoli) of all the above, 4 bytes little-endian

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
)

const (
	symcacheMagic = "KDISYMTB"
	// symcacheVersion is bumped whenever the layout or meaning changes.
	symcacheVersion = 2
	// maxSymcacheFile bounds a cache file read (a distro vmlinux's is
	// ~4 MB).
	maxSymcacheFile = 256 << 20
)

// SymbolCachePath is where the cached table of kind ("symtab" for a
// vmlinux's .symtab, "kallsyms" for a dump's kallsyms) with that id lives
// under cacheDir.
func SymbolCachePath(cacheDir, kind string, id []byte) string {
	return filepath.Join(cacheDir, kind+"-"+hex.EncodeToString(id)+".sym")
}

var producerOnce = sync.OnceValue(func() []byte {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	st, err := os.Stat(exe)
	if err != nil {
		return nil
	}
	b := []byte(exe + "\x00")
	b = binary.LittleEndian.AppendUint64(b, uint64(st.Size()))
	return binary.LittleEndian.AppendUint64(b, uint64(st.ModTime().UnixNano()))
})

// producer identifies the running executable; nil when it cannot be
// identified (nothing is cached then).
func producer() []byte { return producerOnce() }

// StampKey is key as a cache stores it: the caller's key, then the
// running executable's identity (nil when either is missing: nothing is
// cached then). Other small caches keyed like the symbol cache use it.
func StampKey(key []byte) []byte { return fullKey(key) }

// fullKey is the key as stored: the caller's, then the producer's.
func fullKey(key []byte) []byte {
	p := producer()
	if p == nil || len(key) == 0 {
		return nil
	}
	k := binary.AppendUvarint(nil, uint64(len(key)))
	k = append(k, key...)
	return append(k, p...)
}

// SymcacheError says why a cached table was not used (Cache is "symbol
// cache").
type SymcacheError = CacheError

const symCache = "symbol cache"

// LoadCachedTable reads the table saved at path for key; the report's
// File is file. An error (fs.ErrNotExist among them) means: build it.
func LoadCachedTable(path string, key []byte, file string) (*Table, *SymtabReport, error) {
	fk := fullKey(key)
	if fk == nil {
		return nil, nil, &SymcacheError{Cache: symCache, Path: path, Msg: "no key (no build-id, or the executable not identified)"}
	}
	b, unmap, err := container.MapCacheFile(symCache, path, maxSymcacheFile)
	if err != nil {
		return nil, nil, err
	}
	t, rep, err := decodeTable(b, fk)
	if err != nil {
		unmap()
		return nil, nil, &SymcacheError{Cache: symCache, Path: path, Msg: "decoding", Err: err}
	}
	// The table is the mapping (its symbols, indexes and names, and every
	// Symbol.Name handed out): it stays mapped for the life of the
	// process. Cache files are replaced by rename, never rewritten in
	// place, so the mapping keeps the file it was made from.
	if rep != nil {
		rep.File = file
	}
	// Its last use, for the cache's eviction (container.Evict: least
	// recently used first).
	now := time.Now()
	os.Chtimes(path, now, now)
	return t, rep, nil
}

// SaveCachedTable writes t (and rep) for key atomically (a temporary
// file, then rename). A table whose symbols belong to several modules is
// not cached.
func SaveCachedTable(path string, key []byte, t *Table, rep *SymtabReport) error {
	fk := fullKey(key)
	if fk == nil {
		return errors.New("no key to cache the symbol table under")
	}
	err := container.WriteAtomic(path, ".symtab", func(w io.Writer) error { return encodeTable(w, fk, t, rep) })
	if err != nil {
		return errors.Join(errors.New("writing symbol cache"), err)
	}
	return nil
}

// nameOrderOf is t's name order: every index of t.recs by name, then
// index.
func nameOrderOf(t *Table) []int32 { return t.nameOrder }

// encodeTable writes the cache file of t (the file's comment).
func encodeTable(w io.Writer, key []byte, t *Table, rep *SymtabReport) error {
	module := ""
	if len(t.recs) > 0 {
		module = t.mods[t.recs[0].mod]
	}
	secIdx := map[string]int{"": 0}
	secs := []string{""}
	sec := func(name string) int {
		i, ok := secIdx[name]
		if !ok {
			i = len(secs)
			secIdx[name] = i
			secs = append(secs, name)
		}
		return i
	}
	var arena int
	for i := range t.recs {
		r := &t.recs[i]
		if m := t.mods[r.mod]; m != module {
			return fmt.Errorf("symbols of modules %q and %q in one table", module, m)
		}
		sec(t.secs[r.sec])
		arena += int(r.nameLen)
	}
	if rep != nil {
		for _, s := range rep.Symbols {
			sec(s.Section)
		}
	}
	sw := container.NewSumWriter(w)
	cw := &countWriter{w: sw}
	bw := bufio.NewWriterSize(cw, 256<<10)
	var tmp [binary.MaxVarintLen64]byte
	uv := func(v uint64) { bw.Write(tmp[:binary.PutUvarint(tmp[:], v)]) }
	str := func(s string) { uv(uint64(len(s))); bw.WriteString(s) }
	bw.WriteString(symcacheMagic)
	uv(symcacheVersion)
	str(string(key))
	flags := uint64(0)
	if t.inOrder {
		flags |= 1
	}
	uv(flags)
	str(module)
	uv(uint64(len(secs)))
	for _, s := range secs {
		str(s)
	}
	uv(uint64(len(t.recs)))
	uv(uint64(arena))
	// The fixed-size part (recAt): read in place from the mapped file.
	prev := uint64(0)
	for i := range t.recs {
		if t.recs[i].addr < prev {
			return fmt.Errorf("symbols not in address order: %#x after %#x", t.recs[i].addr, prev)
		}
		prev = t.recs[i].addr
	}
	uv(uint64(len(t.locals)))
	for _, i := range slices.Sorted(maps.Keys(t.locals)) {
		uv(uint64(i))
		uv(t.locals[i])
	}
	hasDescs := uint64(0)
	if t.descs != nil {
		hasDescs = 1
	}
	uv(hasDescs)
	uv(uint64(len(t.addrIdx)))
	for w := cw.n + int64(bw.Buffered()); w%8 != 0; w++ {
		bw.WriteByte(0)
	}
	var rb [recSize]byte
	at := uint32(0)
	for i := range t.recs {
		r := t.recs[i]
		r.name, r.sec, r.mod = at, uint32(secIdx[t.secs[r.sec]]), 0
		at += r.nameLen
		putRec(rb[:], &r)
		bw.Write(rb[:])
	}
	var w8 [8]byte
	for _, d := range t.descs {
		binary.LittleEndian.PutUint64(w8[:], d)
		bw.Write(w8[:])
	}
	for _, k := range t.addrIdx {
		binary.LittleEndian.PutUint32(w8[:], uint32(k))
		bw.Write(w8[:4])
	}
	for _, k := range nameOrderOf(t) {
		binary.LittleEndian.PutUint32(w8[:], uint32(k))
		bw.Write(w8[:4])
	}
	for i := range t.recs {
		bw.WriteString(t.name(i))
	}
	if rep == nil {
		uv(0)
		uv(0)
		uv(0)
	} else {
		uv(uint64(rep.Count))
		uv(uint64(rep.Kinds))
		uv(uint64(len(rep.Symbols)))
		for _, s := range rep.Symbols {
			str(s.Name)
			uv(s.Addr)
			uv(s.Size)
			bw.WriteByte(s.Kind)
			bw.WriteByte(byte(s.Suspect))
			uv(uint64(secIdx[s.Section]))
			uv(s.LocalEntry)
			uv(s.Desc)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return sw.WriteSum()
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// recSize is a rec as the cache file stores it: little-endian addr,
// size, name, nameLen, sec, mod, then kind, suspect, local and 5 zero
// bytes — the in-memory layout of rec on a little-endian 64-bit host,
// where the file's array is used in place (recInPlace).
const recSize = 40

var recInPlace = func() bool {
	var r rec
	one := uint16(1)
	little := *(*byte)(unsafe.Pointer(&one)) == 1
	return little && unsafe.Sizeof(r) == recSize && unsafe.Offsetof(r.size) == 8 &&
		unsafe.Offsetof(r.name) == 16 && unsafe.Offsetof(r.nameLen) == 20 && unsafe.Offsetof(r.sec) == 24 &&
		unsafe.Offsetof(r.mod) == 28 && unsafe.Offsetof(r.kind) == 32 && unsafe.Offsetof(r.suspect) == 33 &&
		unsafe.Offsetof(r.local) == 34
}()

func putRec(b []byte, r *rec) {
	le := binary.LittleEndian
	le.PutUint64(b, r.addr)
	le.PutUint64(b[8:], r.size)
	le.PutUint32(b[16:], r.name)
	le.PutUint32(b[20:], r.nameLen)
	le.PutUint32(b[24:], r.sec)
	le.PutUint32(b[28:], r.mod)
	b[32], b[33], b[34] = r.kind, byte(r.suspect), r.local
	clear(b[35:recSize])
}

func getRec(b []byte) rec {
	le := binary.LittleEndian
	return rec{addr: le.Uint64(b), size: le.Uint64(b[8:]), name: le.Uint32(b[16:]), nameLen: le.Uint32(b[20:]),
		sec: le.Uint32(b[24:]), mod: le.Uint32(b[28:]), kind: b[32], suspect: SymbolProblem(b[33]), local: b[34]}
}

// inPlace returns b as n values of T when b's address suits T's
// alignment and the host reads the file's layout as is; nil otherwise.
func inPlace[T any](b []byte, n int, ok bool) []T {
	var z T
	if !ok || n == 0 || uintptr(unsafe.Pointer(&b[0]))%unsafe.Alignof(z) != 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}

// decodeTable parses a whole cache file made for key. The table's
// names, symbols and indexes are b's bytes where the host's layout
// allows (recInPlace): b must not be modified or unmapped afterwards.
func decodeTable(b []byte, key []byte) (*Table, *SymtabReport, error) {
	if len(b) < len(symcacheMagic)+4 || string(b[:len(symcacheMagic)]) != symcacheMagic {
		return nil, nil, &IndexFormatError{Off: 0, Msg: "not a symbol cache file (no " + symcacheMagic + " magic)"}
	}
	body, err := container.CheckedBody(b)
	if err != nil {
		return nil, nil, err
	}
	d := &container.Decoder{B: body, Off: len(symcacheMagic)}
	if v := d.Small("version", math.MaxInt32); d.Err == nil && v != symcacheVersion {
		return nil, nil, &IndexFormatError{Off: d.Off, Msg: fmt.Sprintf("version %d, want %d", v, symcacheVersion)}
	}
	if k := d.Str("key"); d.Err == nil && k != string(key) {
		return nil, nil, &IndexFormatError{Off: d.Off, Msg: "made from another file or by another executable (key differs)"}
	}
	flags := d.Small("flags", 1)
	module := d.Str("module")
	secs := make([]string, d.Count("section", 1))
	for i := range secs {
		secs[i] = d.Str("section name")
	}
	if d.Err == nil && (len(secs) == 0 || secs[0] != "") {
		d.Fail("section name 0 is not empty")
	}
	// Each symbol takes recSize bytes and 4 of name order.
	n := d.Count("symbol", recSize+4)
	if d.Err == nil && n > maxSymbols {
		d.Fail(fmt.Sprintf("%d symbols, more than %d", n, maxSymbols))
	}
	arenaLen := d.Small("name bytes", uint64(len(body)))
	t := &Table{secs: secs, mods: []string{module}, inOrder: flags&1 != 0, all: &allSymbols{}}
	nLocals := d.Count("local entry", 2)
	if d.Err == nil && nLocals > n {
		d.Fail(fmt.Sprintf("%d far local entries for %d symbols", nLocals, n))
	}
	for range nLocals {
		i, v := d.Small("local entry index", uint64(max(n-1, 0))), d.Uv("local entry")
		if d.Err != nil {
			break
		}
		if t.locals == nil {
			t.locals = make(map[int32]uint64, nLocals)
		}
		t.locals[int32(i)] = v
	}
	hasDescs := d.Small("descriptors flag", 1) == 1
	nAddr := d.Small("addressed symbols", uint64(n))
	for d.Err == nil && d.Off%8 != 0 {
		if d.Byte1("padding") != 0 {
			d.Fail("padding not zero")
		}
	}
	need := uint64(n)*(recSize+4) + uint64(nAddr)*4 + uint64(arenaLen)
	if hasDescs {
		need += uint64(n) * 8
	}
	if d.Err == nil && need > uint64(len(body)-d.Off) {
		d.Fail(fmt.Sprintf("%d symbols need %d bytes, %d left", n, need, len(body)-d.Off))
	}
	if d.Err != nil {
		return nil, nil, d.Err
	}
	take := func(size int) []byte {
		r := body[d.Off : d.Off+size : d.Off+size]
		d.Off += size
		return r
	}
	recBytes := take(n * recSize)
	if t.recs = inPlace[rec](recBytes, n, recInPlace); t.recs == nil {
		t.recs = make([]rec, n)
		for i := range t.recs {
			t.recs[i] = getRec(recBytes[i*recSize:])
		}
	}
	if hasDescs {
		db := take(n * 8)
		if t.descs = inPlace[uint64](db, n, recInPlace); t.descs == nil {
			t.descs = make([]uint64, n)
			for i := range t.descs {
				t.descs[i] = binary.LittleEndian.Uint64(db[8*i:])
			}
		}
	}
	i32s := func(b []byte, n int) []int32 {
		if v := inPlace[int32](b, n, recInPlace); v != nil || n == 0 {
			return v
		}
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return v
	}
	t.addrIdx = i32s(take(nAddr*4), nAddr)
	t.nameOrder = i32s(take(n*4), n)
	// The names are read in place: a string over b saves copying ~3 MB.
	if arenaLen > 0 {
		t.names = unsafe.String(&body[d.Off], arenaLen)
	}
	d.Off += arenaLen
	if err := checkCachedTable(t, nLocals); err != nil {
		err.Off = d.Off
		return nil, nil, err
	}
	var rep *SymtabReport
	count := d.Small("report count", uint64(n))
	kinds := d.Small("report kinds", math.MaxUint8)
	m := d.Count("report symbol", 8)
	if d.Err == nil && m != min(count, maxReportSymbols) {
		d.Fail(fmt.Sprintf("report of %d symbols names %d", count, m))
	}
	if count > 0 && d.Err == nil {
		rep = &SymtabReport{Count: count, Kinds: SymbolProblem(kinds), Symbols: make([]Symbol, m)}
		for i := range rep.Symbols {
			s := &rep.Symbols[i]
			s.Name = d.Str("report name")
			s.Addr = d.Uv("report address")
			s.Size = d.Uv("report size")
			s.Kind = d.Byte1("report kind")
			s.Suspect = SymbolProblem(d.Byte1("report suspect"))
			s.Section = secs[d.Small("report section", uint64(len(secs)-1))]
			s.LocalEntry = d.Uv("report local entry")
			s.Desc = d.Uv("report descriptor")
			s.Module = module
		}
	}
	if d.Err == nil && d.Off != len(body) {
		d.Fail(fmt.Sprintf("%d bytes left over", len(body)-d.Off))
	}
	if d.Err != nil {
		return nil, nil, d.Err
	}
	return t, rep, nil
}

// checkCachedTable checks what a cached table claims before it is used:
// names laid end to end in table order inside the names, sections and
// the module in range, addresses ascending, far local entries where
// rec.local says so, the addressed symbols exactly those of an
// addressable kind in order, the name order a permutation sorted by name
// and then index.
func checkCachedTable(t *Table, nLocals int) *IndexFormatError {
	bad := func(format string, args ...any) *IndexFormatError {
		return &IndexFormatError{Msg: fmt.Sprintf(format, args...)}
	}
	at, prev, far, addressed := uint64(0), uint64(0), 0, 0
	for i := range t.recs {
		r := &t.recs[i]
		if uint64(r.name) != at || at+uint64(r.nameLen) > uint64(len(t.names)) {
			return bad("symbol %d: name at %d+%d, want %d within %d name bytes", i, r.name, r.nameLen, at, len(t.names))
		}
		at += uint64(r.nameLen)
		if int(r.sec) >= len(t.secs) || r.mod != 0 {
			return bad("symbol %d: section %d or module %d out of range", i, r.sec, r.mod)
		}
		if r.addr < prev {
			return bad("symbol %d: address %#x after %#x", i, r.addr, prev)
		}
		prev = r.addr
		if r.local == localFar {
			if _, ok := t.locals[int32(i)]; !ok {
				return bad("symbol %d: far local entry missing", i)
			}
			far++
		}
		if addressableKind(r.kind) {
			if addressed >= len(t.addrIdx) || int(t.addrIdx[addressed]) != i {
				return bad("symbol %d: not where the addressed list has it", i)
			}
			addressed++
		}
	}
	if at != uint64(len(t.names)) {
		return bad("names use %d of %d name bytes", at, len(t.names))
	}
	if far != nLocals || addressed != len(t.addrIdx) {
		return bad("%d far local entries for %d marked, %d addressed symbols listed for %d", nLocals, far, len(t.addrIdx), addressed)
	}
	seen := make([]bool, len(t.recs))
	for k, i := range t.nameOrder {
		if i < 0 || int(i) >= len(seen) || seen[i] {
			return bad("name order: symbol %d out of range or twice", i)
		}
		seen[i] = true
		if k > 0 {
			p := t.nameOrder[k-1]
			if c := strings.Compare(t.name(int(p)), t.name(int(i))); c > 0 || c == 0 && p > i {
				return bad("name order not sorted at %d", k)
			}
		}
	}
	return nil
}

// CacheError says why a cache file was not used (container.CacheError).
type CacheError = container.CacheError

// IndexFormatError says where a cache file stops making sense
// (IndexFormatError).
type IndexFormatError = container.FormatError
