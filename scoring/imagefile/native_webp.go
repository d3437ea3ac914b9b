package imagefile

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

// The libwebp functions used, from its decode.h (the simple decoding API,
// stable since libwebp 0.1), so that a build needs no -dev package: the
// library is opened at run time.
static struct {
	int (*get_info)(const uint8_t *, size_t, int *, int *);
	uint8_t *(*decode_yuv_into)(const uint8_t *, size_t, uint8_t *, size_t, int, uint8_t *, size_t, int, uint8_t *, size_t, int);
} webp;

// screend_webp_load opens libwebp; it returns NULL or what went wrong.
static const char *screend_webp_load(const char *soname) {
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) return dlerror();
	if (!(*(void **)(&webp.get_info) = dlsym(h, "WebPGetInfo"))) return "no WebPGetInfo";
	if (!(*(void **)(&webp.decode_yuv_into) = dlsym(h, "WebPDecodeYUVInto"))) return "no WebPDecodeYUVInto";
	return NULL;
}

static int screend_webp_info(const uint8_t *data, size_t len, int *width, int *height) {
	return webp.get_info(data, len, width, height);
}

// screend_webp_decode decodes a lossy WebP into the 4:2:0 planes y, u, v;
// it returns 0 on success.
static int screend_webp_decode(const uint8_t *data, size_t len, uint8_t *y, size_t ysize, int ystride,
		uint8_t *u, uint8_t *v, size_t csize, int cstride) {
	return webp.decode_yuv_into(data, len, y, ysize, ystride, u, csize, cstride, v, csize, cstride) == NULL;
}
*/
import "C"

import (
	"fmt"
	"image"
	"unsafe"
)

// Native WebP decoding: libwebp (Debian's libwebp7), opened with dlopen
// like the others, decodes simple lossy WebPs (a RIFF holding one VP8
// chunk: no alpha, no animation) straight into the 4:2:0 planes of the
// *image.YCbCr golang.org/x/image/webp returns. VP8 decoding is exact (the
// format specifies the decoder's arithmetic), so the samples are the same.
// Left to Go's decoder: lossless WebP (VP8L; libwebp's memory for its
// Huffman groups is not bounded by the decode budget), extended WebP
// (VP8X: alpha, animation, metadata), and every file libwebp refuses, for
// which Go's decoder also gives the error its class.

// webpSoname is the library opened; Debian's libwebp7 installs it.
const webpSoname = "libwebp.so.7"

// loadWebP opens libwebp (soname).
func loadWebP(soname string) error {
	name := C.CString(soname)
	defer C.free(unsafe.Pointer(name))
	if msg := C.screend_webp_load(name); msg != nil {
		return fmt.Errorf("cannot open %s: %s", soname, C.GoString(msg))
	}
	return nil
}

// decodeWebPNative decodes data, a whole WebP file whose header passed
// checkHeader (info), into the *image.YCbCr x/image/webp would return. It
// returns errNotNative for whatever it leaves to Go's decoder.
func decodeWebPNative(data []byte, info Info) (image.Image, error) {
	if len(data) < 20 || string(data[12:16]) != "VP8 " {
		return nil, fmt.Errorf("%w: not a simple lossy WebP", errNotNative)
	}
	src, srcLen := (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(data))), C.size_t(len(data))
	var w, h C.int
	if C.screend_webp_info(src, srcLen, &w, &h) == 0 || int(w) != info.Width || int(h) != info.Height {
		return nil, fmt.Errorf("%w: libwebp reads another header", errNotNative)
	}
	cw, ch := (info.Width+1)/2, (info.Height+1)/2
	ySize, cSize := info.Width*info.Height, cw*ch
	buf := getPix(ySize + 2*cSize)
	m := &image.YCbCr{
		// Y keeps the whole buffer's capacity so that Recycle can pool it.
		Y:              buf[:ySize],
		Cb:             buf[ySize : ySize+cSize : ySize+cSize],
		Cr:             buf[ySize+cSize : ySize+2*cSize : ySize+2*cSize],
		YStride:        info.Width,
		CStride:        cw,
		SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect:           image.Rect(0, 0, info.Width, info.Height),
	}
	ptr := func(b []byte) *C.uint8_t { return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b))) }
	if C.screend_webp_decode(src, srcLen, ptr(m.Y), C.size_t(ySize), C.int(info.Width),
		ptr(m.Cb), ptr(m.Cr), C.size_t(cSize), C.int(cw)) != 0 {
		putPix(buf)
		return nil, fmt.Errorf("%w: libwebp failed", errNotNative)
	}
	return m, nil
}
