package imagefile

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The three libdeflate functions used, from its libdeflate.h (stable ABI;
// the _ex form since 1.5), so that a build needs no -dev package: the library is opened
// at run time.
struct libdeflate_decompressor;
static struct {
	struct libdeflate_decompressor *(*alloc)(void);
	void (*free)(struct libdeflate_decompressor *);
	int (*zlib_decompress_ex)(struct libdeflate_decompressor *, const void *, size_t, void *, size_t, size_t *, size_t *);
} deflate;

// screend_deflate_load opens libdeflate; it returns NULL or what went wrong.
static const char *screend_deflate_load(const char *soname) {
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) return dlerror();
	if (!(*(void **)(&deflate.alloc) = dlsym(h, "libdeflate_alloc_decompressor"))) return "no libdeflate_alloc_decompressor";
	if (!(*(void **)(&deflate.free) = dlsym(h, "libdeflate_free_decompressor"))) return "no libdeflate_free_decompressor";
	if (!(*(void **)(&deflate.zlib_decompress_ex) = dlsym(h, "libdeflate_zlib_decompress_ex"))) return "no libdeflate_zlib_decompress_ex";
	return NULL;
}

enum {
	SCREEND_OK = 0,
	SCREEND_EMEM = 1,     // no memory for a row buffer or the decompressor
	SCREEND_EINFLATE = 2, // the zlib stream is broken, short or too long
	SCREEND_EFILTER = 3,  // a row has an unknown filter type
};

static inline int paeth(int a, int b, int c) {
	int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
	return (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
}

// The Average and Paeth filters depend on the pixel to the left: with the
// channels of that pixel in registers, the channels' dependency chains run
// side by side instead of through memory. BPP is a constant in each copy.
#define SCREEND_FILTERS(BPP) \
static void average##BPP(uint8_t *cur, const uint8_t *prev, size_t n) { \
	int a[BPP] = {0}; \
	for (size_t i = 0; i + BPP <= n; i += BPP) \
		for (int k = 0; k < BPP; k++) a[k] = cur[i + k] = (uint8_t)(cur[i + k] + ((a[k] + prev[i + k]) >> 1)); \
} \
static void paeth##BPP(uint8_t *cur, const uint8_t *prev, size_t n) { \
	int a[BPP] = {0}, c[BPP] = {0}; \
	for (size_t i = 0; i + BPP <= n; i += BPP) \
		for (int k = 0; k < BPP; k++) { \
			int b = prev[i + k]; \
			a[k] = cur[i + k] = (uint8_t)(cur[i + k] + paeth(a[k], b, c[k])); \
			c[k] = b; \
		} \
}
SCREEND_FILTERS(1)
SCREEND_FILTERS(2)
#ifndef __SSE2__
SCREEND_FILTERS(3)
SCREEND_FILTERS(4)
#else
// For three and four bytes a pixel, SSE2 (every x86-64 has it) runs the
// channels of a pixel in the lanes of one register, as libpng does. Loads
// and stores move exactly bpp bytes.
#include <emmintrin.h>

// Three-byte pixels are put together in a register: a three-byte copy
// through memory would stall every load on store forwarding.
static inline __m128i load_px(const uint8_t *p, int bpp) {
	uint32_t v;
	if (bpp == 4) memcpy(&v, p, 4);
	else v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
	return _mm_unpacklo_epi8(_mm_cvtsi32_si128((int)v), _mm_setzero_si128());
}

static inline void store_px(uint8_t *p, __m128i v, int bpp) {
	uint32_t u = (uint32_t)_mm_cvtsi128_si32(_mm_packus_epi16(v, v));
	if (bpp == 4) {
		memcpy(p, &u, 4);
	} else {
		p[0] = (uint8_t)u;
		p[1] = (uint8_t)(u >> 8);
		p[2] = (uint8_t)(u >> 16);
	}
}

static inline __m128i abs16(__m128i x) {
	__m128i neg = _mm_cmplt_epi16(x, _mm_setzero_si128());
	return _mm_sub_epi16(_mm_xor_si128(x, neg), neg);
}

static inline __m128i select16(__m128i cond, __m128i t, __m128i e) {
	return _mm_or_si128(_mm_and_si128(cond, t), _mm_andnot_si128(cond, e));
}

// Lanes hold 16-bit values below 256: a sum's low byte is the mod-256 sum.
static inline __m128i low8(__m128i x) { return _mm_and_si128(x, _mm_set1_epi16(0xff)); }

#define SCREEND_SSE_FILTERS(BPP) \
static void average##BPP(uint8_t *cur, const uint8_t *prev, size_t n) { \
	__m128i a = _mm_setzero_si128(); \
	for (size_t i = 0; i + BPP <= n; i += BPP) { \
		__m128i b = load_px(prev + i, BPP), x = load_px(cur + i, BPP); \
		a = low8(_mm_add_epi16(x, _mm_srli_epi16(_mm_add_epi16(a, b), 1))); \
		store_px(cur + i, a, BPP); \
	} \
} \
static void paeth##BPP(uint8_t *cur, const uint8_t *prev, size_t n) { \
	__m128i a = _mm_setzero_si128(), c = _mm_setzero_si128(); \
	for (size_t i = 0; i + BPP <= n; i += BPP) { \
		__m128i b = load_px(prev + i, BPP), x = load_px(cur + i, BPP); \
		__m128i pa = _mm_sub_epi16(b, c), pb = _mm_sub_epi16(a, c); \
		__m128i pc = abs16(_mm_add_epi16(pa, pb)); \
		pa = abs16(pa); \
		pb = abs16(pb); \
		__m128i least = _mm_min_epi16(pc, _mm_min_epi16(pa, pb)); \
		__m128i pred = select16(_mm_cmpeq_epi16(least, pa), a, select16(_mm_cmpeq_epi16(least, pb), b, c)); \
		a = low8(_mm_add_epi16(x, pred)); \
		c = b; \
		store_px(cur + i, a, BPP); \
	} \
}
SCREEND_SSE_FILTERS(3)
SCREEND_SSE_FILTERS(4)
#endif

// unfilter reverses the PNG filter of one row of n bytes in place; prev
// is the previous row, already unfiltered (zeros for the first).
static int unfilter(int type, uint8_t *cur, const uint8_t *prev, size_t n, size_t bpp) {
	size_t i;
	switch (type) {
	case 0:
		break;
	case 1:
		for (i = bpp; i < n; i++) cur[i] += cur[i - bpp];
		break;
	case 2:
		for (i = 0; i < n; i++) cur[i] += prev[i];
		break;
	case 3:
		switch (bpp) {
		case 1: average1(cur, prev, n); break;
		case 2: average2(cur, prev, n); break;
		case 3: average3(cur, prev, n); break;
		default: average4(cur, prev, n);
		}
		break;
	case 4:
		switch (bpp) {
		case 1: paeth1(cur, prev, n); break;
		case 2: paeth2(cur, prev, n); break;
		case 3: paeth3(cur, prev, n); break;
		default: paeth4(cur, prev, n);
		}
		break;
	default:
		return SCREEND_EFILTER;
	}
	return SCREEND_OK;
}

// screend_png_decode inflates the zlib stream z (the image's IDAT data)
// of a non-interlaced 8-bit image of width x height pixels with channels
// samples each, unfilters it and writes it to out (stride = width *
// out_channels bytes a row, out_channels samples a pixel: 1 for grey, 4
// for RGBA, with grey replicated and alpha 255 where the source has none).
// All sizes were checked by the caller; out holds height*stride bytes, and
// height bytes more when channels == out_channels.
//
// No buffer as large as the image is allocated besides out, which saves
// its memory and its page faults. The filtered rows (a filter byte and
// the row) are inflated into out itself:
//   - When they are narrower than the output rows (RGB and grey+alpha,
//     expanded to four bytes a pixel), into out's end, and expanded in
//     place front to back: row y's output ends before row y+1's input
//     starts, and within a row each pixel is read before its output is
//     written. The previous row, which unfiltering needs, is copied to a
//     row buffer first.
//   - When they are one byte wider (RGBA and grey), into out's start, and
//     each row, once unfiltered, is moved down to its place: row y's
//     output, [y*stride, (y+1)*stride), ends before row y+1's input, which
//     starts at (y+1)*(stride+1), and stays the previous row of the next.
static int screend_png_decode(const uint8_t *z, size_t zlen, uint8_t *out, size_t stride,
		uint32_t width, uint32_t height, int channels, int out_channels) {
	size_t rowlen = (size_t)width * channels, rawlen = (size_t)height * (rowlen + 1);
	size_t outlen = (size_t)height * stride;
	int expand = out_channels > channels;
	uint8_t *raw = expand ? out + (outlen - rawlen) : out;
	uint8_t *zero = calloc(1, rowlen);
	uint8_t *prevbuf = expand ? malloc(rowlen) : NULL;
	struct libdeflate_decompressor *d = deflate.alloc();
	int e = SCREEND_OK;
	if (!zero || (expand && !prevbuf) || !d) e = SCREEND_EMEM;
	// The stream must fill the rows exactly and end with the data.
	size_t used = 0;
	if (!e && (deflate.zlib_decompress_ex(d, z, zlen, raw, rawlen, &used, NULL) != 0 || used != zlen)) e = SCREEND_EINFLATE;
	const uint8_t *prev = zero;
	for (uint32_t y = 0; !e && y < height; y++) {
		uint8_t *cur = raw + (size_t)y * (rowlen + 1) + 1;
		e = unfilter(cur[-1], cur, prev, rowlen, channels);
		uint8_t *o = out + (size_t)y * stride;
		if (!expand) {
			memmove(o, cur, rowlen);
			prev = o;
			continue;
		}
		memcpy(prevbuf, cur, rowlen);
		prev = prevbuf;
		if (channels == 3) {
			for (uint32_t x = 0; x < width; x++, o += 4, cur += 3) {
				o[0] = cur[0]; o[1] = cur[1]; o[2] = cur[2]; o[3] = 255;
			}
		} else { // grey+alpha
			for (uint32_t x = 0; x < width; x++, o += 4, cur += 2) {
				o[0] = o[1] = o[2] = cur[0]; o[3] = cur[1];
			}
		}
	}
	if (d) deflate.free(d);
	free(zero);
	free(prevbuf);
	return e;
}
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"log/slog"
	"os"
	"sync"
	"unsafe"
)

// Native decoding: the common PNG of a photograph (8-bit grey, grey+alpha,
// RGB or RGBA, not interlaced, no tRNS) is decoded with libdeflate's
// inflate and a C unfilter; everything else, and every file the native
// path finds anything wrong with, goes to Go's decoder, so that errors are
// classified exactly as before. Go code walks and CRC-checks the chunks;
// the C code gets only sizes checked beforehand.
//
// libdeflate is opened with dlopen at the first decode, not linked: a build
// needs only a C compiler (cgo, which ONNX Runtime's binding needs anyway),
// and a machine without the library decodes with Go's decoders
// (NativeStatus says why). Measured against libspng 0.7.3 (Debian's, which
// has no SIMD filters and inflates with zlib): libspng was no faster than
// Go's decoder on the benchmark photographs, while libdeflate inflates
// three times as fast as zlib.

// deflateSoname is the library opened; Debian's libdeflate0 installs it.
const deflateSoname = "libdeflate.so.0"

// PNG colour types.
const (
	pngColorGray  = 0
	pngColorRGB   = 2
	pngColorGrayA = 4
	pngColorRGBA  = 6
)

var native struct {
	once   sync.Once
	png    bool // libdeflate is open: decodePNGNative may run
	jpeg   bool // libturbojpeg is open: decodeJPEGNative may run
	webp   bool // libwebp is open: decodeWebPNative may run
	status string
}

// loadNative opens the native libraries once.
func loadNative() {
	native.once.Do(func() {
		if os.Getenv("SCREEND_DECODER") == "go" {
			native.status = "Go decoders (SCREEND_DECODER=go)"
			return
		}
		png := "PNG: libdeflate + C unfilter"
		name := C.CString(deflateSoname)
		defer C.free(unsafe.Pointer(name))
		if msg := C.screend_deflate_load(name); msg != nil {
			png = fmt.Sprintf("PNG: Go decoder (cannot open %s: %s; install libdeflate0, scripts/setup.sh does)", deflateSoname, C.GoString(msg))
		} else {
			native.png = true
		}
		jpeg := "JPEG: libjpeg-turbo (TurboJPEG, YCbCr planes)"
		if err := loadTurboJPEG(turboJPEGSoname); err != nil {
			jpeg = fmt.Sprintf("JPEG: Go decoder (%v; install libturbojpeg0, scripts/setup.sh does)", err)
		} else {
			native.jpeg = true
		}
		webp := "WebP: libwebp (lossy, YCbCr planes), Go decoder (lossless, extended)"
		if err := loadWebP(webpSoname); err != nil {
			webp = fmt.Sprintf("WebP: Go decoder (%v; install libwebp7, scripts/setup.sh does)", err)
		} else {
			native.webp = true
		}
		native.status = png + "; " + jpeg + "; " + webp
	})
}

// NativeStatus tells whether DecodeBytes uses every native decoder (PNG,
// JPEG and WebP) and describes the decoders in use, saying why a native one
// could not be opened. Callers log it once at start. SCREEND_DECODER=go
// turns the native decoders off.
func NativeStatus() (ok bool, status string) {
	loadNative()
	return native.png && native.jpeg && native.webp, native.status
}

// WarnUnlessNative logs a warning saying why when a native decoder is
// unavailable (its format is then decoded with Go's decoder), for a
// program that decodes to call once at start.
func WarnUnlessNative(log *slog.Logger) {
	if ok, status := NativeStatus(); !ok {
		log.Warn("a native decoder is unavailable; its format is decoded with Go's decoder", "why", status)
	}
}

// errNotNative means the native path leaves the image to Go's decoder.
var errNotNative = errors.New("not for the native decoder")

// pngLayout is a PNG the native path can decode.
type pngLayout struct {
	width, height int
	channels      int
	color         uint8
	idat          [][]byte // the IDAT chunks' data, in order
	idatLen       int
}

// readPNGLayout walks the chunks of a whole PNG file, checking every CRC,
// and returns its layout if it is a form the native path decodes and its
// chunk structure is plain: IHDR first, IDAT chunks in one run, IEND last.
// Anything else returns errNotNative.
func readPNGLayout(data []byte) (pngLayout, error) {
	var l pngLayout
	if len(data) < 8+25 || string(data[12:16]) != "IHDR" || binary.BigEndian.Uint32(data[8:]) != 13 {
		return l, errNotNative
	}
	ihdr := data[16:29]
	l.width, l.height = int(binary.BigEndian.Uint32(ihdr[0:])), int(binary.BigEndian.Uint32(ihdr[4:]))
	depth, compression, filter, interlace := ihdr[8], ihdr[10], ihdr[11], ihdr[12]
	l.color = ihdr[9]
	l.channels = map[uint8]int{pngColorGray: 1, pngColorRGB: 3, pngColorGrayA: 2, pngColorRGBA: 4}[l.color]
	if depth != 8 || l.channels == 0 || compression != 0 || filter != 0 || interlace != 0 {
		return l, errNotNative
	}
	idatDone := false
	for off, first := 8, true; ; first = false {
		if len(data)-off < 12 {
			return l, errNotNative // cut short: Go's decoder says how
		}
		n := int64(binary.BigEndian.Uint32(data[off:]))
		if n > int64(len(data)-off-12) {
			return l, errNotNative
		}
		typ := string(data[off+4 : off+8])
		body := data[off+8 : off+8+int(n)]
		if crc32.ChecksumIEEE(data[off+4:off+8+int(n)]) != binary.BigEndian.Uint32(data[off+8+int(n):]) {
			return l, errNotNative
		}
		off += 12 + int(n)
		switch {
		case typ == "IDAT":
			if idatDone {
				return l, errNotNative
			}
			l.idat = append(l.idat, body)
			l.idatLen += len(body)
		case len(l.idat) > 0:
			idatDone = true
		}
		switch typ {
		case "IHDR":
			if !first {
				return l, errNotNative
			}
		case "tRNS", "PLTE":
			return l, errNotNative
		case "IEND":
			if len(l.idat) == 0 {
				return l, errNotNative
			}
			return l, nil
		}
	}
}

// decodePNGNative decodes data, a whole PNG file whose header passed
// checkHeader (info). It returns errNotNative for whatever it leaves to
// Go's decoder.
func decodePNGNative(data []byte, info Info) (image.Image, error) {
	l, err := readPNGLayout(data)
	if err != nil || l.width != info.Width || l.height != info.Height {
		return nil, errNotNative
	}
	r := image.Rect(0, 0, l.width, l.height)
	outChannels := 4
	if l.color == pngColorGray {
		outChannels = 1
	}
	stride := l.width * outChannels
	// Every byte is written below; the filter bytes need height bytes more
	// when the rows are not expanded (see screend_png_decode).
	pix := getPix(stride*l.height + l.height)[:stride*l.height]
	var img image.Image
	switch l.color {
	case pngColorGray:
		img = &image.Gray{Pix: pix, Stride: stride, Rect: r}
	case pngColorRGB:
		img = &image.RGBA{Pix: pix, Stride: stride, Rect: r}
	default:
		img = &image.NRGBA{Pix: pix, Stride: stride, Rect: r}
	}
	z := l.idat[0]
	if len(l.idat) > 1 {
		z = getPix(l.idatLen)[:0]
		defer putPix(z)
		for _, c := range l.idat {
			z = append(z, c...)
		}
	}
	if len(z) == 0 {
		putPix(pix)
		return nil, errNotNative
	}
	e := C.screend_png_decode((*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(z))), C.size_t(len(z)),
		(*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(pix))), C.size_t(stride),
		C.uint32_t(l.width), C.uint32_t(l.height), C.int(l.channels), C.int(outChannels))
	if e != C.SCREEND_OK {
		// Broken data: Go's decoder gives the error its usual class.
		putPix(pix)
		return nil, errNotNative
	}
	return img, nil
}
