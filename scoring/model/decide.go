package model

import (
	"fmt"
	"math"

	"screend"
)

// Raw holds the three models' outputs for one group, one entry per image.
type Raw struct {
	Scores       []float32    // ranker score
	CropLogits   []float32    // crop model crop_logit
	Boxes        [][3]float32 // crop model box (cx, cy, scale)
	RejectLogits []float32    // reject model reject_logit
}

// Outcome is the decision for one group.
type Outcome struct {
	// Kind is select, crop or reject.
	Kind screend.OutcomeKind `json:"kind"`
	// Chosen is the index of the best-ranked image; for a reject it is the
	// image that would have been kept.
	Chosen int `json:"chosen"`
	// Box is the crop of the chosen image, normalised [x1, y1, x2, y2], inside
	// the image and with its aspect ratio; set for every outcome (a
	// suggestion for a reviewer) but applied only for screend.OutcomeCrop.
	Box screend.Box `json:"box"`
	// Confidence is the calibrated probability that the outcome is right (see
	// the package documentation).
	Confidence float64 `json:"confidence"`
	// Threshold is the confidence the outcome's kind needs to be automatic.
	Threshold float64 `json:"threshold"`
	// Auto reports whether the group may be decided without a human.
	Auto bool `json:"auto"`
	// Reasons lists why the group is flagged; empty when Auto.
	Reasons []screend.Reason `json:"reasons,omitempty"`
	// Scores are the ranker's raw scores, one per image.
	Scores []float64 `json:"scores"`
	// Probs are the calibrated probabilities that each image is the best.
	Probs []float64 `json:"probs"`
	// PChoice, PCrop and PReject are the calibrated factors of Confidence.
	PChoice float64 `json:"p_choice"`
	PCrop   float64 `json:"p_crop"`
	PReject float64 `json:"p_reject"`
}

// Decide turns the models' raw outputs for a group into its outcome.
func (p Params) Decide(group []Image, raw Raw) (Outcome, error) {
	n := len(group)
	if n == 0 {
		return Outcome{}, fmt.Errorf("decide: empty group")
	}
	if len(raw.Scores) != n || len(raw.CropLogits) != n || len(raw.Boxes) != n || len(raw.RejectLogits) != n {
		return Outcome{}, fmt.Errorf("decide: %d images but %d scores, %d crop logits, %d boxes, %d reject logits",
			n, len(raw.Scores), len(raw.CropLogits), len(raw.Boxes), len(raw.RejectLogits))
	}
	t := p.Temperature
	if !(t > 0) {
		t = 1
	}
	o := Outcome{Scores: make([]float64, n), Probs: make([]float64, n)}
	best, mx := 0, math.Inf(-1)
	for i, s := range raw.Scores {
		o.Scores[i] = float64(s)
		if v := float64(s) / t; v > mx {
			best, mx = i, v
		}
	}
	var sum float64
	for i := range o.Probs {
		o.Probs[i] = math.Exp(o.Scores[i]/t - mx)
		sum += o.Probs[i]
	}
	for i := range o.Probs {
		o.Probs[i] /= sum
	}
	var zr float64
	for _, z := range raw.RejectLogits {
		zr += float64(z)
	}
	zr /= float64(n)
	o.Chosen = best
	o.PChoice = o.Probs[best]
	detail := p.Detail(group)
	o.PCrop = p.CropProbability(raw.CropLogits[best], detail)
	o.PReject = p.RejectPlatt.Apply(zr)
	o.Box = p.CropBox(raw.Boxes[best], detail)

	keep := 1 - o.PReject
	var cropF float64 // the crop factor of the confidence
	switch {
	case o.PReject >= 0.5:
		o.Kind, o.Confidence = screend.OutcomeReject, o.PReject
	case o.PCrop >= 0.5:
		cropF = p.CropRight.Apply(o.PCrop)
		o.Kind, o.Confidence = screend.OutcomeCrop, keep*o.PChoice*cropF
	default:
		cropF = 1 - o.PCrop
		o.Kind, o.Confidence = screend.OutcomeSelect, keep*o.PChoice*cropF
	}
	o.Threshold = p.Thresholds.For(o.Kind)
	if n == 1 {
		o.Reasons = append(o.Reasons, screend.ReasonSingleImage)
	}
	if o.Confidence < o.Threshold {
		o.Reasons = append(o.Reasons, lowFactors(o, keep, cropF)...)
	}
	o.Auto = len(o.Reasons) == 0
	return o, nil
}

// lowFactors names the factors of a confidence that fell short of its
// threshold: every factor that alone is below the threshold, or else the
// smallest one.
func lowFactors(o Outcome, keep, cropF float64) []screend.Reason {
	type factor struct {
		p      float64
		reason screend.Reason
	}
	var fs []factor
	if o.Kind == screend.OutcomeReject {
		fs = []factor{{o.PReject, screend.ReasonRejectUncertain}}
	} else {
		fs = []factor{{keep, screend.ReasonRejectUncertain}, {o.PChoice, screend.ReasonLowMargin}, {cropF, screend.ReasonCropUncertain}}
	}
	var out []screend.Reason
	low := fs[0]
	for _, f := range fs {
		if f.p < o.Threshold {
			out = append(out, f.reason)
		}
		if f.p < low.p {
			low = f
		}
	}
	if len(out) == 0 {
		out = append(out, low.reason)
	}
	return out
}
