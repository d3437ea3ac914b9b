package imagefile

import (
	"image"
	"math/bits"
	"sync"
)

// Pixel buffers are reused: a decoded photograph is tens of megabytes, and
// a fresh buffer costs the kernel's page faults and Go's zeroing, about a
// fifth of a PNG decode. The native decoder writes every byte of the
// buffers it takes from here, so they are not cleared. Buffers are pooled
// by size class (eight classes per power of two, so at most 1/8 is wasted)
// in sync.Pools, which the garbage collector empties when they stay unused.
// Fresh buffers of 4 MiB and more are advised to use huge pages
// (adviseHugePages).
var pixPools sync.Map // size class -> *sync.Pool of *[]byte

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
	c := sizeClass(n)
	if p, ok := pixPools.Load(c); ok {
		if b, ok := p.(*sync.Pool).Get().(*[]byte); ok {
			return (*b)[:n]
		}
	}
	b := make([]byte, n, c)
	adviseHugePages(b[:c])
	return b
}

// putPix gives a buffer from getPix back.
func putPix(b []byte) {
	c := cap(b)
	if c != sizeClass(c) {
		return // not from getPix
	}
	p, _ := pixPools.LoadOrStore(c, new(sync.Pool))
	p.(*sync.Pool).Put(&b)
}

// Buffer returns a byte slice of length n with unspecified contents, from
// the same pools as decoded pixels: for reading a file whole before
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
