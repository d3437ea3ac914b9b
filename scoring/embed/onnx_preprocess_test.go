package embed

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func readPNG(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return img
}

// TestPILResizeMatchesPillow compares the resize with Pillow's own output
// (testdata/pil/gen.py made it), byte for byte.
func TestPILResizeMatchesPillow(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("testdata", "pil", "cases.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var name, src string
		var filter, w, h int
		if _, err := fmt.Sscan(sc.Text(), &name, &src, &filter, &w, &h); err != nil {
			t.Fatalf("cases.txt: %q: %v", sc.Text(), err)
		}
		n++
		t.Run(name, func(t *testing.T) {
			in := readPNG(t, filepath.Join("testdata", "pil", src+".png"))
			want := readPNG(t, filepath.Join("testdata", "pil", name+".png"))
			if b := want.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Fatalf("fixture is %v, cases.txt says %dx%d", b, w, h)
			}
			got := pilResizeWindow(in, w, h, 0, 0, w, h, pilFilters[filter])
			wrong := 0
			for y := range h {
				for x := range w {
					c := color.NRGBAModel.Convert(want.At(x, y)).(color.NRGBA)
					i := 3 * (y*w + x)
					if got[i] != c.R || got[i+1] != c.G || got[i+2] != c.B {
						if wrong < 5 {
							t.Errorf("(%d,%d) = %v, Pillow %v", x, y, got[i:i+3], []uint8{c.R, c.G, c.B})
						}
						wrong++
					}
				}
			}
			if wrong > 0 {
				t.Errorf("%d of %d pixels differ from Pillow", wrong, w*h)
			}
		})
	}
	if n == 0 {
		t.Fatal("no cases")
	}
}

// refCubic is the cubic convolution kernel with a = -0.5, written out.
func refCubic(t float64) float64 {
	t = math.Abs(t)
	switch {
	case t < 1:
		return 1.5*t*t*t - 2.5*t*t + 1
	case t < 2:
		return -0.5*t*t*t + 2.5*t*t - 4*t + 2
	}
	return 0
}

// refPreprocess is a slow, direct per-pixel reference of the CLIP
// preprocessing in float64: resize the short side to short (a 2-D cubic
// filter whose width grows with the downscaling factor, weights normalised
// over the taps inside the image), centre crop to crop×crop (padding with
// black), rescale to [0,1], normalise. It does not round between passes.
func refPreprocess(img image.Image, short, crop int, mean, std [3]float64) []float64 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	var rw, rh int
	if w <= h {
		rw, rh = short, int(float64(short)*float64(h)/float64(w))
	} else {
		rw, rh = int(float64(short)*float64(w)/float64(h)), short
	}
	left := int(math.Floor(float64(rw-crop) / 2))
	top := int(math.Floor(float64(rh-crop) / 2))
	pix := func(x, y int) [3]float64 {
		c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
		return [3]float64{float64(c.R), float64(c.G), float64(c.B)}
	}
	taps := func(out, n, size int) (first int, ws []float64) {
		scale := float64(size) / float64(n)
		stretch := math.Max(scale, 1)
		center := (float64(out) + 0.5) * scale
		var sum float64
		first = -1
		for i := 0; i < size; i++ {
			wt := refCubic((float64(i) + 0.5 - center) / stretch)
			if wt == 0 && first < 0 {
				continue
			}
			if first < 0 {
				first = i
			}
			ws = append(ws, wt)
			sum += wt
		}
		for i := range ws {
			ws[i] /= sum
		}
		return first, ws
	}
	out := make([]float64, 3*crop*crop)
	for oy := range crop {
		for ox := range crop {
			x, y := left+ox, top+oy
			var v [3]float64
			if x >= 0 && x < rw && y >= 0 && y < rh {
				x0, wx := taps(x, rw, w)
				y0, wy := taps(y, rh, h)
				for j, vy := range wy {
					for i, vx := range wx {
						p := pix(x0+i, y0+j)
						for c := range 3 {
							v[c] += vx * vy * p[c]
						}
					}
				}
			}
			for c := range 3 {
				out[c*crop*crop+oy*crop+ox] = (v[c]/255 - mean[c]) / std[c]
			}
		}
	}
	return out
}

// smoothImage fills an image of the given kind with a smooth pattern plus a
// little noise, staying away from 0 and 255 so that no filter overshoot is
// clipped.
func smoothImage(kind string, w, h int, seed uint64) image.Image {
	r := rand.New(rand.NewPCG(seed, 1))
	val := func(x, y, c int) uint8 {
		v := 128 + 55*math.Sin(float64(x)/7+float64(c))*math.Cos(float64(y)/5) + 10*r.Float64() - 5
		return uint8(v)
	}
	rect := image.Rect(3, -2, 3+w, -2+h) // bounds not at the origin
	switch kind {
	case "nrgba":
		m := image.NewNRGBA(rect)
		for y := rect.Min.Y; y < rect.Max.Y; y++ {
			for x := rect.Min.X; x < rect.Max.X; x++ {
				m.SetNRGBA(x, y, color.NRGBA{val(x, y, 0), val(x, y, 1), val(x, y, 2), uint8(r.IntN(256))})
			}
		}
		return m
	case "rgba":
		m := image.NewRGBA(rect)
		for y := rect.Min.Y; y < rect.Max.Y; y++ {
			for x := rect.Min.X; x < rect.Max.X; x++ {
				m.SetRGBA(x, y, color.RGBA{val(x, y, 0), val(x, y, 1), val(x, y, 2), 255})
			}
		}
		return m
	case "ycbcr":
		m := image.NewYCbCr(rect, image.YCbCrSubsampleRatio420)
		for y := rect.Min.Y; y < rect.Max.Y; y++ {
			for x := rect.Min.X; x < rect.Max.X; x++ {
				m.Y[m.YOffset(x, y)] = val(x, y, 0)
				ci := m.COffset(x, y)
				m.Cb[ci], m.Cr[ci] = 118+val(x, y, 1)/16, 120+val(x, y, 2)/16
			}
		}
		return m
	case "gray":
		m := image.NewGray(rect)
		for y := rect.Min.Y; y < rect.Max.Y; y++ {
			for x := rect.Min.X; x < rect.Max.X; x++ {
				m.SetGray(x, y, color.Gray{val(x, y, 0)})
			}
		}
		return m
	case "gray16": // no fast path
		m := image.NewGray16(rect)
		for y := rect.Min.Y; y < rect.Max.Y; y++ {
			for x := rect.Min.X; x < rect.Max.X; x++ {
				m.SetGray16(x, y, color.Gray16{uint16(val(x, y, 0)) * 0x101})
			}
		}
		return m
	}
	panic(kind)
}

func TestPreprocessMatchesReference(t *testing.T) {
	t.Parallel()
	cfg := DefaultImageConfig()
	cfg.ShortestEdge, cfg.CropHeight, cfg.CropWidth = 48, 40, 40
	p, err := NewImageProcessor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// One grey level in normalised units, for the worst channel.
	level := 1 / 255.0 / min(cfg.Std[0], cfg.Std[1], cfg.Std[2])
	tests := []struct {
		kind string
		w, h int
	}{
		{"rgba", 160, 120}, // downscale 2.5x, wide
		{"nrgba", 97, 203}, // downscale 2x, tall, odd sizes
		{"ycbcr", 150, 150},
		{"gray", 48, 61},   // short side already right: one pass only
		{"gray16", 30, 45}, // upscale
		{"rgba", 37, 20},   // upscale to 88x48
		{"rgba", 50, 30},   // upscale to 80x48, cropped on both axes
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s_%dx%d", tc.kind, tc.w, tc.h), func(t *testing.T) {
			t.Parallel()
			img := smoothImage(tc.kind, tc.w, tc.h, uint64(tc.w*tc.h))
			got, err := p.Process(img)
			if err != nil {
				t.Fatal(err)
			}
			want := refPreprocess(img, cfg.ShortestEdge, cfg.CropWidth, cfg.Mean, cfg.Std)
			if len(got) != len(want) {
				t.Fatalf("%d values, want %d", len(got), len(want))
			}
			var maxDiff, sumDiff float64
			for i := range got {
				d := math.Abs(float64(got[i]) - want[i])
				maxDiff = max(maxDiff, d)
				sumDiff += d
			}
			// Two roundings to 8 bits (after each pass) and float32 output.
			if maxDiff > 1.5*level || sumDiff/float64(len(got)) > 0.35*level {
				t.Errorf("max diff %.2f grey levels, mean %.3f; want at most 1.5 and 0.35",
					maxDiff/level, sumDiff/float64(len(got))/level)
			}
		})
	}
}

// TestPreprocessPads checks the black padding of an image smaller than the
// crop (no resize), against Hugging Face's centre_crop offsets.
func TestPreprocessPads(t *testing.T) {
	t.Parallel()
	cfg := DefaultImageConfig()
	cfg.Resize, cfg.CropHeight, cfg.CropWidth = false, 6, 5
	cfg.Normalize = false
	p, err := NewImageProcessor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, 2, 3)) // pad 3 columns, 3 rows
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	got, err := p.Process(img)
	if err != nil {
		t.Fatal(err)
	}
	// HF: left pad ceil(3/2)=2, top pad ceil(3/2)=2.
	var b strings.Builder
	for y := range 6 {
		for x := range 5 {
			if got[y*5+x] == 1 {
				b.WriteByte('#')
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteByte('\n')
	}
	want := ".....\n.....\n..##.\n..##.\n..##.\n.....\n"
	if b.String() != want {
		t.Errorf("padding:\n%swant\n%s", b.String(), want)
	}
}

func TestResizedSize(t *testing.T) {
	t.Parallel()
	cfg := DefaultImageConfig()
	tests := []struct{ w, h, rw, rh int }{
		{1024, 1024, 224, 224},
		{832, 1216, 224, 327}, // 327.38 truncated
		{1216, 832, 327, 224},
		{2048, 2048, 224, 224},
		{1664, 2432, 224, 327},
		{100, 50, 448, 224},
	}
	for _, tc := range tests {
		if rw, rh := cfg.resizedSize(tc.w, tc.h); rw != tc.rw || rh != tc.rh {
			t.Errorf("%dx%d resizes to %dx%d, want %dx%d", tc.w, tc.h, rw, rh, tc.rw, tc.rh)
		}
	}
}

func TestParseImageConfig(t *testing.T) {
	t.Parallel()
	def := DefaultImageConfig()
	tests := []struct {
		name    string
		json    string
		want    func(c *ImageConfig)
		wantErr string
	}{
		{"empty gives CLIP", `{}`, func(c *ImageConfig) {}, ""},
		{"HF CLIP", `{"crop_size": {"height": 224, "width": 224}, "do_center_crop": true, "do_normalize": true,
			"do_resize": true, "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
			"image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": {"shortest_edge": 224}}`, func(c *ImageConfig) {}, ""},
		{"old style numbers", `{"size": 336, "crop_size": 320}`, func(c *ImageConfig) {
			c.ShortestEdge, c.CropHeight, c.CropWidth = 336, 320, 320
		}, ""},
		{"height width", `{"size": {"height": 64, "width": 48}, "do_center_crop": false, "resample": 2}`, func(c *ImageConfig) {
			c.ShortestEdge, c.Height, c.Width, c.CenterCrop, c.Resample = 0, 64, 48, false, 2
		}, ""},
		{"rescale and scalar mean", `{"do_rescale": false, "rescale_factor": 0.5, "image_mean": 0.5, "image_std": [0.25]}`, func(c *ImageConfig) {
			c.Rescale, c.RescaleFactor, c.Mean, c.Std = false, 0.5, [3]float64{0.5, 0.5, 0.5}, [3]float64{0.25, 0.25, 0.25}
		}, ""},
		{"longest edge", `{"size": {"shortest_edge": 224, "longest_edge": 300}}`, func(c *ImageConfig) { c.LongestEdge = 300 }, ""},
		{"nearest", `{"resample": 0}`, nil, "resample 0"},
		{"varying size", `{"do_center_crop": false}`, nil, "varying size"},
		{"bad size", `{"size": {"foo": 1}}`, nil, "size"},
		{"half size", `{"size": {"height": 3}}`, nil, "height and width"},
		{"two means", `{"image_mean": [0.1, 0.2]}`, nil, "image_mean"},
		{"zero std", `{"image_std": [0, 1, 1]}`, nil, "image_std"},
		{"not json", `{`, nil, "parse"},
		{"bad crop", `{"crop_size": {"height": 0, "width": 0}}`, nil, "crop_size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseImageConfig([]byte(tc.json))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := def
			tc.want(&want)
			if got != want {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func FuzzParseImageConfig(f *testing.F) {
	f.Add([]byte(`{"size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224}, "resample": 3}`))
	f.Add([]byte(`{"size": 7, "crop_size": 5, "image_mean": 0.5}`))
	f.Add([]byte(`{"size": {"height": 9, "width": 4}, "do_center_crop": false}`))
	f.Add([]byte(`{"do_resize": false, "crop_size": 3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseImageConfig(data)
		if err != nil {
			return
		}
		h, w, ok := cfg.OutputSize()
		if !ok {
			t.Fatalf("accepted a config of varying output size: %+v", cfg)
		}
		if h*w > 1<<16 || cfg.ShortestEdge > 1<<10 || cfg.Height*cfg.Width > 1<<16 || cfg.LongestEdge > 1<<12 {
			return // valid but too slow to run here
		}
		p, err := NewImageProcessor(cfg)
		if err != nil {
			t.Fatalf("parsed config rejected: %v", err)
		}
		img := smoothImage("gray", 5, 7, 1)
		out, err := p.Process(img)
		if err != nil {
			return // e.g. a resize to zero pixels
		}
		if len(out) != 3*h*w {
			t.Fatalf("%d values for %dx%d", len(out), w, h)
		}
	})
}

// TestProcessConcurrent runs one processor from several goroutines (for the
// race detector) and checks they agree.
func TestProcessConcurrent(t *testing.T) {
	t.Parallel()
	p, err := NewImageProcessor(DefaultImageConfig())
	if err != nil {
		t.Fatal(err)
	}
	img := smoothImage("ycbcr", 300, 260, 9)
	want, err := p.Process(img)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			got, err := p.Process(img)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("value %d differs between runs", i)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkONNXPreprocess(b *testing.B) {
	p, err := NewImageProcessor(DefaultImageConfig())
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range []struct{ w, h int }{{1024, 1024}, {832, 1216}, {2048, 2048}, {3072, 3072}} {
		img := image.NewYCbCr(image.Rect(0, 0, s.w, s.h), image.YCbCrSubsampleRatio420)
		rgba := image.NewNRGBA(image.Rect(0, 0, s.w, s.h))
		for i := range img.Y {
			img.Y[i] = uint8(i * 7)
		}
		for i := range rgba.Pix {
			rgba.Pix[i] = uint8(i * 13)
		}
		for name, m := range map[string]image.Image{"ycbcr": img, "nrgba": rgba} {
			b.Run(fmt.Sprintf("%s_%dx%d", name, s.w, s.h), func(b *testing.B) {
				for b.Loop() {
					if _, err := p.Process(m); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestRGBRowMatchesColorModel checks the fast paths of the RGB conversion
// against color.NRGBAModel, for every image kind and chroma subsampling.
func TestRGBRowMatchesColorModel(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	rect := image.Rect(-5, 3, 18, 14) // odd, negative origin
	var imgs []image.Image
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		m := image.NewYCbCr(rect, ratio)
		for _, p := range [][]uint8{m.Y, m.Cb, m.Cr} {
			for i := range p {
				p[i] = uint8(r.IntN(256))
			}
		}
		imgs = append(imgs, m)
	}
	nrgba, rgba, gray := image.NewNRGBA(rect), image.NewRGBA(rect), image.NewGray(rect)
	for i := range nrgba.Pix {
		nrgba.Pix[i] = uint8(r.IntN(256))
	}
	for i := 0; i < len(rgba.Pix); i += 4 {
		a := uint8(r.IntN(256))
		rgba.Pix[i+3] = a
		for c := range 3 {
			rgba.Pix[i+c] = uint8(r.IntN(int(a) + 1)) // premultiplied
		}
	}
	for i := range gray.Pix {
		gray.Pix[i] = uint8(r.IntN(256))
	}
	imgs = append(imgs, nrgba, rgba, gray)
	w := rect.Dx()
	row := make([]uint8, 3*w)
	for _, img := range imgs {
		for y := rect.Min.Y; y < rect.Max.Y; y++ {
			for _, span := range [][2]int{{0, w}, {3, 10}} {
				clear(row)
				pilRGBRow(img, y, span[0], span[1], row)
				for x := span[0]; x < span[1]; x++ {
					c := color.NRGBAModel.Convert(img.At(rect.Min.X+x, y)).(color.NRGBA)
					if got := row[3*x : 3*x+3]; got[0] != c.R || got[1] != c.G || got[2] != c.B {
						t.Fatalf("%T %v: (%d,%d) = %v, want %v", img, subsample(img), rect.Min.X+x, y, got, c)
					}
				}
			}
		}
	}
}

func subsample(img image.Image) string {
	if m, ok := img.(*image.YCbCr); ok {
		return m.SubsampleRatio.String()
	}
	return ""
}
