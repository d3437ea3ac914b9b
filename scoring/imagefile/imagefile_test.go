package imagefile

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

var update = flag.Bool("update", false, "regenerate the golden inputs in testdata/ (WebP with cwebp, JPEG with cjpeg)")

// photo returns a deterministic photo-like opaque image: smooth gradients
// and blobs plus a little noise, so that it compresses roughly like a
// photograph rather than like flat synthetic art.
func photo(w, h int, seed uint64) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	fw, fh := float64(w), float64(h)
	for y := 0; y < h; y++ {
		fy := float64(y) / fh
		for x := 0; x < w; x++ {
			fx := float64(x) / fw
			blob := math.Exp(-((fx-0.5)*(fx-0.5) + (fy-0.35)*(fy-0.35)) * 12)
			wave := math.Sin(fx*9+fy*4) * math.Cos(fy*7-fx*3)
			r := 40 + 150*fx + 60*blob + 20*wave
			g := 60 + 100*fy + 50*blob - 15*wave
			b := 180 - 120*fy + 10*wave
			i := img.PixOffset(x, y)
			img.Pix[i+0] = clamp8(r + rng.NormFloat64()*3)
			img.Pix[i+1] = clamp8(g + rng.NormFloat64()*3)
			img.Pix[i+2] = clamp8(b + rng.NormFloat64()*3)
			img.Pix[i+3] = 255
		}
	}
	return img
}

func clamp8(v float64) uint8 {
	return uint8(math.Round(math.Max(0, math.Min(255, v))))
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pngWithIHDR returns a PNG signature and an IHDR chunk (with a valid CRC)
// declaring w x h, 8-bit RGB, followed by extra.
func pngWithIHDR(w, h uint32, extra []byte) []byte {
	var b bytes.Buffer
	b.Write(magicPNG)
	data := make([]byte, 13)
	binary.BigEndian.PutUint32(data[0:], w)
	binary.BigEndian.PutUint32(data[4:], h)
	data[8] = 8 // bit depth
	data[9] = 2 // colour type RGB
	writeChunk(&b, "IHDR", data)
	b.Write(extra)
	return b.Bytes()
}

func writeChunk(b *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	b.Write(n[:])
	b.WriteString(typ)
	b.Write(data)
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	b.Write(n[:])
}

// jpegWithSize returns a copy of a baseline JPEG whose SOF0 segment declares
// w x h instead.
func jpegWithSize(t *testing.T, data []byte, w, h uint16) []byte {
	t.Helper()
	out := bytes.Clone(data)
	i := bytes.Index(out, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 marker")
	}
	// FF C0, length(2), precision(1), height(2), width(2)
	binary.BigEndian.PutUint16(out[i+5:], h)
	binary.BigEndian.PutUint16(out[i+7:], w)
	return out
}

// webpVP8X returns a WebP whose VP8X chunk declares a w x h canvas and then
// ends.
func webpVP8X(w, h int) []byte {
	chunk := make([]byte, 10)
	putU24 := func(b []byte, v int) { b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16) }
	putU24(chunk[4:], w-1)
	putU24(chunk[7:], h-1)
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(4+8+len(chunk)+8+64))
	b.WriteString("WEBPVP8X")
	binary.Write(&b, binary.LittleEndian, uint32(len(chunk)))
	b.Write(chunk)
	return b.Bytes()
}

func TestDecodeBytesFormats(t *testing.T) {
	t.Parallel()
	src := photo(96, 64, 1)
	gray := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i)
	}
	alpha := image.NewNRGBA(image.Rect(0, 0, 20, 10))
	for i := range alpha.Pix {
		alpha.Pix[i] = uint8(i * 7)
	}
	tests := []struct {
		name     string
		data     []byte
		format   Format
		w, h     int
		wantType string
		maxErr   float64 // mean absolute error against src, -1 to skip
	}{
		{"png rgb", encodePNG(t, src), FormatPNG, 96, 64, "*image.RGBA", 0},
		{"png gray", encodePNG(t, gray), FormatPNG, 40, 30, "*image.Gray", -1},
		{"png alpha", encodePNG(t, alpha), FormatPNG, 20, 10, "*image.NRGBA", -1},
		{"jpeg", encodeJPEG(t, src), FormatJPEG, 96, 64, "*image.YCbCr", 4},
		{"webp lossy", readTestdata(t, "photo_lossy.webp"), FormatWebP, 96, 64, "*image.YCbCr", 8},
		{"webp lossless", readTestdata(t, "photo_lossless.webp"), FormatWebP, 96, 64, "*image.NRGBA", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			img, info, err := DecodeBytes(tt.data, 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := (Info{Format: tt.format, Width: tt.w, Height: tt.h, BytesPerPixel: info.BytesPerPixel}); info != want || info.BytesPerPixel < 1 {
				t.Errorf("info = %+v, want %+v", info, want)
			}
			if got := fmt.Sprintf("%T", img); got != tt.wantType {
				t.Errorf("decoded type %s, want %s", got, tt.wantType)
			}
			if tt.maxErr >= 0 {
				if d := meanAbsDiff(img, src); d > tt.maxErr {
					t.Errorf("mean absolute difference to the source %.2f, want <= %.2f", d, tt.maxErr)
				}
			}
			// Go's decoders must give the same result; for JPEG the
			// native decoder's IDCT differs from Go's by a level here and
			// there.
			img2, info2, err := DecodeBytesGo(tt.data, 0)
			if err != nil {
				t.Fatalf("DecodeBytesGo: %v", err)
			}
			tolerance := 0.0
			if tt.format == FormatJPEG {
				tolerance = 0.05
			}
			if d := meanAbsDiff(img, img2); info2 != info || d > tolerance {
				t.Errorf("Go's decoders differ from DecodeBytes: mean absolute difference %.3f", d)
			}
		})
	}
}

func meanAbsDiff(a, b image.Image) float64 {
	ab, bb := a.Bounds(), b.Bounds()
	if ab.Size() != bb.Size() {
		return math.Inf(1)
	}
	var sum float64
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			ca := color.NRGBAModel.Convert(a.At(ab.Min.X+x, ab.Min.Y+y)).(color.NRGBA)
			cb := color.NRGBAModel.Convert(b.At(bb.Min.X+x, bb.Min.Y+y)).(color.NRGBA)
			sum += math.Abs(float64(ca.R)-float64(cb.R)) + math.Abs(float64(ca.G)-float64(cb.G)) + math.Abs(float64(ca.B)-float64(cb.B))
		}
	}
	return sum / float64(3*ab.Dx()*ab.Dy())
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%v (regenerate with: go test -run TestGoldenWebP ./scoring/imagefile/ -update)", err)
	}
	return data
}

// TestGoldenWebP regenerates testdata/photo_*.webp from photo(96, 64, 1)
// with cwebp (Debian package webp) when run with -update. There is no WebP
// encoder in Go, so the files are committed.
func TestGoldenWebP(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate")
	}
	cwebp, err := exec.LookPath("cwebp")
	if err != nil {
		t.Fatal("cwebp not found: apt-get install webp")
	}
	srcPath := filepath.Join(t.TempDir(), "photo.png")
	if err := os.WriteFile(srcPath, encodePNG(t, photo(96, 64, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"photo_lossy.webp":    {"-quiet", "-q", "90", "-metadata", "none"},
		"photo_lossless.webp": {"-quiet", "-lossless", "-exact", "-metadata", "none"},
	} {
		args = append(args, srcPath, "-o", filepath.Join("testdata", name))
		if out, err := exec.Command(cwebp, args...).CombinedOutput(); err != nil {
			t.Fatalf("cwebp %v: %v\n%s", args, err, out)
		}
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	src := photo(64, 48, 2)
	pngData := encodePNG(t, src)
	jpegData := encodeJPEG(t, src)
	webpData := readTestdata(t, "photo_lossy.webp")
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*7919 + i/13)
	}
	dir := t.TempDir()
	tests := []struct {
		name    string
		data    []byte
		want    error // nil for success
		wantAlt error // another acceptable error
	}{
		{"png", pngData, nil, nil},
		{"jpeg", jpegData, nil, nil},
		{"webp", webpData, nil, nil},
		{"empty", nil, ErrEmpty, nil},
		{"text", []byte("width=1024\nheight=1024\nthis is not an image\n"), ErrNotImage, nil},
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), ErrNotImage, nil},
		{"png magic only", magicPNG, ErrTruncated, nil},
		{"png magic prefix", magicPNG[:3], ErrTruncated, nil},
		{"riff prefix", []byte("RIFF\x10\x00\x00\x00WE"), ErrTruncated, nil},
		{"png truncated in header", pngData[:20], ErrTruncated, nil},
		{"png truncated in pixels", pngData[:len(pngData)/2], ErrTruncated, nil},
		{"png without IEND", pngData[:len(pngData)-12], ErrTruncated, nil},
		{"jpeg truncated in header", jpegData[:40], ErrTruncated, nil},
		{"jpeg truncated in pixels", jpegData[:len(jpegData)/2], ErrTruncated, nil},
		{"webp truncated", webpData[:len(webpData)/2], ErrTruncated, nil},
		{"png garbage after magic", append(bytes.Clone(magicPNG), garbage...), ErrCorrupt, nil},
		{"jpeg garbage after magic", append([]byte{0xff, 0xd8, 0xff}, garbage...), ErrCorrupt, nil},
		{"jpeg garbage after marker", append([]byte{0xff, 0xd8, 0xff, 0xe0}, garbage...), ErrCorrupt, ErrTruncated},
		{"webp garbage after magic", append([]byte("RIFF\x00\x10\x00\x00WEBP"), garbage...), ErrCorrupt, ErrTruncated},
		{"png bad crc", flipByte(pngData, 30), ErrCorrupt, nil},
		{"png bad pixels", flipByte(pngData, len(pngData)/2), ErrCorrupt, nil},
		{"png zero width", pngWithIHDR(0, 10, nil), ErrCorrupt, nil},
		{"png 20000x20000", pngWithIHDR(20000, 20000, garbage), ErrTooLarge, nil},
		{"png 100000x1", pngWithIHDR(100000, 1, garbage), ErrTooLarge, nil},
		{"jpeg 60000x60000", jpegWithSize(t, jpegData, 60000, 60000), ErrTooLarge, nil},
		{"webp 16384x16384", webpVP8X(16384, 16384), ErrTooLarge, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			img, info, err := Open(context.Background(), path, 0, nil)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if b := img.Bounds(); b.Dx() != info.Width || b.Dy() != info.Height || info.Width == 0 {
					t.Errorf("bounds %v, info %+v", b, info)
				}
				return
			}
			if img != nil {
				t.Errorf("Open returned an image with error %v", err)
			}
			if !errors.Is(err, tt.want) && (tt.wantAlt == nil || !errors.Is(err, tt.wantAlt)) {
				t.Fatalf("Open error %v (reason %q), want %v", err, Reason(err), tt.want)
			}
			t.Logf("%s: %v", Reason(err), err)
			// Errors name the file and the header-only check agrees.
			if !bytes.Contains([]byte(err.Error()), []byte(path)) {
				t.Errorf("error %q does not name the file", err)
			}
			if f, herr := ReadFile(context.Background(), path, 0, nil); herr == nil {
				f.Close()
			} else if errors.Is(tt.want, ErrTooLarge) && !errors.Is(herr, ErrTooLarge) {
				t.Errorf("ReadFile error %v, want %v", herr, tt.want)
			}
		})
	}
}

func flipByte(data []byte, i int) []byte {
	out := bytes.Clone(data)
	out[i] ^= 0x5a
	return out
}

func TestOpenMissing(t *testing.T) {
	t.Parallel()
	_, _, err := Open(context.Background(), filepath.Join(t.TempDir(), "nope.png"), 0, nil)
	if !errors.Is(err, os.ErrNotExist) || !errors.Is(err, ErrUnreadable) || Reason(err) != "unreadable" {
		t.Fatalf("err %v, reason %q", err, Reason(err))
	}
}

func TestMaxPixels(t *testing.T) {
	t.Parallel()
	data := encodePNG(t, photo(64, 48, 3))
	if _, _, err := DecodeBytes(data, 64*48); err != nil {
		t.Fatalf("exact budget: %v", err)
	}
	if _, _, err := DecodeBytes(data, 64*48-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("budget one pixel short: %v", err)
	}
}

// TestTooLargeAllocatesNothing checks that a header declaring 20000x20000
// is rejected before any pixel buffer is allocated. Not parallel: it reads
// the process-wide allocation counter.
func TestTooLargeAllocatesNothing(t *testing.T) {
	data := pngWithIHDR(20000, 20000, make([]byte, 1<<16))
	path := filepath.Join(t.TempDir(), "huge.png")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	Open(context.Background(), path, 0, nil) // warm the buffer pool
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 20
	for range n {
		if _, _, err := Open(context.Background(), path, 0, nil); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err %v, want ErrTooLarge", err)
		}
		if _, _, err := DecodeBytes(data, 0); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err %v, want ErrTooLarge", err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / (2 * n); per > 64<<10 {
		t.Fatalf("rejecting a 20000x20000 header allocated %d bytes per call", per)
	}
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestReadErrorPassesThrough: a reader's error while the header is read
// (the PNG signature and IHDR are its first 33 bytes) is kept and
// classified as a read error, not as a broken image.
func TestReadErrorPassesThrough(t *testing.T) {
	t.Parallel()
	errDisk := errors.New("disk on fire")
	data := encodePNG(t, photo(64, 48, 4))
	for _, n := range []int{0, 10, 20} {
		_, err := CheckHeader(&failingReader{data: data[:n], err: errDisk}, int64(len(data)), 0)
		if !errors.Is(err, errDisk) || Reason(err) != "read error" {
			t.Errorf("after %d bytes: err %v, reason %q", n, err, Reason(err))
		}
	}
}

func TestReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{ErrEmpty, "empty file"},
		{fmt.Errorf("decode x: %w", ErrNotImage), "not an image"},
		{fmt.Errorf("%w: %w", ErrTruncated, io.ErrUnexpectedEOF), "truncated"},
		{fmt.Errorf("decode x: %w", ErrTooLarge), "too large"},
		{ErrCorrupt, "corrupt"},
		{ErrUnsupported, "unsupported"},
		{io.ErrClosedPipe, "read error"},
	}
	for _, tt := range tests {
		if got := Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestSniff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		head string
		want Format
	}{
		{"\x89PNG\r\n\x1a\nxxxx", FormatPNG},
		{"\xff\xd8\xff\xe0", FormatJPEG},
		{"RIFF\x00\x00\x00\x00WEBPVP8 ", FormatWebP},
		{"RIFF\x00\x00\x00\x00WAVEfmt ", FormatUnknown},
		{"GIF89a", FormatUnknown},
		{"", FormatUnknown},
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.head)); got != tt.want {
			t.Errorf("Sniff(%q) = %q, want %q", tt.head, got, tt.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	src := photo(24, 16, 5)
	pngData := encodePNG(f, src)
	jpegData := encodeJPEG(f, src)
	var paletted bytes.Buffer
	png.Encode(&paletted, image.NewPaletted(image.Rect(0, 0, 8, 8), color.Palette{color.Black, color.White}))
	for _, seed := range [][]byte{
		pngData, jpegData, paletted.Bytes(),
		pngData[:len(pngData)/2], jpegData[:len(jpegData)/2],
		pngWithIHDR(20000, 20000, nil), pngWithIHDR(3, 3, nil),
		webpVP8X(100, 100), []byte("RIFF\x00\x00\x00\x00WEBPVP8L"),
		{}, []byte("hello"),
	} {
		f.Add(seed)
	}
	for _, name := range []string{"photo_lossy.webp", "photo_lossless.webp"} {
		if data, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(data)
		}
	}
	const budget = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		img, info, err := DecodeBytes(data, budget)
		if err != nil {
			if img != nil {
				t.Fatal("image returned with an error")
			}
			if Reason(err) == "read error" {
				t.Fatalf("unclassified error from in-memory data: %v", err)
			}
			return
		}
		if b := img.Bounds(); b.Dx() != info.Width || b.Dy() != info.Height || info.Pixels() > budget {
			t.Fatalf("bounds %v, info %+v", b, info)
		}
		if Sniff(data) != info.Format {
			t.Fatalf("format %q, sniffed %q", info.Format, Sniff(data))
		}
	})
}

func benchmarkDecodePNG(b *testing.B, size int) {
	data := encodePNG(b, photo(size, size, 7))
	b.SetBytes(int64(size * size * 3)) // decoded RGB bytes
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := DecodeBytes(data, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data))/float64(size*size), "file_bytes/px")
}

func BenchmarkDecodePNG1024(b *testing.B) { benchmarkDecodePNG(b, 1024) }
func BenchmarkDecodePNG2048(b *testing.B) { benchmarkDecodePNG(b, 2048) }

// BenchmarkOpenPNG2048 includes the file system (page cache) and the
// header check; compare with BenchmarkDecodePNG2048.
func BenchmarkOpenPNG2048(b *testing.B) {
	path := filepath.Join(b.TempDir(), "photo.png")
	if err := os.WriteFile(path, encodePNG(b, photo(2048, 2048, 7)), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Open(context.Background(), path, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJPEG2048(b *testing.B) {
	data := encodeJPEG(b, photo(2048, 2048, 7))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeBytes(data, 0); err != nil {
			b.Fatal(err)
		}
	}
}
