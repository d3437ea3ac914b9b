package training

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// matrix is a dense row-major float64 matrix.
type matrix struct {
	rows, cols int
	data       []float64
}

func newMatrix(r, c int) matrix { return matrix{r, c, make([]float64, r*c)} }

func (m matrix) row(i int) []float64 { return m.data[i*m.cols : (i+1)*m.cols] }

func (m matrix) general() blas64.General {
	return blas64.General{Rows: m.rows, Cols: m.cols, Stride: max(m.cols, 1), Data: m.data}
}

// gemm computes c = alpha*op(a)*op(b) + beta*c.
func gemm(ta, tb bool, alpha float64, a, b matrix, beta float64, c matrix) {
	t := func(x bool) blas.Transpose {
		if x {
			return blas.Trans
		}
		return blas.NoTrans
	}
	blas64.Gemm(t(ta), t(tb), alpha, a.general(), b.general(), beta, c.general())
}

// mlp is a fully connected network with ReLU hidden layers and a linear
// output layer. Layer l maps sizes[l] inputs to sizes[l+1] outputs with
// weights w[l] (sizes[l] x sizes[l+1], row-major) and biases b[l].
type mlp struct {
	sizes []int
	w     []matrix
	b     [][]float64
}

// newMLP initialises a network with He-uniform weights from rng.
func newMLP(sizes []int, rng *rand.Rand) *mlp {
	n := &mlp{sizes: append([]int(nil), sizes...)}
	for l := 0; l+1 < len(sizes); l++ {
		w := newMatrix(sizes[l], sizes[l+1])
		lim := math.Sqrt(6 / float64(sizes[l]))
		if l+2 == len(sizes) {
			lim = math.Sqrt(3 / float64(sizes[l])) // smaller output layer
		}
		for i := range w.data {
			w.data[i] = (2*rng.Float64() - 1) * lim
		}
		n.w = append(n.w, w)
		n.b = append(n.b, make([]float64, sizes[l+1]))
	}
	return n
}

// params returns the parameter slices in a fixed order (w0, b0, w1, b1, ...).
func (n *mlp) params() [][]float64 {
	var ps [][]float64
	for l := range n.w {
		ps = append(ps, n.w[l].data, n.b[l])
	}
	return ps
}

func (n *mlp) clone() *mlp {
	c := &mlp{sizes: append([]int(nil), n.sizes...)}
	for l := range n.w {
		c.w = append(c.w, matrix{n.w[l].rows, n.w[l].cols, append([]float64(nil), n.w[l].data...)})
		c.b = append(c.b, append([]float64(nil), n.b[l]...))
	}
	return c
}

// zeroGrads returns gradient buffers shaped like the parameters.
func (n *mlp) zeroGrads() *mlp {
	g := &mlp{sizes: n.sizes}
	for l := range n.w {
		g.w = append(g.w, newMatrix(n.w[l].rows, n.w[l].cols))
		g.b = append(g.b, make([]float64, len(n.b[l])))
	}
	return g
}

// trace holds the activations of one forward pass, for the backward pass.
type trace struct {
	acts []matrix // acts[0] = input, acts[l+1] = output of layer l (after ReLU for hidden layers)
}

// forward runs the network on x (rows x sizes[0]) and returns the output
// (rows x sizes[last]) and the trace.
func (n *mlp) forward(x matrix) (matrix, trace) {
	tr := trace{acts: []matrix{x}}
	a := x
	for l := range n.w {
		z := newMatrix(a.rows, n.w[l].cols)
		for i := 0; i < z.rows; i++ {
			copy(z.row(i), n.b[l])
		}
		gemm(false, false, 1, a, n.w[l], 1, z)
		if l+1 < len(n.w) {
			for i, v := range z.data {
				if v < 0 {
					z.data[i] = 0
				}
			}
		}
		tr.acts = append(tr.acts, z)
		a = z
	}
	return a, tr
}

// backward accumulates into g the gradient of the loss given dOut, the
// gradient with respect to the output of the forward pass traced by tr.
// The input's gradient is not computed.
func (n *mlp) backward(tr trace, dOut matrix, g *mlp) {
	dz := dOut
	for l := len(n.w) - 1; l >= 0; l-- {
		in := tr.acts[l]
		gemm(true, false, 1, in, dz, 1, g.w[l])
		gb := g.b[l]
		for i := 0; i < dz.rows; i++ {
			for j, v := range dz.row(i) {
				gb[j] += v
			}
		}
		if l == 0 {
			break
		}
		da := newMatrix(dz.rows, in.cols)
		gemm(false, true, 1, dz, n.w[l], 0, da)
		for i, v := range in.data {
			if v <= 0 {
				da.data[i] = 0
			}
		}
		dz = da
	}
}

// adam is the Adam optimiser with decoupled weight decay (AdamW) on weights
// (not biases).
type adam struct {
	lr, beta1, beta2, eps, decay float64
	t                            int
	m, v                         *mlp
}

func newAdam(n *mlp, lr, decay float64) *adam {
	return &adam{lr: lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, decay: decay, m: n.zeroGrads(), v: n.zeroGrads()}
}

func (o *adam) step(n, g *mlp) {
	o.t++
	c1 := 1 - math.Pow(o.beta1, float64(o.t))
	c2 := 1 - math.Pow(o.beta2, float64(o.t))
	ps, gs, ms, vs := n.params(), g.params(), o.m.params(), o.v.params()
	for k := range ps {
		isWeight := k%2 == 0
		p, gr, m, v := ps[k], gs[k], ms[k], vs[k]
		for i := range p {
			m[i] = o.beta1*m[i] + (1-o.beta1)*gr[i]
			v[i] = o.beta2*v[i] + (1-o.beta2)*gr[i]*gr[i]
			upd := (m[i] / c1) / (math.Sqrt(v[i]/c2) + o.eps)
			if isWeight {
				upd += o.decay * p[i]
			}
			p[i] -= o.lr * upd
		}
	}
}
