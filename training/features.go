package training

import (
	"math"
	"slices"

	"screend/scoring/embed"
	"screend/scoring/model"
)

// The models' input row for image i of a group is
//
//	[ embedding_i (E) | embedding_i - mean of the group's embeddings (E) | meta_i (M) ]
//
// standardised with the training set's per-column mean and standard
// deviation. The exported ONNX graphs compute the same row from the
// `embedding` and `meta` inputs and fold the standardisation into the first
// layer's weights.

// inputDim returns the width of an input row for embedding dimension e.
func inputDim(e int) int { return 2*e + model.MetaDim }

// rawRows returns the unstandardised input rows of a group; grid is the
// embedding's layout for the local-change meta features.
func rawRows(images []model.Image, grid embed.Grid) [][]float64 {
	n := len(images)
	e := len(images[0].Embedding)
	mean := make([]float64, e)
	for _, im := range images {
		for j, v := range im.Embedding {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	meta := model.MetaFeatures(images, grid)
	rows := make([][]float64, n)
	for i, im := range images {
		r := make([]float64, inputDim(e))
		for j, v := range im.Embedding {
			r[j] = float64(v)
			r[e+j] = float64(v) - mean[j]
		}
		for j, v := range meta[i] {
			r[2*e+j] = float64(v)
		}
		rows[i] = r
	}
	return rows
}

// standardizer maps a raw input row to (x - mean) / std per column; grid
// is the embedding layout the rows were made with.
type standardizer struct {
	mean, std []float64
	grid      embed.Grid
}

// minStd is the smallest spread a column is divided by: the exported
// models compute in float32, and dividing by a spread of 1e-5 would turn
// its rounding into differences in the outputs.
const minStd = 1e-3

// fitStandardizer fits the standardisation of the input rows of
// examples[idx] (at least one).
func fitStandardizer(examples []Example, idx []int, grid embed.Grid) standardizer {
	d := inputDim(len(examples[idx[0]].Images[0].Embedding))
	s := standardizer{mean: make([]float64, d), std: make([]float64, d), grid: grid}
	sq := make([]float64, d)
	var n float64
	for _, i := range idx {
		for _, r := range rawRows(examples[i].Images, grid) {
			for j, v := range r {
				s.mean[j] += v
				sq[j] += v * v
			}
			n++
		}
	}
	for j := range s.mean {
		if n == 0 {
			s.mean[j], s.std[j] = 0, 1
			continue
		}
		m := s.mean[j] / n
		v := sq[j]/n - m*m
		s.mean[j] = m
		s.std[j] = math.Sqrt(math.Max(v, 0))
		switch {
		case s.std[j] < 1e-6:
			s.std[j] = 1 // constant column: leave it centred
		case s.std[j] < minStd:
			s.std[j] = minStd // nearly constant: do not blow float32 rounding up
		}
	}
	return s
}

// weighted returns a copy of s whose standardised local-change columns
// (model.MetaNames) are multiplied by w.
func (s standardizer) weighted(w float64) standardizer {
	out := s
	out.std = slices.Clone(s.std)
	meta := len(s.std) - model.MetaDim
	for _, name := range []string{"local_change_lower", "local_change_higher"} {
		out.std[meta+slices.Index(model.MetaNames[:], name)] /= w
	}
	return out
}

func (s standardizer) apply(r []float64) {
	for j := range r {
		r[j] = (r[j] - s.mean[j]) / s.std[j]
	}
}

// dataset holds the standardised input rows of a set of examples.
type dataset struct {
	d    int
	ex   []*Example
	rows []matrix // rows[g]: the group's input rows
}

func newDataset(examples []Example, idx []int, st standardizer) *dataset {
	ds := &dataset{d: len(st.mean)}
	for _, i := range idx {
		e := &examples[i]
		raw := rawRows(e.Images, st.grid)
		m := newMatrix(len(raw), ds.d)
		for r, row := range raw {
			st.apply(row)
			copy(m.row(r), row)
		}
		ds.ex = append(ds.ex, e)
		ds.rows = append(ds.rows, m)
	}
	return ds
}
