package training

import (
	"context"
	"fmt"
	"math"
	"sort"

	"screend"

	"screend/scoring/model"
)

// models are the three trained networks and the input standardisation.
type models struct {
	st                   standardizer
	ranker, crop, reject *mlp
}

// raw runs the Go forward pass of the three models on a group, exactly as
// the exported ONNX graphs compute it.
func (m *models) raw(images []model.Image) model.Raw {
	scores, cropLogits, rejectLogits, boxes := m.rawF64(images)
	n := len(images)
	out := model.Raw{Scores: make([]float32, n), CropLogits: make([]float32, n), Boxes: make([][3]float32, n), RejectLogits: make([]float32, n)}
	for i := 0; i < n; i++ {
		out.Scores[i] = float32(scores[i])
		out.CropLogits[i] = float32(cropLogits[i])
		out.Boxes[i] = [3]float32{float32(boxes[i][0]), float32(boxes[i][1]), float32(boxes[i][2])}
		out.RejectLogits[i] = float32(rejectLogits[i])
	}
	return out
}

// rawF64 is the forward pass of raw at float64 precision (the ONNX
// comparison uses it directly).
func (m *models) rawF64(images []model.Image) (scores, cropLogits, rejectLogits []float64, boxes [][3]float64) {
	rows := rawRows(images, m.st.grid)
	x := newMatrix(len(rows), len(m.st.mean))
	for i, r := range rows {
		m.st.apply(r)
		copy(x.row(i), r)
	}
	s, _ := m.ranker.forward(x)
	c, _ := m.crop.forward(x)
	r, _ := m.reject.forward(x)
	for i := range images {
		scores = append(scores, s.row(i)[0])
		cr := c.row(i)
		cropLogits = append(cropLogits, cr[0])
		boxes = append(boxes, [3]float64{sigmoid(cr[1]), sigmoid(cr[2]), sigmoid(cr[3])})
		rejectLogits = append(rejectLogits, r.row(i)[0])
	}
	return
}

// outcomeRight reports whether an outcome agrees with the human: the same
// kind, the same image, and for a crop a box with IoU >= iouMin. When the
// human's crop is unknown, a select or a crop of the human's image is right.
func outcomeRight(o model.Outcome, e *Example, iouMin float64) bool {
	if e.CropUnknown && o.Kind != screend.OutcomeReject {
		return !e.Rejected() && o.Chosen == e.Chosen
	}
	switch o.Kind {
	case screend.OutcomeReject:
		return e.Rejected()
	case screend.OutcomeSelect:
		return !e.Rejected() && o.Chosen == e.Chosen && !e.Cropped()
	case screend.OutcomeCrop:
		return !e.Rejected() && o.Chosen == e.Chosen && e.Cropped() && o.Box.IoU(*e.Crop) >= iouMin
	}
	return false
}

// Metrics are the held-out evaluation of one project or of all.
type Metrics struct {
	// Groups is the number of held-out groups; Kept those the human kept,
	// Ranked the kept groups of two images or more, Anomalies the ranked
	// groups where a lower stage won.
	Groups    int `json:"groups"`
	Kept      int `json:"kept"`
	Ranked    int `json:"ranked"`
	Anomalies int `json:"anomalies"`
	// SelectionAccuracy is the share of ranked groups whose top-scored image
	// is the human's; on anomaly and on normal groups beside it.
	SelectionAccuracy float64 `json:"selection_accuracy"`
	AnomalyAccuracy   float64 `json:"anomaly_accuracy"`
	NormalAccuracy    float64 `json:"normal_accuracy"`
	// Baseline* are the same for "always pick the highest stage".
	BaselineAccuracy        float64 `json:"baseline_accuracy"`
	BaselineAnomalyAccuracy float64 `json:"baseline_anomaly_accuracy"`
	BaselineNormalAccuracy  float64 `json:"baseline_normal_accuracy"`
	// RejectAccuracy is the share of groups whose keep/reject (P_reject >= 0.5) matches.
	RejectAccuracy float64 `json:"reject_accuracy"`
	// RejectAUC is how well P_reject ranks the groups: the chance that a
	// group the human rejected scores above one they kept (ties count
	// half); 0.5 is no better than chance. Keeping a group alone needs a
	// reject model that ranks well, whatever the threshold.
	RejectAUC float64 `json:"reject_auc"`
	// CropAccuracy is the share of the CropLabelled groups (kept, with the
	// crop known) whose crop-or-not on the human's image matches; CropIoU
	// the mean IoU of the predicted box of the human's image with the
	// human's box over the Cropped groups.
	CropAccuracy float64 `json:"crop_accuracy"`
	CropLabelled int     `json:"crop_labelled"`
	Cropped      int     `json:"cropped"`
	CropIoU      float64 `json:"crop_iou"`
	// OutcomeAccuracy is the share of groups whose whole outcome is right.
	OutcomeAccuracy float64 `json:"outcome_accuracy"`
	// ECE is the expected calibration error of the outcome confidence (10
	// bins); ECEUncalibrated the same before calibration (T = 1, identity Platt).
	ECE             float64 `json:"ece"`
	ECEUncalibrated float64 `json:"ece_uncalibrated"`
	// Coverage is the share of groups decided automatically with the
	// thresholds; AutoErrors of them were wrong, AutoErrorRate their share
	// and AutoErrorUpper its Wilson 95% upper bound.
	Coverage       float64                     `json:"coverage"`
	AutoDecided    int                         `json:"auto_decided"`
	AutoErrors     int                         `json:"auto_errors"`
	AutoErrorRate  float64                     `json:"auto_error_rate"`
	AutoErrorUpper float64                     `json:"auto_error_upper"`
	AutoByKind     map[screend.OutcomeKind]int `json:"auto_by_kind"`
	// AutoErrorsByKind counts the wrong automatic decisions per kind.
	AutoErrorsByKind map[screend.OutcomeKind]int `json:"auto_errors_by_kind"`
	// MostConfidentError is, for each share of MostConfidentShares, the
	// error rate among that share of the groups of two images or more
	// with the highest confidence, decided alone or not: how well the
	// confidence orders the groups, whatever the thresholds.
	MostConfidentError []float64 `json:"most_confident_error"`
}

// MostConfidentShares are the shares of the most confident groups whose
// error Metrics.MostConfidentError reports.
var MostConfidentShares = []float64{0.1, 0.2, 0.3, 0.5}

// mostConfidentError returns the error rate among each share of the
// decisions with the highest confidence (0 for a share of none).
func mostConfidentError(conf []float64, right []bool) []float64 {
	idx := make([]int, len(conf))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return conf[idx[a]] > conf[idx[b]] })
	out := make([]float64, len(MostConfidentShares))
	for k, q := range MostConfidentShares {
		n := int(math.Round(q * float64(len(idx))))
		errs := 0
		for _, i := range idx[:n] {
			if !right[i] {
				errs++
			}
		}
		out[k] = ratio(errs, n)
	}
	return out
}

// evalItem is one held-out group with its calibrated and uncalibrated outcomes.
type evalItem struct {
	ex       *Example
	raw      model.Raw
	out, unc model.Outcome
	p        model.Params // for the group's project
}

func decideAll(m *models, examples []*Example, p model.Params) []evalItem {
	unc := p
	unc.Temperature, unc.CropPlatt, unc.RejectPlatt = 1, model.Platt{A: 1}, model.Platt{A: 1}
	items := make([]evalItem, 0, len(examples))
	for _, e := range examples {
		raw := m.raw(e.Images)
		pp := p.ForProject(e.Project)
		o, _ := pp.Decide(e.Images, raw)
		u, _ := unc.Decide(e.Images, raw)
		items = append(items, evalItem{ex: e, raw: raw, out: o, unc: u, p: pp})
	}
	return items
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// evaluate computes the metrics of items.
func evaluate(items []evalItem, iouMin float64) Metrics {
	var m Metrics
	m.AutoByKind, m.AutoErrorsByKind = map[screend.OutcomeKind]int{}, map[screend.OutcomeKind]int{}
	var selOK, anoOK, normOK, baseOK, baseAnoOK, baseNormOK, rejOK, cropOK, outOK int
	var iouSum float64
	var rankedConf []float64
	var rankedRight []bool
	conf, uconf, right := make([]float64, len(items)), make([]float64, len(items)), make([]bool, len(items))
	pReject, rejected := make([]float64, len(items)), make([]bool, len(items))
	for k, it := range items {
		e, o := it.ex, it.out
		m.Groups++
		pReject[k], rejected[k] = o.PReject, e.Rejected()
		if (o.PReject >= 0.5) == e.Rejected() {
			rejOK++
		}
		right[k] = outcomeRight(o, e, iouMin)
		conf[k], uconf[k] = o.Confidence, it.unc.Confidence
		if right[k] {
			outOK++
		}
		if len(e.Images) >= 2 {
			rankedConf, rankedRight = append(rankedConf, o.Confidence), append(rankedRight, right[k])
		}
		if o.Auto {
			m.AutoDecided++
			m.AutoByKind[o.Kind]++
			if !right[k] {
				m.AutoErrors++
				m.AutoErrorsByKind[o.Kind]++
			}
		}
		if e.Rejected() {
			continue
		}
		m.Kept++
		// crop-or-not and box are judged on the human's image, when known
		if e.CropLabelled() {
			m.CropLabelled++
			if (it.p.CropProbability(it.raw.CropLogits[e.Chosen], it.p.Detail(e.Images)) >= 0.5) == e.Cropped() {
				cropOK++
			}
		}
		if e.Cropped() {
			m.Cropped++
			b := it.raw.Boxes[e.Chosen]
			iouSum += it.p.CropBox(b, it.p.Detail(e.Images)).IoU(*e.Crop)
		}
		if len(e.Images) < 2 {
			continue
		}
		m.Ranked++
		hit := o.Chosen == e.Chosen
		base := model.HighestStage(e.Images) == e.Chosen
		if hit {
			selOK++
		}
		if base {
			baseOK++
		}
		if e.Anomaly() {
			m.Anomalies++
			if hit {
				anoOK++
			}
			if base {
				baseAnoOK++
			}
		} else {
			if hit {
				normOK++
			}
			if base {
				baseNormOK++
			}
		}
	}
	normal := m.Ranked - m.Anomalies
	m.SelectionAccuracy = ratio(selOK, m.Ranked)
	m.AnomalyAccuracy = ratio(anoOK, m.Anomalies)
	m.NormalAccuracy = ratio(normOK, normal)
	m.BaselineAccuracy = ratio(baseOK, m.Ranked)
	m.BaselineAnomalyAccuracy = ratio(baseAnoOK, m.Anomalies)
	m.BaselineNormalAccuracy = ratio(baseNormOK, normal)
	m.RejectAccuracy = ratio(rejOK, m.Groups)
	m.RejectAUC = AUC(pReject, rejected)
	m.CropAccuracy = ratio(cropOK, m.CropLabelled)
	if m.Cropped > 0 {
		m.CropIoU = iouSum / float64(m.Cropped)
	}
	m.OutcomeAccuracy = ratio(outOK, m.Groups)
	_, m.ECE = Reliability(conf, right, 10)
	_, m.ECEUncalibrated = Reliability(uconf, right, 10)
	m.Coverage = ratio(m.AutoDecided, m.Groups)
	m.AutoErrorRate = ratio(m.AutoErrors, m.AutoDecided)
	m.AutoErrorUpper = WilsonUpper(m.AutoErrors, m.AutoDecided)
	m.MostConfidentError = mostConfidentError(rankedConf, rankedRight)
	return m
}

// AUC is the area under the ROC curve of score for positive: the chance
// that a positive item scores above a negative one, ties counting half;
// 0.5 without both kinds.
func AUC(score []float64, positive []bool) float64 {
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return score[idx[a]] < score[idx[b]] })
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && score[idx[j]] == score[idx[i]] {
			j++
		}
		mid := float64(i+j-1)/2 + 1 // the mean 1-based rank of the tie
		for _, k := range idx[i:j] {
			if positive[k] {
				pos++
				rankSum += mid
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return 0.5
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Evaluate runs the bundle on every example through ONNX Runtime, as the
// daemon decides, and returns the metrics against the humans' decisions.
func Evaluate(ctx context.Context, b *model.Bundle, examples []Example) (Metrics, error) {
	p := b.Params()
	unc := p
	unc.Temperature, unc.CropPlatt, unc.RejectPlatt, unc.CropOffsets = 1, model.Platt{A: 1}, model.Platt{A: 1}, nil
	items := make([]evalItem, 0, len(examples))
	for i := range examples {
		e := &examples[i]
		raw, err := b.Raw(ctx, e.Images)
		if err != nil {
			return Metrics{}, fmt.Errorf("evaluate on %s/%s: %w", e.Project, e.GroupKey, err)
		}
		pp := p.ForProject(e.Project)
		o, err := pp.Decide(e.Images, raw)
		if err != nil {
			return Metrics{}, fmt.Errorf("evaluate on %s/%s: %w", e.Project, e.GroupKey, err)
		}
		u, _ := unc.Decide(e.Images, raw)
		items = append(items, evalItem{ex: e, raw: raw, out: o, unc: u, p: pp})
	}
	return evaluate(items, p.CropIoUMin), nil
}
