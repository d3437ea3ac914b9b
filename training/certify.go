package training

import (
	"screend"

	"cmp"
	"math"
	"slices"

	"screend/scoring/model"
)

// Decision is one out-of-fold decision the certification looks at: the
// model's outcome kind and calibrated confidence for a group, and whether
// it agreed with the human.
type Decision struct {
	Kind       screend.OutcomeKind
	Confidence float64
	Right      bool
}

// level is the chance the certification may take of automating decisions
// whose error is above the target: one-sided 2.5%, the upper side of the
// Wilson 95% interval the old workflow gated on.
const level = 0.025

// family is a set of kinds certified together, and its share of level.
type family struct {
	kinds []screend.OutcomeKind
	share float64
}

// The shares of level: all three kinds together get half (the usual case,
// where every kind is good enough), each pair and each single kind a
// twelfth, so that a kind that is never good enough (such as crops, when
// people keep a share of their crop calls whole at random) does not stop
// the others from being certified.
const (
	allShare    = 1.0 / 2
	subsetShare = 1.0 / 12
)

// families are the sets of kinds Certify tries.
var families = []family{
	{[]screend.OutcomeKind{screend.OutcomeSelect, screend.OutcomeCrop, screend.OutcomeReject}, allShare},
	{[]screend.OutcomeKind{screend.OutcomeSelect, screend.OutcomeCrop}, subsetShare},
	{[]screend.OutcomeKind{screend.OutcomeSelect, screend.OutcomeReject}, subsetShare},
	{[]screend.OutcomeKind{screend.OutcomeCrop, screend.OutcomeReject}, subsetShare},
	{[]screend.OutcomeKind{screend.OutcomeSelect}, subsetShare},
	{[]screend.OutcomeKind{screend.OutcomeCrop}, subsetShare},
	{[]screend.OutcomeKind{screend.OutcomeReject}, subsetShare},
}

// Certify returns the per-kind thresholds for decisions like ds: a set of
// kinds and one confidence t they share, such that the automatic decisions
// of those kinds at or above t have a Wilson upper error bound of at most
// target, and each kind's own observed error there is at most target too.
// Of the sets and thresholds that qualify, it takes the one that decides
// the most of ds alone; the other kinds get model.Never.
//
// Each set of kinds (families) is tested by fixed-sequence testing: the
// hypotheses "the error rate of the set's decisions with confidence >= t_j
// is above target" are tested in an order fixed before the labels are
// looked at — t_j the confidence of the j-th most confident decision,
// starting at the smallest j at which a perfect record could pass, and
// going down one decision at a time — each at the set's share of level,
// stopping at the first that is not rejected. The shares add up to level
// (Bonferroni), so the chance that any certified set and threshold has a
// true error above target is at most level, however many thresholds and
// sets are scanned, and the choice among them keeps that bound.
func Certify(ds []Decision, target float64) model.Thresholds {
	sorted := slices.Clone(ds)
	// the order of equal confidences does not matter: a threshold takes them all
	slices.SortFunc(sorted, func(a, b Decision) int { return cmp.Compare(b.Confidence, a.Confidence) })
	best := model.Thresholds{Select: model.Never, Crop: model.Never, Reject: model.Never}
	bestN := 0
	for _, f := range families {
		t, n := fixedSequence(sorted, f, target)
		if n <= bestN {
			continue
		}
		th := func(k screend.OutcomeKind) float64 {
			if slices.Contains(f.kinds, k) {
				return t
			}
			return model.Never
		}
		best = model.Thresholds{Select: th(screend.OutcomeSelect), Crop: th(screend.OutcomeCrop), Reject: th(screend.OutcomeReject)}
		bestN = n
	}
	return best
}

// fixedSequence returns the lowest confidence certified for the kinds of f
// by fixed-sequence testing of their decisions in ds, most confident first
// (see Certify), at which each of those kinds has decisions and an
// observed error of at most target, and how many decisions it takes;
// model.Never and 0 when there is none.
func fixedSequence(ds []Decision, f family, target float64) (float64, int) {
	s := slices.DeleteFunc(slices.Clone(ds), func(d Decision) bool { return !slices.Contains(f.kinds, d.Kind) })
	z := zOneSided(level * f.share)
	start := minCertifiable(target, z)
	best, bestN := model.Never, 0
	errs := 0
	var nOf, errsOf [3]int // per kind of f
	for i, d := range s {
		k := slices.Index(f.kinds, d.Kind)
		nOf[k]++
		if !d.Right {
			errs++
			errsOf[k]++
		}
		n := i + 1
		if n < start {
			continue
		}
		// a threshold takes all decisions of equal confidence
		if n < len(s) && s[n].Confidence == d.Confidence {
			continue
		}
		if wilsonUpper(errs, n, z) > target {
			break
		}
		eachKind := true
		for k := range f.kinds {
			if nOf[k] == 0 || float64(errsOf[k]) > target*float64(nOf[k]) {
				eachKind = false
			}
		}
		if eachKind {
			best, bestN = d.Confidence, n
		}
	}
	return best, bestN
}

// zOneSided is the standard normal quantile z with P(Z > z) = alpha.
func zOneSided(alpha float64) float64 { return math.Sqrt2 * math.Erfinv(1-2*alpha) }

// minCertifiable is the least number of decisions whose Wilson upper error
// bound at z can be at most target: all of them right.
func minCertifiable(target, z float64) int {
	n := 1
	for wilsonUpper(0, n, z) > target && n < 1<<20 {
		n++
	}
	return n
}
