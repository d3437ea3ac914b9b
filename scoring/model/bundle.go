package model

import (
	"context"
	"errors"
	"fmt"

	"screend/scoring/onnxrt"
)

// ONNX input and output names of the contract (see the package documentation).
const (
	InputEmbedding    = "embedding"
	InputMeta         = "meta"
	OutputScore       = "score"
	OutputCropLogit   = "crop_logit"
	OutputBox         = "box"
	OutputRejectLogit = "reject_logit"
)

// Bundle is a loaded set of the three models with their parameters, ready
// to decide groups. It is safe for concurrent use.
type Bundle struct {
	params               Params
	ranker, crop, reject *onnxrt.Session
}

// NewBundle opens the three ONNX models (held in memory) with ONNX Runtime,
// which must be initialised (onnxrt.Init), and checks them against the
// contract and p. intraOpThreads is the threads each Run may use (0 = 1).
func NewBundle(ranker, crop, reject []byte, p Params, intraOpThreads int) (*Bundle, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("open model bundle: %w", err)
	}
	b := &Bundle{params: p}
	open := func(name string, data []byte, outputs ...string) (*onnxrt.Session, error) {
		s, err := onnxrt.NewSessionBytes(data, onnxrt.SessionOptions{
			IntraOpThreads: intraOpThreads,
			Inputs:         []string{InputEmbedding, InputMeta},
			Outputs:        outputs,
		})
		if err != nil {
			return nil, fmt.Errorf("open %s model: %w", name, err)
		}
		want := []int64{int64(p.EmbeddingDim), int64(p.MetaDim)}
		for i, in := range s.Inputs() {
			if len(in.Shape) != 2 || (in.Shape[1] >= 0 && in.Shape[1] != want[i]) {
				s.Close()
				return nil, fmt.Errorf("open %s model: input %s, want [N,%d]", name, in, want[i])
			}
		}
		return s, nil
	}
	var err error
	if b.ranker, err = open("ranker", ranker, OutputScore); err != nil {
		return nil, err
	}
	if b.crop, err = open("crop", crop, OutputCropLogit, OutputBox); err != nil {
		b.Close()
		return nil, err
	}
	if b.reject, err = open("reject", reject, OutputRejectLogit); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Params returns the bundle's parameters.
func (b *Bundle) Params() Params { return b.params }

// Close releases the ONNX Runtime sessions.
func (b *Bundle) Close() error {
	var errs []error
	for _, s := range []*onnxrt.Session{b.ranker, b.crop, b.reject} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// Inputs returns the `embedding` and `meta` tensors of a group.
func (b *Bundle) Inputs(group []Image) (emb, meta onnxrt.Tensor, err error) {
	n, e := len(group), b.params.EmbeddingDim
	emb = onnxrt.Tensor{Shape: []int64{int64(n), int64(e)}, Data: make([]float32, 0, n*e)}
	m := b.params.MetaDim
	meta = onnxrt.Tensor{Shape: []int64{int64(n), int64(m)}, Data: make([]float32, 0, n*m)}
	for i, im := range group {
		if len(im.Embedding) != e {
			return emb, meta, fmt.Errorf("image %d: embedding of length %d, model takes %d", i, len(im.Embedding), e)
		}
		emb.Data = append(emb.Data, im.Embedding...)
	}
	for _, r := range MetaFeatures(group, b.params.Grid) {
		meta.Data = append(meta.Data, r[:m]...)
	}
	return emb, meta, nil
}

// Raw runs the three models on a group and returns their outputs.
func (b *Bundle) Raw(ctx context.Context, group []Image) (Raw, error) {
	if len(group) == 0 {
		return Raw{}, errors.New("run models: empty group")
	}
	emb, meta, err := b.Inputs(group)
	if err != nil {
		return Raw{}, fmt.Errorf("run models: %w", err)
	}
	n := len(group)
	check := func(name string, t onnxrt.Tensor, cols int) error {
		if len(t.Data) != n*cols {
			return fmt.Errorf("run models: output %s has %d values for %d images, want %d", name, len(t.Data), n, n*cols)
		}
		return nil
	}
	out, err := b.ranker.Run(ctx, emb, meta)
	if err != nil {
		return Raw{}, fmt.Errorf("run ranker: %w", err)
	}
	if err := check(OutputScore, out[0], 1); err != nil {
		return Raw{}, err
	}
	raw := Raw{Scores: out[0].Data}
	if out, err = b.crop.Run(ctx, emb, meta); err != nil {
		return Raw{}, fmt.Errorf("run crop model: %w", err)
	}
	if err := errors.Join(check(OutputCropLogit, out[0], 1), check(OutputBox, out[1], 3)); err != nil {
		return Raw{}, err
	}
	raw.CropLogits = out[0].Data
	raw.Boxes = make([][3]float32, n)
	for i := range raw.Boxes {
		copy(raw.Boxes[i][:], out[1].Data[3*i:3*i+3])
	}
	if out, err = b.reject.Run(ctx, emb, meta); err != nil {
		return Raw{}, fmt.Errorf("run reject model: %w", err)
	}
	if err := check(OutputRejectLogit, out[0], 1); err != nil {
		return Raw{}, err
	}
	raw.RejectLogits = out[0].Data
	return raw, nil
}

// Decide runs the models on a group of project and returns its outcome.
func (b *Bundle) Decide(ctx context.Context, project string, group []Image) (Outcome, error) {
	raw, err := b.Raw(ctx, group)
	if err != nil {
		return Outcome{}, err
	}
	return b.params.ForProject(project).Decide(group, raw)
}
