package main

import (
	"math"
	"slices"
	"testing"
)

func TestCurveEmbedder(t *testing.T) {
	for _, c := range []struct {
		name, base string
		views      []string
	}{
		{"builtin", "builtin", []string{"full"}},
		{"cnn", "cnn", []string{"full"}},
		{"cnn:subject", "cnn", []string{"subject"}},
		{"both:full+subject", "both", []string{"full", "subject"}},
	} {
		base, views := curveEmbedder(c.name)
		var names []string
		for _, v := range views {
			names = append(names, v.Name)
		}
		if base != c.base || !slices.Equal(names, c.views) {
			t.Errorf("curveEmbedder(%q) = %q, %v; want %q, %v", c.name, base, names, c.base, c.views)
		}
	}
}

// TestJoinEmbeddings: the parts, each normalised, joined and normalised,
// as the ONNX embedder joins its views; a file missing from a part is left
// out.
func TestJoinEmbeddings(t *testing.T) {
	a := map[string]embedding{"x": {Vec: []float32{3, 4}, Width: 7, Height: 5}, "y": {Vec: []float32{1, 0}}}
	b := map[string]embedding{"x": {Vec: []float32{0, 2}}}
	got := joinEmbeddings(a, b)
	r := float32(1 / math.Sqrt2)
	want := []float32{0.6 * r, 0.8 * r, 0, r}
	if len(got) != 1 || got["x"].Width != 7 || got["x"].Height != 5 {
		t.Fatalf("joined %v", got)
	}
	for i, v := range got["x"].Vec {
		if math.Abs(float64(v-want[i])) > 1e-6 {
			t.Fatalf("joined %v, want %v", got["x"].Vec, want)
		}
	}
}
