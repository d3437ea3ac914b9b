package training

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"
)

// EpochLoss is the mean loss of one training epoch.
type EpochLoss struct {
	Epoch int     `json:"epoch"`
	Train float64 `json:"train"`
	Valid float64 `json:"valid"` // 0 when there is no validation group
}

// usable returns the groups of ds that teach task t something.
func usable(t task, ds *dataset) []int {
	var gs []int
	for g, e := range ds.ex {
		if len(t.rows(e)) > 0 {
			gs = append(gs, g)
		}
	}
	return gs
}

// batchLoss runs n on groups gs of ds and returns the summed weighted loss
// and weight. With grads non-nil it also accumulates the gradient of the
// weighted mean loss into grads.
func batchLoss(n *mlp, t task, ds *dataset, gs []int, grads *mlp) (float64, float64) {
	total := 0
	rowsOf := make([][]int, len(gs))
	for k, g := range gs {
		rowsOf[k] = t.rows(ds.ex[g])
		total += len(rowsOf[k])
	}
	if total == 0 {
		return 0, 0
	}
	x := newMatrix(total, ds.d)
	r := 0
	for k, g := range gs {
		for _, i := range rowsOf[k] {
			copy(x.row(r), ds.rows[g].row(i))
			r++
		}
	}
	out, tr := n.forward(x)
	dOut := newMatrix(out.rows, out.cols)
	var loss, weight float64
	r = 0
	for k, g := range gs {
		m := len(rowsOf[k])
		o, d := make([][]float64, m), make([][]float64, m)
		for j := 0; j < m; j++ {
			o[j], d[j] = out.row(r+j), dOut.row(r+j)
		}
		l, w := t.loss(ds.ex[g], o, d)
		loss += l
		weight += w
		r += m
	}
	if grads != nil && weight > 0 {
		for i := range dOut.data {
			dOut.data[i] /= weight
		}
		n.backward(tr, dOut, grads)
	}
	return loss, weight
}

// meanLoss is the weighted mean loss of n over groups gs, in large batches.
func meanLoss(n *mlp, t task, ds *dataset, gs []int) float64 {
	var loss, weight float64
	for i := 0; i < len(gs); i += 512 {
		l, w := batchLoss(n, t, ds, gs[i:min(i+512, len(gs))], nil)
		loss += l
		weight += w
	}
	if weight == 0 {
		return math.NaN()
	}
	return loss / weight
}

// fit trains a network for task t with Adam and weight decay, starting
// from the task's prior (its output biases). With usable validation groups
// it stops early on their loss and returns the best network; without, it
// trains cfg.MaxEpochs epochs and returns the last. It also returns the
// loss curve and the number of epochs of the network returned.
func fit(ctx context.Context, t task, hidden []int, train, valid *dataset, cfg Config, log *slog.Logger, epochDone func(int)) (*mlp, []EpochLoss, int, error) {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(len(t.name))*0x9e3779b97f4a7c15+uint64(t.out)))
	sizes := append(append([]int{train.d}, hidden...), t.out)
	n := newMLP(sizes, rng)
	if t.prior != nil {
		copy(n.b[len(n.b)-1], t.prior(train))
	}
	trainGs, validGs := usable(t, train), usable(t, valid)
	if len(trainGs) == 0 {
		return nil, nil, 0, fmt.Errorf("train %s: no usable training group", t.name)
	}
	opt := newAdam(n, cfg.LearningRate, cfg.WeightDecay)
	grads := n.zeroGrads()
	best, bestLoss, bestEpoch, since := n.clone(), math.Inf(1), 0, 0
	var curve []EpochLoss
	start := time.Now()
	for epoch := 1; epoch <= cfg.MaxEpochs; epoch++ {
		rng.Shuffle(len(trainGs), func(i, j int) { trainGs[i], trainGs[j] = trainGs[j], trainGs[i] })
		var sum, weight float64
		for i := 0; i < len(trainGs); i += cfg.BatchGroups {
			if err := ctx.Err(); err != nil {
				return nil, nil, 0, fmt.Errorf("train %s: %w", t.name, err)
			}
			for _, p := range grads.params() {
				clear(p)
			}
			l, w := batchLoss(n, t, train, trainGs[i:min(i+cfg.BatchGroups, len(trainGs))], grads)
			sum += l
			weight += w
			opt.step(n, grads)
		}
		el := EpochLoss{Epoch: epoch, Train: sum / weight}
		curve = append(curve, el)
		epochDone(epoch)
		if len(validGs) == 0 {
			best, bestLoss, bestEpoch = n, el.Train, epoch
			continue
		}
		el.Valid = meanLoss(n, t, valid, validGs)
		curve[len(curve)-1] = el
		log.Debug("epoch", "model", t.name, "epoch", epoch, "train_loss", el.Train, "valid_loss", el.Valid)
		if el.Valid < bestLoss-1e-6 {
			best, bestLoss, bestEpoch, since = n.clone(), el.Valid, epoch, 0
		} else if since++; since >= cfg.Patience {
			break
		}
	}
	log.Debug("model trained", "model", t.name, "epochs", len(curve), "best_epoch", bestEpoch, "best_loss", bestLoss,
		"train_groups", len(trainGs), "valid_groups", len(validGs), "duration", time.Since(start).Round(time.Millisecond))
	return best, curve, bestEpoch, nil
}
