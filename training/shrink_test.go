package training

import (
	"math/rand/v2"
	"testing"

	"screend"
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
	if got := fitShrink(noisy); got != 1 {
		t.Errorf("noise around the prior: shrink %v, want 1", got)
	}
	if got := fitShrink(exact); got != 0 {
		t.Errorf("exact boxes: shrink %v, want 0", got)
	}
}
