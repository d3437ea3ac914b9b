package training

import (
	"context"
	"fmt"

	"screend/sql"

	"screend/scoring/model"
)

// BundleEval is how a model bundle, run through ONNX Runtime as the daemon
// runs it, does on a set of held-out groups.
type BundleEval struct {
	Groups int `json:"groups"`
	// Right counts the groups whose whole outcome agrees with the human
	// (kind, image, and for a crop a box with IoU >= the crop IoU minimum);
	// OutcomeAccuracy is Right / Groups.
	Right           int     `json:"right"`
	OutcomeAccuracy float64 `json:"outcome_accuracy"`
	// AutoDecided counts the groups the bundle would decide without a
	// human at its own thresholds; Coverage is AutoDecided / Groups.
	AutoDecided int     `json:"auto_decided"`
	Coverage    float64 `json:"coverage"`
	// AutoErrors counts the automatic decisions that were wrong;
	// AutoErrorRate is AutoErrors / AutoDecided, AutoErrorUpper its Wilson
	// 95% upper bound.
	AutoErrors     int     `json:"auto_errors"`
	AutoErrorRate  float64 `json:"auto_error_rate"`
	AutoErrorUpper float64 `json:"auto_error_upper"`
}

// EvaluateBundle runs b on every example and scores its outcomes against
// the human's. iouMin is the IoU an automatic crop needs to count as right.
func EvaluateBundle(ctx context.Context, b *model.Bundle, examples []Example, iouMin float64) (BundleEval, error) {
	var ev BundleEval
	for i := range examples {
		e := &examples[i]
		o, err := b.Decide(ctx, e.Project, e.Images)
		if err != nil {
			return BundleEval{}, fmt.Errorf("evaluate on %s/%s: %w", e.Project, e.GroupKey, err)
		}
		ev.Groups++
		right := outcomeRight(o, e, iouMin)
		if right {
			ev.Right++
		}
		if o.Auto {
			ev.AutoDecided++
			if !right {
				ev.AutoErrors++
			}
		}
	}
	ev.OutcomeAccuracy = ratio(ev.Right, ev.Groups)
	ev.Coverage = ratio(ev.AutoDecided, ev.Groups)
	ev.AutoErrorRate = ratio(ev.AutoErrors, ev.AutoDecided)
	ev.AutoErrorUpper = WilsonUpper(ev.AutoErrors, ev.AutoDecided)
	return ev, nil
}

// GateResult is the promotion gate's verdict on a candidate model.
type GateResult struct {
	Pass bool `json:"pass"`
	// Reason says why, in one sentence.
	Reason string `json:"reason"`
	// On says which held-out groups both models were run on ("test", or
	// "calibration" when the run had no test groups).
	On        string      `json:"on"`
	Candidate BundleEval  `json:"candidate"`
	Active    *BundleEval `json:"active,omitempty"`
	ActiveID  int64       `json:"active_model_id,omitempty"`
}

// Gate decides whether a candidate is no worse than the active model, both
// evaluated with EvaluateBundle on the same held-out groups. "No worse"
// means all three of:
//
//  1. outcome accuracy: candidate >= active;
//  2. coverage at the target error rate: candidate >= active;
//  3. automatic mistakes: candidate <= active + target * (candidate's
//     automatic decisions - active's), that is the extra groups the
//     candidate decides alone may be wrong at the target error rate at most,
//     and none of its other automatic decisions may be (more coverage bought
//     with more mistakes is worse).
//
// Ties pass, so retraining on the same data keeps working. Comparisons are
// of counts over the same groups, so there is no rounding.
func Gate(cand, active BundleEval, target float64) (bool, string) {
	if cand.Groups != active.Groups {
		return false, fmt.Sprintf("evaluated on %d and %d groups: not comparable", cand.Groups, active.Groups)
	}
	if cand.Right < active.Right {
		return false, fmt.Sprintf("outcome accuracy %.3f is below the active model's %.3f", cand.OutcomeAccuracy, active.OutcomeAccuracy)
	}
	if cand.AutoDecided < active.AutoDecided {
		return false, fmt.Sprintf("coverage %.3f is below the active model's %.3f", cand.Coverage, active.Coverage)
	}
	allowed := float64(active.AutoErrors) + target*float64(cand.AutoDecided-active.AutoDecided)
	if float64(cand.AutoErrors) > allowed+1e-9 {
		return false, fmt.Sprintf("%d automatic mistakes, more than the %.2f allowed (the active model's %d plus the target rate on the extra groups)",
			cand.AutoErrors, allowed, active.AutoErrors)
	}
	return true, fmt.Sprintf("no worse than the active model: outcome accuracy %.3f >= %.3f, coverage %.3f >= %.3f, automatic mistakes %d <= %.2f",
		cand.OutcomeAccuracy, active.OutcomeAccuracy, cand.Coverage, active.Coverage, cand.AutoErrors, allowed)
}

// HeldOutExamples returns the examples the gate compares models on: the
// test groups of SplitExamples(examples, heldOut), or, when there are
// none, all groups ("train": then the candidate has seen them).
func HeldOutExamples(examples []Example, heldOut float64) ([]Example, string) {
	s := SplitExamples(examples, heldOut)
	idx, on := s.Test, "test"
	if len(idx) == 0 {
		idx, on = s.Train, "train"
	}
	out := make([]Example, len(idx))
	for i, j := range idx {
		out[i] = examples[j]
	}
	return out, on
}

// gateAgainstActive runs the candidate and the active model through ONNX
// Runtime on the same held-out groups of the new run and compares them with
// Gate.
func gateAgainstActive(ctx context.Context, db *sql.DB, embedderID int32, examples []Example, res Result, cfg Config) (GateResult, error) {
	held, on := HeldOutExamples(examples, cfg.HeldOut)
	g := GateResult{On: on}
	cand, err := model.NewBundle(res.Ranker, res.Crop, res.Reject, res.Params, 1)
	if err != nil {
		return g, fmt.Errorf("open candidate: %w", err)
	}
	defer cand.Close()
	if g.Candidate, err = EvaluateBundle(ctx, cand, held, cfg.CropIoUMin); err != nil {
		return g, err
	}
	active, err := db.ActiveModel(ctx)
	if err != nil {
		return g, err
	}
	if active == nil {
		g.Pass, g.Reason = true, "no model is active"
		return g, nil
	}
	g.ActiveID = active.ID
	if active.EmbedderID != embedderID {
		g.Pass, g.Reason = true, fmt.Sprintf("the active model %d takes another embedder's vectors and cannot decide these groups", active.ID)
		return g, nil
	}
	p, err := model.UnmarshalParams(active.Params)
	if err == nil && p.EmbeddingDim != res.Params.EmbeddingDim {
		err = fmt.Errorf("it takes %d-d embeddings, not %d", p.EmbeddingDim, res.Params.EmbeddingDim)
	}
	var ab *model.Bundle
	if err == nil {
		ab, err = model.NewBundle(active.Ranker, active.Crop, active.Reject, p, 1)
	}
	if err != nil {
		// The daemon cannot use it either.
		g.Pass, g.Reason = true, fmt.Sprintf("the active model %d cannot be loaded (%v)", active.ID, err)
		return g, nil
	}
	defer ab.Close()
	ae, err := EvaluateBundle(ctx, ab, held, cfg.CropIoUMin)
	if err != nil {
		return g, err
	}
	g.Active = &ae
	g.Pass, g.Reason = Gate(g.Candidate, ae, cfg.TargetErrorRate)
	return g, nil
}
