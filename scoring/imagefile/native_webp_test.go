package imagefile

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestNativeWebPMatchesGo decodes the lossy and lossless test WebPs both
// ways: the lossy one natively, to exactly x/image/webp's samples (VP8
// decoding is specified to the bit), the lossless one by Go's decoder.
func TestNativeWebPMatchesGo(t *testing.T) {
	t.Parallel()
	requireNative(t)
	for name, native := range map[string]bool{"photo_lossy.webp": true, "photo_lossless.webp": false} {
		data := readTestdata(t, name)
		want, wantInfo, err := DecodeBytesGo(data, 0)
		if err != nil {
			t.Fatalf("%s: Go: %v", name, err)
		}
		got, info, err := DecodeBytes(data, 0)
		if err != nil || info != wantInfo {
			t.Fatalf("%s: native: %v, info %+v, Go %+v", name, err, info, wantInfo)
		}
		if d, _, err := sampleDiff(got, want); err != nil || d != 0 {
			t.Errorf("%s: native vs Go: largest difference %d, %v", name, d, err)
		}
		if _, err := decodeWebPNative(data, info); (err == nil) != native || (err != nil && !errors.Is(err, errNotNative)) {
			t.Errorf("%s: decoded natively: %v, want %v", name, err, native)
		}
		Recycle(got)
	}
}

// TestNativeWebPBrokenLikeGo cuts and corrupts the lossy WebP: the native
// path must report what Go's decoder reports.
func TestNativeWebPBrokenLikeGo(t *testing.T) {
	t.Parallel()
	requireNative(t)
	data := readTestdata(t, "photo_lossy.webp")
	for cut := 1; cut < len(data); cut += 7 {
		_, _, err := DecodeBytes(data[:cut], 0)
		_, _, goErr := DecodeBytesGo(data[:cut], 0)
		if Reason(err) != Reason(goErr) || err == nil {
			t.Errorf("cut at %d of %d: native %v, Go %v", cut, len(data), err, goErr)
		}
	}
	for i := 12; i < len(data); i += 13 {
		broken := flipByte(data, i)
		img, _, err := DecodeBytes(broken, 0)
		goImg, _, goErr := DecodeBytesGo(broken, 0)
		if (err == nil) != (img != nil) || Reason(err) == "read error" {
			t.Errorf("byte %d flipped: image %v with error %v", i, img != nil, err)
		}
		if err != nil && goErr != nil && Reason(err) != Reason(goErr) {
			t.Errorf("byte %d flipped: native %v, Go %v", i, err, goErr)
		}
		if err == nil && goErr == nil {
			if _, _, err := sampleDiff(img, goImg); err != nil {
				t.Errorf("byte %d flipped: %v", i, err)
			}
		}
	}
}

// TestWebPMissing checks what a machine without libwebp gets: an error
// naming it, for the status line.
func TestWebPMissing(t *testing.T) {
	t.Parallel()
	err := loadWebP("libwebp.so.999")
	if err == nil || !strings.Contains(err.Error(), "cannot open libwebp.so.999") {
		t.Errorf("loading a missing library: %v", err)
	}
}

// FuzzDecodeNativeWebP runs hostile input through the native WebP path and
// Go's: neither may crash, every error is classified, and when both decode
// they give the same type and bounds. `go test` runs the seeds; fuzz by
// hand with
// go test -run XXX -fuzz FuzzDecodeNativeWebP -fuzztime 10m ./scoring/imagefile/
func FuzzDecodeNativeWebP(f *testing.F) {
	requireNative(f)
	for _, name := range []string{"photo_lossy.webp", "photo_lossless.webp"} {
		data := readTestdata(f, name)
		f.Add(data)
		f.Add(data[:len(data)*2/3])
	}
	f.Add(webpVP8X(100, 100))
	f.Fuzz(func(t *testing.T, data []byte) {
		goImg, goInfo, goErr := DecodeBytesGo(data, fuzzBudget)
		img, info, ok := decodeNativeFuzz(t, data)
		if !ok {
			return
		}
		if goErr != nil {
			return // libwebp decodes some files x/image/webp refuses
		}
		if info != goInfo || reflect.TypeOf(img) != reflect.TypeOf(goImg) || img.Bounds() != goImg.Bounds() {
			t.Fatalf("native and Go disagree: %T %+v vs %T %+v", img, info, goImg, goInfo)
		}
	})
}
