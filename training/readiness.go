package training

import (
	"screend"

	"math"
	"sort"

	"screend/scoring/model"
)

// readiness says per kind how far the model p is from deciding alone, from
// the newest recent of the cross-certified items (each judged by networks
// and thresholds that never saw it).
//
// MoreReviews is an estimate. For a kind already automated it is 0. For
// the others it takes the kind's most confident half of its decisions
// (those a threshold would take first): with their observed error rate e
// below the target, the kind needs about n decisions at that rate for the
// Wilson bound to reach the target at the level it is certified at on its
// own (Certify), and reviewed groups yield the kind's
// most confident half at its share s of all groups, so it needs about
// n / (s/2) reviewed groups in all, less those it has. With e at or above
// the target, or too few decisions to tell (fewer than 10), it is -1.
func readiness(items []evalItem, p model.Params, recent int) []model.Readiness {
	from := max(0, len(items)-recent)
	kinds := []screend.OutcomeKind{screend.OutcomeSelect, screend.OutcomeCrop, screend.OutcomeReject}
	out := make([]model.Readiness, len(kinds))
	for i, k := range kinds {
		r := model.Readiness{Kind: k, Automated: p.Thresholds.For(k) <= 1, Recent: len(items) - from}
		for _, it := range items[from:] {
			if it.out.Auto && it.out.Kind == k {
				r.Alone++
				if !outcomeRight(it.out, it.ex, p.CropIoUMin) {
					r.Wrong++
				}
			}
		}
		if !r.Automated {
			r.MoreReviews = moreReviews(items, k, p)
		}
		out[i] = r
	}
	return out
}

// moreReviews estimates the reviewed groups kind k still needs (see readiness).
func moreReviews(items []evalItem, k screend.OutcomeKind, p model.Params) int {
	var conf []float64
	var right []bool
	for _, it := range items {
		if it.out.Kind == k && len(it.ex.Images) >= 2 && !(it.ex.CropUnknown && k != screend.OutcomeReject) {
			conf = append(conf, it.out.Confidence)
			right = append(right, outcomeRight(it.out, it.ex, p.CropIoUMin))
		}
	}
	if len(conf) < 20 || len(items) == 0 {
		return -1
	}
	// the most confident half
	order := make([]int, len(conf))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return conf[order[a]] > conf[order[b]] })
	half := order[:len(order)/2]
	errs := 0
	for _, i := range half {
		if !right[i] {
			errs++
		}
	}
	e := float64(errs) / float64(len(half))
	if e >= p.TargetErrorRate {
		return -1
	}
	n := len(half)
	z := zOneSided(level * subsetShare) // the kind certified on its own
	for wilsonUpper(int(math.Round(e*float64(n))), n, z) > p.TargetErrorRate {
		n++
		if n > 1_000_000 {
			return -1
		}
	}
	share := float64(len(half)) / float64(len(items))
	return max(0, int(math.Ceil(float64(n)/share))-len(items))
}
