package training

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"screend/scoring/embed"
	"screend/scoring/model"
	"screend/scoring/onnxrt/onnxrttest"
)

// localDefects makes groups of stages 1, 1.5 and 2 whose embeddings have a
// grid (4x4 regions, two blocks of 2 values each):
// every stage differs from the one below by noise everywhere, and in about
// 15% of the groups the top stage is broken in one region (a random one),
// by about as much as the noise changes the whole vector: the human then
// keeps stage 1.5.
func localDefects(seed uint64, groups int) ([]Example, embed.Grid) {
	grid := embed.Grid{Cols: 4, Rows: 4, Blocks: []embed.GridBlock{{Offset: 0, Width: 2}, {Offset: 32, Width: 2}}}
	const dim = 64
	rng := rand.New(rand.NewPCG(seed, 3))
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []Example
	for g := range groups {
		v := make([]float64, dim)
		for j := range v {
			v[j] = rng.NormFloat64()
		}
		ex := Example{Project: "p", GroupKey: fmt.Sprintf("g%04d", g), Time: t0.Add(time.Duration(g) * time.Minute), Chosen: 2}
		broken := rng.Float64() < 0.15
		for i, s := range []float64{1, 1.5, 2} {
			v = append([]float64(nil), v...)
			for j := range v {
				v[j] += 0.25 * rng.NormFloat64()
			}
			if i == 2 && broken {
				c := rng.IntN(grid.Cells())
				for _, b := range grid.Blocks {
					for k := range b.Width {
						v[b.Offset+b.Width*c+k] += 1.5 * float64(1-2*rng.IntN(2))
					}
				}
				ex.Chosen = 1
			}
			ex.Images = append(ex.Images, model.Image{Embedding: unit(v), Stage: s, Width: 1024 * int(max(1, s)), Height: 1024 * int(max(1, s))})
		}
		out = append(out, ex)
	}
	return out, grid
}

func unit(v []float64) []float32 {
	var n float64
	for _, x := range v {
		n += x * x
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x / math.Sqrt(n))
	}
	return out
}

// TestLocalChangesLearntFromFewAnomalies: with the embedding's grid the
// ranker learns from about 50 anomalies that a top stage broken in one
// region loses; without it (the same vectors, no grid) it does not.
func TestLocalChangesLearntFromFewAnomalies(t *testing.T) {
	onnxrttest.Init(t)
	examples, grid := localDefects(4, 400)
	accuracy := func(g embed.Grid) Metrics {
		res, err := Train(context.Background(), examples, Config{EmbedderID: "test", Grid: g, Folds: 3, MaxEpochs: 30, TargetErrorRate: 0.1, HeldOut: 0.25}, slog.New(slog.NewTextHandler(t.Output(), nil)))
		if err != nil {
			t.Fatal(err)
		}
		return res.Report.Overall
	}
	with, without := accuracy(grid), accuracy(embed.Grid{})
	t.Logf("held out: %d anomalies; anomalies right with the grid %.2f, without %.2f; selection %.3f and %.3f", with.Anomalies, with.AnomalyAccuracy, without.AnomalyAccuracy, with.SelectionAccuracy, without.SelectionAccuracy)
	if with.Anomalies < 10 || with.AnomalyAccuracy < 0.8 || with.SelectionAccuracy < 0.95 {
		t.Errorf("with the grid: %d anomalies, %.2f of them right, selection %.3f; want >= 10, >= 0.8, >= 0.95", with.Anomalies, with.AnomalyAccuracy, with.SelectionAccuracy)
	}
	if without.AnomalyAccuracy > with.AnomalyAccuracy-0.3 {
		t.Errorf("without the grid %.2f of the anomalies right, with it %.2f: the local change should make the difference", without.AnomalyAccuracy, with.AnomalyAccuracy)
	}
}
