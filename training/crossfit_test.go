package training

import (
	"context"
	"log/slog"
	"testing"

	"screend/scoring/model"
)

func TestAssignFoldsKeepsGroupsWhole(t *testing.T) {
	t.Parallel()
	examples := synthetic(3, 90, 4, "a", "b")
	// a second decision of group 5, as after an undo: same group, same fold
	examples = append(examples, examples[5])
	idx := make([]int, len(examples))
	for i := range idx {
		idx[i] = i
	}
	folds := assignFolds(examples, idx, 4)
	if folds[5] != folds[len(examples)-1] {
		t.Fatalf("one group in folds %d and %d", folds[5], folds[len(examples)-1])
	}
	per := map[[2]string]int{}
	for i, f := range folds {
		if f < 0 || f >= 4 {
			t.Fatalf("example %d in fold %d", i, f)
		}
		per[[2]string{examples[i].Project, string(rune('0' + f))}]++
	}
	for _, p := range []string{"a", "b"} {
		for f := 0; f < 4; f++ {
			if n := per[[2]string{p, string(rune('0' + f))}]; n < 11 || n > 13 {
				t.Errorf("project %s fold %d holds %d groups, want 11-12", p, f, n)
			}
		}
	}
}

// TestNoGroupCalibratesItsOwnThreshold: a group is scored by networks
// trained without it, and judged with a calibration and thresholds
// certified on the other folds' out-of-fold decisions, without its own.
// Changing its human decision changes neither its raw outputs nor how it
// is judged (confidence, threshold), while it does change how the other
// folds' groups are judged, so the test can tell. (The other folds'
// networks did learn from it: cross-fitting keeps a group's decision out
// of its own scores and thresholds, not out of everyone else's.)
func TestNoGroupCalibratesItsOwnThreshold(t *testing.T) {
	t.Parallel()
	cfg := Config{EmbedderID: "test", MaxEpochs: 8, Patience: 3, Folds: 3, TargetErrorRate: 0.1,
		RankerHidden: []int{8}, CropHidden: []int{8}, RejectHidden: []int{8}}.withDefaults()
	log := slog.New(slog.DiscardHandler)
	fitAll := func(examples []Example) []oof {
		idx := make([]int, len(examples))
		for i := range idx {
			idx[i] = i
		}
		items, _, err := crossFit(context.Background(), examples, idx, assignFolds(examples, idx, cfg.Folds), cfg.Folds, cfg, log, func(int) {})
		if err != nil {
			t.Fatal(err)
		}
		return items
	}
	base := model.DefaultParams("test", 16)
	base.TargetErrorRate = cfg.TargetErrorRate
	judgeAll := func(items []oof) map[string]evalItem {
		out := map[string]evalItem{}
		for _, it := range crossCertify(items, base, cfg.CropIoUMin) {
			out[it.ex.GroupKey] = it
		}
		return out
	}
	examples := synthetic(21, 600, 16)
	items := fitAll(examples)
	before := judgeAll(items)
	// Flip the decisions of every tenth group of fold 0: kept <-> rejected.
	flipped := append([]Example(nil), examples...)
	changed := map[string]bool{}
	for i := 0; i < len(flipped); i += 30 {
		e := &flipped[i]
		if e.Rejected() {
			e.Chosen, e.Crop = len(e.Images)-1, nil
		} else {
			e.Chosen, e.Crop = -1, nil
		}
		changed[e.GroupKey] = true
	}
	// Its own scores do not depend on its decision.
	for _, it := range fitAll(flipped) {
		if changed[it.ex.GroupKey] && it.raw.RejectLogits[0] != before[it.ex.GroupKey].raw.RejectLogits[0] {
			t.Fatalf("group %s: out-of-fold reject logit changed with its own decision", it.ex.GroupKey)
		}
	}
	// Nor its calibration and threshold: the same scores, flipped labels.
	relabelled := make([]oof, len(items))
	byKey := map[string]*Example{}
	for i := range flipped {
		byKey[flipped[i].GroupKey] = &flipped[i]
	}
	for i, it := range items {
		relabelled[i] = oof{ex: byKey[it.ex.GroupKey], fold: it.fold, raw: it.raw}
	}
	after := judgeAll(relabelled)
	for k := range changed {
		b, a := before[k], after[k]
		if b.out.Confidence != a.out.Confidence || b.out.Threshold != a.out.Threshold || b.out.Kind != a.out.Kind {
			t.Fatalf("group %s: judged %+v before and %+v after its own decision changed", k, b.out, a.out)
		}
	}
	// The other folds' judgements did change: the flips were seen there.
	diff := 0
	for k, b := range before {
		if a := after[k]; a.out.Confidence != b.out.Confidence {
			diff++
		}
	}
	if diff == 0 {
		t.Fatal("no judgement changed: the flipped decisions were never used")
	}
}
