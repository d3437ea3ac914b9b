package imagefile

import (
	"errors"
	"fmt"
	"image/color"
	"io"
)

// HeaderLimit is the most CheckHeader reads to find an image's header.
// Metadata before the pixel data (EXIF, ICC profiles, text chunks) fits
// well within it; a "header" longer than this is refused.
const HeaderLimit = 4 << 20

// ErrImplausible means the header declares an image the file cannot hold:
// far more pixels than its bytes could encode (a few hundred bytes
// claiming 9999x9999, which a decoder would allocate gigabytes for), or
// far more bytes than its pixels explain (a sparse multi-gigabyte file
// behind a small header).
var ErrImplausible = errors.New("implausible header")

// CheckHeader reads at most HeaderLimit bytes of r, a file of size bytes,
// checks the header as decoding would (format, sides, maxPixels) and then
// that the declared image is plausible for a file of that size. It reads
// no pixel data, so the caller can budget the memory a decode takes
// (Info.DecodeBytes) before reading the file whole. It does not depend on
// the decoder used afterwards.
func CheckHeader(r io.Reader, size, maxPixels int64) (Info, error) {
	src := &errReader{r: io.LimitReader(r, HeaderLimit)}
	br := getBufio(src)
	defer putBufio(br)
	info, err := checkHeader(br, src, maxPixels)
	if err != nil {
		if errors.Is(err, ErrTruncated) && size > HeaderLimit {
			return info, fmt.Errorf("%w: no complete header in the first %d bytes", ErrCorrupt, HeaderLimit)
		}
		return info, err
	}
	if err := plausible(info, size); err != nil {
		return info, err
	}
	return info, nil
}

// DecodeBytes returns the memory a decode of the image takes at most, in
// bytes: its pixels times BytesPerPixel.
func (i Info) DecodeBytes() int64 { return int64(float64(i.Pixels()) * i.BytesPerPixel) }

// ReadDecodeBytes returns the memory that reading the image's file of
// size bytes whole and decoding it with DecodeBytes take at most: the
// file, DecodeBytes, and what the native decoders add. For PNG that is a
// copy of the compressed pixel data when the file splits it into several
// IDAT chunks (most encoders do) and a filter byte per row. For JPEG,
// libjpeg-turbo pads its planes to the sampling factors (three columns
// and a row more at most), keeps a pointer to every row of each plane
// (24 bytes a row), decodes the last, partial row of MCUs into a band of
// at most 32 bytes a column, and needs its tables and state (64 KiB is
// ample); its coefficients of a progressive JPEG, 2 bytes each, fit in
// BytesPerPixel's 4. For WebP, libwebp keeps a row of macroblocks' state
// and samples (under 128 bytes a column) and its tables.
func (i Info) ReadDecodeBytes(size int64) int64 {
	n := size + i.DecodeBytes()
	switch i.Format {
	case FormatPNG:
		n += size + int64(i.Height)
	case FormatJPEG:
		n += 64<<10 + 32*int64(i.Height) + 64*int64(i.Width)
	case FormatWebP:
		n += 64<<10 + 128*int64(i.Width)
	}
	return n
}

// The limits of plausibility. A file needs at least one bit per 8x8 block
// for the DC coefficient of JPEG (minJPEGPixelsPerByte leaves a factor of
// two); deflate and WebP's lossless coding compress a flat image about
// 1000:1, so only an image that would take over bombBytes to decode must
// compress less than maxRatio:1; and no format needs more than twice its
// decoded size plus metadata.
const (
	minJPEGPixelsPerByte = 1024
	bombBytes            = 256 << 20
	maxRatio             = 500
	maxMetadata          = 16 << 20
)

// plausible tells whether a file of size bytes can hold the image info
// describes.
func plausible(info Info, size int64) error {
	decoded := info.DecodeBytes()
	switch {
	case info.Format == FormatJPEG && size < info.Pixels()/minJPEGPixelsPerByte:
		return fmt.Errorf("%w: %d bytes cannot hold a %dx%d JPEG", ErrImplausible, size, info.Width, info.Height)
	case decoded > bombBytes && size > 0 && decoded/size > maxRatio:
		return fmt.Errorf("%w: %d bytes declare %dx%d, %d MB to decode (%d:1)", ErrImplausible,
			size, info.Width, info.Height, decoded>>20, decoded/size)
	case size > 2*decoded+maxMetadata:
		return fmt.Errorf("%w: %d bytes for %dx%d pixels", ErrImplausible, size, info.Width, info.Height)
	}
	return nil
}

// bytesPerPixel is what a decoder holds per pixel of an image with the
// given colour model: the decoded image, plus, for progressive JPEG, the
// 32-bit DCT coefficients of every component kept until the last scan.
func bytesPerPixel(f Format, m color.Model, progressive bool) float64 {
	var out, components float64
	switch m {
	case color.GrayModel, color.AlphaModel:
		out, components = 1, 1
	case color.Gray16Model, color.Alpha16Model:
		out, components = 2, 1
	case color.RGBA64Model, color.NRGBA64Model:
		out, components = 8, 4
	case color.YCbCrModel:
		out, components = 3, 3 // at most: 4:4:4 without subsampling
	case color.NYCbCrAModel:
		out, components = 4, 4
	case color.CMYKModel:
		out, components = 4, 4
	default: // RGBA, NRGBA, paletted
		out, components = 4, 4
	}
	if f == FormatWebP && m == color.NRGBAModel {
		out += 4 // lossless WebP decodes into 32-bit ARGB first
	}
	if f == FormatJPEG && progressive {
		out += 4 * components
	}
	return out
}

// jpegProgressive tells whether the JPEG header in head (from SOI up to
// and including its SOF marker) is progressive.
func jpegProgressive(head []byte) bool {
	for i := 2; i+3 < len(head); {
		if head[i] != 0xff {
			return false
		}
		m := head[i+1]
		switch {
		case m == 0xff: // fill byte
			i++
			continue
		case m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc:
			return m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce
		case m == 0x01 || (m >= 0xd0 && m <= 0xd8): // markers without a length
			i += 2
			continue
		}
		i += 2 + (int(head[i+2])<<8 | int(head[i+3]))
	}
	return false
}
