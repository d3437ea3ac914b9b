package training

import (
	"screend"

	"sort"

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

// Certify returns the per-kind thresholds for decisions like ds, certified
// together: the lowest confidence t such that every automatic decision at
// or above t, whatever its kind, has a Wilson 95% upper error bound of at
// most target, found by fixed-sequence testing; kinds whose own observed
// error rate at t is above target get model.Never, and the rest share t.
//
// Fixed-sequence testing: the hypotheses "the error rate of the decisions
// with confidence >= t_j is above target" are tested in an order fixed
// before the labels are looked at — t_j the confidence of the j-th most
// confident decision, starting at the smallest j at which a perfect record
// could pass (Wilson's bound with no error needs about 1.92/target
// decisions) and going down one decision at a time — each at the full
// level, stopping at the first that is not rejected. This controls the
// chance of certifying any threshold whose true error is above target at
// the test's level (about 2.5%, one-sided), however many thresholds are
// scanned, which a search for the lowest threshold that happens to pass
// does not.
//
// A kind that fails its own check is dropped and the sequence is run again
// on the remaining kinds, until every kept kind is below target.
func Certify(ds []Decision, target float64) model.Thresholds {
	kinds := map[screend.OutcomeKind]bool{screend.OutcomeSelect: true, screend.OutcomeCrop: true, screend.OutcomeReject: true}
	for {
		var pool []Decision
		for _, d := range ds {
			if kinds[d.Kind] {
				pool = append(pool, d)
			}
		}
		t := fixedSequence(pool, target)
		if t > 1 {
			return model.Thresholds{Select: model.Never, Crop: model.Never, Reject: model.Never}
		}
		// Each kind's own observed error at t.
		n, errs := map[screend.OutcomeKind]int{}, map[screend.OutcomeKind]int{}
		for _, d := range pool {
			if d.Confidence >= t {
				n[d.Kind]++
				if !d.Right {
					errs[d.Kind]++
				}
			}
		}
		dropped := false
		for k := range kinds {
			if n[k] > 0 && float64(errs[k]) > target*float64(n[k]) {
				delete(kinds, k)
				dropped = true
			}
		}
		if dropped {
			continue
		}
		th := func(k screend.OutcomeKind) float64 {
			if kinds[k] {
				return t
			}
			return model.Never
		}
		return model.Thresholds{Select: th(screend.OutcomeSelect), Crop: th(screend.OutcomeCrop), Reject: th(screend.OutcomeReject)}
	}
}

// fixedSequence returns the lowest confidence certified by fixed-sequence
// testing of ds (see Certify), model.Never when the first test fails.
func fixedSequence(ds []Decision, target float64) float64 {
	s := append([]Decision(nil), ds...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Confidence > s[j].Confidence })
	start := minCertifiable(target)
	best := model.Never
	errs := 0
	for i, d := range s {
		if !d.Right {
			errs++
		}
		n := i + 1
		if n < start {
			continue
		}
		// a threshold takes all decisions of equal confidence
		if n < len(s) && s[n].Confidence == d.Confidence {
			continue
		}
		if WilsonUpper(errs, n) > target {
			break
		}
		best = d.Confidence
	}
	return best
}

// minCertifiable is the least number of decisions whose Wilson 95% upper
// error bound can be at most target: all of them right.
func minCertifiable(target float64) int {
	n := 1
	for WilsonUpper(0, n) > target && n < 1<<20 {
		n++
	}
	return n
}
