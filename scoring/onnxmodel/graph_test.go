package onnxmodel_test

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"screend/scoring/onnxmodel"
	"screend/scoring/onnxrt"
	"screend/scoring/onnxrt/onnxrttest"
)

const tol = 1e-5

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// dense computes act(x·w + b) for x [n,in] in float64.
func dense(x []float64, w, b []float32, n, in, out int, act func(float64) float64) []float64 {
	y := make([]float64, n*out)
	for r := 0; r < n; r++ {
		for j := 0; j < out; j++ {
			s := float64(b[j])
			for i := 0; i < in; i++ {
				s += x[r*in+i] * float64(w[i*out+j])
			}
			y[r*out+j] = act(s)
		}
	}
	return y
}

func to64(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

func relu(v float64) float64    { return math.Max(v, 0) }
func sigmoid(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

// run loads model in ONNX Runtime and runs it on the given inputs.
func run(t *testing.T, g *onnxmodel.Graph, inputs ...onnxrt.Tensor) []onnxrt.Tensor {
	t.Helper()
	data, err := g.Marshal()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	s, err := onnxrt.NewSessionBytes(data, onnxrt.SessionOptions{IntraOpThreads: 1})
	if err != nil {
		t.Fatalf("load model in ONNX Runtime: %v", err)
	}
	defer s.Close()
	out, err := s.Run(context.Background(), inputs...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return out
}

func assertClose(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %v, want %v (diff %g)", what, i, got[i], want[i], d)
		}
	}
}

func TestMLPMatchesGo(t *testing.T) {
	onnxrttest.Init(t)
	r := rand.New(rand.NewPCG(1, 2))
	const n, in, hidden, out = 4, 6, 9, 3
	w1, b1 := randSlice(r, in*hidden), randSlice(r, hidden)
	w2, b2 := randSlice(r, hidden*out), randSlice(r, out)

	g := onnxmodel.NewGraph("mlp")
	x := g.Input("x", onnxmodel.Batch, in)
	h := g.Dense(x, w1, b1, in, hidden, onnxmodel.ActReLU)
	y := g.Dense(h, w2, b2, hidden, out, onnxmodel.ActSigmoid)
	g.Output("y", y, onnxmodel.Batch, out)

	xs := randSlice(r, n*in)
	got := run(t, g, onnxrt.Tensor{Shape: []int64{n, in}, Data: xs})
	want := dense(dense(to64(xs), w1, b1, n, in, hidden, relu), w2, b2, n, hidden, out, sigmoid)
	if s := got[0].Shape; len(s) != 2 || s[0] != n || s[1] != out {
		t.Fatalf("output shape %v, want [%d %d]", s, n, out)
	}
	assertClose(t, "y", got[0].Data, want)
}

func TestOperatorsMatchGo(t *testing.T) {
	onnxrttest.Init(t)
	r := rand.New(rand.NewPCG(3, 4))
	x := randSlice(r, 2*4) // [2,4]
	x64 := to64(x)
	tests := []struct {
		name  string
		build func(g *onnxmodel.Graph, x string) string
		want  func() []float64
	}{
		{"Gemm transB", func(g *onnxmodel.Graph, x string) string {
			w := g.Float32("w", []float32{1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4}, 3, 4) // [out=3, in=4]
			return g.Gemm(x, w, g.Float32("b", []float32{0.5, -0.5, 1}, 3), true)
		}, func() []float64 {
			w := [3][4]float64{{1, 2, 3, 4}, {5, 6, 7, 8}, {-1, -2, -3, -4}}
			b := []float64{0.5, -0.5, 1}
			var y []float64
			for r := 0; r < 2; r++ {
				for o := 0; o < 3; o++ {
					s := b[o]
					for i := 0; i < 4; i++ {
						s += x64[r*4+i] * w[o][i]
					}
					y = append(y, s)
				}
			}
			return y
		}},
		{"Softmax", func(g *onnxmodel.Graph, x string) string { return g.Softmax(x, -1) }, func() []float64 {
			var y []float64
			for r := 0; r < 2; r++ {
				var sum float64
				for i := 0; i < 4; i++ {
					sum += math.Exp(x64[r*4+i])
				}
				for i := 0; i < 4; i++ {
					y = append(y, math.Exp(x64[r*4+i])/sum)
				}
			}
			return y
		}},
		{"L2 normalise", func(g *onnxmodel.Graph, x string) string {
			return g.Div(x, g.ReduceL2(x, true, -1))
		}, func() []float64 {
			var y []float64
			for r := 0; r < 2; r++ {
				var ss float64
				for i := 0; i < 4; i++ {
					ss += x64[r*4+i] * x64[r*4+i]
				}
				for i := 0; i < 4; i++ {
					y = append(y, x64[r*4+i]/math.Sqrt(ss))
				}
			}
			return y
		}},
		{"Concat Slice ReduceMean", func(g *onnxmodel.Graph, x string) string {
			a := g.Slice(x, []int64{1}, []int64{3}, []int64{1}) // columns 1,2
			m := g.ReduceMean(x, true, 1)                       // [2,1]
			return g.Concat(1, a, m)
		}, func() []float64 {
			var y []float64
			for r := 0; r < 2; r++ {
				m := (x64[r*4] + x64[r*4+1] + x64[r*4+2] + x64[r*4+3]) / 4
				y = append(y, x64[r*4+1], x64[r*4+2], m)
			}
			return y
		}},
		{"Mul Sub Tanh Sqrt", func(g *onnxmodel.Graph, x string) string {
			sq := g.Mul(x, x)
			return g.Tanh(g.Sub(g.Sqrt(sq), g.Float32("", []float32{0.25}))) // tanh(|x|-0.25)
		}, func() []float64 {
			y := make([]float64, 8)
			for i, v := range x64 {
				y[i] = math.Tanh(math.Abs(v) - 0.25)
			}
			return y
		}},
		{"Reshape Transpose Flatten", func(g *onnxmodel.Graph, x string) string {
			return g.Flatten(g.Transpose(g.Reshape(x, 0, 2, 2), 0, 2, 1), 1)
		}, func() []float64 {
			var y []float64
			for r := 0; r < 2; r++ {
				y = append(y, x64[r*4+0], x64[r*4+2], x64[r*4+1], x64[r*4+3])
			}
			return y
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := onnxmodel.NewGraph("op")
			in := g.Input("x", onnxmodel.Batch, 4)
			g.Output("y", tc.build(g, in))
			got := run(t, g, onnxrt.Tensor{Shape: []int64{2, 4}, Data: x})
			assertClose(t, "y", got[0].Data, tc.want())
		})
	}
}

func TestConvPoolMatchesGo(t *testing.T) {
	onnxrttest.Init(t)
	r := rand.New(rand.NewPCG(5, 6))
	const n, c, h, w, m, k, stride = 2, 3, 8, 8, 4, 3, 2
	const oh, ow = (h+2-k)/stride + 1, (w+2-k)/stride + 1 // pad 1
	x := randSlice(r, n*c*h*w)
	wt := randSlice(r, m*c*k*k)
	b := randSlice(r, m)

	g := onnxmodel.NewGraph("conv")
	in := g.Input("x", onnxmodel.Batch, c, h, w)
	y := g.Conv(in, g.Float32("w", wt, m, c, k, k), g.Float32("b", b, m),
		onnxmodel.ConvOpts{Strides: []int64{stride, stride}, Pads: []int64{1, 1, 1, 1}})
	y = g.Flatten(g.GlobalAveragePool(g.Relu(y)), 1)
	g.Output("y", y, onnxmodel.Batch, m)
	got := run(t, g, onnxrt.Tensor{Shape: []int64{n, c, h, w}, Data: x})

	want := make([]float64, n*m)
	for bi := 0; bi < n; bi++ {
		for mi := 0; mi < m; mi++ {
			var sum float64
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					s := float64(b[mi])
					for ci := 0; ci < c; ci++ {
						for ky := 0; ky < k; ky++ {
							for kx := 0; kx < k; kx++ {
								iy, ix := oy*stride+ky-1, ox*stride+kx-1
								if iy < 0 || iy >= h || ix < 0 || ix >= w {
									continue
								}
								s += float64(x[((bi*c+ci)*h+iy)*w+ix]) * float64(wt[((mi*c+ci)*k+ky)*k+kx])
							}
						}
					}
					sum += math.Max(s, 0)
				}
			}
			want[bi*m+mi] = sum / (oh * ow)
		}
	}
	assertClose(t, "y", got[0].Data, want)
}

func TestModelHeader(t *testing.T) {
	t.Parallel()
	g := onnxmodel.NewGraph("h")
	x := g.Input("x", onnxmodel.Batch, 2)
	g.Output("y", g.Relu(x), onnxmodel.Batch, 2)
	g.SetMetadata("trained_on", "test")
	data, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := g.Marshal()
	if err != nil || string(again) != string(data) {
		t.Fatalf("second Marshal differs (err %v)", err)
	}
	var m onnxmodel.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.GetIrVersion() != 8 || len(m.GetOpsetImport()) != 1 || m.GetOpsetImport()[0].GetVersion() != 17 {
		t.Errorf("IR %d, opsets %v; want IR 8, opset 17", m.GetIrVersion(), m.GetOpsetImport())
	}
	dim := m.GetGraph().GetInput()[0].GetType().GetTensorType().GetShape().GetDim()
	if len(dim) != 2 || dim[0].GetDimParam() != "N" || dim[1].GetDimValue() != 2 {
		t.Errorf("input dims %v, want [N, 2]", dim)
	}
	if md := m.GetMetadataProps(); len(md) != 1 || md[0].GetKey() != "trained_on" {
		t.Errorf("metadata %v", md)
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build func(g *onnxmodel.Graph)
		want  string
	}{
		{"short initializer", func(g *onnxmodel.Graph) {
			g.Output("y", g.Add(g.Input("x", 2), g.Float32("c", []float32{1}, 2)))
		}, "1 values for shape [2]"},
		{"dense weights", func(g *onnxmodel.Graph) {
			g.Output("y", g.Dense(g.Input("x", 2), make([]float32, 5), nil, 2, 3, onnxmodel.ActNone))
		}, "5 weights for [2,3]"},
		{"dense bias", func(g *onnxmodel.Graph) {
			g.Output("y", g.Dense(g.Input("x", 2), make([]float32, 6), make([]float32, 2), 2, 3, onnxmodel.ActNone))
		}, "2 biases for 3 outputs"},
		{"duplicate name", func(g *onnxmodel.Graph) {
			x := g.Input("x", 2)
			g.Float32("x", []float32{1, 2}, 2)
			g.Output("y", x)
		}, `"x" used twice`},
		{"unknown value", func(g *onnxmodel.Graph) {
			g.Input("x", 2)
			g.Output("y", g.Relu("nope"))
		}, `input "nope" is not a value`},
		{"bad dimension", func(g *onnxmodel.Graph) {
			g.Output("y", g.Input("x", 0, 2))
		}, "dimension 0 is 0"},
		{"no outputs", func(g *onnxmodel.Graph) { g.Input("x", 2) }, "no outputs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := onnxmodel.NewGraph("bad")
			tc.build(g)
			_, err := g.Marshal()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Marshal error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
