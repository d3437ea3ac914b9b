package imagefile

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// A large fresh pixel buffer is advised to use huge pages: the kernel
// marks the mapping holding its whole huge pages "hg" in /proc/self/smaps.
func TestLargeBuffersAdviseHugePages(t *testing.T) {
	b := getPix(9<<20 + 123)
	defer putPix(b)
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	inside := (addr + hugePage) &^ (hugePage - 1) // the first whole huge page
	if flags := vmFlags(t, inside); !strings.Contains(" "+flags+" ", " hg ") {
		t.Errorf("mapping of a 9 MiB pixel buffer has VmFlags %q, want hg", flags)
	}
	small := getPix(1 << 20)
	defer putPix(small)
	if flags := vmFlags(t, uintptr(unsafe.Pointer(unsafe.SliceData(small)))); strings.Contains(" "+flags+" ", " hg ") {
		t.Errorf("a 1 MiB buffer was advised too (VmFlags %q)", flags)
	}
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
