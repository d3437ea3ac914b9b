package training

import (
	"math"
	"testing"

	"screend/scoring/model"
)

func TestFamiliarRadius(t *testing.T) {
	t.Parallel()
	group := func(key string, x, y float32) Example {
		return Example{GroupKey: key, Images: []model.Image{
			{Embedding: []float32{x, y}, Stage: 1, Width: 8, Height: 8},
			{Embedding: []float32{x, y}, Stage: 2, Width: 16, Height: 16},
		}}
	}
	// Three groups close together and one far away (90 degrees).
	ex := []Example{group("a", 1, 0), group("b", 1, 0.1), group("c", 1, 0.2), group("d", 0, 1)}
	far := CosineDistance([]float32{0, 1}, []float32{1, 0.2})
	if got := FamiliarRadius(ex, 1, 10); math.Abs(got-far) > 1e-9 {
		t.Errorf("radius at q=1 = %v, want the outlier's distance %v", got, far)
	}
	if got := FamiliarRadius(ex, 0.5, 10); got >= far || got <= 0 {
		t.Errorf("radius at q=0.5 = %v, want between 0 and %v", got, far)
	}
	if got := FamiliarRadius(ex[:1], 0.99, 10); got != 0 {
		t.Errorf("radius of one group = %v, want 0 (no check)", got)
	}
	if d := CosineDistance([]float32{1, 0}, []float32{2, 0}); math.Abs(d) > 1e-12 {
		t.Errorf("distance of parallel vectors %v", d)
	}
}
