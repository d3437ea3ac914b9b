package imagefile

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"image"
	"image/color"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// requireNative fails the test when libdeflate or libturbojpeg cannot be
// opened: set-up installs them, so their absence is a broken machine, not
// a reason to skip.
func requireNative(t testing.TB) {
	t.Helper()
	if ok, status := NativeStatus(); !ok {
		t.Fatalf("native decoder unavailable: %s", status)
	}
}

// rawPNG builds an 8-bit PNG of colour type ct with random pixels and a
// random filter type per row (any filter byte is valid data, so every
// unfilter path runs), and a tRNS chunk if trns is not nil.
func rawPNG(w, h int, ct uint8, trns []byte, seed uint64) []byte {
	channels := map[uint8]int{pngColorGray: 1, pngColorRGB: 3, pngColorGrayA: 2, pngColorRGBA: 4}[ct]
	rng := rand.New(rand.NewPCG(seed, 1))
	var raw bytes.Buffer
	for range h {
		raw.WriteByte(byte(rng.IntN(5)))
		for range w * channels {
			raw.WriteByte(byte(rng.IntN(256)))
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	var b bytes.Buffer
	b.Write(magicPNG)
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, ct
	writeChunk(&b, "IHDR", ihdr)
	writeChunk(&b, "tEXt", []byte("Comment\x00made by a test"))
	if trns != nil {
		writeChunk(&b, "tRNS", trns)
	}
	// Two IDAT chunks: decoders must join them.
	d := z.Bytes()
	writeChunk(&b, "IDAT", d[:len(d)/2])
	writeChunk(&b, "IDAT", d[len(d)/2:])
	writeChunk(&b, "IEND", nil)
	return b.Bytes()
}

// nativePNGs are PNGs of every form the native path decodes, and of forms
// it leaves to Go.
func nativePNGs(t testing.TB) map[string][]byte {
	gray := image.NewGray(image.Rect(0, 0, 33, 17))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 7)
	}
	return map[string][]byte{
		"photo RGB (Go encoder)": encodePNG(t, photo(61, 47, 3)),
		"gray (Go encoder)":      encodePNG(t, gray),
		"gray":                   rawPNG(31, 9, pngColorGray, nil, 1),
		"RGB":                    rawPNG(17, 23, pngColorRGB, nil, 3),
		// left to Go's decoder
		"gray tRNS":             rawPNG(31, 9, pngColorGray, []byte{0, 7}, 2),
		"RGB tRNS":              rawPNG(17, 23, pngColorRGB, []byte{0, 1, 0, 2, 0, 3}, 4),
		"gray+alpha":            rawPNG(40, 3, pngColorGrayA, nil, 5),
		"RGBA":                  rawPNG(1, 50, pngColorRGBA, nil, 6),
		"wide RGBA":             rawPNG(300, 2, pngColorRGBA, nil, 7),
		"one column RGB":        rawPNG(1, 20, pngColorRGB, nil, 8),
		"one column gray+alpha": rawPNG(1, 20, pngColorGrayA, nil, 9),
		"one row RGB":           rawPNG(77, 1, pngColorRGB, nil, 10),
		"paletted":              encodePNG(t, image.NewPaletted(image.Rect(0, 0, 5, 5), []color.Color{color.Black, color.White})),
		"16-bit":                encodePNG(t, image.NewRGBA64(image.Rect(0, 0, 6, 4))),
	}
}

func TestNativeMatchesGo(t *testing.T) {
	t.Parallel()
	requireNative(t)
	for name, data := range nativePNGs(t) {
		want, wantInfo, err := DecodeBytesGo(data, 0)
		if err != nil {
			t.Fatalf("%s: Go: %v", name, err)
		}
		got, info, err := DecodeBytes(data, 0)
		if err != nil {
			t.Errorf("%s: native: %v", name, err)
			continue
		}
		if info != wantInfo {
			t.Errorf("%s: info %+v, Go %+v", name, info, wantInfo)
		}
		if reflect.TypeOf(got) != reflect.TypeOf(want) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: native gives %T, Go %T; equal pixels: %v", name, got, want, reflect.DeepEqual(got, want))
		}
	}
}

// TestNativeBrokenLikeGo cuts and corrupts PNGs and checks that the native
// path reports each one as Go's decoder does: cut files as truncated (a
// watcher retries those), broken ones as corrupt.
func TestNativeBrokenLikeGo(t *testing.T) {
	t.Parallel()
	requireNative(t)
	data := rawPNG(64, 48, pngColorRGB, nil, 9)
	for cut := 33; cut < len(data); cut += max(1, len(data)/97) {
		_, _, err := DecodeBytes(data[:cut], 0)
		_, _, goErr := DecodeBytesGo(data[:cut], 0)
		if Reason(err) != "truncated" || Reason(goErr) != "truncated" {
			t.Errorf("cut at %d of %d: native %v, Go %v", cut, len(data), err, goErr)
		}
	}
	// A flipped byte in the image data breaks its CRC; in the compressed
	// stream behind a fixed CRC, zlib's checks or the Adler-32.
	for _, i := range []int{40, 60, len(data) / 2, len(data) - 20} {
		broken := flipByte(data, i)
		_, _, err := DecodeBytes(broken, 0)
		_, _, goErr := DecodeBytesGo(broken, 0)
		if Reason(err) != "corrupt" || Reason(goErr) != "corrupt" {
			t.Errorf("byte %d flipped: native %v, Go %v", i, err, goErr)
		}
	}
}

// FuzzDecodeNative runs hostile input through the native PNG path and
// Go's: neither may crash, every error is classified, and when both decode
// they give the same image. `go test` runs the seeds; fuzz by hand with
// go test -run XXX -fuzz FuzzDecodeNative -fuzztime 10m ./scoring/imagefile/
func FuzzDecodeNative(f *testing.F) {
	requireNative(f)
	for _, data := range nativePNGs(f) {
		f.Add(data)
		f.Add(data[:len(data)*2/3])
	}
	f.Add(pngWithIHDR(20000, 20000, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		goImg, goInfo, goErr := DecodeBytesGo(data, fuzzBudget)
		img, info, ok := decodeNativeFuzz(t, data)
		if !ok {
			return
		}
		if goErr == nil && (info != goInfo || !reflect.DeepEqual(img, goImg)) {
			t.Fatalf("native and Go disagree: %T %+v vs %T %+v", img, info, goImg, goInfo)
		}
	})
}

// fuzzBudget is the pixel limit the fuzz targets decode with.
const fuzzBudget = 1 << 20

// decodeNativeFuzz decodes fuzz input with DecodeBytes and fails t when
// the native path breaks its promises: an image beside an error, an
// unclassified error, or an image unlike its Info or over the budget. ok
// is false when the input was refused.
func decodeNativeFuzz(t *testing.T, data []byte) (img image.Image, info Info, ok bool) {
	t.Helper()
	img, info, err := DecodeBytes(data, fuzzBudget)
	if err != nil {
		if img != nil || Reason(err) == "read error" {
			t.Fatalf("native: image %v with unclassified error %v", img != nil, err)
		}
		return nil, info, false
	}
	if b := img.Bounds(); b.Dx() != info.Width || b.Dy() != info.Height || info.Pixels() > fuzzBudget {
		t.Fatalf("bounds %v, info %+v", b, info)
	}
	return img, info, true
}

func benchmarkPNGDecoders(b *testing.B, decode func([]byte, int64) (image.Image, Info, error)) {
	data := encodePNG(b, photo(2048, 2048, 7))
	b.SetBytes(2048 * 2048 * 3)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := decode(data, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPNG2048Native and BenchmarkPNG2048Go compare the decoders on the
// same 2048x2048 photograph-like PNG.
func BenchmarkPNG2048Native(b *testing.B) { requireNative(b); benchmarkPNGDecoders(b, DecodeBytes) }
func BenchmarkPNG2048Go(b *testing.B)     { benchmarkPNGDecoders(b, DecodeBytesGo) }

// WarnUnlessNative warns, with the reason, only when a native decoder is
// off: run in a child process, since the decoders are opened once.
func TestWarnUnlessNative(t *testing.T) {
	if os.Getenv("SCREEND_TEST_WARN_CHILD") != "" {
		WarnUnlessNative(slog.New(slog.NewTextHandler(os.Stdout, nil)))
		return
	}
	child := func(env ...string) string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWarnUnlessNative$")
		cmd.Env = append(append(os.Environ(), "SCREEND_TEST_WARN_CHILD=1"), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return string(out)
	}
	out := child("SCREEND_DECODER=go")
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "SCREEND_DECODER=go") {
		t.Errorf("with SCREEND_DECODER=go, no warning that says why:\n%s", out)
	}
	if ok, status := NativeStatus(); ok {
		if out := child("SCREEND_DECODER="); strings.Contains(out, "level=WARN") {
			t.Errorf("warned with every native decoder open (%s):\n%s", status, out)
		}
	}
}
