package embed

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"image"
	"image/color"
	"image/draw"
	"math"
	"runtime"
	"testing"
)

// goldenImages are images of every pixel layout the descriptor reads
// (each with its own fast path), at sizes that exercise the rounding of
// cells, tiles and thumbnail samples.
func goldenImages() map[string]image.Image {
	rgba := scene(832, 1216, 1)
	big := scene(2304, 1536, 2)
	nrgba := image.NewNRGBA(rgba.Rect)
	draw.Draw(nrgba, nrgba.Rect, rgba, image.Point{}, draw.Src)
	gray := image.NewGray(rgba.Rect)
	draw.Draw(gray, gray.Rect, rgba, image.Point{}, draw.Src)
	ycc := func(ratio image.YCbCrSubsampleRatio) *image.YCbCr {
		m := image.NewYCbCr(rgba.Rect, ratio)
		for y := range rgba.Rect.Dy() {
			for x := range rgba.Rect.Dx() {
				c := rgba.RGBAAt(x, y)
				yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
				m.Y[m.YOffset(x, y)] = yy
				m.Cb[m.COffset(x, y)], m.Cr[m.COffset(x, y)] = cb, cr
			}
		}
		return m
	}
	pal := image.NewPaletted(rgba.Rect, func() color.Palette {
		p := make(color.Palette, 0, 216)
		for r := range 6 {
			for g := range 6 {
				for b := range 6 {
					p = append(p, color.RGBA{uint8(51 * r), uint8(51 * g), uint8(51 * b), 255})
				}
			}
		}
		return p
	}())
	draw.Draw(pal, pal.Rect, rgba, image.Point{}, draw.Src)
	generic := image.NewRGBA64(rgba.Rect)
	draw.Draw(generic, generic.Rect, rgba, image.Point{}, draw.Src)
	return map[string]image.Image{
		"rgba":      rgba,
		"rgba-big":  big,
		"rgba-sub":  big.SubImage(image.Rect(301, 97, 1999, 1402)),
		"rgba-odd":  scene(17, 9, 4),
		"rgba-tiny": scene(3, 2, 5),
		"nrgba":     nrgba,
		"gray":      gray,
		"ycc420":    ycc(image.YCbCrSubsampleRatio420),
		"ycc444":    ycc(image.YCbCrSubsampleRatio444),
		"paletted":  pal,
		"generic":   generic,
	}
}

// goldenVectors are the sha256 of builtin-v1's vectors (float32 bits,
// little-endian) of goldenImages. Code that makes the descriptor faster
// must keep them; a change of values is a new descriptor version.
var goldenVectors = map[string]string{
	"generic":   "c365e8d0c5664b0b7874d9aa8bff01d577f2e5565fa2cd89551a13f4416ccad5",
	"gray":      "6566922ff9dea321ce5321c2943e08b40986615efcf67e4019d3a36a10e3c150",
	"nrgba":     "c365e8d0c5664b0b7874d9aa8bff01d577f2e5565fa2cd89551a13f4416ccad5",
	"paletted":  "9ba6b7507b792bdbaf36434cc077d7107681da34316a8e6c210680eaf7b3cd1d",
	"rgba":      "c365e8d0c5664b0b7874d9aa8bff01d577f2e5565fa2cd89551a13f4416ccad5",
	"rgba-big":  "2d50a7c4ec813eff411e923f5200b8865ba40236f13e1b6904a512454e0e4d95",
	"rgba-odd":  "c3eb44e399f09cc9d1e99bd7de556bd55607c9681e71459218fa7ac76866dfee",
	"rgba-sub":  "cb4ab99287766f2b6bb578e69ad2a772a4a08a87824a4b4b0faa5d06d9ec2059",
	"rgba-tiny": "cf59097c5c7c65f225bf71c31c27b574ca63ba04244e6a793387ae74a222b35c",
	"ycc420":    "07e95b619b9d88a2ddced3d2a6d16d8dc4469b2b1db6de8ae4bd72e7f8897dac",
	"ycc444":    "cc35c3d6198858f1296da1ca1c7e8b45f72a94679aeaeb45b1ea418e82377768",
}

// TestBuiltinGolden checks that builtin-v1 computes the same numbers it
// always did, bit for bit. The constants hold for amd64: other
// architectures may fuse multiply-adds and round differently.
func TestBuiltinGolden(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("golden vectors are for amd64, not %s", runtime.GOARCH)
	}
	t.Parallel()
	for name, img := range goldenImages() {
		v := preprocess(t, img)
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		sum := sha256.Sum256(b)
		got := hex.EncodeToString(sum[:])
		if want := goldenVectors[name]; got != want {
			t.Errorf("%s: vector sha256 %s, want %s", name, got, want)
		}
	}
}
