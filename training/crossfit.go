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
// the crop and reject logits, each project's crop offset (how much more
// or less often than the others its people crop, shrunk towards none), the
// prior box, and how often a crop call is right (box included).
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
			cx = append(cx, p.Detail(ex.Images))
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
	p.FrameScale = fitFrameScale(items, p)
	p.BoxShrink = fitShrink(items, p)
	p.CropRight = fitCropRight(items, p, iouMin)
	p.Thresholds = Certify(decisions(items, p, iouMin), p.TargetErrorRate)
	return p
}

// fitCrop fits the crop calibration: the weight c of the detail outside
// the usual frame x (when the embedding has detail to measure), Platt
// scaling of z + c*x and the projects' offsets on top, choosing c by a grid
// scan and golden section search for the smallest negative log-likelihood
// of the labels y under all three.
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
		// More detail outside the frame never makes a crop likelier, so c
		// is at most 0 (the likelihood also has minima above, where Platt's
		// a turns negative and its fit breaks down for large c). It has
		// more than one minimum below too: scan a grid, then refine around
		// its best point.
		nll := func(c float64) float64 { _, _, v := fit(c); return v }
		step := float64(maxCropDetail) / cropDetailSteps
		best, bestNLL := 0.0, math.Inf(1)
		for k := range cropDetailSteps + 1 {
			x := -float64(k) * step
			if v := nll(x); v < bestNLL {
				best, bestNLL = x, v
			}
		}
		c = goldenMin(nll, max(-maxCropDetail, best-step), min(0, best+step))
	}
	pl, off, _ := fit(c)
	return c, pl, off
}

// cropDetailSteps is the number of intervals of the grid fitCrop scans for
// the weight of the detail outside the frame.
const cropDetailSteps = 40

// maxCropDetail bounds the weight of the detail outside the frame, in logit
// units per unit share (the shares of one corpus span about 0.1 to 0.2).
// Where the crop network's logit adds little to the share, the likelihood
// keeps improving as the weight grows and Platt's a shrinks to match (on
// the benchmark corpus at 1,000 reviews: the bound, a about 0.013, the
// share weighing about -13 after scaling); the bound stops it there.
const maxCropDetail = 1000

// fitFrameScale returns the least-squares line from the detail outside the
// usual frame (model.Params.Detail) to the linear scale of the humans'
// boxes over the out-of-fold cropped items, for the prior box: on the
// benchmark corpus the humans' scale correlates 0.84-0.86 with the detail
// and 0.57-0.69 with the crop network's. Zero (the fixed prior) without a
// grid or with fewer than two distinct details.
func fitFrameScale(items []oof, p model.Params) model.Linear {
	if !p.Grid.HasDetail() {
		return model.Linear{}
	}
	var n, sx, sy, sxx, sxy float64
	for _, it := range items {
		if !it.ex.Cropped() {
			continue
		}
		x := p.Detail(it.ex.Images)
		_, _, y := it.ex.Crop.Center()
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	v := n*sxx - sx*sx
	if n < 2 || v <= 1e-12*n*n {
		return model.Linear{}
	}
	b := (n*sxy - sx*sy) / v
	return model.Linear{A: (sy - b*sx) / n, B: b}
}

// fitShrink returns how far (0, 0.1, ..., 1) to move the crop model's
// boxes towards the prior box of p (model.Params.Prior) for the best mean
// IoU with the humans' boxes of the out-of-fold cropped items (the smaller
// on a tie): on pictures unlike its training data a box network can frame
// worse than the prior.
func fitShrink(items []oof, p model.Params) float64 {
	var cropped []oof
	var details []float64 // each cropped item's Detail, the same for every shrink
	for _, it := range items {
		if it.ex.Cropped() {
			cropped = append(cropped, it)
			details = append(details, p.Detail(it.ex.Images))
		}
	}
	best, bestIoU := 0.0, -1.0
	for k := 0; k <= 10; k++ {
		p.BoxShrink = float64(k) / 10
		var sum float64
		for i, it := range cropped {
			sum += p.CropBox(it.raw.Boxes[it.ex.Chosen], details[i]).IoU(*it.ex.Crop)
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

// fitCropRight returns the isotonic regression (Params.CropRight) of
// whether a crop call was right on its P(crop), over the out-of-fold
// crop-labelled items whose P(crop) under p is at least 0.5: right when
// the human cropped, to a box with IoU at least iouMin with p's box.
func fitCropRight(items []oof, p model.Params, iouMin float64) model.Steps {
	var x []float64
	var y []bool
	for _, it := range items {
		ex := it.ex
		if !ex.CropLabelled() {
			continue
		}
		pp := p.ForProject(ex.Project)
		d := pp.Detail(ex.Images)
		pc := pp.CropProbability(it.raw.CropLogits[ex.Chosen], d)
		if pc < 0.5 {
			continue
		}
		x = append(x, pc)
		y = append(y, ex.Cropped() && pp.CropBox(it.raw.Boxes[ex.Chosen], d).IoU(*ex.Crop) >= iouMin)
	}
	return isotonic(x, y)
}

// isotonic returns the non-decreasing step function of x that fits the
// labels y best in squared error (pool adjacent violators), each step's
// value the share of its labels that are true with one true and one false
// added (so that no step says 0 or 1 from a handful of labels); the zero
// Steps without labels.
func isotonic(x []float64, y []bool) model.Steps {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	type block struct{ hi, pos, n float64 }
	value := func(b block) float64 { return (b.pos + 1) / (b.n + 2) }
	var bs []block
	for _, i := range idx {
		b := block{hi: x[i], n: 1}
		if y[i] {
			b.pos = 1
		}
		bs = append(bs, b)
		for len(bs) > 1 && value(bs[len(bs)-2]) >= value(bs[len(bs)-1]) {
			last := bs[len(bs)-1]
			bs = bs[:len(bs)-1]
			prev := &bs[len(bs)-1]
			prev.hi, prev.pos, prev.n = last.hi, prev.pos+last.pos, prev.n+last.n
		}
	}
	var s model.Steps
	for _, b := range bs {
		s.X = append(s.X, b.hi)
		s.Y = append(s.Y, value(b))
	}
	return s
}
