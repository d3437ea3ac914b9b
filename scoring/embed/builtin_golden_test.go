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

// goldenVectors are the sha256 of builtin-v2's vectors (float32 bits,
// little-endian) of goldenImages. Code that makes the descriptor faster
// must keep them; a change of values is a new descriptor version.
var goldenVectors = map[string]string{
	"generic":   "76a5799f55cf6458eabab5ac249b008a86c3688dfaceeb5894b9f237ddf4ef06",
	"gray":      "74063be796cdbba1a5a5bb4f508c583068bfde95ca5e031238f4e638935fc080",
	"nrgba":     "76a5799f55cf6458eabab5ac249b008a86c3688dfaceeb5894b9f237ddf4ef06",
	"paletted":  "f0537ac6213f9222c70825f10aff2c27febddd78b946a806a845c3798f61a78e",
	"rgba":      "76a5799f55cf6458eabab5ac249b008a86c3688dfaceeb5894b9f237ddf4ef06",
	"rgba-big":  "06a1f0b4c0a9b07a801a59130c2b5be5f39ab4fac37b190925ab1907942d5278",
	"rgba-odd":  "c3eb44e399f09cc9d1e99bd7de556bd55607c9681e71459218fa7ac76866dfee",
	"rgba-sub":  "e832864ec4ac1b0bd7d209e231d938efab1700ceaa4fb2ee48ae2e0b30ddaebc",
	"rgba-tiny": "cf59097c5c7c65f225bf71c31c27b574ca63ba04244e6a793387ae74a222b35c",
	"ycc420":    "bef9551aaa0d29e19735adc7e4d3e54100af6b04b605db97c1c8766eb01ed609",
	"ycc444":    "7f56f4c0e4a3e76f2468d37e8d918bf85ec90fc69ef694cb785e9ffc0d2b9075",
}

// TestBuiltinGolden checks that builtin-v2 computes the same numbers it
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
