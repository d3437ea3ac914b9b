package imagefile

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// The TurboJPEG functions used, from libjpeg-turbo's turbojpeg.h (a
// stable ABI; every one exists since libjpeg-turbo 2.0, and
// TJFLAG_LIMITSCANS since 2.1, Debian 12 has 2.1.5), so that a build
// needs no -dev package: the library is opened at run time.
typedef void *tjhandle;
static struct {
	tjhandle (*init)(void);
	int (*header)(tjhandle, const unsigned char *, unsigned long, int *, int *, int *, int *);
	int (*yuv_planes)(tjhandle, const unsigned char *, unsigned long, unsigned char **, int, int *, int, int);
	int (*plane_width)(int, int, int);
	int (*plane_height)(int, int, int);
	int (*destroy)(tjhandle);
} tj;

// screend_tj_load opens libturbojpeg; it returns NULL or what went wrong.
static const char *screend_tj_load(const char *soname) {
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) return dlerror();
	if (!(*(void **)(&tj.init) = dlsym(h, "tjInitDecompress"))) return "no tjInitDecompress";
	if (!(*(void **)(&tj.header) = dlsym(h, "tjDecompressHeader3"))) return "no tjDecompressHeader3";
	if (!(*(void **)(&tj.yuv_planes) = dlsym(h, "tjDecompressToYUVPlanes"))) return "no tjDecompressToYUVPlanes";
	if (!(*(void **)(&tj.plane_width) = dlsym(h, "tjPlaneWidth"))) return "no tjPlaneWidth";
	if (!(*(void **)(&tj.plane_height) = dlsym(h, "tjPlaneHeight"))) return "no tjPlaneHeight";
	if (!(*(void **)(&tj.destroy) = dlsym(h, "tjDestroy"))) return "no tjDestroy";
	// tjGetErrorCode and TJFLAG_LIMITSCANS came with 2.1: an older
	// library would ignore the scan limit, so it is not used.
	if (!dlsym(h, "tjGetErrorCode")) return "libjpeg-turbo older than 2.0";
	return NULL;
}

// Values from turbojpeg.h.
enum {
	SCREEND_TJSAMP_444 = 0,
	SCREEND_TJSAMP_422 = 1,
	SCREEND_TJSAMP_420 = 2,
	SCREEND_TJSAMP_GRAY = 3,
	SCREEND_TJSAMP_440 = 4,
	SCREEND_TJSAMP_411 = 5,
	SCREEND_TJCS_YCbCr = 1,
	SCREEND_TJCS_GRAY = 2,
	// Accurate integer IDCT (the default for decompression, made
	// explicit); stop at the first warning (data cut short, a broken
	// Huffman code: the caller hands the file to Go's decoder); refuse
	// progressive files of more than 500 scans (a CPU bomb).
	SCREEND_TJ_FLAGS = 4096 | 8192 | 32768,
};

static tjhandle screend_tj_init(void) { return tj.init(); }
static void screend_tj_destroy(tjhandle h) { tj.destroy(h); }

static int screend_tj_header(tjhandle h, const unsigned char *data, unsigned long len,
		int *width, int *height, int *subsamp, int *colorspace) {
	return tj.header(h, data, len, width, height, subsamp, colorspace);
}

static int screend_tj_plane_width(int component, int width, int subsamp) { return tj.plane_width(component, width, subsamp); }
static int screend_tj_plane_height(int component, int height, int subsamp) { return tj.plane_height(component, height, subsamp); }

// screend_tj_decode decompresses data into the planes y, cb and cr (cb
// and cr NULL for grey), without colour conversion or chroma upsampling.
// Each plane holds tjPlaneWidth x tjPlaneHeight samples, the rows stride
// bytes apart.
static int screend_tj_decode(tjhandle h, const unsigned char *data, unsigned long len, int width, int height,
		unsigned char *y, unsigned char *cb, unsigned char *cr, int ystride, int cstride) {
	unsigned char *planes[3] = {y, cb, cr};
	int strides[3] = {ystride, cstride, cstride};
	return tj.yuv_planes(h, data, len, planes, width, strides, height, SCREEND_TJ_FLAGS);
}
*/
import "C"

import (
	"bytes"
	"fmt"
	"image"
	"unsafe"
)

// Native JPEG decoding: libjpeg-turbo's TurboJPEG API, opened with dlopen
// like libdeflate (Debian's libturbojpeg0; nothing is needed at build
// time), decodes baseline and progressive JPEGs whose form Go's decoder
// returns as *image.YCbCr or *image.Gray straight into the planes of such
// an image: no colour conversion, no chroma upsampling; the same type,
// subsampling and planes as Go's decoder gives, so the embedders see the
// same image. Its accurate integer IDCT is not Go's, so a few samples
// differ by a level (on 44 wallpaper photographs, 1 at most in any plane,
// 0.012 on average in Y).
//
// Left to Go's decoder, which then also classifies the error: CMYK and
// YCCK (4 components; Go returns *image.CMYK), RGB JPEGs (Adobe transform
// 0 or components named R, G, B without JFIF; Go returns *image.RGBA),
// 4:1:0 subsampling and other sampling factors TurboJPEG does not name,
// files with an APP0 or APP14 segment after the first scan (Go's decoder
// reads them for the colour space, libjpeg does not), and every file that
// TurboJPEG finds anything wrong with, down to a warning: data cut short,
// a broken Huffman code, an inconsistent progression, more than 500
// progressive scans. Go's decoder decodes some of those (it ignores what
// libjpeg warns about); what neither decodes gets Go's error, as before.

// turboJPEGSoname is the library opened; Debian's libturbojpeg0 installs it.
const turboJPEGSoname = "libturbojpeg.so.0"

// loadTurboJPEG opens libturbojpeg (soname).
func loadTurboJPEG(soname string) error {
	name := C.CString(soname)
	defer C.free(unsafe.Pointer(name))
	if msg := C.screend_tj_load(name); msg != nil {
		return fmt.Errorf("cannot open %s: %s", soname, C.GoString(msg))
	}
	return nil
}

// jpegLayout is what a JPEG's markers up to its first scan say about the
// image Go's decoder would return.
type jpegLayout struct {
	width, height int
	components    int
	// ratio is Go's subsampling ratio for three components.
	ratio image.YCbCrSubsampleRatio
	// rgb tells that Go's decoder would return RGB (image/jpeg's isRGB).
	rgb bool
}

// notNativeJPEG is errNotNative with the reason.
func notNativeJPEG(why string) error { return fmt.Errorf("%w: %s", errNotNative, why) }

// readJPEGLayout walks the markers of a whole JPEG file from SOI to its
// first SOS, as image/jpeg reads them, and checks that no APP0 or APP14
// segment follows. Anything it does not expect returns errNotNative.
func readJPEGLayout(data []byte) (jpegLayout, error) {
	var l jpegLayout
	var ids, hv [4]byte
	jfif, adobe, adobeTransform := false, false, byte(0)
	sof := false
	i := 2
	for {
		// A marker: 0xff, optional fill bytes, the code.
		if i+1 >= len(data) || data[i] != 0xff {
			return l, notNativeJPEG("no marker where one belongs")
		}
		for i+1 < len(data) && data[i+1] == 0xff {
			i++
		}
		if i+1 >= len(data) {
			return l, notNativeJPEG("cut short")
		}
		m := data[i+1]
		i += 2
		if m == 0x01 || (m >= 0xd0 && m <= 0xd7) {
			continue // no length
		}
		if m == 0xd8 || m == 0xd9 || m == 0x00 {
			return l, notNativeJPEG("SOI, EOI or a stuffed byte before the first scan")
		}
		if i+2 > len(data) {
			return l, notNativeJPEG("cut short")
		}
		n := int(data[i])<<8 | int(data[i+1])
		if n < 2 || i+n > len(data) {
			return l, notNativeJPEG("segment longer than the file")
		}
		seg := data[i+2 : i+n]
		i += n
		switch {
		case m == 0xe0: // APP0; the last one decides, as in image/jpeg
			if len(seg) >= 5 {
				jfif = string(seg[:5]) == "JFIF\x00"
			}
		case m == 0xee: // APP14
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				adobe, adobeTransform = true, seg[11]
			}
		case m == 0xc0 || m == 0xc1 || m == 0xc2: // the SOFs image/jpeg decodes
			if sof {
				return l, notNativeJPEG("two SOF markers")
			}
			sof = true
			if len(seg) < 6 || seg[0] != 8 {
				return l, notNativeJPEG("not an 8-bit SOF")
			}
			l.height, l.width = int(seg[1])<<8|int(seg[2]), int(seg[3])<<8|int(seg[4])
			l.components = int(seg[5])
			if (l.components != 1 && l.components != 3) || len(seg) != 6+3*l.components {
				return l, notNativeJPEG(fmt.Sprintf("%d components", l.components))
			}
			for k := range l.components {
				ids[k], hv[k] = seg[6+3*k], seg[7+3*k]
			}
		case m >= 0xc3 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc:
			return l, notNativeJPEG("a SOF image/jpeg does not decode")
		case m == 0xda: // SOS
			if !sof {
				return l, notNativeJPEG("SOS before SOF")
			}
			if hasAPP0or14(data[i:]) {
				return l, notNativeJPEG("APP0 or APP14 after the first scan")
			}
			if l.components == 3 {
				l.rgb = !jfif && ((adobe && adobeTransform == 0) || (ids[0] == 'R' && ids[1] == 'G' && ids[2] == 'B'))
				var ok bool
				if l.ratio, ok = goSubsampleRatio(hv); !ok {
					return l, notNativeJPEG("sampling factors")
				}
			}
			return l, nil
		}
	}
}

// hasAPP0or14 tells whether an APP0 or APP14 marker occurs in b. In
// entropy-coded data 0xff is always followed by 0 or a marker code, so
// this finds them all (and some byte pairs inside other segments, which
// only sends the file to Go's decoder).
func hasAPP0or14(b []byte) bool {
	for {
		k := bytes.IndexByte(b, 0xff)
		if k < 0 || k+1 >= len(b) {
			return false
		}
		if c := b[k+1]; c == 0xe0 || c == 0xee {
			return true
		}
		b = b[k+1:]
	}
}

// goSubsampleRatio is the ratio image/jpeg gives three components with
// the sampling factors hv (its makeImg), if valid for image/jpeg.
func goSubsampleRatio(hv [4]byte) (image.YCbCrSubsampleRatio, bool) {
	h0, v0 := int(hv[0]>>4), int(hv[0]&15)
	h1, v1 := int(hv[1]>>4), int(hv[1]&15)
	if h1 == 0 || v1 == 0 || hv[2] != hv[1] || h0%h1 != 0 || v0%v1 != 0 {
		return 0, false
	}
	switch (h0/h1)<<4 | v0/v1 {
	case 0x11:
		return image.YCbCrSubsampleRatio444, true
	case 0x12:
		return image.YCbCrSubsampleRatio440, true
	case 0x21:
		return image.YCbCrSubsampleRatio422, true
	case 0x22:
		return image.YCbCrSubsampleRatio420, true
	case 0x41:
		return image.YCbCrSubsampleRatio411, true
	}
	return 0, false // 4:1:0 (no TurboJPEG name) or invalid
}

// tjSubsamp maps image/jpeg's ratios to TurboJPEG's TJSAMP values.
var tjSubsamp = map[image.YCbCrSubsampleRatio]C.int{
	image.YCbCrSubsampleRatio444: C.SCREEND_TJSAMP_444,
	image.YCbCrSubsampleRatio422: C.SCREEND_TJSAMP_422,
	image.YCbCrSubsampleRatio420: C.SCREEND_TJSAMP_420,
	image.YCbCrSubsampleRatio440: C.SCREEND_TJSAMP_440,
	image.YCbCrSubsampleRatio411: C.SCREEND_TJSAMP_411,
}

// decodeJPEGNative decodes data, a whole JPEG file whose header passed
// checkHeader (info), into the *image.YCbCr or *image.Gray image/jpeg
// would return. It returns errNotNative for whatever it leaves to Go's
// decoder.
func decodeJPEGNative(data []byte, info Info) (image.Image, error) {
	l, err := readJPEGLayout(data)
	if err != nil {
		return nil, err
	}
	if l.width != info.Width || l.height != info.Height {
		return nil, notNativeJPEG("header differs from image/jpeg's")
	}
	wantSubsamp, wantCS := C.int(C.SCREEND_TJSAMP_GRAY), C.int(C.SCREEND_TJCS_GRAY)
	if l.components == 3 {
		if l.rgb {
			return nil, notNativeJPEG("RGB")
		}
		wantSubsamp, wantCS = tjSubsamp[l.ratio], C.SCREEND_TJCS_YCbCr
	}
	h := C.screend_tj_init()
	if h == nil {
		return nil, notNativeJPEG("tjInitDecompress failed")
	}
	defer C.screend_tj_destroy(h)
	src, srcLen := (*C.uchar)(unsafe.Pointer(unsafe.SliceData(data))), C.ulong(len(data))
	var w, ht, subsamp, cs C.int
	if C.screend_tj_header(h, src, srcLen, &w, &ht, &subsamp, &cs) != 0 {
		return nil, notNativeJPEG("TurboJPEG cannot read the header")
	}
	if int(w) != l.width || int(ht) != l.height || subsamp != wantSubsamp || cs != wantCS {
		return nil, notNativeJPEG(fmt.Sprintf("TurboJPEG reads %dx%d, subsampling %d, colour space %d", w, ht, subsamp, cs))
	}
	// TurboJPEG writes whole MCUs' worth of samples: the luma plane is
	// padded to the sampling factors (an odd-sized 4:2:0 image gets a
	// column and a row more), as image/jpeg's planes are padded to MCUs.
	yw, yh := int(C.screend_tj_plane_width(0, w, subsamp)), int(C.screend_tj_plane_height(0, ht, subsamp))
	cw, ch := 0, 0
	if l.components == 3 {
		cw, ch = int(C.screend_tj_plane_width(1, w, subsamp)), int(C.screend_tj_plane_height(1, ht, subsamp))
	}
	ySize, cSize := yw*yh, cw*ch
	if yw < l.width || yh < l.height || ySize <= 0 || cSize < 0 {
		return nil, notNativeJPEG("plane sizes")
	}
	buf := getPix(ySize + 2*cSize)
	r := image.Rect(0, 0, l.width, l.height)
	var img image.Image
	var cb, cr *C.uchar
	if l.components == 1 {
		img = &image.Gray{Pix: buf[:ySize], Stride: yw, Rect: r}
	} else {
		m := &image.YCbCr{
			// Y keeps the whole buffer's capacity so that Recycle can pool it.
			Y:              buf[:ySize],
			Cb:             buf[ySize : ySize+cSize : ySize+cSize],
			Cr:             buf[ySize+cSize : ySize+2*cSize : ySize+2*cSize],
			YStride:        yw,
			CStride:        cw,
			SubsampleRatio: l.ratio,
			Rect:           r,
		}
		if wantW, wantH := goChromaSize(l.ratio, l.width, l.height); cw < wantW || ch < wantH {
			putPix(buf)
			return nil, notNativeJPEG("chroma planes smaller than image/jpeg's")
		}
		cb, cr = (*C.uchar)(unsafe.Pointer(unsafe.SliceData(m.Cb))), (*C.uchar)(unsafe.Pointer(unsafe.SliceData(m.Cr)))
		img = m
	}
	if C.screend_tj_decode(h, src, srcLen, w, ht, (*C.uchar)(unsafe.Pointer(unsafe.SliceData(buf))), cb, cr, C.int(yw), C.int(cw)) != 0 {
		// Broken data (or a warning): Go's decoder gives the error its
		// usual class, or decodes what libjpeg only warned about.
		putPix(buf)
		return nil, notNativeJPEG("TurboJPEG failed")
	}
	return img, nil
}

// goChromaSize is the size of the chroma planes of a w x h image.YCbCr.
func goChromaSize(r image.YCbCrSubsampleRatio, w, h int) (int, int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return (w + 1) / 2, h
	case image.YCbCrSubsampleRatio420:
		return (w + 1) / 2, (h + 1) / 2
	case image.YCbCrSubsampleRatio440:
		return w, (h + 1) / 2
	case image.YCbCrSubsampleRatio411:
		return (w + 3) / 4, h
	}
	return w, h
}
