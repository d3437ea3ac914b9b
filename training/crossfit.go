package training

import (
	"screend"

	"context"
	"log/slog"
	"math"
	"slices"
	"sort"

	"screend/scoring/model"
)

// assignFolds returns the fold of every example in idx (folds[i] for
// examples[i], -1 for examples not in idx): per project, the groups in time
// order take folds 0, 1, ..., k-1, 0, 1, ..., so a group is never split and
// every fold holds every project's groups from every period. Fewer groups
// than k give fewer folds.
func assignFolds(examples []Example, idx []int, k int) []int {
	folds := make([]int, len(examples))
	for i := range folds {
		folds[i] = -1
	}
	type group struct {
		members []int
		newest  int
		key     string
	}
	byProject := map[string]map[string]*group{}
	for _, i := range idx {
		e := examples[i]
		gs := byProject[e.Project]
		if gs == nil {
			gs = map[string]*group{}
			byProject[e.Project] = gs
		}
		g := gs[e.GroupKey]
		if g == nil {
			g = &group{newest: i, key: e.GroupKey}
			gs[e.GroupKey] = g
		}
		g.members = append(g.members, i)
		if e.Time.After(examples[g.newest].Time) {
			g.newest = i
		}
	}
	for _, p := range sortedKeys(byProject) {
		var gs []*group
		for _, g := range byProject[p] {
			gs = append(gs, g)
		}
		sort.Slice(gs, func(a, b int) bool {
			ta, tb := examples[gs[a].newest].Time, examples[gs[b].newest].Time
			if !ta.Equal(tb) {
				return ta.Before(tb)
			}
			return gs[a].key < gs[b].key
		})
		for j, g := range gs {
			for _, i := range g.members {
				folds[i] = j % k
			}
		}
	}
	return folds
}

// fitted is the result of training the three networks once.
type fitted struct {
	m      *models
	curves map[string][]EpochLoss
	epochs [3]int // epochs of the kept networks: ranker, crop, reject
}

// fitModels trains the three networks on the examples train. With valid
// non-empty they stop early on its loss; with epochs set (no valid) each
// network is trained for exactly its number of epochs.
func fitModels(ctx context.Context, examples []Example, train, valid []int, epochs *[3]int, cfg Config, log *slog.Logger, progress func(int)) (fitted, error) {
	st := fitStandardizer(examples, train, cfg.Grid).weighted(cfg.LocalChangeWeight)
	trainDS := newDataset(examples, train, st)
	validDS := newDataset(examples, valid, st)
	out := fitted{m: &models{st: st}, curves: map[string][]EpochLoss{}}
	for i, job := range []struct {
		t      task
		hidden []int
		dst    **mlp
	}{
		{rankerTask(cfg.AnomalyWeight), cfg.RankerHidden, &out.m.ranker},
		{cropTask(cfg.BoxWeight), cfg.CropHidden, &out.m.crop},
		{rejectTask(), cfg.RejectHidden, &out.m.reject},
	} {
		c := cfg
		if epochs != nil {
			c.MaxEpochs, c.Patience = max(1, epochs[i]), max(1, epochs[i])
		}
		net, curve, best, err := fit(ctx, job.t, job.hidden, trainDS, validDS, c, log, func(e int) { progress(i*cfg.MaxEpochs + e) })
		if err != nil {
			return fitted{}, err
		}
		*job.dst = net
		out.curves[job.t.name] = curve
		out.epochs[i] = best
	}
	return out, nil
}

// oof is an example with the raw outputs of a model that never saw it.
type oof struct {
	ex   *Example
	fold int
	raw  model.Raw
}

// crossFit trains one set of networks per fold on the other folds (early
// stopping on every seventh of their groups) and returns every example's
// out-of-fold raw outputs, and the epochs each network took per fold.
func crossFit(ctx context.Context, examples []Example, idx, folds []int, k int, cfg Config, log *slog.Logger, progress func(int)) ([]oof, [3][]int, error) {
	var out []oof
	var epochs [3][]int
	for f := 0; f < k; f++ {
		var train, held []int
		for _, i := range idx {
			if folds[i] == f {
				held = append(held, i)
			} else {
				train = append(train, i)
			}
		}
		if len(held) == 0 || len(train) == 0 {
			continue
		}
		fit, valid := splitEvery(examples, train, 7)
		if len(fit) == 0 {
			fit, valid = train, nil
		}
		r, err := fitModels(ctx, examples, fit, valid, nil, cfg, log, func(e int) { progress(f*3*cfg.MaxEpochs + e) })
		if err != nil {
			return nil, epochs, err
		}
		for j := range epochs {
			epochs[j] = append(epochs[j], r.epochs[j])
		}
		for _, i := range held {
			out = append(out, oof{ex: &examples[i], fold: f, raw: r.m.raw(examples[i].Images)})
		}
		log.Debug("fold fitted", "fold", f, "train_examples", len(train), "held_examples", len(held))
	}
	return out, epochs, nil
}

// splitEvery puts every n-th group of idx (in order of first appearance)
// into the second set, the rest into the first; a group is never split.
func splitEvery(examples []Example, idx []int, n int) (rest, every []int) {
	seen := map[[2]string]int{}
	for _, i := range idx {
		k := [2]string{examples[i].Project, examples[i].GroupKey}
		g, ok := seen[k]
		if !ok {
			g = len(seen)
			seen[k] = g
		}
		if g%n == n-1 {
			every = append(every, i)
		} else {
			rest = append(rest, i)
		}
	}
	return rest, every
}

// median returns the median of xs (the lower of the middle two), 1 when empty.
func median(xs []int) int {
	if len(xs) == 0 {
		return 1
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// calibrate fits the calibration on out-of-fold items and certifies the
// thresholds (Certify) on them: the ranker's temperature, Platt scaling of
// the crop and reject logits, and each project's crop offset (how much more
// or less often than the others its people crop, shrunk towards none).
func calibrate(items []oof, base model.Params, iouMin float64) model.Params {
	p := base
	var scores [][]float64
	var chosen []int
	var cz, cx, rz []float64
	var cy, ry []bool
	var cproj []string
	for _, it := range items {
		ex := it.ex
		var zr float64
		for _, v := range it.raw.RejectLogits {
			zr += float64(v)
		}
		rz = append(rz, zr/float64(len(ex.Images)))
		ry = append(ry, ex.Rejected())
		if ex.Rejected() {
			continue
		}
		if ex.CropLabelled() {
			cz = append(cz, float64(it.raw.CropLogits[ex.Chosen]))
			cx = append(cx, model.DetailOutsideFrame(ex.Images[ex.Chosen].Embedding, p.Grid))
			cy = append(cy, ex.Cropped())
			cproj = append(cproj, ex.Project)
		}
		if len(ex.Images) >= 2 {
			s := make([]float64, len(ex.Images))
			for i, v := range it.raw.Scores {
				s[i] = float64(v)
			}
			scores = append(scores, s)
			chosen = append(chosen, ex.Chosen)
		}
	}
	p.Temperature = fitTemperature(scores, chosen)
	p.CropDetail, p.CropPlatt, p.CropOffsets = fitCrop(cz, cx, cy, cproj, p.Grid.HasDetail())
	p.RejectPlatt = fitPlatt(rz, ry)
	p.BoxShrink = fitShrink(items)
	p.Thresholds = Certify(decisions(items, p, iouMin), p.TargetErrorRate)
	return p
}

// fitCrop fits the crop calibration: the weight c of the detail outside
// the usual frame x (when the embedding has detail to measure), Platt
// scaling of z + c*x and the projects' offsets on top, choosing c by golden
// section search for the smallest negative log-likelihood of the labels y
// under all three.
func fitCrop(z, x []float64, y []bool, project []string, detail bool) (float64, model.Platt, map[string]float64) {
	fit := func(c float64) (model.Platt, map[string]float64, float64) {
		zc := make([]float64, len(z))
		for i := range z {
			zc[i] = z[i] + c*x[i]
		}
		pl := fitPlatt(zc, y)
		off := fitOffsets(zc, y, project, pl, projectPrior)
		var nll float64
		for i := range zc {
			v := pl.A*zc[i] + pl.B + off[project[i]]
			nll += softplus(v)
			if y[i] {
				nll -= v
			}
		}
		return pl, off, nll
	}
	c := 0.0
	if detail && len(z) > 0 {
		c = goldenMin(func(c float64) float64 { _, _, nll := fit(c); return nll }, -maxCropDetail, maxCropDetail)
	}
	pl, off, _ := fit(c)
	return c, pl, off
}

// maxCropDetail bounds the weight of the detail outside the frame, in logit
// units per unit share.
const maxCropDetail = 100

// fitShrink returns how far (0, 0.1, ..., 1) to move the crop model's
// boxes towards the prior crop for the best mean IoU with the humans' boxes
// of the out-of-fold cropped items (the smaller on a tie): on pictures
// unlike its training data a box network can frame worse than the prior.
func fitShrink(items []oof) float64 {
	best, bestIoU := 0.0, -1.0
	for k := 0; k <= 10; k++ {
		p := model.Params{BoxShrink: float64(k) / 10}
		var sum float64
		for _, it := range items {
			if it.ex.Cropped() {
				sum += p.CropBox(it.raw.Boxes[it.ex.Chosen]).IoU(*it.ex.Crop)
			}
		}
		if sum > bestIoU+1e-9 {
			best, bestIoU = p.BoxShrink, sum
		}
	}
	return best
}

// projectPrior is the weight, in examples, of "this project crops like the
// others" in a project's crop offset.
const projectPrior = 10

// fitOffsets returns, per project, the offset d maximising the likelihood
// of its labels under sigmoid(A*z + B + d) with a Gaussian prior on d
// worth prior examples (Newton's method).
func fitOffsets(z []float64, y []bool, project []string, pl model.Platt, prior float64) map[string]float64 {
	byProject := map[string][]int{}
	for i, p := range project {
		byProject[p] = append(byProject[p], i)
	}
	out := map[string]float64{}
	lambda := prior * 0.25 // curvature of the log-likelihood at p = 0.5, per example
	for p, idx := range byProject {
		d := 0.0
		for it := 0; it < 50; it++ {
			g, h := lambda*d, lambda
			for _, i := range idx {
				q := sigmoid(pl.A*z[i] + pl.B + d)
				t := 0.0
				if y[i] {
					t = 1
				}
				g += q - t
				h += q * (1 - q)
			}
			step := g / h
			d -= step
			if math.Abs(step) < 1e-9 {
				break
			}
		}
		out[p] = d
	}
	return out
}

// judge returns the outcome of an out-of-fold item under p.
func judge(it oof, p model.Params) model.Outcome {
	o, _ := p.ForProject(it.ex.Project).Decide(it.ex.Images, it.raw)
	return o
}

// decisions returns the certifiable decisions of items under p: groups of
// two images or more whose rightness is fully known (not a keep of a group
// whose crop is unknown).
func decisions(items []oof, p model.Params, iouMin float64) []Decision {
	var out []Decision
	for _, it := range items {
		if len(it.ex.Images) < 2 {
			continue
		}
		o := judge(it, p)
		if it.ex.CropUnknown && o.Kind != screend.OutcomeReject {
			continue
		}
		out = append(out, Decision{Kind: o.Kind, Confidence: o.Confidence, Right: outcomeRight(o, it.ex, iouMin)})
	}
	return out
}

// crossCertify judges every out-of-fold item with parameters calibrated and
// certified on the other folds' items only, so no group's own decision
// sets the threshold (or calibration) that judges it.
func crossCertify(items []oof, base model.Params, iouMin float64) []evalItem {
	byFold := map[int][]oof{}
	for _, it := range items {
		byFold[it.fold] = append(byFold[it.fold], it)
	}
	folds := make([]int, 0, len(byFold))
	for f := range byFold {
		folds = append(folds, f)
	}
	slices.Sort(folds) // the same sums in the same order: reproducible to the bit
	var out []evalItem
	for _, f := range folds {
		held := byFold[f]
		var others []oof
		for _, g := range folds {
			if g != f {
				others = append(others, byFold[g]...)
			}
		}
		p := calibrate(others, base, iouMin)
		unc := p
		unc.Temperature, unc.CropPlatt, unc.RejectPlatt, unc.CropOffsets = 1, model.Platt{A: 1}, model.Platt{A: 1}, nil
		for _, it := range held {
			out = append(out, evalItem{ex: it.ex, raw: it.raw, out: judge(it, p), unc: judge(it, unc), p: p.ForProject(it.ex.Project)})
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if !out[a].ex.Time.Equal(out[b].ex.Time) {
			return out[a].ex.Time.Before(out[b].ex.Time)
		}
		return out[a].ex.GroupKey < out[b].ex.GroupKey
	})
	return out
}
