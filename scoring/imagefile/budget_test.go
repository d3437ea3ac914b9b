package imagefile

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"io"
	"testing"
)

// pngHeader returns the signature, IHDR and an IDAT of n zero bytes.
func pngHeader(w, h int, depth, colorType byte, idat int) []byte {
	var b bytes.Buffer
	b.Write(magicPNG)
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = depth, colorType
	chunk("IHDR", ihdr)
	chunk("IDAT", make([]byte, idat))
	return b.Bytes()
}

// progressiveJPEGHeader is SOI, a DQT and an SOF2 declaring w x h with
// three components: the 271-byte kind of file that made the decoder
// allocate gigabytes.
func progressiveJPEGHeader(w, h int) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xff, 0xd8})
	b.Write([]byte{0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0})
	dqt := append([]byte{0xff, 0xdb, 0, 67, 0}, bytes.Repeat([]byte{1}, 64)...)
	b.Write(dqt)
	sof := []byte{0xff, 0xc2, 0, 17, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3,
		1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0}
	b.Write(sof)
	b.Write(bytes.Repeat([]byte{0}, 271-b.Len()))
	return b.Bytes()
}

// longJPEGHeader is a JPEG whose metadata segments before its frame
// header run past HeaderLimit.
func longJPEGHeader() []byte {
	b := []byte{0xff, 0xd8}
	for len(b) <= HeaderLimit {
		b = append(b, 0xff, 0xe1, 0xff, 0xff)
		b = append(b, make([]byte, 0xffff-2)...)
	}
	return append(b, progressiveJPEGHeader(100, 100)[2:]...)
}

func TestCheckHeaderRefusesBombs(t *testing.T) {
	t.Parallel()
	// A flat 16-bit 9000x9000 PNG compresses to about 630 KB but takes
	// 648 MB to decode.
	var flat bytes.Buffer
	zw := zlib.NewWriter(&flat)
	row := make([]byte, 1+9000*8)
	for range 9000 {
		zw.Write(row)
	}
	zw.Close()
	bomb16 := pngHeader(9000, 9000, 16, 6, 0)
	tests := []struct {
		name string
		data []byte
		size int64 // the file's size; len(data) if 0
		want error
	}{
		{"progressive jpeg 9999x9999 in 271 bytes", progressiveJPEGHeader(9999, 9999), 0, ErrImplausible},
		{"16-bit png 9000x9000 in 630 KB", bomb16, int64(flat.Len()), ErrImplausible},
		{"sparse 1.5 GB file behind a 1000x1000 png header", pngHeader(1000, 1000, 8, 2, 100), 1500 << 20, ErrImplausible},
		{"header longer than the limit", longJPEGHeader(), 0, ErrCorrupt},
		{"ordinary photo png", encodePNG(t, photo(300, 200, 1)), 0, nil},
		{"ordinary jpeg", encodeJPEG(t, photo(300, 200, 2)), 0, nil},
		{"flat black 1024x1024 png", encodePNG(t, image.NewGray(image.Rect(0, 0, 1024, 1024))), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.size
			if size == 0 {
				size = int64(len(tt.data))
			}
			r := &countingReader{r: io.MultiReader(bytes.NewReader(tt.data), zeros{})}
			_, err := CheckHeader(r, size, 0)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("CheckHeader = %v, want %v", err, tt.want)
			}
			if r.n > HeaderLimit {
				t.Errorf("read %d bytes, more than HeaderLimit", r.n)
			}
		})
	}
}

func TestBytesPerPixel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		format      Format
		model       color.Model
		progressive bool
		want        float64
	}{
		{"8-bit rgba png", FormatPNG, color.NRGBAModel, false, 4},
		{"16-bit rgba png", FormatPNG, color.NRGBA64Model, false, 8},
		{"16-bit gray png", FormatPNG, color.Gray16Model, false, 2},
		{"baseline jpeg", FormatJPEG, color.YCbCrModel, false, 3},
		{"progressive jpeg", FormatJPEG, color.YCbCrModel, true, 15},
		{"progressive gray jpeg", FormatJPEG, color.GrayModel, true, 5},
		{"lossless webp", FormatWebP, color.NRGBAModel, false, 8},
	}
	for _, tt := range tests {
		if got := bytesPerPixel(tt.format, tt.model, tt.progressive); got != tt.want {
			t.Errorf("%s: %v bytes per pixel, want %v", tt.name, got, tt.want)
		}
	}
}

func TestReadDecodeBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		info Info
		size int64
		want int64
	}{
		{"png: file, its IDAT data joined, pixels, filter bytes", Info{Format: FormatPNG, Width: 100, Height: 10, BytesPerPixel: 4}, 1000, 1000 + 1000 + 4000 + 10},
		{"jpeg: file, pixels, padding and the native decoder's band", Info{Format: FormatJPEG, Width: 100, Height: 10, BytesPerPixel: 3}, 1000, 1000 + 3000 + 64<<10 + 32*10 + 64*100},
		{"webp: file, pixels and the native decoder's rows", Info{Format: FormatWebP, Width: 100, Height: 10, BytesPerPixel: 8}, 1000, 1000 + 8000 + 64<<10 + 128*100},
	}
	for _, tt := range tests {
		if got := tt.info.ReadDecodeBytes(tt.size); got != tt.want {
			t.Errorf("%s: %d bytes, want %d", tt.name, got, tt.want)
		}
	}
}

func TestJPEGProgressive(t *testing.T) {
	t.Parallel()
	if !jpegProgressive(progressiveJPEGHeader(10, 10)) {
		t.Error("SOF2 header not recognised as progressive")
	}
	if jpegProgressive(encodeJPEG(t, photo(16, 16, 3))) {
		t.Error("baseline JPEG taken for progressive")
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
