package imagefile

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// A large fresh pixel buffer is advised to use huge pages: the kernel
// marks the mapping holding its whole huge pages "hg" in /proc/self/smaps.
// A buffer under two huge pages is left alone.
func TestLargeBuffersAdviseHugePages(t *testing.T) {
	b := getPix(9<<20 + 123)
	defer putPix(b)
	if flags := vmFlags(t, firstHugePage(b)); !strings.Contains(" "+flags+" ", " hg ") {
		t.Errorf("mapping of a 9 MiB pixel buffer has VmFlags %q, want hg", flags)
	}
	// Mapped outside Go's heap, which may hand out memory of an earlier
	// advised buffer again.
	small, err := syscall.Mmap(-1, 0, 2*hugePage-4096, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(small)
	adviseHugePages(small)
	if flags := vmFlags(t, firstHugePage(small)); strings.Contains(" "+flags+" ", " hg ") {
		t.Errorf("a buffer under two huge pages was advised too (VmFlags %q)", flags)
	}
}

// firstHugePage returns the address of the first whole huge page in b.
func firstHugePage(b []byte) uintptr {
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return (addr + hugePage - 1) &^ (hugePage - 1)
}

// vmFlags returns the VmFlags of the mapping of this process holding addr.
func vmFlags(t *testing.T, addr uintptr) string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := mappingRange(line); ok {
			in = lo <= uint64(addr) && uint64(addr) < hi
			continue
		}
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok && in {
			return strings.TrimSpace(flags)
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return ""
}

// mappingRange parses the first line of a mapping in smaps ("lo-hi perms ...").
func mappingRange(line string) (lo, hi uint64, ok bool) {
	r, _, _ := strings.Cut(line, " ")
	l, h, found := strings.Cut(r, "-")
	if !found {
		return 0, 0, false
	}
	lo, err1 := strconv.ParseUint(l, 16, 64)
	hi, err2 := strconv.ParseUint(h, 16, 64)
	return lo, hi, err1 == nil && err2 == nil
}
