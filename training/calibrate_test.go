package training

import (
	"math"
	"math/rand/v2"
	"testing"

	"screend"
	"screend/scoring/model"
)

func TestWilsonUpper(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		errors, n int
		want      float64
	}{
		{0, 0, 1},
		{0, 100, 0.0370}, // 1.96^2 / (100 + 1.96^2)
		{2, 100, 0.0700}, // standard tables
		{10, 1000, 0.0183},
		{50, 100, 0.5962},
	} {
		if got := WilsonUpper(c.errors, c.n); math.Abs(got-c.want) > 5e-4 {
			t.Errorf("WilsonUpper(%d, %d) = %.4f, want %.4f", c.errors, c.n, got, c.want)
		}
	}
}

func TestCalibrationReducesECE(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 9))
	var z []float64
	var y []bool
	for i := 0; i < 4000; i++ {
		trueLogit := 2 * rng.NormFloat64()
		z = append(z, 3*trueLogit+1)
		y = append(y, rng.Float64() < sigmoid(trueLogit))
	}
	conf := func(p model.Platt) ([]float64, []bool) {
		c, r := make([]float64, len(z)), make([]bool, len(z))
		for i := range z {
			q := p.Apply(z[i])
			// confidence of the predicted label
			if q >= 0.5 {
				c[i], r[i] = q, y[i]
			} else {
				c[i], r[i] = 1-q, !y[i]
			}
		}
		return c, r
	}
	c0, r0 := conf(model.Platt{A: 1})
	_, before := Reliability(c0, r0, 10)
	p := fitPlatt(z, y)
	c1, r1 := conf(p)
	_, after := Reliability(c1, r1, 10)
	if !(after < before/2) || after > 0.03 {
		t.Fatalf("Platt: ECE %.4f -> %.4f (a=%.3f b=%.3f)", before, after, p.A, p.B)
	}
	if math.Abs(p.A-1.0/3) > 0.05 || math.Abs(p.B+1.0/3) > 0.15 {
		t.Errorf("Platt a=%.3f b=%.3f, want about 1/3 and -1/3", p.A, p.B)
	}

	// Temperature: true scores s, the model reports 2s.
	var scores [][]float64
	var chosen []int
	for g := 0; g < 3000; g++ {
		s := []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		pr, _ := softmax(s)
		u, c := rng.Float64(), 0
		for c < 2 && u > pr[c] {
			u -= pr[c]
			c++
		}
		scores = append(scores, []float64{2 * s[0], 2 * s[1], 2 * s[2]})
		chosen = append(chosen, c)
	}
	if tt := fitTemperature(scores, chosen); math.Abs(tt-2) > 0.3 {
		t.Fatalf("temperature %.3f, want about 2", tt)
	}
}

func TestAUC(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		score []float64
		pos   []bool
		want  float64
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}, 1},
		{"reversed", []float64{0.9, 0.8, 0.2, 0.1}, []bool{false, false, true, true}, 0},
		{"all tied", []float64{0.5, 0.5, 0.5, 0.5}, []bool{false, true, false, true}, 0.5},
		{"one swap of four pairs", []float64{0.1, 0.6, 0.5, 0.9}, []bool{false, false, true, true}, 0.75},
		{"tie counts half", []float64{0.1, 0.5, 0.5}, []bool{false, false, true}, 0.75},
		{"no positives", []float64{0.1, 0.2}, []bool{false, false}, 0.5},
	} {
		if got := AUC(tc.score, tc.pos); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: AUC = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFitCropWeighsDetail: when people crop the pictures whose margins hold
// little detail, each project at its own threshold, and the crop logit
// says nothing, fitCrop puts a negative weight (after Platt scaling) on the detail outside the
// frame and, with the projects' offsets, gets most decisions right; without
// detail to measure the weight stays 0.
func TestFitCropWeighsDetail(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 3))
	var z, x []float64
	var y []bool
	var project []string
	thresholds := map[string]float64{"a": 0.6, "b": 0.3}
	for i := range 800 {
		p := []string{"a", "b"}[i%2]
		xi := rng.Float64()
		z = append(z, rng.NormFloat64())
		x = append(x, xi)
		y = append(y, xi+0.05*rng.NormFloat64() < thresholds[p])
		project = append(project, p)
	}
	c, pl, off := fitCrop(z, x, y, project, true)
	var rightOff int
	for i := range z {
		v := pl.A*(z[i]+c*x[i]) + pl.B + off[project[i]]
		if (v >= 0) == y[i] {
			rightOff++
		}
	}
	if pl.A*c >= 0 || float64(rightOff)/float64(len(z)) < 0.9 {
		t.Errorf("weight %.2f (times Platt's a %.3f), %d of %d right with the offsets; want a negative weight and >= 90%%", c, pl.A, rightOff, len(z))
	}
	if c, _, _ := fitCrop(z, x, y, project, false); c != 0 {
		t.Errorf("without detail: weight %v, want 0", c)
	}
}

// TestIsotonic: violators are pooled into non-decreasing steps whose
// values count one true and one false label more; no labels, no steps.
func TestIsotonic(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		x    []float64
		y    []bool
		want model.Steps
	}{
		{"none", nil, nil, model.Steps{}},
		{"increasing", []float64{0.6, 0.7}, []bool{false, true}, model.Steps{X: []float64{0.6, 0.7}, Y: []float64{1.0 / 3, 2.0 / 3}}},
		{"violators pooled", []float64{0.9, 0.6, 0.7, 0.8}, []bool{false, false, true, true},
			model.Steps{X: []float64{0.6, 0.9}, Y: []float64{1.0 / 3, 3.0 / 5}}},
	} {
		got := isotonic(c.x, c.y)
		if len(got.X) != len(c.want.X) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
			continue
		}
		for k := range got.X {
			if math.Abs(got.X[k]-c.want.X[k]) > 1e-12 || math.Abs(got.Y[k]-c.want.Y[k]) > 1e-12 {
				t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
				break
			}
		}
	}
}

// TestFitCropRightSeesTheCeiling: when a tenth of the pictures people
// would crop are marked full-frame (no crop) and the box is right, a crop
// call is right at most 90% of the time however sure P(crop) is; Platt
// scaling would call the surest ones right almost always, CropRight does not.
func TestFitCropRightSeesTheCeiling(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	prior := screend.BoxFromCenter(model.PriorCrop[0], model.PriorCrop[1], model.PriorCrop[2])
	full := screend.Box{0, 0, 1, 1}
	p := model.Params{CropPlatt: model.Platt{A: 1}}
	var items []oof
	for i := 0; i < 2000; i++ {
		z := 4 * rng.NormFloat64()
		e := &Example{Images: []model.Image{{Stage: 1}, {Stage: 2}}, Chosen: 1}
		if rng.Float64() < 1/(1+math.Exp(-z)) {
			e.Crop = &prior
			if rng.Float64() < 0.1 {
				e.Crop = &full
			}
		}
		pc := model.PriorCrop
		items = append(items, oof{ex: e, raw: model.Raw{CropLogits: []float32{0, float32(z)}, Boxes: [][3]float32{{}, {float32(pc[0]), float32(pc[1]), float32(pc[2])}}}})
	}
	s := fitCropRight(items, p, 0.5)
	if top := s.Apply(0.999); top > 0.93 || top < 0.75 {
		t.Errorf("P(crop right) of the surest crop calls %.3f, want 0.75-0.93: never above 0.9 but for noise (steps %+v)", top, s)
	}
	if low := s.Apply(0.5); low > s.Apply(0.999) || low > 0.8 {
		t.Errorf("P(crop right) at P(crop) 0.5 %.3f, want below 0.8 and the surest calls'", low)
	}
}

// TestFitPlattLargeLogits: logits far from 0 (a crop logit plus a heavily
// weighted detail share), where every sigmoid saturates at a = 1, are
// calibrated as well as logits near it.
func TestFitPlattLargeLogits(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	var small, large []float64
	var y []bool
	for range 2000 {
		u := 2 * rng.NormFloat64()
		small = append(small, u)
		large = append(large, 10*u+100)
		y = append(y, rng.Float64() < 1/(1+math.Exp(-u)))
	}
	s, l := fitPlatt(small, y), fitPlatt(large, y)
	if math.Abs(s.A-1) > 0.15 || math.Abs(s.B) > 0.15 {
		t.Errorf("logits near 0: %+v, want about {A: 1, B: 0}", s)
	}
	if wa, wb := s.A/10, s.B-100*s.A/10; math.Abs(l.A-wa) > 1e-4 || math.Abs(l.B-wb) > 1e-2 {
		t.Errorf("logits near 100: %+v, want {A: %.5f, B: %.4f} (the same calibration)", l, wa, wb)
	}
}
