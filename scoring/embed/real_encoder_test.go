package embed_test

import (
	"context"
	"image"
	"image/color"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/image/draw"

	"screend/scoring/embed"
	"screend/scoring/onnxrt/onnxrttest"
)

// realEncoder returns the path of a real pretrained MobileNetV2 encoder
// (scripts/real_encoder), built once into a cache: $SCREEND_REAL_ENCODER_DIR,
// else $XDG_CACHE_HOME/screend/real_encoder, else var/cache/real_encoder in
// the repository. It skips the test only when the build fails because the
// npm registry cannot be reached.
func realEncoder(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("SCREEND_REAL_ENCODER_DIR")
	if dir == "" {
		if c := os.Getenv("XDG_CACHE_HOME"); c != "" {
			dir = filepath.Join(c, "screend", "real_encoder")
		} else {
			dir = filepath.Join(root, "var", "cache", "real_encoder")
		}
	}
	path := filepath.Join(dir, "mobilenet_v2", "model.onnx")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	out, err := exec.Command("sh", filepath.Join(root, "scripts", "real_encoder", "make_real_encoder.sh"), tmp).CombinedOutput()
	if err != nil {
		if ping, perr := exec.Command("npm", "view", "nsfwjs@4.4.0", "version").CombinedOutput(); perr != nil {
			t.Skipf("skipped: the real encoder cannot be built, the npm registry is unreachable (npm view: %v: %s)", perr, ping)
		}
		t.Fatalf("build the real encoder: %v\n%s", err, out)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestONNXRealEncoder runs the ONNX embedder path on real pretrained
// weights: a picture and a resized, slightly brighter copy of it are closer
// than the picture and a different one.
func TestONNXRealEncoder(t *testing.T) {
	onnxrttest.Init(t)
	path := realEncoder(t)
	e, err := embed.NewONNX(path, embed.ONNXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Dim() != 1280 {
		t.Fatalf("dim %d, want 1280 (MobileNetV2's pooled features)", e.Dim())
	}
	scene := func(sky, ground color.RGBA, sunX int) *image.RGBA {
		img := image.NewRGBA(image.Rect(0, 0, 320, 240))
		for y := 0; y < 240; y++ {
			for x := 0; x < 320; x++ {
				c := sky
				if y > 150+x/20 {
					c = ground
				}
				if dx, dy := x-sunX, y-60; dx*dx+dy*dy < 900 {
					c = color.RGBA{250, 220, 60, 255}
				}
				img.Set(x, y, c)
			}
		}
		return img
	}
	a := scene(color.RGBA{90, 150, 230, 255}, color.RGBA{40, 140, 50, 255}, 240)
	a2 := image.NewRGBA(image.Rect(0, 0, 256, 192))
	draw.CatmullRom.Scale(a2, a2.Rect, a, a.Rect, draw.Src, nil)
	for i := range a2.Pix {
		if i%4 != 3 {
			a2.Pix[i] = uint8(min(255, int(a2.Pix[i])+12))
		}
	}
	b := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := 0; y < 240; y++ {
		for x := 0; x < 320; x++ {
			v := uint8(255 * ((x/16 + y/16) % 2))
			b.Set(x, y, color.RGBA{v, 30, 255 - v, 255})
		}
	}
	vs := embedImages(t, e, a, a2, b)
	for i, v := range vs {
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("embedding %d not finite", i)
			}
		}
	}
	same, other := cosine(vs[0], vs[1]), cosine(vs[0], vs[2])
	t.Logf("cosine: resized copy %.3f, other picture %.3f", same, other)
	if !(same > other+0.1) || same < 0.8 {
		t.Errorf("cosine of a picture with its resized copy %.3f, with another picture %.3f", same, other)
	}
}

// TestONNXRealEncoderViews runs the whole picture and the subject frame
// through the real encoder: the first view is the plain embedder's vector,
// normalised, and a small blotch in the upper middle of a picture moves the
// subject view's vector further than the whole picture's, which is what
// the subject view is for (a local defect fills more of what it sees).
func TestONNXRealEncoderViews(t *testing.T) {
	onnxrttest.Init(t)
	path := realEncoder(t)
	plain, err := embed.NewONNX(path, embed.ONNXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	views, err := embed.ParseViews("full,subject")
	if err != nil {
		t.Fatal(err)
	}
	e, err := embed.NewONNX(path, embed.ONNXOptions{Views: views})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Dim() != 2*1280 || e.ID() == plain.ID() {
		t.Fatalf("dim %d, ID %q (plain %q)", e.Dim(), e.ID(), plain.ID())
	}
	clean := image.NewRGBA(image.Rect(0, 0, 304, 208))
	for y := range 208 {
		for x := range 304 {
			clean.Set(x, y, color.RGBA{uint8(60 + x/3), uint8(90 + y/3), uint8(140 + (x+y)%40), 255})
		}
	}
	blotched := image.NewRGBA(clean.Rect)
	copy(blotched.Pix, clean.Pix)
	for y := range 208 {
		for x := range 304 {
			if dx, dy := float64(x-152)/30, float64(y-70)/26; dx*dx+dy*dy < 1 {
				blotched.Set(x, y, color.RGBA{240, 30, 200, 255})
			}
		}
	}
	vs := embedImages(t, e, clean, blotched)
	ref := embedImages(t, plain, clean)
	if c := cosine(vs[0][:1280], ref[0]); c < 0.9999 {
		t.Errorf("the whole-picture view differs from the plain embedder's vector: cosine %.5f", c)
	}
	var norm float64
	for _, x := range vs[0] {
		norm += float64(x) * float64(x)
	}
	if math.Abs(norm-1) > 1e-4 {
		t.Errorf("squared norm %.5f, want 1", norm)
	}
	whole, subject := 1-cosine(vs[0][:1280], vs[1][:1280]), 1-cosine(vs[0][1280:], vs[1][1280:])
	t.Logf("cosine distance of the blotched picture: whole picture %.4f, subject frame %.4f", whole, subject)
	if !(subject > whole) {
		t.Errorf("the blotch moved the subject view (%.4f) no further than the whole picture's (%.4f)", subject, whole)
	}
}

// embedImages preprocesses imgs and embeds them as one batch.
func embedImages(t *testing.T, e *embed.ONNX, imgs ...image.Image) [][]float32 {
	t.Helper()
	var batch [][]float32
	for _, img := range imgs {
		in, err := e.Preprocess(img)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, in)
	}
	vs, err := e.Embed(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// cosine is the cosine of the angle between x and y.
func cosine(x, y []float32) float64 {
	var d, nx, ny float64
	for i := range x {
		d += float64(x[i]) * float64(y[i])
		nx += float64(x[i]) * float64(x[i])
		ny += float64(y[i]) * float64(y[i])
	}
	return d / math.Sqrt(nx*ny)
}
