package imagefile

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"screend/scoring/imagefile/imagefiletest"
)

// cjpegFiles are the JPEGs in testdata/ made with cjpeg (libjpeg-turbo
// 2.1.5) from photo(97, 61, 3) (odd sides, so every plane is padded):
// the cjpeg arguments, and whether the native path decodes the file (the
// others are left to Go's decoder).
var cjpegFiles = []struct {
	name   string
	args   []string
	native bool
}{
	{"cjpeg_444.jpg", []string{"-sample", "1x1"}, true},
	{"cjpeg_422.jpg", []string{"-sample", "2x1"}, true},
	{"cjpeg_440.jpg", []string{"-sample", "1x2"}, true},
	{"cjpeg_411.jpg", []string{"-sample", "4x1"}, true},
	// Luma 2x2, chroma 1x2: 4:2:2 written unusually.
	{"cjpeg_422_2x2_1x2.jpg", []string{"-sample", "2x2,1x2,1x2"}, true},
	{"cjpeg_420_progressive.jpg", []string{"-progressive"}, true},
	{"cjpeg_420_restart.jpg", []string{"-restart", "1"}, true},
	{"cjpeg_gray_progressive.jpg", []string{"-grayscale", "-progressive"}, true},
	{"cjpeg_410.jpg", []string{"-sample", "4x2"}, false},
	{"cjpeg_rgb.jpg", []string{"-rgb"}, false},
}

// TestGoldenJPEG regenerates the cjpeg files (see testdata/README.md).
func TestGoldenJPEG(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate")
	}
	cjpeg, err := exec.LookPath("cjpeg")
	if err != nil {
		t.Fatal("cjpeg not found: apt-get install libjpeg-turbo-progs")
	}
	dir := t.TempDir()
	src := photo(97, 61, 3)
	var ppm bytes.Buffer
	fmt.Fprintf(&ppm, "P6\n97 61\n255\n")
	for i := 0; i < len(src.Pix); i += 4 {
		ppm.Write(src.Pix[i : i+3])
	}
	srcPath := filepath.Join(dir, "photo.ppm")
	if err := os.WriteFile(srcPath, ppm.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range cjpegFiles {
		args := append([]string{"-quality", "90"}, f.args...)
		args = append(args, "-outfile", filepath.Join("testdata", f.name), srcPath)
		if out, err := exec.Command(cjpeg, args...).CombinedOutput(); err != nil {
			t.Fatalf("cjpeg %v: %v\n%s", args, err, out)
		}
	}
}

// testJPEGs are the cjpeg files and JPEGs from Go's encoder.
func testJPEGs(t testing.TB) map[string][]byte {
	gray := image.NewGray(image.Rect(0, 0, 33, 17))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 7)
	}
	files := map[string][]byte{
		"go_420.jpg":  encodeJPEG(t, photo(61, 47, 3)),
		"go_gray.jpg": encodeJPEG(t, gray),
	}
	for _, f := range cjpegFiles {
		data, err := os.ReadFile(filepath.Join("testdata", f.name))
		if err != nil {
			t.Fatal(err)
		}
		files[f.name] = data
	}
	return files
}

// sampleDiff compares two decodes of one JPEG, which must have the same
// type, bounds and subsampling, sample by sample: the largest and the mean
// absolute difference over every plane.
func sampleDiff(a, b image.Image) (maxDiff int, mean float64, err error) {
	if reflect.TypeOf(a) != reflect.TypeOf(b) || a.Bounds() != b.Bounds() {
		return 0, 0, fmt.Errorf("%T %v vs %T %v", a, a.Bounds(), b, b.Bounds())
	}
	var sum, n int
	add := func(x, y uint8) {
		d := int(x) - int(y)
		d = max(d, -d)
		maxDiff, sum, n = max(maxDiff, d), sum+d, n+1
	}
	r := a.Bounds()
	switch a := a.(type) {
	case *image.YCbCr:
		b := b.(*image.YCbCr)
		if a.SubsampleRatio != b.SubsampleRatio {
			return 0, 0, fmt.Errorf("subsampling %v vs %v", a.SubsampleRatio, b.SubsampleRatio)
		}
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				add(a.Y[a.YOffset(x, y)], b.Y[b.YOffset(x, y)])
				ca, cb := a.COffset(x, y), b.COffset(x, y)
				add(a.Cb[ca], b.Cb[cb])
				add(a.Cr[ca], b.Cr[cb])
			}
		}
	default:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				ca, cb := color.NRGBAModel.Convert(a.At(x, y)).(color.NRGBA), color.NRGBAModel.Convert(b.At(x, y)).(color.NRGBA)
				add(ca.R, cb.R)
				add(ca.G, cb.G)
				add(ca.B, cb.B)
				add(ca.A, cb.A)
			}
		}
	}
	return maxDiff, float64(sum) / float64(max(n, 1)), nil
}

// TestNativeJPEGMatchesGo decodes every test JPEG both ways: the native
// path must give image/jpeg's type, bounds and subsampling, with samples
// at most a level or two apart (the IDCTs differ), and leave the forms it
// does not handle to Go's decoder.
func TestNativeJPEGMatchesGo(t *testing.T) {
	t.Parallel()
	requireNative(t)
	native := map[string]bool{"go_420.jpg": true, "go_gray.jpg": true}
	for _, f := range cjpegFiles {
		native[f.name] = f.native
	}
	for name, data := range testJPEGs(t) {
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
		maxDiff, mean, err := sampleDiff(got, want)
		if err != nil || maxDiff > 2 || mean > 0.05 {
			t.Errorf("%s: native vs Go: largest difference %d, mean %.3f, %v", name, maxDiff, mean, err)
		}
		_, nerr := decodeJPEGNative(data, info)
		if nerr != nil && !errors.Is(nerr, errNotNative) {
			t.Errorf("%s: native path: %v", name, nerr)
		}
		if (nerr == nil) != native[name] {
			t.Errorf("%s: decoded natively: %v, want %v (%v)", name, nerr == nil, native[name], nerr)
		}
		if native[name] && maxDiff == 0 && name != "go_gray.jpg" {
			t.Logf("%s: native identical to Go", name)
		}
		Recycle(got)
	}
}

// TestNativeJPEGBrokenLikeGo cuts and corrupts JPEGs and checks that the
// native path reports each one as Go's decoder does: cut files as
// truncated (a watcher retries those), and that what libjpeg only warns
// about (junk before a marker) still decodes, through Go's decoder.
func TestNativeJPEGBrokenLikeGo(t *testing.T) {
	t.Parallel()
	requireNative(t)
	files := testJPEGs(t)
	for _, name := range []string{"go_420.jpg", "cjpeg_420_progressive.jpg", "cjpeg_420_restart.jpg", "cjpeg_gray_progressive.jpg"} {
		data := files[name]
		for cut := 3; cut < len(data)-2; cut += max(1, len(data)/61) {
			_, _, err := DecodeBytes(data[:cut], 0)
			_, _, goErr := DecodeBytesGo(data[:cut], 0)
			if Reason(err) != Reason(goErr) || Reason(err) != "truncated" {
				t.Errorf("%s cut at %d of %d: native %v, Go %v", name, cut, len(data), err, goErr)
			}
		}
		for i := 20; i < len(data); i += max(1, len(data)/29) {
			broken := flipByte(data, i)
			img, _, err := DecodeBytes(broken, 0)
			goImg, _, goErr := DecodeBytesGo(broken, 0)
			if (err == nil) != (img != nil) || Reason(err) == "read error" {
				t.Errorf("%s byte %d flipped: image %v with error %v", name, i, img != nil, err)
			}
			if err != nil && goErr != nil && Reason(err) != Reason(goErr) {
				t.Errorf("%s byte %d flipped: native %v, Go %v", name, i, err, goErr)
			}
			if err == nil && goErr == nil {
				if _, _, err := sampleDiff(img, goImg); err != nil {
					t.Errorf("%s byte %d flipped: %v", name, i, err)
				}
			}
		}
	}
	// A refinement scan repeated: libjpeg warns (an inconsistent
	// progression), image/jpeg decodes it.
	scans := imagefiletest.ManyScansJPEG(1)
	n := len(scans)
	bogus := append(append(bytes.Clone(scans[:n-2]), scans[n-13:n-2]...), 0xff, 0xd9)
	_, info, err := decodeSeeker(bytes.NewReader(bogus), 0, false)
	if _, err := decodeJPEGNative(bogus, info); !errors.Is(err, errNotNative) {
		t.Errorf("a scan repeated: native path %v, want errNotNative", err)
	}
	got, _, err := DecodeBytes(bogus, 0)
	want, _, goErr := DecodeBytesGo(bogus, 0)
	if err != nil || goErr != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("a scan repeated: %v, Go %v (same image: %v)", err, goErr, reflect.DeepEqual(got, want))
	}
}

// TestNativeJPEGLeavesToGo checks the forms readJPEGLayout sends to Go's
// decoder, and that DecodeBytes then gives Go's result.
func TestNativeJPEGLeavesToGo(t *testing.T) {
	t.Parallel()
	requireNative(t)
	// Go's encoder writes no JFIF segment and names the components 1, 2, 3.
	base := encodeJPEG(t, photo(40, 30, 4))
	jfif := []byte{0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	adobe := func(transform byte) []byte {
		return []byte{0xff, 0xee, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, transform}
	}
	// jpeg is base with segments after SOI, the components named ids, and
	// tail before EOI.
	jpeg := func(ids string, tail []byte, segments ...[]byte) []byte {
		b := bytes.Clone(base[:2])
		for _, s := range segments {
			b = append(b, s...)
		}
		b = append(b, base[2:len(base)-2]...)
		sof := bytes.Index(b, []byte{0xff, 0xc0})
		b[sof+10], b[sof+13], b[sof+16] = ids[0], ids[1], ids[2]
		sos := bytes.Index(b, []byte{0xff, 0xda}) // the only scan
		b[sos+5], b[sos+7], b[sos+9] = ids[0], ids[1], ids[2]
		return append(append(b, tail...), 0xff, 0xd9)
	}
	tests := []struct {
		name   string
		data   []byte
		native bool
	}{
		{"plain", base, true},
		{"JFIF", jpeg("\x01\x02\x03", nil, jfif), true},
		{"Adobe transform 1", jpeg("\x01\x02\x03", nil, adobe(1)), true},
		{"Adobe transform 0 with JFIF", jpeg("\x01\x02\x03", nil, jfif, adobe(0)), true},
		{"components R, G, B with JFIF", jpeg("RGB", nil, jfif), true},
		{"JFIF, then an APP0 that is not", jpeg("RGB", nil, jfif, []byte{0xff, 0xe0, 0, 7, 'J', 'F', 'X', 'X', 0}), false},
		{"Adobe transform 0 (RGB)", jpeg("\x01\x02\x03", nil, adobe(0)), false},
		{"components R, G, B (RGB)", jpeg("RGB", nil), false},
		{"APP14 after the first scan", jpeg("\x01\x02\x03", adobe(1)), false},
	}
	for _, tt := range tests {
		want, wantInfo, goErr := DecodeBytesGo(tt.data, 0)
		got, info, err := DecodeBytes(tt.data, 0)
		if err != nil || goErr != nil || info != wantInfo {
			t.Errorf("%s: %v, Go %v", tt.name, err, goErr)
			continue
		}
		if _, _, err := sampleDiff(got, want); err != nil {
			t.Errorf("%s: native vs Go: %v", tt.name, err)
		}
		if _, err := decodeJPEGNative(tt.data, info); (err == nil) != tt.native {
			t.Errorf("%s: decoded natively: %v, want %v", tt.name, err == nil, tt.native)
		}
	}
	// Four components (CMYK, YCCK) are refused from the SOF.
	cmyk := append([]byte{0xff, 0xd8, 0xff, 0xc0, 0, 20, 8, 0, 8, 0, 8, 4, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 4, 0x11, 0}, 0xff, 0xda)
	if _, err := readJPEGLayout(cmyk); !errors.Is(err, errNotNative) {
		t.Errorf("CMYK: %v, want errNotNative", err)
	}
}

// TestNativeJPEGBomb checks that a progressive JPEG whose header promises
// far more than its bytes, within the pixel limit, is refused without a
// crash, as Go's decoder refuses it.
func TestNativeJPEGBomb(t *testing.T) {
	t.Parallel()
	requireNative(t)
	bomb := imagefiletest.ProgressiveJPEGBomb(3000, 2000)
	_, _, err := DecodeBytes(bomb, 0)
	_, _, goErr := DecodeBytesGo(bomb, 0)
	if err == nil || Reason(err) != Reason(goErr) {
		t.Errorf("bomb: native %v, Go %v", err, goErr)
	}
	if _, _, err := DecodeBytes(bomb, 1_000_000); !errors.Is(err, ErrTooLarge) {
		t.Errorf("bomb over the pixel limit: %v, want too large", err)
	}
}

// TestNativeJPEGScanLimit checks that the native path refuses progressive
// JPEGs of more than 500 scans (TJFLAG_LIMITSCANS) and decodes those of
// fewer; both go through DecodeBytes to Go's result.
func TestNativeJPEGScanLimit(t *testing.T) {
	t.Parallel()
	requireNative(t)
	for _, tt := range []struct {
		al     int
		native bool
	}{{5, true}, {9, false}} {
		data := imagefiletest.ManyScansJPEG(tt.al)
		want, wantInfo, goErr := DecodeBytesGo(data, 0)
		got, info, err := DecodeBytes(data, 0)
		if err != nil || goErr != nil || info != wantInfo {
			t.Fatalf("%d scans: %v, Go %v", 1+63*(1+tt.al), err, goErr)
		}
		if d, _, err := sampleDiff(got, want); err != nil || d > 2 {
			t.Errorf("%d scans: native vs Go: largest difference %d, %v", 1+63*(1+tt.al), d, err)
		}
		if _, err := decodeJPEGNative(data, info); (err == nil) != tt.native {
			t.Errorf("%d scans: decoded natively: %v, want %v", 1+63*(1+tt.al), err, tt.native)
		}
	}
}

// TestTurboJPEGMissing checks what a machine without the library gets: an
// error naming it, for the status line.
func TestTurboJPEGMissing(t *testing.T) {
	t.Parallel()
	err := loadTurboJPEG("libturbojpeg.so.999")
	if err == nil || !strings.Contains(err.Error(), "cannot open libturbojpeg.so.999") {
		t.Errorf("loading a missing library: %v", err)
	}
}

// FuzzDecodeNativeJPEG runs hostile input through the native JPEG path
// and Go's: neither may crash, every error is classified, and when both
// decode they give the same type, bounds and subsampling (not the same
// samples: on broken data the IDCTs' overflow handling differs). `go
// test` runs the seeds; fuzz by hand with
// go test -run XXX -fuzz FuzzDecodeNativeJPEG -fuzztime 10m ./scoring/imagefile/
func FuzzDecodeNativeJPEG(f *testing.F) {
	requireNative(f)
	for _, data := range testJPEGs(f) {
		f.Add(data)
		f.Add(data[:len(data)*2/3])
	}
	f.Add(imagefiletest.ProgressiveJPEGBomb(1000, 1000))
	f.Add(imagefiletest.ManyScansJPEG(9))
	f.Fuzz(func(t *testing.T, data []byte) {
		goImg, goInfo, goErr := DecodeBytesGo(data, fuzzBudget)
		img, info, ok := decodeNativeFuzz(t, data)
		if !ok {
			return
		}
		if goErr != nil {
			return // libjpeg decodes some files image/jpeg refuses
		}
		if info != goInfo || reflect.TypeOf(img) != reflect.TypeOf(goImg) || img.Bounds() != goImg.Bounds() {
			t.Fatalf("native and Go disagree: %T %+v vs %T %+v", img, info, goImg, goInfo)
		}
		if m, ok := img.(*image.YCbCr); ok && m.SubsampleRatio != goImg.(*image.YCbCr).SubsampleRatio {
			t.Fatalf("subsampling %v, Go %v", m.SubsampleRatio, goImg.(*image.YCbCr).SubsampleRatio)
		}
	})
}

// BenchmarkJPEG2048Native and BenchmarkJPEG2048Go compare the decoders on
// the same 2048x2048 photograph-like JPEG (4:2:0, quality 90).
func BenchmarkJPEG2048Native(b *testing.B) { requireNative(b); benchmarkJPEGDecoders(b, DecodeBytes) }
func BenchmarkJPEG2048Go(b *testing.B)     { benchmarkJPEGDecoders(b, DecodeBytesGo) }

func benchmarkJPEGDecoders(b *testing.B, decode func([]byte, int64) (image.Image, Info, error)) {
	data := encodeJPEG(b, photo(2048, 2048, 7))
	b.SetBytes(2048 * 2048 * 3)
	b.ReportAllocs()
	for b.Loop() {
		img, _, err := decode(data, 0)
		if err != nil {
			b.Fatal(err)
		}
		Recycle(img)
	}
}
