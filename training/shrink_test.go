package training

import (
	"math"
	"math/rand/v2"
	"testing"

	"screend"
	"screend/scoring/embed"
	"screend/scoring/model"
)

// TestFitShrink: boxes that are noise around the humans' framing are
// moved all the way to the prior; boxes that are right are kept.
func TestFitShrink(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	pc := model.PriorCrop
	prior := screend.BoxFromCenter(pc[0], pc[1], pc[2])
	var noisy, exact []oof
	for i := 0; i < 200; i++ {
		img := []model.Image{{Stage: 1}, {Stage: 2}}
		e := &Example{Images: img, Chosen: 1, Crop: &prior}
		noise := [3]float32{float32(0.5 + 0.3*rng.NormFloat64()), float32(0.36 + 0.3*rng.NormFloat64()), float32(0.72 + 0.2*rng.NormFloat64())}
		noisy = append(noisy, oof{ex: e, raw: model.Raw{Boxes: [][3]float32{{}, noise}}})
		// the human's box differs from the prior and the model knows it
		s := 0.5 + 0.4*rng.Float64()
		b := screend.BoxFromCenter(0.5, s/2, s)
		e2 := &Example{Images: img, Chosen: 1, Crop: &b}
		exact = append(exact, oof{ex: e2, raw: model.Raw{Boxes: [][3]float32{{}, {0.5, float32(s / 2), float32(s)}}}})
	}
	if got := fitShrink(noisy, model.Params{}); got != 1 {
		t.Errorf("noise around the prior: shrink %v, want 1", got)
	}
	if got := fitShrink(exact, model.Params{}); got != 0 {
		t.Errorf("exact boxes: shrink %v, want 0", got)
	}
}

// TestFitFrameScale: when the humans crop tighter the less detail the
// margins hold, the prior box's scale is fitted to that line (and shrinking
// towards it frames better than the network's fixed-scale boxes); without
// a grid the prior stays fixed.
func TestFitFrameScale(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	// one column of two regions: detail at the top stays in the frame, at
	// the bottom it is mostly cut away
	grid := embed.Grid{Cols: 1, Rows: 2, Blocks: []embed.GridBlock{{Offset: 0, Width: 1, Detail: true}}}
	p := model.Params{Grid: grid}
	var items []oof
	for i := 0; i < 300; i++ {
		top, bottom := float32(rng.Float64()), float32(rng.Float64())
		low := []float32{top, bottom}
		img := []model.Image{{Stage: 1, Embedding: low}, {Stage: 2, Embedding: []float32{1, 0}}}
		s := 0.3 + 1.1*p.Detail(img) + 0.01*rng.NormFloat64()
		b := screend.BoxFromCenter(0.5, s/2, s)
		e := &Example{Images: img, Chosen: 1, Crop: &b}
		items = append(items, oof{ex: e, raw: model.Raw{Boxes: [][3]float32{{}, {0.5, 0.36, 0.72}}}})
	}
	got := fitFrameScale(items, p)
	if math.Abs(got.A-0.3) > 0.01 || math.Abs(got.B-1.1) > 0.02 {
		t.Errorf("frame scale %+v, want about {A: 0.3, B: 1.1}", got)
	}
	p.FrameScale = got
	if s := fitShrink(items, p); s != 1 {
		t.Errorf("shrink towards the fitted prior %v, want 1", s)
	}
	if got := fitFrameScale(items, model.Params{}); got != (model.Linear{}) {
		t.Errorf("no grid: frame scale %+v, want zero", got)
	}
}
