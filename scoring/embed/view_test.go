package embed_test

import (
	"context"
	"image"
	"image/color"
	"math"
	"regexp"
	"slices"
	"testing"

	"screend"
	"screend/scoring/embed"
	"screend/scoring/model"
	"screend/scoring/onnxrt/onnxrttest"
)

func TestSubjectFrameIsPriorCrop(t *testing.T) {
	want := screend.BoxFromCenter(model.PriorCrop[0], model.PriorCrop[1], model.PriorCrop[2])
	for k := range want {
		if math.Abs(embed.SubjectFrame[k]-want[k]) > 1e-9 {
			t.Fatalf("SubjectFrame %v, PriorCrop's box %v", embed.SubjectFrame, want)
		}
	}
}

func TestViewRect(t *testing.T) {
	subject := embed.View{Name: "subject", Box: embed.SubjectFrame}
	for _, c := range []struct {
		name   string
		view   embed.View
		bounds image.Rectangle
		want   image.Rectangle
	}{
		{"full", embed.View{Box: [4]float64{0, 0, 1, 1}}, image.Rect(0, 0, 304, 208), image.Rect(0, 0, 304, 208)},
		{"subject, landscape", subject, image.Rect(0, 0, 304, 208), image.Rect(43, 0, 261, 150)},
		{"subject, portrait", subject, image.Rect(0, 0, 208, 304), image.Rect(29, 0, 179, 219)},
		{"subject, bounds not at the origin", subject, image.Rect(10, 20, 110, 120), image.Rect(24, 20, 96, 92)},
		{"subject of one pixel", subject, image.Rect(0, 0, 1, 1), image.Rect(0, 0, 1, 1)},
		{"thinner than a pixel: one pixel", embed.View{Box: [4]float64{0.5, 0.5, 0.51, 0.51}}, image.Rect(0, 0, 10, 10), image.Rect(5, 5, 6, 6)},
		{"at the far corner: the last pixel", embed.View{Box: [4]float64{0.99, 0.99, 1, 1}}, image.Rect(0, 0, 10, 10), image.Rect(9, 9, 10, 10)},
		{"right half", embed.View{Box: [4]float64{0.5, 0, 1, 1}}, image.Rect(0, 0, 7, 4), image.Rect(4, 0, 7, 4)},
	} {
		if got := c.view.Rect(c.bounds); got != c.want {
			t.Errorf("%s: Rect(%v) = %v, want %v", c.name, c.bounds, got, c.want)
		}
	}
}

func TestParseViews(t *testing.T) {
	names := func(vs []embed.View) []string {
		var out []string
		for _, v := range vs {
			out = append(out, v.Name)
		}
		return out
	}
	for _, c := range []struct {
		in   string
		want []string // nil: an error
	}{
		{"", []string{"full"}},
		{"full", []string{"full"}},
		{"full,subject", []string{"full", "subject"}},
		{" subject , full ", []string{"subject", "full"}},
		{"full,subject-left,subject-right", []string{"full", "subject-left", "subject-right"}},
		{"face", nil},
		{"full,full", nil},
		{"full,", nil},
	} {
		vs, err := embed.ParseViews(c.in)
		switch {
		case c.want == nil && err == nil:
			t.Errorf("ParseViews(%q) = %v, want an error", c.in, names(vs))
		case c.want != nil && (err != nil || !slices.Equal(names(vs), c.want)):
			t.Errorf("ParseViews(%q) = %v, %v; want %v", c.in, names(vs), err, c.want)
		}
		for _, v := range vs {
			if err := v.Validate(); err != nil {
				t.Errorf("ParseViews(%q): %v", c.in, err)
			}
		}
	}
}

func TestViewValidate(t *testing.T) {
	for _, b := range [][4]float64{{0, 0, 0, 1}, {0.5, 0, 0.4, 1}, {-0.1, 0, 1, 1}, {0, 0, 1, 1.2}, {math.NaN(), 0, 1, 1}} {
		if err := (embed.View{Name: "bad", Box: b}).Validate(); err == nil {
			t.Errorf("box %v: no error", b)
		}
	}
}

// plainImage is an image type without SubImage.
type plainImage struct{ *image.NRGBA }

func (p plainImage) At(x, y int) color.Color { return p.NRGBA.At(x, y) }

func TestViewCut(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 50, 40))
	for y := range 40 {
		for x := range 50 {
			m.SetNRGBA(x, y, color.NRGBA{uint8(5 * x), uint8(6 * y), uint8(x ^ y), 255})
		}
	}
	v := embed.View{Name: "subject", Box: embed.SubjectFrame}
	want := v.Rect(m.Bounds())
	for name, img := range map[string]image.Image{"NRGBA": m, "without SubImage": plainImage{m}} {
		got := v.Cut(img)
		if got.Bounds() != want {
			t.Fatalf("%s: bounds %v, want %v", name, got.Bounds(), want)
		}
		for y := want.Min.Y; y < want.Max.Y; y++ {
			for x := want.Min.X; x < want.Max.X; x++ {
				if got.At(x, y) != m.At(x, y) {
					t.Fatalf("%s: pixel %d,%d is %v, want %v", name, x, y, got.At(x, y), m.At(x, y))
				}
			}
		}
	}
	full := embed.View{Name: "full", Box: [4]float64{0, 0, 1, 1}}
	if full.Cut(m) != image.Image(m) {
		t.Error("the full view copied the image")
	}
}

// TestONNXViews embeds with the whole picture and the subject frame: every
// view is preprocessed from its part of the picture, and the embedding is
// the views' vectors, each normalised, concatenated and normalised.
func TestONNXViews(t *testing.T) {
	onnxrttest.Init(t)
	wt := newWeights(7)
	path := standardModel(t, wt)
	plain := open(t, path, embed.ONNXOptions{})
	views, err := embed.ParseViews("full,subject")
	if err != nil {
		t.Fatal(err)
	}
	e := open(t, path, embed.ONNXOptions{Views: views, MaxBatch: 2})
	if e.Dim() != 2*dim {
		t.Errorf("Dim() = %d, want %d", e.Dim(), 2*dim)
	}
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(plain.ID()) + `\+views:full,subject:[0-9a-f]{8}$`).MatchString(e.ID()) {
		t.Errorf("ID %q, plain %q", e.ID(), plain.ID())
	}
	subjectOnly := open(t, path, embed.ONNXOptions{Views: views[1:]})
	if subjectOnly.ID() == e.ID() || subjectOnly.ID() == plain.ID() || subjectOnly.Dim() != dim {
		t.Errorf("subject view alone: ID %q, dim %d", subjectOnly.ID(), subjectOnly.Dim())
	}
	fullOnly := open(t, path, embed.ONNXOptions{Views: views[:1]})
	if fullOnly.ID() != plain.ID() {
		t.Errorf("the whole picture as the only view changed the ID: %q, plain %q", fullOnly.ID(), plain.ID())
	}

	imgs := testImages()
	batch := preprocessAll(t, e, imgs)
	size := 3 * side * side
	var want [][]float64
	for i, img := range imgs {
		if len(batch[i]) != 2*size {
			t.Fatalf("image %d: %d values, want %d", i, len(batch[i]), 2*size)
		}
		whole, err := plain.Preprocess(img)
		if err != nil {
			t.Fatal(err)
		}
		part, err := plain.Preprocess(views[1].Cut(img))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(batch[i][:size], whole) || !slices.Equal(batch[i][size:], part) {
			t.Fatalf("image %d: views not preprocessed from the whole picture and the subject frame", i)
		}
		if slices.Equal(whole, part) {
			t.Fatalf("image %d: the subject frame looks like the whole picture", i)
		}
		var w []float64
		for _, x := range [][]float32{whole, part} {
			v := goEncoder(wt, x)
			var n float64
			for _, a := range v {
				n += a * a
			}
			for _, a := range v {
				w = append(w, a/math.Sqrt(n)/math.Sqrt2)
			}
		}
		want = append(want, w)
	}
	got, err := e.Embed(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	assertVectors(t, got, want, 1e-5)

	// Inputs of the plain embedder are refused.
	if _, err := e.Embed(context.Background(), preprocessAll(t, plain, imgs[:1])); err == nil {
		t.Error("a one-view input was embedded by a two-view embedder")
	}
	if _, err := embed.NewONNX(path, embed.ONNXOptions{Views: []embed.View{{Name: "empty", Box: [4]float64{0.5, 0, 0.5, 1}}}}); err == nil {
		t.Error("an empty view was accepted")
	}
}
