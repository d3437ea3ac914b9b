package training

import (
	"screend"

	"math/rand/v2"
	"testing"

	"screend/scoring/model"
)

// TestCertifyEachKindBelowTarget: the decisions are certified together, but
// a kind whose own error is above the target is not automated. 1000 right
// rejects and 300 right crops would carry 50 selects with 4 wrong (8%) in a
// pool; select gets Never, reject and crop share one threshold.
func TestCertifyEachKindBelowTarget(t *testing.T) {
	t.Parallel()
	var ds []Decision
	add := func(n int, k screend.OutcomeKind, conf float64, wrong int) {
		for i := 0; i < n; i++ {
			ds = append(ds, Decision{Kind: k, Confidence: conf, Right: i >= wrong})
		}
	}
	add(1000, screend.OutcomeReject, 0.99, 0)
	add(300, screend.OutcomeCrop, 0.97, 0)
	add(50, screend.OutcomeSelect, 0.98, 4)
	th := Certify(ds, 0.02)
	if th.Select != model.Never {
		t.Errorf("select threshold %v, want Never (4 of 50 wrong)", th.Select)
	}
	if th.Reject != 0.97 || th.Crop != 0.97 {
		t.Errorf("reject, crop thresholds %v, %v, want both 0.97 (certified together)", th.Reject, th.Crop)
	}
	// Selects right as often as the others are automated with them: a
	// kind too small to certify alone is carried by the pool.
	ds = ds[:1300]
	add(50, screend.OutcomeSelect, 0.98, 0)
	if th := Certify(ds, 0.02); th.Select != 0.97 {
		t.Errorf("right selects: threshold %v, want 0.97", th.Select)
	}
}

// TestCertifyTooFewOrStopsAtFirstFailure: a kind certified on its own
// needs as many perfect decisions as Wilson's bound at its share of the
// level asks for (about 400 at 2%, against about 250 for all kinds
// together and 189 at the full level), and the sequence stops at the first
// test that fails.
func TestCertifyTooFewOrStopsAtFirstFailure(t *testing.T) {
	t.Parallel()
	alone := minCertifiable(0.02, zOneSided(level*subsetShare))
	var few []Decision
	for i := range alone {
		few = append(few, Decision{Kind: screend.OutcomeReject, Confidence: 1 - float64(i)*1e-4, Right: true})
	}
	if th := Certify(few[:alone-1], 0.02); th.Reject != model.Never {
		t.Errorf("%d perfect decisions certified %v: Wilson needs %d", alone-1, th.Reject, alone)
	}
	if th := Certify(few, 0.02); th.Reject != few[alone-1].Confidence || th.Select != model.Never || th.Crop != model.Never {
		t.Errorf("%d perfect rejects: thresholds %+v, want reject %v and the others Never", alone, th, few[alone-1].Confidence)
	}
	for _, c := range []struct {
		alpha    float64
		min, max int
	}{{level, 188, 190}, {level * allShare, 240, 255}, {level * subsetShare, 395, 410}} {
		if m := minCertifiable(0.02, zOneSided(c.alpha)); m < c.min || m > c.max {
			t.Errorf("minCertifiable(2%%) at level %v = %d, want %d-%d", c.alpha, m, c.min, c.max)
		}
	}
	// 300 right, then 60 wrong, then 3000 right: the sequence stops at the
	// wrong ones although the bound over all of them would pass again.
	var ds []Decision
	conf := 1.0
	for _, blk := range []struct {
		n     int
		right bool
	}{{300, true}, {60, false}, {3000, true}} {
		for i := 0; i < blk.n; i++ {
			conf -= 1e-5
			for _, k := range []screend.OutcomeKind{screend.OutcomeSelect, screend.OutcomeReject} {
				ds = append(ds, Decision{Kind: k, Confidence: conf, Right: blk.right})
			}
		}
	}
	th := Certify(ds, 0.02)
	if th.Reject > 1 || th.Reject < ds[2*359].Confidence {
		t.Errorf("threshold %v: want one above the first failing test (confidence %v)", th.Reject, ds[2*359].Confidence)
	}
}

// TestCertifyHoldsTargetInSimulation: with decisions whose true error rate
// is known (it falls with the confidence), the share of runs in which the
// certified threshold's true error rate is above the target stays within
// the procedure's level (one-sided 2.5%, allowed up to 5% here for the
// Wilson approximation and the simulation's noise).
func TestCertifyHoldsTargetInSimulation(t *testing.T) {
	t.Parallel()
	const target, runs, n = 0.02, 400, 5000
	// confidence c uniform on [0, 1]; true error 0.12*(1-c)^2 + 0.001: the
	// error of all decisions with confidence >= t is its mean over [t, 1],
	// 0.04*(1-t)^2 + 0.001, above the target below t = 0.31.
	errAt := func(c float64) float64 { return 0.12*(1-c)*(1-c) + 0.001 }
	trueRisk := func(t float64) float64 { return 0.04*(1-t)*(1-t) + 0.001 }
	rng := rand.New(rand.NewPCG(5, 6))
	over, certified := 0, 0
	for r := 0; r < runs; r++ {
		ds := make([]Decision, n)
		for i := range ds {
			c := rng.Float64()
			ds[i] = Decision{Kind: screend.OutcomeCrop, Confidence: c, Right: rng.Float64() >= errAt(c)}
		}
		th := Certify(ds, target)
		if th.Crop > 1 {
			continue
		}
		certified++
		if trueRisk(th.Crop) > target {
			over++
		}
	}
	if certified < runs/2 {
		t.Fatalf("only %d of %d runs certified a threshold: the simulation does not test anything", certified, runs)
	}
	if rate := float64(over) / runs; rate > 0.05 {
		t.Errorf("true error above target in %d of %d runs (%.1f%%), want at most 5%%", over, runs, 100*rate)
	}
	t.Logf("certified in %d of %d runs, true error above %.0f%% in %d", certified, runs, 100*target, over)
}

// TestCertifyHoldsTargetWithMixedKinds: the same check with three kinds
// of different quality, so that Certify drops a kind and certifies the rest
// again: crops are wrong 3% of the time at every confidence (never good
// enough), selects and rejects get better with the confidence. The true
// error of all automatic decisions together (the certified kinds above
// their shared threshold) stays above the target in at most 5% of the runs,
// and crops are rarely automated.
func TestCertifyHoldsTargetWithMixedKinds(t *testing.T) {
	t.Parallel()
	const target, runs, perKind = 0.02, 400, 6000
	// Error at confidence c, and its mean over [t, 1] (c uniform).
	type kind struct {
		k      screend.OutcomeKind
		errAt  func(c float64) float64
		meanAt func(t float64) float64
	}
	kinds := []kind{
		{screend.OutcomeSelect, func(c float64) float64 { return 0.06*(1-c)*(1-c) + 0.006 },
			func(t float64) float64 { return 0.02*(1-t)*(1-t) + 0.006 }},
		{screend.OutcomeCrop, func(float64) float64 { return 0.03 },
			func(float64) float64 { return 0.03 }},
		{screend.OutcomeReject, func(c float64) float64 { return 0.12*(1-c)*(1-c) + 0.002 },
			func(t float64) float64 { return 0.04*(1-t)*(1-t) + 0.002 }},
	}
	rng := rand.New(rand.NewPCG(7, 8))
	over, certified, crops := 0, 0, 0
	for r := 0; r < runs; r++ {
		var ds []Decision
		for _, k := range kinds {
			for range perKind {
				c := rng.Float64()
				ds = append(ds, Decision{Kind: k.k, Confidence: c, Right: rng.Float64() >= k.errAt(c)})
			}
		}
		th := Certify(ds, target)
		// The kinds share one threshold and as many decisions of each lie
		// above it, so the true error of the automatic decisions is the
		// mean of the certified kinds' own.
		var sum float64
		n := 0
		for _, k := range kinds {
			if tk := th.For(k.k); tk <= 1 {
				sum += k.meanAt(tk)
				n++
				if k.k == screend.OutcomeCrop {
					crops++
				}
			}
		}
		if n == 0 {
			continue
		}
		certified++
		if sum/float64(n) > target {
			over++
		}
	}
	if certified < runs/2 {
		t.Fatalf("only %d of %d runs certified a threshold: the simulation does not test anything", certified, runs)
	}
	if rate := float64(over) / runs; rate > 0.05 {
		t.Errorf("true error above target in %d of %d runs (%.1f%%), want at most 5%%", over, runs, 100*rate)
	}
	if crops > runs/20 {
		t.Errorf("crops (3%% wrong) automated in %d of %d runs", crops, runs)
	}
	t.Logf("certified in %d of %d runs, true error above %.0f%% in %d, crops automated in %d", certified, runs, 100*target, over, crops)
}
