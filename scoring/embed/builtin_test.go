package embed

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// scene returns a deterministic photo-like test image: a smooth background
// and, in the upper middle, a textured "subject" with fine detail, plus a
// little sensor-like noise.
func scene(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, 42))
	fw, fh := float64(w), float64(h)
	for y := range h {
		fy := float64(y) / fh
		for x := range w {
			fx := float64(x) / fw
			r := 60 + 80*fx + 20*math.Sin(fy*5)
			g := 80 + 60*fy
			b := 150 - 70*fy + 15*math.Cos(fx*4)
			// subject: an ellipse centred at (0.5, 0.35) with fine texture
			dx, dy := (fx-0.5)/0.22, (fy-0.35)/0.28
			if d := dx*dx + dy*dy; d < 1 {
				// detail at a fixed scale of the scene (not of the pixel grid)
				tex := 40 * math.Sin(fx*1400) * math.Sin(fy*1100+fx*40)
				r, g, b = 200+tex, 150+0.8*tex, 120+0.5*tex
			}
			n := rng.NormFloat64() * 1.5
			i := img.PixOffset(x, y)
			img.Pix[i] = clamp8(r + n)
			img.Pix[i+1] = clamp8(g + n)
			img.Pix[i+2] = clamp8(b + n)
			img.Pix[i+3] = 255
		}
	}
	return img
}

func clamp8(v float64) uint8 { return uint8(math.Round(math.Max(0, math.Min(255, v)))) }

// mapRGB returns a copy of img with fn applied to every channel value.
func mapRGB(img *image.RGBA, fn func(x, y, c int, v float64) float64) *image.RGBA {
	out := image.NewRGBA(img.Rect)
	for y := range img.Rect.Dy() {
		for x := range img.Rect.Dx() {
			i := img.PixOffset(x, y)
			for c := range 3 {
				out.Pix[i+c] = clamp8(fn(x, y, c, float64(img.Pix[i+c])))
			}
			out.Pix[i+3] = 255
		}
	}
	return out
}

// boxBlur returns img blurred with a (2r+1)^2 box.
func boxBlur(img *image.RGBA, r int) *image.RGBA {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	return mapRGB(img, func(x, y, c int, _ float64) float64 {
		var s, n float64
		for j := max(0, y-r); j <= min(h-1, y+r); j++ {
			for i := max(0, x-r); i <= min(w-1, x+r); i++ {
				s += float64(img.Pix[img.PixOffset(i, j)+c])
				n++
			}
		}
		return s / n
	})
}

// upscale2x returns img enlarged 2x, bilinear (half-pixel centres) or
// nearest, as the pipeline's stage 2 would before its model adds detail.
func upscale2x(img *image.RGBA, bilinear bool) *image.RGBA {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	out := image.NewRGBA(image.Rect(0, 0, 2*w, 2*h))
	at := func(x, y, c int) float64 {
		x, y = min(max(x, 0), w-1), min(max(y, 0), h-1)
		return float64(img.Pix[img.PixOffset(x, y)+c])
	}
	for y := range 2 * h {
		for x := range 2 * w {
			i := out.PixOffset(x, y)
			for c := range 3 {
				if !bilinear {
					out.Pix[i+c] = uint8(at(x/2, y/2, c))
					continue
				}
				sx, sy := (float64(x)+0.5)/2-0.5, (float64(y)+0.5)/2-0.5
				x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
				ax, ay := sx-float64(x0), sy-float64(y0)
				v := (1-ax)*(1-ay)*at(x0, y0, c) + ax*(1-ay)*at(x0+1, y0, c) +
					(1-ax)*ay*at(x0, y0+1, c) + ax*ay*at(x0+1, y0+1, c)
				out.Pix[i+c] = clamp8(v)
			}
			out.Pix[i+3] = 255
		}
	}
	return out
}

func preprocess(t testing.TB, img image.Image) []float32 {
	t.Helper()
	v, err := NewBuiltin().Preprocess(img)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func TestBuiltinVector(t *testing.T) {
	t.Parallel()
	e := NewBuiltin()
	var _ Embedder = e
	if !strings.HasPrefix(e.ID(), "builtin-v") {
		t.Errorf("ID %q has no version", e.ID())
	}
	img := scene(832, 1216, 1)
	v := preprocess(t, img)
	if len(v) != e.Dim() {
		t.Fatalf("len %d, Dim %d", len(v), e.Dim())
	}
	var ss float64
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			t.Fatalf("v[%d] = %v", i, x)
		}
		ss += float64(x) * float64(x)
	}
	if math.Abs(ss-1) > 1e-5 {
		t.Errorf("squared norm %v, want 1", ss)
	}
	// The norm is 1 before the final normalisation too, so the blocks keep
	// their documented shares.
	share := func(lo, hi int) (s float64) {
		for _, x := range v[lo:hi] {
			s += float64(x) * float64(x)
		}
		return s
	}
	if s := share(offColourGrid, offEdgeGrid); math.Abs(s-shareColourGrid) > 1e-4 {
		t.Errorf("colour grid share %v, want %v", s, shareColourGrid)
	}
	if s := share(offEdgeGrid, offScalars); math.Abs(s-shareEdgeGrid) > 1e-4 {
		t.Errorf("edge grid share %v, want %v", s, shareEdgeGrid)
	}
	if v2 := preprocess(t, img); fmt.Sprint(v2) != fmt.Sprint(v) {
		t.Error("Preprocess is not deterministic")
	}
	out, err := e.Embed(context.Background(), [][]float32{v})
	if err != nil || len(out) != 1 || &out[0][0] != &v[0] {
		t.Errorf("Embed did not return its input: %v", err)
	}
	if _, err := e.Embed(context.Background(), [][]float32{v[:10]}); err == nil {
		t.Error("Embed accepted a short vector")
	}
	if _, err := e.Preprocess(image.NewRGBA(image.Rect(0, 0, 0, 5))); err == nil {
		t.Error("Preprocess accepted an empty image")
	}
}

func TestBuiltinSharpness(t *testing.T) {
	t.Parallel()
	img := scene(1024, 1024, 2)
	sharp := measure(img)
	blurred := measure(boxBlur(img, 1))
	for _, k := range []int{sLapMed, sLapP90, sLapHalfP90, sGradP90, sDetailRatio} {
		if !(blurred.scalar[k] < sharp.scalar[k]) {
			t.Errorf("scalar %d: blurred %.3f, sharp %.3f; want blurred lower", k, blurred.scalar[k], sharp.scalar[k])
		}
	}
	t.Logf("sharp %.3f", sharp.scalar[:sNoiseAll+1])
	t.Logf("blur  %.3f", blurred.scalar[:sNoiseAll+1])
}

func TestBuiltinNoise(t *testing.T) {
	t.Parallel()
	img := scene(1024, 1024, 3)
	rng := rand.New(rand.NewPCG(3, 3))
	noisy := mapRGB(img, func(_, _, _ int, v float64) float64 { return v + 6*rng.NormFloat64() })
	a, b := measure(img), measure(noisy)
	for _, k := range []int{sNoiseFlat, sNoiseFlatHalf, sNoiseAll} {
		if !(b.scalar[k] > a.scalar[k]+0.5) {
			t.Errorf("scalar %d: noisy %.3f, clean %.3f; want noisy clearly higher", k, b.scalar[k], a.scalar[k])
		}
	}
	// σ of the added noise, seen in luma: 6·sqrt(0.299²+0.587²+0.114²) ≈ 4.0
	// on top of the scene's own 1.5 (correlated across channels).
	if s := math.Exp2(b.scalar[sNoiseFlat]); s < 3 || s > 6.5 {
		t.Errorf("estimated noise σ %.2f, want about 4.3", s)
	}
}

func TestBuiltinExposure(t *testing.T) {
	t.Parallel()
	img := scene(1024, 1024, 4)
	dark := mapRGB(img, func(_, _, _ int, v float64) float64 { return v * 0.4 })
	bright := mapRGB(img, func(_, _, _ int, v float64) float64 { return v*1.6 + 30 })
	a, d, b := measure(img), measure(dark), measure(bright)
	for _, k := range []int{sLumaMean, sLumaP5, sLumaP50, sLumaP95} {
		if !(d.scalar[k] < a.scalar[k] && a.scalar[k] < b.scalar[k]) {
			t.Errorf("scalar %d: dark %.3f, normal %.3f, bright %.3f", k, d.scalar[k], a.scalar[k], b.scalar[k])
		}
	}
	if !(b.scalar[sClipHigh] > 0.05 && a.scalar[sClipHigh] < 0.01) {
		t.Errorf("clipped highlights: bright %.3f, normal %.3f", b.scalar[sClipHigh], a.scalar[sClipHigh])
	}
	// The encoded exposure values move with it.
	va, vd := preprocess(t, img), preprocess(t, dark)
	if i := offScalars + 2*sLumaMean + 1; !(vd[i] < va[i]) {
		t.Errorf("encoded mean luma (sin part): dark %v, normal %v", vd[i], va[i])
	}
}

func TestBuiltinUpscale(t *testing.T) {
	t.Parallel()
	img := scene(1024, 1024, 5)
	v1, f1 := preprocess(t, img), measure(img)
	for _, bilinear := range []bool{false, true} {
		up := upscale2x(img, bilinear)
		v2, f2 := preprocess(t, up), measure(up)
		c := cosine(v1, v2)
		if c < 0.9 || c > 0.9999 {
			t.Errorf("bilinear=%v: cosine %.5f, want close but different", bilinear, c)
		}
		if d := f2.scalar[sLog2W] - f1.scalar[sLog2W]; d != 1 {
			t.Errorf("bilinear=%v: log2 width grew by %v, want 1", bilinear, d)
		}
		if cg := cosine64(f1.colourGrid[:], f2.colourGrid[:]); cg < 0.999 {
			t.Errorf("bilinear=%v: colour grid cosine %.5f, want the same scene", bilinear, cg)
		}
		// Per-pixel detail drops at full resolution; half resolution of the
		// upscale sees about what full resolution of the original saw.
		if !(f2.scalar[sLapMed] < f1.scalar[sLapMed]-0.3) {
			t.Errorf("bilinear=%v: Laplacian %.3f after upscaling, %.3f before; want clearly lower",
				bilinear, f2.scalar[sLapMed], f1.scalar[sLapMed])
		}
		if d := f2.scalar[sLapHalfP90] - f1.scalar[sLapP90]; math.Abs(d) > 0.5 {
			t.Errorf("bilinear=%v: half-resolution Laplacian of the upscale %.3f, full resolution of the original %.3f",
				bilinear, f2.scalar[sLapHalfP90], f1.scalar[sLapP90])
		}
		// Interpolation lowers the detail ratio; nearest neighbour instead
		// makes staircases (which raise it) but correlates the noise.
		k := sNoiseFlat
		if bilinear {
			k = sDetailRatio
		}
		if !(f2.scalar[k] < f1.scalar[k]-0.5) {
			t.Errorf("bilinear=%v: scalar %d %.3f after upscaling, %.3f before; want clearly lower",
				bilinear, k, f2.scalar[k], f1.scalar[k])
		}
		t.Logf("bilinear=%v cosine %.4f\n orig %.3f\n up   %.3f", bilinear, c, f1.scalar[:], f2.scalar[:])
	}
}

func cosine64(a, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += a[i] * b[i]
		aa += a[i] * a[i]
		bb += b[i] * b[i]
	}
	return ab / math.Sqrt(aa*bb)
}

func TestBuiltinCrop(t *testing.T) {
	t.Parallel()
	img := scene(1024, 1024, 6)
	// A typical crop: 72% of the side (52% of the area), centred
	// horizontally, anchored at the top.
	r := image.Rect(143, 0, 143+737, 737)
	sub := img.SubImage(r).(*image.RGBA)
	copied := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(copied, copied.Rect, img, r.Min, draw.Src)

	full, crop := measure(img), measure(sub)
	if c := cosine64(full.colourGrid[:], crop.colourGrid[:]); c > 0.95 {
		t.Errorf("colour grid cosine full vs crop %.4f, want different", c)
	}
	if c := cosine64(full.edgeGrid[:], crop.edgeGrid[:]); c > 0.95 {
		t.Errorf("edge grid cosine full vs crop %.4f, want different", c)
	}
	// A sub-image with a non-zero origin is the same picture as its copy.
	if a, b := preprocess(t, sub), preprocess(t, copied); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("SubImage and its copy give different vectors")
	}
}

// TestBuiltinImageTypes checks the fast paths against each other and
// against the generic At() fallback.
func TestBuiltinImageTypes(t *testing.T) {
	t.Parallel()
	rgba := scene(640, 480, 7)
	b := rgba.Rect
	nrgba := image.NewNRGBA(b)
	copy(nrgba.Pix, rgba.Pix) // opaque: same bytes
	rgba64 := image.NewRGBA64(b)
	draw.Draw(rgba64, b, rgba, b.Min, draw.Src)
	gray := image.NewGray(b)
	draw.Draw(gray, b, rgba, b.Min, draw.Src)
	gray16 := image.NewGray16(b)
	draw.Draw(gray16, b, gray, b.Min, draw.Src)
	ycc := image.NewYCbCr(b, image.YCbCrSubsampleRatio420)
	for y := range b.Dy() {
		for x := range b.Dx() {
			c := rgba.RGBAAt(x, y)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			ycc.Y[ycc.YOffset(x, y)] = yy
			if x%2 == 0 && y%2 == 0 {
				ycc.Cb[ycc.COffset(x, y)], ycc.Cr[ycc.COffset(x, y)] = cb, cr
			}
		}
	}
	nycca := &image.NYCbCrA{YCbCr: *ycc, A: make([]uint8, b.Dx()*b.Dy()), AStride: b.Dx()}
	pal := image.NewPaletted(b, palette216())
	draw.Draw(pal, b, rgba, b.Min, draw.Src)

	base := preprocess(t, rgba)
	tests := []struct {
		name   string
		img    image.Image
		exact  bool
		minCos float64
	}{
		{"nrgba", nrgba, true, 1},
		{"rgba64 (generic)", rgba64, true, 1},
		{"ycbcr 4:2:0", ycc, false, 0.98},
		{"nycbcra", nycca, false, 0.98},
		{"paletted", pal, false, 0.9},
	}
	for _, tt := range tests {
		v := preprocess(t, tt.img)
		c := cosine(base, v)
		if tt.exact && fmt.Sprint(v) != fmt.Sprint(base) {
			t.Errorf("%s: vector differs from *image.RGBA (cosine %.6f)", tt.name, c)
		}
		if c < tt.minCos {
			t.Errorf("%s: cosine to *image.RGBA %.4f, want >= %v", tt.name, c, tt.minCos)
		}
	}
	// The generic path computes luma from R=G=B with float weights, the
	// *image.Gray path takes it as is: equal up to rounding.
	if c := cosine(preprocess(t, gray), preprocess(t, gray16)); c < 0.99999 {
		t.Errorf("*image.Gray and the generic path for *image.Gray16: cosine %.6f", c)
	}
}

func palette216() color.Palette {
	var p color.Palette
	for r := range 6 {
		for g := range 6 {
			for b := range 6 {
				p = append(p, color.RGBA{uint8(r * 51), uint8(g * 51), uint8(b * 51), 255})
			}
		}
	}
	return p
}

func TestBuiltinOddSizes(t *testing.T) {
	t.Parallel()
	for _, sz := range []image.Point{{1, 1}, {3, 2}, {7, 1000}, {5000, 3}, {17, 17}, {130, 9}} {
		img := scene(sz.X, sz.Y, 8)
		v := preprocess(t, img)
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("%v: v[%d] = %v", sz, i, x)
			}
		}
		if len(v) != builtinDim {
			t.Fatalf("%v: len %d", sz, len(v))
		}
	}
	// A flat image has empty grid patterns but a valid vector.
	flat := image.NewGray(image.Rect(0, 0, 300, 200))
	v := preprocess(t, flat)
	if n := cosine(v, v); math.Abs(n-1) > 1e-6 {
		t.Errorf("flat image: %v", n)
	}
}

// TestBuiltinConcurrent runs Preprocess on a pool of goroutines, as the
// daemon does; run it with -race.
func TestBuiltinConcurrent(t *testing.T) {
	t.Parallel()
	e := NewBuiltin()
	imgs := make([]image.Image, 6)
	want := make([]string, len(imgs))
	for i := range imgs {
		imgs[i] = scene(256+32*i, 320, uint64(i))
		want[i] = fmt.Sprint(preprocess(t, imgs[i]))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(imgs))
	for range 4 {
		for i, img := range imgs {
			wg.Go(func() {
				v, err := e.Preprocess(img)
				if err == nil && fmt.Sprint(v) != want[i] {
					err = fmt.Errorf("image %d: concurrent result differs", i)
				}
				if err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func ExampleBuiltin() {
	img := image.NewRGBA(image.Rect(0, 0, 1216, 832))
	for y := range 832 {
		for x := range 1216 {
			img.SetRGBA(x, y, color.RGBA{uint8(x / 5), uint8(y / 4), 128, 255})
		}
	}
	e := NewBuiltin()
	defer e.Close()
	v, err := e.Preprocess(img) // on the decode worker pool
	if err != nil {
		panic(err)
	}
	batch, err := e.Embed(context.Background(), [][]float32{v})
	if err != nil {
		panic(err)
	}
	var ss float64
	for _, x := range batch[0] {
		ss += float64(x) * float64(x)
	}
	fmt.Println(e.ID(), e.Dim(), len(batch[0]))
	fmt.Printf("norm %.3f\n", math.Sqrt(ss))
	// Output:
	// builtin-v2 498 498
	// norm 1.000
}

func benchmarkPreprocess(b *testing.B, img image.Image) {
	e := NewBuiltin()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Preprocess(img); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuiltinPreprocess2048 uses *image.RGBA, what the PNG decoder
// returns for the pipeline's RGB files; compare with imagefile's
// BenchmarkDecodePNG2048.
func BenchmarkBuiltinPreprocess2048(b *testing.B) { benchmarkPreprocess(b, scene(2048, 2048, 9)) }

func BenchmarkBuiltinPreprocess1024(b *testing.B) { benchmarkPreprocess(b, scene(1024, 1024, 9)) }

func BenchmarkBuiltinPreprocess3072(b *testing.B) { benchmarkPreprocess(b, scene(3072, 3072, 9)) }

// BenchmarkBuiltinPreprocess2048YCbCr is the JPEG/WebP case.
func BenchmarkBuiltinPreprocess2048YCbCr(b *testing.B) {
	src := scene(2048, 2048, 9)
	ycc := image.NewYCbCr(src.Rect, image.YCbCrSubsampleRatio420)
	for y := range 2048 {
		for x := range 2048 {
			c := src.RGBAAt(x, y)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			ycc.Y[ycc.YOffset(x, y)] = yy
			ycc.Cb[ycc.COffset(x, y)], ycc.Cr[ycc.COffset(x, y)] = cb, cr
		}
	}
	benchmarkPreprocess(b, ycc)
}

// BenchmarkBuiltinPreprocess2048Generic is the At() fallback (16-bit PNG).
func BenchmarkBuiltinPreprocess2048Generic(b *testing.B) {
	src := scene(2048, 2048, 9)
	img := image.NewRGBA64(src.Rect)
	draw.Draw(img, img.Rect, src, image.Point{}, draw.Src)
	benchmarkPreprocess(b, img)
}
