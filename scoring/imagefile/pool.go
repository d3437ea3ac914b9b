package imagefile

import (
	"image"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Pixel and file buffers are reused: a decoded photograph is tens of
// megabytes, and a fresh buffer costs the kernel's page faults and zeroing
// (with a fresh buffer for every file, decoding the issue-3 PNGs cost 17%
// more CPU). The native decoder writes every byte of the buffers it takes
// from here, so they are not cleared.
//
// The buffers wait in one free list, and a request takes the smallest
// that holds it if it is less than twice the size asked for: files of
// every size share buffers, and a 4 MB request does not take a 36 MB
// buffer a larger picture needs next. The list holds at most maxPooled
// bytes, enough for two decode workers' files and pixels of the largest
// pictures with room to spare; past that the buffers returned longest ago
// go to the garbage collector. A buffer unused for poolIdle goes too,
// checked at each collection (Go collects at least every two minutes), so
// an idle process gives the memory back. (Per-size sync.Pools, which
// every collection empties, kept too few: during a burst the heap is near
// the daemon's memory limit and Go collects every few seconds. In the
// issue-3 drop of 1,002 files they allocated 600 MB of fresh buffers, and
// the daemon peaked at 395 MB; this list allocates 170 MB, and the daemon
// peaks at 265 MB.)
//
// Fresh buffers are rounded up to a size class (eight per power of two)
// and those of 4 MiB and more are advised to use huge pages
// (adviseHugePages).
const (
	maxPooled = 256 << 20
	poolIdle  = 30 * time.Second
)

var pool struct {
	sync.Mutex
	free  []pooled // by capacity, ascending
	bytes int      // their capacities, summed
	hook  bool     // whether a collection will trim the list
}

// pooled is a free buffer and when it was returned.
type pooled struct {
	buf []byte
	at  time.Time
}

// byCapacity orders free buffers by capacity, for binary searches of the
// list.
func byCapacity(p pooled, n int) int { return cap(p.buf) - n }

// sizeClass rounds n up to one of eight steps per power of two.
func sizeClass(n int) int {
	if n <= 1<<12 {
		return 1 << 12
	}
	step := 1 << (bits.Len(uint(n-1)) - 3)
	return (n + step - 1) / step * step
}

// getPix returns a buffer of n bytes with unspecified contents.
func getPix(n int) []byte {
	pool.Lock()
	i, _ := slices.BinarySearchFunc(pool.free, n, byCapacity)
	if i < len(pool.free) && cap(pool.free[i].buf) < 2*n {
		b := pool.free[i].buf
		pool.free = slices.Delete(pool.free, i, i+1)
		pool.bytes -= cap(b)
		pool.Unlock()
		return b[:n]
	}
	pool.Unlock()
	c := sizeClass(n)
	b := make([]byte, n, c)
	adviseHugePages(b[:c])
	return b
}

// putPix gives a buffer from getPix back.
func putPix(b []byte) {
	c := cap(b)
	if c != sizeClass(c) || c > maxPooled {
		return // not from getPix, or too large to keep
	}
	now := time.Now()
	pool.Lock()
	defer pool.Unlock()
	i, _ := slices.BinarySearchFunc(pool.free, c, byCapacity)
	pool.free = slices.Insert(pool.free, i, pooled{buf: b[:0], at: now})
	pool.bytes += c
	for pool.bytes > maxPooled {
		oldest := 0
		for j, p := range pool.free {
			if p.at.Before(pool.free[oldest].at) {
				oldest = j
			}
		}
		pool.bytes -= cap(pool.free[oldest].buf)
		pool.free = slices.Delete(pool.free, oldest, oldest+1)
	}
	if !pool.hook {
		pool.hook = true
		trimAfterCollection()
	}
}

// trimAfterCollection has the next garbage collection drop the buffers
// unused for poolIdle; while buffers remain, the one after that does too.
func trimAfterCollection() {
	runtime.AddCleanup(&struct{ _ *byte }{}, func(struct{}) {
		pool.Lock()
		defer pool.Unlock()
		cutoff := time.Now().Add(-poolIdle)
		pool.free = slices.DeleteFunc(pool.free, func(p pooled) bool {
			if p.at.Before(cutoff) {
				pool.bytes -= cap(p.buf)
				return true
			}
			return false
		})
		pool.hook = len(pool.free) > 0
		if pool.hook {
			trimAfterCollection()
		}
	}, struct{}{})
}

// Buffer returns a byte slice of length n with unspecified contents, from
// the same pool as decoded pixels: for reading a file whole before
// DecodeBytes without a fresh allocation (and page faults, and garbage
// collection) for every file. Give it back with RecycleBuffer.
func Buffer(n int) []byte { return getPix(n) }

// RecycleBuffer hands a buffer from Buffer back for reuse. The caller must
// not use b afterwards; images DecodeBytes returned do not refer to it.
func RecycleBuffer(b []byte) { putPix(b) }

// Recycle hands the pixels of an image returned by this package back for
// reuse by later decodes. The caller must not use img afterwards. Images
// of other origins, and forms whose buffers are not pooled, are left to
// the garbage collector.
func Recycle(img image.Image) {
	switch m := img.(type) {
	case *image.RGBA:
		putPix(m.Pix)
	case *image.NRGBA:
		putPix(m.Pix)
	case *image.Gray:
		putPix(m.Pix)
	case *image.YCbCr:
		// The native JPEG decoder's planes share one buffer, which Y
		// spans to its capacity.
		putPix(m.Y[:cap(m.Y)])
	}
}
