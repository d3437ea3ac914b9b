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

func TestThreshold(t *testing.T) {
	t.Parallel()
	// 1000 decisions at confidences 0.999 .. 0.000: the top 600 are all
	// right, the rest wrong one time in two.
	var conf []float64
	var right []bool
	for i := 0; i < 1000; i++ {
		conf = append(conf, 1-float64(i+1)/1000)
		right = append(right, i < 600 || i%2 == 0)
	}
	got := Threshold(conf, right, 0.02)
	// Brute force: the lowest threshold whose set has Wilson upper <= 2%.
	want := model.Never
	for _, th := range conf {
		e, n := 0, 0
		for i := range conf {
			if conf[i] >= th {
				n++
				if !right[i] {
					e++
				}
			}
		}
		if WilsonUpper(e, n) <= 0.02 && th < want {
			want = th
		}
	}
	if got != want {
		t.Fatalf("Threshold = %v, brute force %v", got, want)
	}
	if got > 0.4+1e-9 || got < 0.3 {
		t.Fatalf("Threshold = %v, expected it a little below the clean 0.4 boundary", got)
	}
	// Too few clean decisions: never.
	if th := Threshold([]float64{0.9, 0.8}, []bool{true, true}, 0.02); th != model.Never {
		t.Fatalf("Threshold on 2 decisions = %v, want Never", th)
	}
}

// TestCalibrationReducesECE: an over-confident model (logits three times too
// large, scores twice too sharp) is calibrated by Platt scaling and the
// temperature, and its expected calibration error drops.
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

// TestThresholdsPerKindNoPooledFallback: every kind must meet the target on
// its own. 1000 right rejects and 300 right crops would carry 50 selects with
// 4 wrong (8%) under a pooled threshold; the select kind must get Never, and
// so must a kind with no calibration decisions at all, while the kinds that
// meet the target alone keep their own thresholds.
func TestThresholdsPerKindNoPooledFallback(t *testing.T) {
	t.Parallel()
	two := []model.Image{{Stage: 1}, {Stage: 2}}
	box := screend.Box{0.1, 0, 0.9, 0.8}
	var items []evalItem
	add := func(n int, kind screend.OutcomeKind, conf float64, ex func(i int) Example, chosen int) {
		for i := 0; i < n; i++ {
			e := ex(i)
			e.Images = two
			items = append(items, evalItem{ex: &e, out: model.Outcome{Kind: kind, Chosen: chosen, Box: box, Confidence: conf}})
		}
	}
	add(1000, screend.OutcomeReject, 0.99, func(int) Example { return Example{Chosen: -1} }, 1)
	add(300, screend.OutcomeCrop, 0.97, func(int) Example { return Example{Chosen: 1, Crop: &box} }, 1)
	add(50, screend.OutcomeSelect, 0.98, func(i int) Example {
		if i < 4 {
			return Example{Chosen: 0} // the human kept the other image
		}
		return Example{Chosen: 1}
	}, 1)

	// the pooled decisions would meet the target: the old fallback's threshold
	var conf []float64
	var right []bool
	for _, it := range items {
		conf = append(conf, it.out.Confidence)
		right = append(right, outcomeRight(it.out, it.ex, 0.5))
	}
	if Threshold(conf, right, 0.02) > 1 {
		t.Fatal("test setup: the pooled decisions should meet the target")
	}

	th := thresholds(items, 0.02, 0.5)
	if th.Select != model.Never {
		t.Errorf("select threshold = %v, want Never (4 of 50 wrong cannot meet 2%% alone)", th.Select)
	}
	if th.Reject != 0.99 || th.Crop != 0.97 {
		t.Errorf("reject, crop thresholds = %v, %v, want 0.99, 0.97 (each meets the target alone)", th.Reject, th.Crop)
	}
	// no crop decisions at all: crop is never automatic either
	var noCrop []evalItem
	for _, it := range items {
		if it.out.Kind != screend.OutcomeCrop {
			noCrop = append(noCrop, it)
		}
	}
	if th := thresholds(noCrop, 0.02, 0.5); th.Crop != model.Never || th.Reject != 0.99 {
		t.Errorf("without crop decisions: thresholds %+v, want crop Never and reject 0.99", th)
	}
	// a select that cannot meet the target is never automatic in Decide
	p := model.DefaultParams("test", 1)
	p.Thresholds = th
	o, err := p.Decide(two, model.Raw{Scores: []float32{0, 20}, CropLogits: []float32{-20, -20},
		Boxes: [][3]float32{{0.5, 0.5, 1}, {0.5, 0.5, 1}}, RejectLogits: []float32{-20, -20}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Kind != screend.OutcomeSelect || o.Auto || o.Confidence < 0.99 {
		t.Errorf("confident select: kind %s auto %v confidence %v, want a select that is not automatic", o.Kind, o.Auto, o.Confidence)
	}
}
