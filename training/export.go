package training

import (
	"context"
	"fmt"
	"math"

	"screend/scoring/model"
	"screend/scoring/onnxmodel"
)

// exportMLP writes the graph shared by the three models: the contract's
// inputs, the input row [embedding | embedding - group mean | meta], the
// network with the standardisation folded into its first layer. It returns
// the graph and the name of the network's output [N, out].
func exportMLP(name string, n *mlp, st standardizer, e int) (*onnxmodel.Graph, string) {
	g := onnxmodel.NewGraph(name)
	g.SetDoc("screend " + name + " model; see screend/scoring/model for the contract")
	emb := g.Input(model.InputEmbedding, onnxmodel.Batch, int64(e))
	meta := g.Input(model.InputMeta, onnxmodel.Batch, model.MetaDim)
	mean := g.ReduceMean(emb, true, 0)
	x := g.Concat(1, emb, g.Sub(emb, mean), meta)
	for l := range n.w {
		w, b := n.w[l], n.b[l]
		wf := make([]float32, len(w.data))
		bf := make([]float32, len(b))
		if l == 0 {
			// ((x - mu) / sd) W + b = x (W / sd) + (b - (mu / sd) W)
			bb := append([]float64(nil), b...)
			for i := 0; i < w.rows; i++ {
				inv := 1 / st.std[i]
				for j, v := range w.row(i) {
					wf[i*w.cols+j] = float32(v * inv)
					bb[j] -= st.mean[i] * inv * v
				}
			}
			for j, v := range bb {
				bf[j] = float32(v)
			}
		} else {
			for i, v := range w.data {
				wf[i] = float32(v)
			}
			for j, v := range b {
				bf[j] = float32(v)
			}
		}
		act := onnxmodel.ActReLU
		if l+1 == len(n.w) {
			act = onnxmodel.ActNone
		}
		x = g.Dense(x, wf, bf, w.rows, w.cols, act)
	}
	return g, x
}

// export writes the three ONNX models.
func (m *models) export(e int) (ranker, crop, reject []byte, err error) {
	g, out := exportMLP("ranker", m.ranker, m.st, e)
	g.Output(model.OutputScore, out, onnxmodel.Batch, 1)
	if ranker, err = g.Marshal(); err != nil {
		return nil, nil, nil, fmt.Errorf("export ranker: %w", err)
	}
	g, out = exportMLP("crop", m.crop, m.st, e)
	g.Output(model.OutputCropLogit, g.Slice(out, []int64{0}, []int64{1}, []int64{1}), onnxmodel.Batch, 1)
	g.Output(model.OutputBox, g.Sigmoid(g.Slice(out, []int64{1}, []int64{4}, []int64{1})), onnxmodel.Batch, 3)
	if crop, err = g.Marshal(); err != nil {
		return nil, nil, nil, fmt.Errorf("export crop model: %w", err)
	}
	g, out = exportMLP("reject", m.reject, m.st, e)
	g.Output(model.OutputRejectLogit, out, onnxmodel.Batch, 1)
	if reject, err = g.Marshal(); err != nil {
		return nil, nil, nil, fmt.Errorf("export reject model: %w", err)
	}
	return ranker, crop, reject, nil
}

// ExportTolerance is the largest difference allowed between an ONNX
// Runtime output and the Go forward pass, relative to max(1, |value|).
// ONNX Runtime computes in float32 (standardisation divides by at least
// minStd, which bounds how much its rounding grows); a wrong weight
// differs by far more.
const ExportTolerance = 1e-3

// verifyExport loads the exported models through ONNX Runtime (which must be
// initialised) and checks that their outputs on the groups equal the Go
// forward pass within ExportTolerance. It returns the largest difference.
func (m *models) verifyExport(ctx context.Context, ranker, crop, reject []byte, p model.Params, groups [][]model.Image) (float64, error) {
	b, err := model.NewBundle(ranker, crop, reject, p, 1)
	if err != nil {
		return 0, fmt.Errorf("reload exported models: %w", err)
	}
	defer b.Close()
	worst := 0.0
	for gi, imgs := range groups {
		raw, err := b.Raw(ctx, imgs)
		if err != nil {
			return worst, fmt.Errorf("run exported models: %w", err)
		}
		s, c, r, box := m.rawF64(imgs)
		cmp := func(what string, i int, got float32, want float64) error {
			d := math.Abs(float64(got)-want) / math.Max(1, math.Abs(want))
			worst = math.Max(worst, d)
			if !(d <= ExportTolerance) {
				return fmt.Errorf("exported model differs from Go: group %d image %d %s: onnx %v, go %v", gi, i, what, got, want)
			}
			return nil
		}
		for i := range imgs {
			if err := cmp(model.OutputScore, i, raw.Scores[i], s[i]); err != nil {
				return worst, err
			}
			if err := cmp(model.OutputCropLogit, i, raw.CropLogits[i], c[i]); err != nil {
				return worst, err
			}
			for k := 0; k < 3; k++ {
				if err := cmp(model.OutputBox, i, raw.Boxes[i][k], box[i][k]); err != nil {
					return worst, err
				}
			}
			if err := cmp(model.OutputRejectLogit, i, raw.RejectLogits[i], r[i]); err != nil {
				return worst, err
			}
		}
	}
	return worst, nil
}
