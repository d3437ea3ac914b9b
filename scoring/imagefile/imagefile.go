// Package imagefile decodes untrusted image files safely.
//
// The daemon reads whatever appears in the watched folders: half-written
// files, text files with an image extension, truncated or hostile images.
// Every entry point here follows the same steps:
//
//  1. sniff the format from the magic bytes (PNG, JPEG, WebP; the file name
//     is never trusted);
//  2. read only the header (image.DecodeConfig) and reject, before any pixel
//     buffer is allocated, images whose declared size is zero, larger than
//     MaxSide on one side or larger than the caller's pixel budget;
//  3. decode with the format's own decoder, recovering from decoder panics
//     (DecodeBytes: with libdeflate, libjpeg-turbo or libwebp for the
//     common PNGs, JPEGs and lossy WebPs where they are installed, see
//     NativeStatus);
//  4. classify every failure with a sentinel error (ErrEmpty, ErrNotImage,
//     ErrTooLarge, ErrTruncated, ErrCorrupt, ErrUnsupported) that errors.Is
//     recognises, and that Reason turns into a short stable string for the
//     database. I/O errors of the underlying reader are passed through
//     unclassified (Reason reports them as "read error").
//
// Files are decoded in one way by every caller (the daemon's decode
// workers, thumbnails, crops, the history import): ReadFile checks the
// header through a bounded reader (CheckHeader, which also refuses
// implausible headers), takes the memory the decode needs from a Budget
// and reads the file whole; File.Decode then decodes it with DecodeBytes,
// native first. Open does both for callers that need nothing in between.
//
// The decoded image is returned exactly as the decoder produced it, without
// a copy or a colour conversion: PNG gives *image.RGBA, *image.NRGBA,
// *image.Gray, *image.Paletted or their 16-bit forms; JPEG and lossy WebP
// give *image.YCbCr (*image.NYCbCrA with alpha), lossless WebP *image.NRGBA.
//
// A file that is still being written looks truncated: callers that watch
// folders should treat ErrTruncated as "retry later" before giving up.
package imagefile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"strings"
	"sync"

	"golang.org/x/image/webp"
)

// DefaultMaxPixels is a sensible pixel budget for ReadFile and DecodeBytes (100 MP).
// A maxPixels argument of zero or less selects it. Decoding allocates about
// 4 bytes per pixel (8 for 16-bit PNG, more for progressive JPEG), so the
// budget bounds the memory one decode can take.
const DefaultMaxPixels int64 = 100_000_000

// MaxSide is the largest width or height accepted whatever the pixel budget;
// larger sides (a 100000x1 "image") are rejected with ErrTooLarge.
const MaxSide = 1 << 16

// Format is an image file format recognised by its magic bytes.
type Format string

// The formats imagefile decodes.
const (
	FormatUnknown Format = ""
	FormatPNG     Format = "png"
	FormatJPEG    Format = "jpeg"
	FormatWebP    Format = "webp"
)

// Info describes a decoded (or header-checked) image.
type Info struct {
	Format Format
	Width  int
	Height int
	// BytesPerPixel is what decoding takes per pixel at most, from the
	// header's colour model and bit depth (see DecodeBytes).
	BytesPerPixel float64
}

// Pixels returns Width*Height.
func (i Info) Pixels() int64 { return int64(i.Width) * int64(i.Height) }

// Sentinel errors; the returned errors wrap one of them (and, where there is
// one, the decoder's own error). Their texts are the strings Reason returns.
var (
	// ErrEmpty means the file has no bytes at all.
	ErrEmpty = errors.New("empty file")
	// ErrNotImage means the data starts with no known image magic.
	ErrNotImage = errors.New("not an image")
	// ErrTooLarge means the header declares more pixels than allowed, or a
	// side longer than MaxSide.
	ErrTooLarge = errors.New("too large")
	// ErrTruncated means the data ends before the image does (a file still
	// being written looks like this).
	ErrTruncated = errors.New("truncated")
	// ErrCorrupt means the data is broken: bad header, bad checksum, bad
	// compressed stream, or a decoder panic.
	ErrCorrupt = errors.New("corrupt")
	// ErrUnsupported means a valid file uses a feature the decoder lacks
	// (for example arithmetic-coded JPEG).
	ErrUnsupported = errors.New("unsupported")
)

// Reason returns a short stable description of err for storage: the text of
// the sentinel error it wraps, "read error" for any other error, and "" for
// nil.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, s := range []error{ErrUnreadable, ErrEmpty, ErrNotImage, ErrTooLarge, ErrImplausible, ErrTruncated, ErrCorrupt, ErrUnsupported} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "read error"
}

var (
	magicPNG  = []byte("\x89PNG\r\n\x1a\n")
	magicJPEG = []byte{0xff, 0xd8, 0xff}
)

// sniffLen is how many leading bytes Sniff needs to recognise every format.
const sniffLen = 12

// Sniff returns the format whose magic bytes start head, or FormatUnknown.
// It needs the first 12 bytes to recognise WebP.
func Sniff(head []byte) Format {
	switch {
	case bytes.HasPrefix(head, magicPNG):
		return FormatPNG
	case bytes.HasPrefix(head, magicJPEG):
		return FormatJPEG
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return FormatWebP
	}
	return FormatUnknown
}

// sniff is Sniff that also tells a short prefix of a magic (a file cut off
// within its first bytes) from data that is no image at all.
func sniff(head []byte) (Format, error) {
	if len(head) == 0 {
		return FormatUnknown, ErrEmpty
	}
	if f := Sniff(head); f != FormatUnknown {
		return f, nil
	}
	if len(head) < sniffLen && isMagicPrefix(head) {
		return FormatUnknown, fmt.Errorf("%w: %d bytes", ErrTruncated, len(head))
	}
	return FormatUnknown, ErrNotImage
}

// isMagicPrefix reports whether head, shorter than sniffLen, could be the
// start of a file in a known format.
func isMagicPrefix(head []byte) bool {
	if bytes.HasPrefix(magicPNG, head) || bytes.HasPrefix(magicJPEG, head) {
		return true
	}
	riff := []byte("RIFF")
	if len(head) <= 4 {
		return bytes.HasPrefix(riff, head)
	}
	return bytes.HasPrefix(head, riff) && (len(head) <= 8 || bytes.HasPrefix([]byte("WEBP"), head[8:]))
}

// DecodeBytes decodes an image held in memory, allowing at most maxPixels
// pixels (DefaultMaxPixels if maxPixels <= 0). PNGs, JPEGs and lossy
// WebPs go through the native decoders where their libraries are
// installed (see NativeStatus), into the same image types as Go's
// decoders.
func DecodeBytes(data []byte, maxPixels int64) (image.Image, Info, error) {
	return decodeBytes(data, maxPixels, true)
}

// DecodeBytesGo is DecodeBytes with Go's decoders only, for comparing the
// decoders on the same files.
func DecodeBytesGo(data []byte, maxPixels int64) (image.Image, Info, error) {
	return decodeBytes(data, maxPixels, false)
}

func decodeBytes(data []byte, maxPixels int64, allowNative bool) (image.Image, Info, error) {
	var decodeNative func([]byte, Info) (image.Image, error)
	if allowNative {
		loadNative()
		switch Sniff(data) {
		case FormatPNG:
			if native.png {
				decodeNative = decodePNGNative
			}
		case FormatJPEG:
			if native.jpeg {
				decodeNative = decodeJPEGNative
			}
		case FormatWebP:
			if native.webp {
				decodeNative = decodeWebPNative
			}
		}
	}
	if decodeNative == nil {
		return decodeSeeker(bytes.NewReader(data), maxPixels, true)
	}
	// The same header checks as Go's path, before any pixel buffer exists.
	_, info, err := decodeSeeker(bytes.NewReader(data), maxPixels, false)
	if err != nil {
		return nil, info, err
	}
	img, err := decodeNative(data, info)
	if errors.Is(err, errNotNative) {
		return decodeSeeker(bytes.NewReader(data), maxPixels, true)
	}
	if err != nil {
		return nil, info, err
	}
	return img, info, nil
}

// bufReader is a bufio.Reader that can record what a header parser consumed.
type bufReader struct {
	*bufio.Reader
	recording bool
	rec       []byte
}

func (b *bufReader) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if b.recording {
		b.rec = append(b.rec, p[:n]...)
	}
	return n, err
}

func (b *bufReader) ReadByte() (byte, error) {
	c, err := b.Reader.ReadByte()
	if b.recording && err == nil {
		b.rec = append(b.rec, c)
	}
	return c, err
}

// The buffer size balances syscalls against cache use; decoding dominates.
const bufSize = 64 << 10

var bufPool = sync.Pool{New: func() any { return &bufReader{Reader: bufio.NewReaderSize(nil, bufSize)} }}

func getBufio(r io.Reader) *bufReader {
	b := bufPool.Get().(*bufReader)
	b.Reset(r)
	b.recording = false
	b.rec = b.rec[:0]
	return b
}

func putBufio(b *bufReader) {
	b.Reset(nil)
	if cap(b.rec) > 1<<20 {
		b.rec = nil
	}
	bufPool.Put(b)
}

// errReader remembers the first error of the underlying reader other than
// io.EOF, so that I/O failures are not mistaken for broken images.
type errReader struct {
	r   io.Reader
	err error
	eof bool // the reader returned io.EOF
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.eof = true
	} else if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// decodeSeeker checks the header of rs, then (if full) seeks back and
// decodes the image.
func decodeSeeker(rs io.ReadSeeker, maxPixels int64, full bool) (image.Image, Info, error) {
	start, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, Info{}, err
	}
	src := &errReader{r: rs}
	br := getBufio(src)
	defer putBufio(br)
	info, err := checkHeader(br, src, maxPixels)
	if err != nil || !full {
		return nil, info, err
	}
	if _, err := rs.Seek(start, io.SeekStart); err != nil {
		return nil, info, err
	}
	br.recording = false
	br.Reset(src)
	return info.decode(br, br, src)
}

// checkHeader sniffs the format and reads the header from br, recording
// the bytes it consumes in br.rec.
func checkHeader(br *bufReader, src *errReader, maxPixels int64) (info Info, err error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	head, _ := br.Peek(sniffLen)
	if src.err != nil {
		return info, src.err
	}
	info.Format, err = sniff(head)
	if err != nil {
		return info, err
	}
	// The decoders skip what they do not know, so garbage after the magic
	// tends to end as "truncated", which a watcher would retry. Check the
	// first structure after the magic.
	switch info.Format {
	case FormatPNG:
		if h, _ := br.Peek(16); len(h) == 16 && string(h[12:16]) != "IHDR" {
			return info, fmt.Errorf("%w: first chunk is not IHDR", ErrCorrupt)
		}
	case FormatJPEG:
		// SOI is followed by a marker: APPn, DQT, DHT, SOFn, COM, DRI, ...
		// but not RSTn, SOI, EOI, or a stuffed zero.
		if h, _ := br.Peek(4); len(h) == 4 && (h[3] < 0xc0 || (h[3] >= 0xd0 && h[3] <= 0xd9)) {
			return info, fmt.Errorf("%w: no marker after SOI", ErrCorrupt)
		}
	}
	br.recording = true
	cfg, err := decodeConfig(info.Format, br)
	br.recording = false
	if err != nil {
		return info, classify(err, src, false)
	}
	info.Width, info.Height = cfg.Width, cfg.Height
	info.BytesPerPixel = bytesPerPixel(info.Format, cfg.ColorModel, info.Format == FormatJPEG && jpegProgressive(br.rec))
	switch {
	case info.Width <= 0 || info.Height <= 0:
		return info, fmt.Errorf("%w: header declares %dx%d", ErrCorrupt, info.Width, info.Height)
	case info.Width > MaxSide || info.Height > MaxSide:
		return info, fmt.Errorf("%w: header declares %dx%d, more than %d on a side", ErrTooLarge, info.Width, info.Height, MaxSide)
	case info.Pixels() > maxPixels:
		return info, fmt.Errorf("%w: header declares %dx%d, more than %d pixels", ErrTooLarge, info.Width, info.Height, maxPixels)
	}
	return info, nil
}

func decodeConfig(f Format, r io.Reader) (cfg image.Config, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: decoder panic: %v", ErrCorrupt, p)
		}
	}()
	switch f {
	case FormatPNG:
		return png.DecodeConfig(r)
	case FormatJPEG:
		return jpeg.DecodeConfig(r)
	case FormatWebP:
		return webp.DecodeConfig(r)
	}
	return cfg, ErrNotImage
}

// decode decodes the pixels from r, an image whose header check gave info;
// br is the buffer between r and src.
func (info Info) decode(r io.Reader, br *bufReader, src *errReader) (img image.Image, _ Info, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("%w: decoder panic: %v", ErrCorrupt, p)
		}
	}()
	switch info.Format {
	case FormatPNG:
		img, err = png.Decode(r)
	case FormatJPEG:
		img, err = jpeg.Decode(r)
	case FormatWebP:
		img, err = webp.Decode(r)
	default:
		return nil, info, ErrNotImage
	}
	if err != nil {
		return nil, info, classify(err, src, src.eof && br.Buffered() == 0)
	}
	if img == nil {
		return nil, info, fmt.Errorf("%w: decoder returned no image", ErrCorrupt)
	}
	if b := img.Bounds(); b.Dx() != info.Width || b.Dy() != info.Height {
		return nil, info, fmt.Errorf("%w: decoded %dx%d, header declares %dx%d", ErrCorrupt, b.Dx(), b.Dy(), info.Width, info.Height)
	}
	return img, info, nil
}

// classify wraps a decoder error with the matching sentinel. An error of
// the underlying reader wins over whatever the decoder made of it. drained
// tells that the decoder consumed all the data there was.
func classify(err error, src *errReader, drained bool) error {
	if src != nil && src.err != nil {
		return src.err
	}
	for _, s := range []error{ErrEmpty, ErrNotImage, ErrTooLarge, ErrImplausible, ErrTruncated, ErrCorrupt, ErrUnsupported} {
		if errors.Is(err, s) {
			return err
		}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %w", ErrTruncated, err)
	}
	var pu png.UnsupportedError
	var ju jpeg.UnsupportedError
	if errors.As(err, &pu) || errors.As(err, &ju) {
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	// image/jpeg reports data that ends inside a scan as a format error
	// (its errShortHuffmanData, returned on io.ErrUnexpectedEOF only).
	var jf jpeg.FormatError
	if errors.As(err, &jf) && string(jf) == "short Huffman data" {
		return fmt.Errorf("%w: %w", ErrTruncated, err)
	}
	// image/png reports a compressed stream cut short as a format error.
	var pf png.FormatError
	if drained && errors.As(err, &pf) && strings.Contains(string(pf), "not enough pixel data") {
		return fmt.Errorf("%w: %w", ErrTruncated, err)
	}
	// x/image/riff reports data that ends inside a chunk with unexported
	// errors; recognise them by text.
	switch err.Error() {
	case "riff: short chunk data", "riff: short chunk header", "riff: missing padding byte", "riff: missing RIFF chunk header":
		return fmt.Errorf("%w: %w", ErrTruncated, err)
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}
