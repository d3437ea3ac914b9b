package model

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"screend"
	"screend/scoring/embed"
)

// ParamsVersion is the version of the Params format written by this package.
const ParamsVersion = 1

// Defaults of Params fields that training does not set.
const (
	// DefaultTargetErrorRate is the error rate the thresholds are set for.
	DefaultTargetErrorRate = 0.02
	// DefaultCropIoUMin is the IoU with the human's box an automatic crop
	// needs to count as right when thresholds are set.
	DefaultCropIoUMin = 0.5
	// Never is a threshold that no confidence reaches: the kind is never
	// decided automatically.
	Never = 2.0
)

// Platt holds the Platt scaling p = sigmoid(A*z + B) of a logit z.
type Platt struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

// Apply returns the calibrated probability of logit z.
func (p Platt) Apply(z float64) float64 { return sigmoid(p.A*z + p.B) }

// Thresholds are the lowest confidences at which each outcome kind is
// decided automatically; a value above 1 (Never) disables that kind.
type Thresholds struct {
	Select float64 `json:"select"`
	Crop   float64 `json:"crop"`
	Reject float64 `json:"reject"`
}

// ThresholdOverrides are optional per-kind confidence thresholds that
// replace a model's (SCREEND_THRESHOLD_*); nil keeps the model's.
type ThresholdOverrides struct {
	Select, Crop, Reject *float64
}

// Apply replaces the thresholds that are overridden.
func (o ThresholdOverrides) Apply(t *Thresholds) {
	for _, p := range []struct {
		o *float64
		t *float64
	}{{o.Select, &t.Select}, {o.Crop, &t.Crop}, {o.Reject, &t.Reject}} {
		if p.o != nil {
			*p.t = *p.o
		}
	}
}

// For returns the threshold of kind k.
func (t Thresholds) For(k screend.OutcomeKind) float64 {
	switch k {
	case screend.OutcomeSelect:
		return t.Select
	case screend.OutcomeCrop:
		return t.Crop
	case screend.OutcomeReject:
		return t.Reject
	}
	return Never
}

// Summary is the held-out evaluation stored with a model, so the registry can
// show and compare models without the full report.
type Summary struct {
	TrainedAt          time.Time `json:"trained_at"`
	TrainGroups        int       `json:"train_groups"`
	TestGroups         int       `json:"test_groups"`
	SelectionAccuracy  float64   `json:"selection_accuracy"`
	AnomalyAccuracy    float64   `json:"anomaly_accuracy"`
	NormalAccuracy     float64   `json:"normal_accuracy"`
	BaselineAccuracy   float64   `json:"baseline_accuracy"`
	RejectAccuracy     float64   `json:"reject_accuracy"`
	CropAccuracy       float64   `json:"crop_accuracy"`
	CropIoU            float64   `json:"crop_iou"`
	OutcomeAccuracy    float64   `json:"outcome_accuracy"`
	ECE                float64   `json:"ece"`
	Coverage           float64   `json:"coverage"`
	AutoErrorRate      float64   `json:"auto_error_rate"`
	AutoErrorRateUpper float64   `json:"auto_error_rate_upper"`
}

// Params is everything Decide needs beside the three ONNX models; it is
// stored with the models (as JSON) in the database.
type Params struct {
	// Version is the format version, ParamsVersion.
	Version int `json:"version"`
	// EmbedderID is the ID of the embedder whose vectors the models take.
	EmbedderID string `json:"embedder_id"`
	// EmbeddingDim is E, the length of the embeddings.
	EmbeddingDim int `json:"embedding_dim"`
	// MetaDim is M, the number of meta features the models take: the first
	// M columns of MetaFeatures (MetaDim, or 12 for models trained before
	// the local changes).
	MetaDim int `json:"meta_dim"`
	// Grid is the layout of the embedding the local-change meta features
	// compare regions with (embed.GridOf the embedder); none: they are 0.
	Grid embed.Grid `json:"grid,omitzero"`
	// Temperature divides the ranker's scores before the softmax (default 1).
	Temperature float64 `json:"temperature"`
	// CropPlatt calibrates the crop model's crop_logit.
	CropPlatt Platt `json:"crop_platt"`
	// BoxShrink moves the crop model's box towards the prior box (Prior):
	// 0 keeps the model's box, 1 is the prior; training sets it to what
	// framed the out-of-fold crops best.
	BoxShrink float64 `json:"box_shrink,omitempty"`
	// FrameScale is the prior box's linear scale as a function of the
	// group's detail outside the usual frame (Prior): people crop tighter
	// the less the margins hold. Training fits it to the out-of-fold crops
	// by least squares; zero: PriorCrop's scale whatever the detail.
	FrameScale Linear `json:"frame_scale,omitzero"`
	// CropDetail weighs the share of the picture's detail outside the
	// frame people usually keep (Detail) into the crop logit before
	// CropPlatt (CropProbability): people crop away margins that hold
	// little. 0 without a grid.
	CropDetail float64 `json:"crop_detail,omitempty"`
	// CropRight maps the P(crop) of a crop call (at least 0.5) to the
	// probability that the crop is right: the human cropped, to a box
	// with IoU at least CropIoUMin with the model's. Platt scaling cannot
	// say that no crop call is more than about 90% right (people mark
	// some crops full-frame, that is no crop, whatever the picture, and
	// frame some pictures far from the model's box); isotonic regression
	// of the out-of-fold crop calls' rightness on their P(crop) can. The
	// zero Steps leaves P(crop).
	CropRight Steps `json:"crop_right,omitzero"`
	// CropOffsets are added per project to CropPlatt.B (ForProject): whether
	// to crop differs between projects (and the people who review them).
	CropOffsets map[string]float64 `json:"crop_offsets,omitempty"`
	// RejectPlatt calibrates the group's pooled reject logit.
	RejectPlatt Platt `json:"reject_platt"`
	// Thresholds are the per-kind confidence thresholds.
	Thresholds Thresholds `json:"thresholds"`
	// TargetErrorRate is the error rate the thresholds were set for (default 0.02).
	TargetErrorRate float64 `json:"target_error_rate"`
	// CropIoUMin is the IoU an automatic crop needed to count as right when
	// the crop threshold was set (default 0.5).
	CropIoUMin float64 `json:"crop_iou_min"`
	// UnfamiliarDistance is the cosine distance from a group's best image to
	// the nearest image of the training data beyond which the group is
	// unfamiliar and flagged for review; 0 disables the check.
	UnfamiliarDistance float64 `json:"unfamiliar_distance,omitempty"`
	// Evaluation summarises the held-out evaluation.
	Evaluation Summary `json:"evaluation"`
	// Readiness says per kind how far the model is from deciding alone.
	Readiness []Readiness `json:"readiness,omitempty"`
}

// Readiness is, for one outcome kind, how many of the recent reviewed
// groups the model would have decided alone (judged out of fold, with
// thresholds certified without them) and about how many more reviewed
// groups it needs before the kind can be certified.
type Readiness struct {
	Kind screend.OutcomeKind `json:"kind"`
	// Automated reports whether the kind has a threshold.
	Automated bool `json:"automated"`
	// Recent is the number of recent reviewed groups looked at; Alone of
	// them the model would have decided alone with this kind, Wrong of
	// those disagreeing with the human.
	Recent int `json:"recent"`
	Alone  int `json:"alone"`
	Wrong  int `json:"wrong"`
	// MoreReviews is about how many more reviewed groups the kind needs to
	// be certified: 0 when it is, -1 when its error rate is above the
	// target at every confidence (more reviews alone will not do).
	MoreReviews int `json:"more_reviews"`
}

// PriorCrop is how people frame a subject (docs/upstream-workflow.md):
// centred horizontally, anchored at the top, linear scale 0.72 (the
// median), as (cx, cy, scale).
var PriorCrop = [3]float64{0.5, 0.36, 0.72}

// Steps is a non-decreasing step function: Y[k] for x up to X[k] (the
// first such k), the last Y beyond the last X. The zero Steps is the
// identity.
type Steps struct {
	X []float64 `json:"x"`
	Y []float64 `json:"y"`
}

// Apply returns the function's value at x.
func (s Steps) Apply(x float64) float64 {
	if len(s.X) == 0 {
		return x
	}
	k, _ := slices.BinarySearch(s.X, x)
	return s.Y[min(k, len(s.Y)-1)]
}

// Linear is the line y = A + B*x.
type Linear struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

// Detail returns the share of a group's detail outside the frame people
// usually keep (DetailOutsideFrame) in its lowest stage: the picture that
// is kept, before upscaling adds artefacts of its own. It is 0.5 without
// a grid.
func (p Params) Detail(group []Image) float64 {
	i := LowestStage(group)
	if i < 0 {
		return 0.5
	}
	return DetailOutsideFrame(group[i].Embedding, p.Grid)
}

// Prior returns the prior box (cx, cy, scale) of a picture whose detail
// outside the usual frame is detail: PriorCrop, with the scale
// FrameScale gives when set, top-anchored as PriorCrop is.
func (p Params) Prior(detail float64) [3]float64 {
	if p.FrameScale == (Linear{}) {
		return PriorCrop
	}
	s := min(1, max(screend.MinScale, p.FrameScale.A+p.FrameScale.B*detail))
	return [3]float64{PriorCrop[0], PriorCrop[1] * s / PriorCrop[2], s}
}

// CropBox returns the crop of a box output (cx, cy, scale) of the crop
// model for a picture whose detail outside the usual frame is detail,
// moved BoxShrink of the way towards the prior box.
func (p Params) CropBox(b [3]float32, detail float64) screend.Box {
	prior := p.Prior(detail)
	var c [3]float64
	for k := range c {
		c[k] = float64(b[k]) + p.BoxShrink*(prior[k]-float64(b[k]))
	}
	return screend.BoxFromCenter(c[0], c[1], c[2])
}

// CropProbability returns the calibrated probability that the human crops
// the kept image of a group, from the crop model's logit z for it and the
// group's Detail.
func (p Params) CropProbability(z float32, detail float64) float64 {
	return p.CropPlatt.Apply(float64(z) + p.CropDetail*detail)
}

// ForProject returns the parameters for a group of project: the crop
// calibration with the project's offset.
func (p Params) ForProject(project string) Params {
	if d, ok := p.CropOffsets[project]; ok {
		p.CropPlatt.B += d
	}
	return p
}

// DefaultParams returns uncalibrated parameters (temperature 1, identity
// Platt scaling) with every threshold at Never.
func DefaultParams(embedderID string, e int) Params {
	return Params{
		Version: ParamsVersion, EmbedderID: embedderID, EmbeddingDim: e, MetaDim: MetaDim,
		Grid:        embed.GridOf(embedderID),
		Temperature: 1, CropPlatt: Platt{A: 1}, RejectPlatt: Platt{A: 1},
		Thresholds:      Thresholds{Select: Never, Crop: Never, Reject: Never},
		TargetErrorRate: DefaultTargetErrorRate, CropIoUMin: DefaultCropIoUMin,
	}
}

// Validate checks that the parameters are usable.
func (p Params) Validate() error {
	switch {
	case p.Version != ParamsVersion:
		return fmt.Errorf("params version %d, want %d", p.Version, ParamsVersion)
	case p.EmbeddingDim <= 0:
		return fmt.Errorf("embedding_dim %d must be positive", p.EmbeddingDim)
	case p.MetaDim < minMetaDim || p.MetaDim > MetaDim:
		return fmt.Errorf("meta_dim %d, this build computes %d to %d", p.MetaDim, minMetaDim, MetaDim)
	case len(p.Grid.Blocks) > 0 && !p.Grid.Fits(p.EmbeddingDim):
		return fmt.Errorf("grid %+v does not fit embeddings of %d values", p.Grid, p.EmbeddingDim)
	case !(p.Temperature > 0) || math.IsInf(p.Temperature, 0):
		return fmt.Errorf("temperature %v must be positive and finite", p.Temperature)
	case len(p.CropRight.X) != len(p.CropRight.Y) || !slices.IsSorted(p.CropRight.X) || !slices.IsSorted(p.CropRight.Y):
		return fmt.Errorf("crop_right %+v is not a non-decreasing step function", p.CropRight)
	}
	return nil
}

// MarshalParams encodes p as JSON.
func MarshalParams(p Params) ([]byte, error) { return json.Marshal(p) }

// UnmarshalParams decodes and validates JSON parameters.
func UnmarshalParams(data []byte) (Params, error) {
	var p Params
	if err := json.Unmarshal(data, &p); err != nil {
		return Params{}, fmt.Errorf("decode params: %w", err)
	}
	if err := p.Validate(); err != nil {
		return Params{}, fmt.Errorf("check params: %w", err)
	}
	return p, nil
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
