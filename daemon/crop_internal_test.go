package daemon

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"screend/scoring/imagefile"
)

// noise returns an image of model m with random samples, so that every
// sample of a crop is checked.
func noise(m color.Model, w, h int, seed uint64) image.Image {
	rng := rand.New(rand.NewPCG(seed, 7))
	r := image.Rect(0, 0, w, h)
	var img interface {
		image.Image
		Set(x, y int, c color.Color)
	}
	switch m {
	case color.GrayModel:
		img = image.NewGray(r)
	case color.RGBAModel:
		img = image.NewRGBA(r)
	case color.NRGBA64Model:
		img = image.NewNRGBA64(r)
	default:
		img = image.NewNRGBA(r)
	}
	for y := range h {
		for x := range w {
			v := rng.Uint64()
			img.Set(x, y, color.NRGBA64{uint16(v), uint16(v >> 16), uint16(v >> 32), uint16(v>>48) | 0x8000})
		}
	}
	return img
}

// TestCropWritesTheSourcePixels crops real files as the mover does (the
// native decoders first) and decodes the written crops with Go's
// decoders: a PNG crop holds exactly the source's pixels in the box
// (native PNG decoding is lossless like Go's); a JPEG crop is the box
// re-encoded at quality 95, as close to the source as the same crop made
// from Go's decode.
func TestCropWritesTheSourcePixels(t *testing.T) {
	t.Parallel()
	if ok, status := imagefile.NativeStatus(); !ok {
		t.Fatalf("native decoder unavailable: %s", status)
	}
	ctx := context.Background()
	dir := t.TempDir()
	crop := cropImage(0, imagefile.NewBudget(64<<20))
	box := []float32{0.125, 0.25, 0.75, 0.875}

	for _, tt := range []struct {
		name  string
		model color.Model
	}{
		{"rgb", color.RGBAModel}, // opaque: an 8-bit RGB PNG, decoded natively
		{"rgba", color.NRGBAModel},
		{"gray", color.GrayModel},
		{"rgba16", color.NRGBA64Model}, // Go's decoder: not a native form
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := noise(tt.model, 157, 93, 1)
			if tt.model == color.RGBAModel {
				rgba := src.(*image.RGBA)
				for i := 3; i < len(rgba.Pix); i += 4 {
					rgba.Pix[i] = 0xff
				}
			}
			var buf bytes.Buffer
			if err := png.Encode(&buf, src); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tt.name+".png")
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := crop(ctx, path, box)
			if err != nil {
				t.Fatal(err)
			}
			got, err := png.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			want := image.Rect(20, 23, 118, 81) // the box of 157x93, rounded as screend.Box.Rect does
			if got.Bounds().Size() != want.Size() {
				t.Fatalf("crop %v, want %v", got.Bounds(), want)
			}
			for y := range want.Dy() {
				for x := range want.Dx() {
					g := color.NRGBA64Model.Convert(got.At(got.Bounds().Min.X+x, got.Bounds().Min.Y+y))
					w := color.NRGBA64Model.Convert(src.At(want.Min.X+x, want.Min.Y+y))
					if g != w {
						t.Fatalf("pixel (%d,%d) of the crop is %v, the source's %v", x, y, g, w)
					}
				}
			}
		})
	}

	t.Run("jpeg", func(t *testing.T) {
		t.Parallel()
		src := noise(color.RGBAModel, 320, 240, 2)
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "photo.jpg")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := crop(ctx, path, box)
		if err != nil {
			t.Fatal(err)
		}
		got, err := jpeg.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("the crop is no JPEG: %v", err)
		}
		// The same crop from Go's decode of the source.
		goSrc, _, err := imagefile.DecodeBytesGo(buf.Bytes(), 0)
		if err != nil {
			t.Fatal(err)
		}
		r := image.Rect(40, 60, 240, 210)
		var ref bytes.Buffer
		if err := jpeg.Encode(&ref, goSrc.(*image.YCbCr).SubImage(r), &jpeg.Options{Quality: 95}); err != nil {
			t.Fatal(err)
		}
		refImg, err := jpeg.Decode(&ref)
		if err != nil {
			t.Fatal(err)
		}
		if got.Bounds().Size() != r.Size() {
			t.Fatalf("crop %v, want %v", got.Bounds(), r)
		}
		nativeSrc, _, err := imagefile.DecodeBytes(buf.Bytes(), 0)
		if err != nil {
			t.Fatal(err)
		}
		// Re-encoding noise amplifies any change of the input: a crop of
		// the native decode differs from one of Go's decode by about a
		// level on average, though the decodes differ by 0.05. What
		// matters is that it is as faithful to the source.
		fromNative, fromGo := meanDiff(got, goSrc, r.Min), meanDiff(refImg, goSrc, r.Min)
		t.Logf("source decoded natively vs by Go: mean %.3f levels; crop from the native decode vs from Go's: %.3f; each crop vs the source: %.3f (native), %.3f (Go)",
			meanDiff(nativeSrc, goSrc, image.Point{}), meanDiff(got, refImg, image.Point{}), fromNative, fromGo)
		if fromNative > fromGo*1.05 {
			t.Errorf("the crop from the native decode is %.3f levels from the source on average, the crop from Go's %.3f", fromNative, fromGo)
		}
	})
}

// meanDiff is the mean absolute difference of the R, G and B samples of a
// and of b offset by off.
func meanDiff(a, b image.Image, off image.Point) float64 {
	var sum, n float64
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ar, ag, ab, _ := a.At(x, y).RGBA()
			br, bg, bb, _ := b.At(x-r.Min.X+off.X, y-r.Min.Y+off.Y).RGBA()
			for _, d := range []int{int(ar>>8) - int(br>>8), int(ag>>8) - int(bg>>8), int(ab>>8) - int(bb>>8)} {
				sum += float64(max(d, -d))
				n++
			}
		}
	}
	return sum / n
}
