package imagefile

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page on x86-64 and arm64.
const hugePage = 2 << 20

// adviseHugePages asks the kernel to back the whole huge pages inside a
// fresh buffer of at least two of them with transparent huge pages, where
// the system allows it ("madvise" or "always" in
// /sys/kernel/mm/transparent_hugepage/enabled; Debian's default is
// madvise). The built-in descriptor reads a decoded picture across its
// rows (its tiles and thumbnail samples), and with 4 KiB pages nearly
// every row it touches is a TLB miss: huge pages cut the daemon's CPU per
// image by about 2% in the issue3 drop (median of nine runs), and decoding
// alone not at all (README, Benchmarks). The advice is only a hint: when the kernel
// refuses it the buffer keeps its small pages, which work the same.
func adviseHugePages(b []byte) {
	if len(b) < 2*hugePage {
		return
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	skip := int(-addr & (hugePage - 1)) // to the first huge page boundary
	n := (len(b) - skip) &^ (hugePage - 1)
	_ = syscall.Madvise(b[skip:skip+n], syscall.MADV_HUGEPAGE)
}
