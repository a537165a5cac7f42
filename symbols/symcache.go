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
//	len, name bytes                     every name, in table order
//	n × (name len, address delta, size, kind byte, suspect byte,
//	     section index, local entry, descriptor)
//	n × index                           the name order (by name, then index)
//	report count, report kinds, m, m × (name len, name, address, size,
//	     kind byte, suspect byte, section index, local entry, descriptor)
//	CRC-32C (Castagnoli) of all the above, 4 bytes little-endian

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"
)

const (
	symcacheMagic = "KDISYMTB"
	// symcacheVersion is bumped whenever the layout or meaning changes.
	symcacheVersion = 1
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
	b, err := readCacheFile(symCache, path, maxSymcacheFile)
	if err != nil {
		return nil, nil, err
	}
	t, rep, err := decodeTable(b, fk)
	if err != nil {
		return nil, nil, &SymcacheError{Cache: symCache, Path: path, Msg: "decoding", Err: err}
	}
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
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".symtab-*")
	if err != nil {
		return err
	}
	err = encodeTable(tmp, fk, t, rep)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return errors.Join(errors.New("writing symbol cache"), err)
	}
	return nil
}

// nameOrderOf is t's name order: every index of t.syms by name, then
// index.
func nameOrderOf(t *Table) []int32 {
	if t.byName == nil {
		return t.nameOrder
	}
	o := make([]int32, len(t.recs))
	for i := range o {
		o[i] = int32(i)
	}
	slices.SortFunc(o, func(a, b int32) int {
		if c := strings.Compare(t.name(int(a)), t.name(int(b))); c != 0 {
			return c
		}
		return int(a - b)
	})
	return o
}

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
	h := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 256<<10)
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
	for i := range t.recs {
		bw.WriteString(t.name(i))
	}
	prev := uint64(0)
	for i := range t.recs {
		sy := t.sym(i)
		s := &sy
		if s.Addr < prev {
			return fmt.Errorf("symbols not in address order: %#x after %#x", s.Addr, prev)
		}
		uv(uint64(len(s.Name)))
		uv(s.Addr - prev)
		prev = s.Addr
		uv(s.Size)
		bw.WriteByte(s.Kind)
		bw.WriteByte(byte(s.Suspect))
		uv(uint64(secIdx[s.Section]))
		uv(s.LocalEntry)
		uv(s.Desc)
	}
	for _, i := range nameOrderOf(t) {
		uv(uint64(i))
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
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], h.Sum32())
	_, err := w.Write(sum[:])
	return err
}

func (d *indexDecoder) byte1(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("cut short at " + what)
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

// decodeTable parses a whole cache file made for key. The table's names
// are b's bytes: b must not be modified afterwards.
func decodeTable(b []byte, key []byte) (*Table, *SymtabReport, error) {
	if len(b) < len(symcacheMagic)+4 || string(b[:len(symcacheMagic)]) != symcacheMagic {
		return nil, nil, &IndexFormatError{Off: 0, Msg: "not a symbol cache file (no " + symcacheMagic + " magic)"}
	}
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, crcTable), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return nil, nil, &IndexFormatError{Off: len(body), Msg: fmt.Sprintf("CRC-32C %#08x, file says %#08x (corrupt)", got, want)}
	}
	d := &indexDecoder{b: body, off: len(symcacheMagic)}
	if v := d.small("version", math.MaxInt32); d.err == nil && v != symcacheVersion {
		return nil, nil, &IndexFormatError{Off: d.off, Msg: fmt.Sprintf("version %d, want %d", v, symcacheVersion)}
	}
	if k := d.str("key"); d.err == nil && k != string(key) {
		return nil, nil, &IndexFormatError{Off: d.off, Msg: "made from another file or by another executable (key differs)"}
	}
	flags := d.small("flags", 1)
	module := d.str("module")
	secs := make([]string, d.count("section", 1))
	for i := range secs {
		secs[i] = d.str("section name")
	}
	if d.err == nil && (len(secs) == 0 || secs[0] != "") {
		d.fail("section name 0 is not empty")
	}
	// Each symbol takes at least 8 bytes (and 1 of name order).
	n := d.count("symbol", 9)
	if d.err == nil && n > maxSymbols {
		d.fail(fmt.Sprintf("%d symbols, more than %d", n, maxSymbols))
	}
	arenaLen := d.small("name bytes", uint64(len(body)))
	if d.err == nil && arenaLen > len(body)-d.off {
		d.fail(fmt.Sprintf("names of %d bytes run past the end", arenaLen))
	}
	if d.err != nil {
		return nil, nil, d.err
	}
	// The names are read in place: b is the caller's buffer, never
	// written after this (LoadCachedTable reads the file into one of its
	// own), so a string over it saves copying ~3 MB of names.
	arena := ""
	if arenaLen > 0 {
		arena = unsafe.String(&body[d.off], arenaLen)
	}
	d.off += arenaLen
	tb := newTableBuilder(n, 0)
	tb.inPlace = true
	t := tb.t
	t.names, t.inOrder, t.secs, t.mods = arena, flags&1 != 0, secs, []string{module}
	at, addr := 0, uint64(0)
	for range n {
		l := d.small("name length", uint64(arenaLen-at))
		delta := d.uv("address")
		if d.err == nil && addr+delta < addr {
			d.fail("address past 2^64")
		}
		addr += delta
		r := rec{addr: addr, name: uint32(at), nameLen: uint32(l)}
		r.size = d.uv("size")
		r.kind = d.byte1("kind")
		r.suspect = SymbolProblem(d.byte1("suspect"))
		r.sec = uint32(d.small("section index", uint64(len(secs)-1)))
		local := d.uv("local entry")
		desc := d.uv("descriptor")
		if d.err != nil {
			return nil, nil, d.err
		}
		tb.push(r, local, desc)
		at += l
	}
	tb.done()
	if at != arenaLen {
		return nil, nil, &IndexFormatError{Off: d.off, Msg: fmt.Sprintf("names use %d of %d name bytes", at, arenaLen)}
	}
	// The name order: a permutation, sorted by name and then index.
	t.nameOrder = make([]int32, n)
	seen := make([]bool, n)
	for k := range t.nameOrder {
		i := d.small("name order", uint64(max(n-1, 0)))
		if d.err != nil {
			return nil, nil, d.err
		}
		if seen[i] {
			return nil, nil, &IndexFormatError{Off: d.off, Msg: fmt.Sprintf("symbol %d twice in the name order", i)}
		}
		seen[i] = true
		t.nameOrder[k] = int32(i)
		if k > 0 {
			p := t.nameOrder[k-1]
			if c := strings.Compare(t.name(int(p)), t.name(i)); c > 0 || c == 0 && int(p) > i {
				return nil, nil, &IndexFormatError{Off: d.off, Msg: fmt.Sprintf("name order not sorted at %d", k)}
			}
		}
	}
	var rep *SymtabReport
	count := d.small("report count", uint64(n))
	kinds := d.small("report kinds", math.MaxUint8)
	m := d.count("report symbol", 8)
	if d.err == nil && m != min(count, maxReportSymbols) {
		d.fail(fmt.Sprintf("report of %d symbols names %d", count, m))
	}
	if count > 0 && d.err == nil {
		rep = &SymtabReport{Count: count, Kinds: SymbolProblem(kinds), Symbols: make([]Symbol, m)}
		for i := range rep.Symbols {
			s := &rep.Symbols[i]
			s.Name = d.str("report name")
			s.Addr = d.uv("report address")
			s.Size = d.uv("report size")
			s.Kind = d.byte1("report kind")
			s.Suspect = SymbolProblem(d.byte1("report suspect"))
			s.Section = secs[d.small("report section", uint64(len(secs)-1))]
			s.LocalEntry = d.uv("report local entry")
			s.Desc = d.uv("report descriptor")
			s.Module = module
		}
	}
	if d.err == nil && d.off != len(body) {
		d.fail(fmt.Sprintf("%d bytes left over", len(body)-d.off))
	}
	if d.err != nil {
		return nil, nil, d.err
	}
	return t, rep, nil
}
