// Package distrobtf gives tests the C types of the distro vmlinux's .BTF
// (the full file of the kernel the distro-4k example was cut from, which
// ../shared/tools/fetch-distro-vmlinux fetches), for the tests that hold a
// BTF-typed walk against the DWARF-typed one. It is a package of its own
// because it imports symbols, which testcorpus (used by symbols' own
// tests) may not.
//
// Layer: test support (docs/ARCHITECTURE.md).
package distrobtf

import (
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// Types returns the Types of the distro vmlinux's .BTF and its build-id;
// t is skipped, saying how to get the file, when it is not at hand.
func Types(t testing.TB) (*symbols.Types, []byte) {
	t.Helper()
	path, ok := testcorpus.DistroVmlinux()
	if !ok {
		t.Skip("no distro vmlinux (its .BTF): run ../shared/tools/fetch-distro-vmlinux or set KDUMP_INSPECT_DISTRO_VMLINUX")
	}
	f, err := symbols.OpenELF(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts, err := symbols.LoadELFBTFTypes(f)
	if err != nil {
		t.Fatal(err)
	}
	return ts, f.BuildID
}
