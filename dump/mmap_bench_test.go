package dump

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkMappedWord is the cost of one 8-byte read from a mapped file
// (the fault guard included).
func BenchmarkMappedWord(b *testing.B) {
	path := filepath.Join(b.TempDir(), "f")
	os.WriteFile(path, make([]byte, 1<<20), 0o644)
	m, err := mapFile(path, path)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	buf := make([]byte, 8)
	for i := 0; b.Loop(); i++ {
		m.ReadAt(buf, int64(i*4104)&(1<<20-1)&^7)
	}
}
