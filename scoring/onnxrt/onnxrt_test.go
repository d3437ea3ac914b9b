package onnxrt_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"screend/scoring/onnxmodel"
	"screend/scoring/onnxrt"
	"screend/scoring/onnxrt/onnxrttest"
)

func TestInitIdempotent(t *testing.T) {
	want := onnxrttest.Init(t)
	if !strings.HasPrefix(want, "1.") {
		t.Errorf("version %q", want)
	}
	lib := os.Getenv(onnxrt.LibEnv)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			v, err := onnxrt.Init(lib)
			if err == nil && v != want {
				err = errors.New("version " + v)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if v := onnxrt.Version(); v != want {
		t.Errorf("Version() = %q, want %q", v, want)
	}
	if _, err := onnxrt.Init(lib + ".other"); err == nil {
		t.Error("Init with another library path succeeded")
	}
}

// scaleModel is y = 2x + 1 for x [N,3], plus z = sum over the last axis.
func scaleModel(t *testing.T) []byte {
	t.Helper()
	g := onnxmodel.NewGraph("scale")
	x := g.Input("x", onnxmodel.Batch, 3)
	y := g.Add(g.Mul(x, g.Float32("two", []float32{2})), g.Float32("one", []float32{1}))
	g.Output("y", y, onnxmodel.Batch, 3)
	g.Output("z", g.ReduceMean(x, false, 1), onnxmodel.Batch)
	data, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestModelInfo(t *testing.T) {
	onnxrttest.Init(t)
	data := scaleModel(t)
	path := filepath.Join(t.TempDir(), "scale.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile := func() ([]onnxrt.TensorInfo, []onnxrt.TensorInfo, error) { return onnxrt.ModelInfo(path) }
	fromBytes := func() ([]onnxrt.TensorInfo, []onnxrt.TensorInfo, error) { return onnxrt.ModelInfoBytes(data) }
	for name, read := range map[string]func() ([]onnxrt.TensorInfo, []onnxrt.TensorInfo, error){"file": fromFile, "bytes": fromBytes} {
		in, out, err := read()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := []string{in[0].String(), out[0].String(), out[1].String()}
		want := []string{"x[N,3]float32", "y[N,3]float32", "z[N]float32"}
		if len(in) != 1 || len(out) != 2 || !slices.Equal(got, want) {
			t.Errorf("%s: inputs %v outputs %v, want %v", name, in, out, want)
		}
	}
	if _, _, err := onnxrt.ModelInfo(filepath.Join(t.TempDir(), "missing.onnx")); err == nil {
		t.Error("ModelInfo of a missing file succeeded")
	}
	// ModelInfo reads the protobuf itself: a cut or foreign file is an error.
	for name, bad := range map[string][]byte{"cut": data[:len(data)/2], "text": []byte("not a model at all\n")} {
		p := filepath.Join(t.TempDir(), name+".onnx")
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if in, out, err := onnxrt.ModelInfo(p); err == nil {
			t.Errorf("ModelInfo of a %s file: %v %v, no error", name, in, out)
		}
	}
}

func TestSessionRun(t *testing.T) {
	onnxrttest.Init(t)
	s, err := onnxrt.NewSessionBytes(scaleModel(t), onnxrt.SessionOptions{IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for _, n := range []int64{1, 3} {
		x := make([]float32, n*3)
		for i := range x {
			x[i] = float32(i)
		}
		out, err := s.Run(ctx, onnxrt.Tensor{Shape: []int64{n, 3}, Data: x})
		if err != nil {
			t.Fatalf("batch %d: %v", n, err)
		}
		if len(out) != 2 || !slices.Equal(out[0].Shape, []int64{n, 3}) || !slices.Equal(out[1].Shape, []int64{n}) {
			t.Fatalf("batch %d: outputs %v", n, out)
		}
		for i, v := range out[0].Data {
			if v != 2*x[i]+1 {
				t.Fatalf("batch %d: y[%d] = %v, want %v", n, i, v, 2*x[i]+1)
			}
		}
		for r, v := range out[1].Data {
			if want := float32(3*r + 1); v != want {
				t.Fatalf("batch %d: z[%d] = %v, want %v", n, r, v, want)
			}
		}
	}

	// Concurrent runs on one session.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := s.Run(ctx, onnxrt.Tensor{Shape: []int64{2, 3}, Data: make([]float32, 6)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestSessionErrors(t *testing.T) {
	onnxrttest.Init(t)
	data := scaleModel(t)
	if _, err := onnxrt.NewSessionBytes(data, onnxrt.SessionOptions{Outputs: []string{"nope"}}); err == nil ||
		!strings.Contains(err.Error(), `no output "nope"`) {
		t.Errorf("unknown output: %v", err)
	}
	if _, err := onnxrt.NewSessionBytes(data, onnxrt.SessionOptions{IntraOpThreads: -1}); err == nil {
		t.Error("negative thread count accepted")
	}
	s, err := onnxrt.NewSessionBytes(data, onnxrt.SessionOptions{Outputs: []string{"z"}})
	if err != nil {
		t.Fatal(err)
	}
	if out := s.Outputs(); len(out) != 1 || out[0].Name != "z" {
		t.Errorf("outputs %v, want z only", out)
	}
	ctx := context.Background()
	cases := map[string]onnxrt.Tensor{
		"wrong width": {Shape: []int64{1, 4}, Data: make([]float32, 4)},
		"wrong rank":  {Shape: []int64{3}, Data: make([]float32, 3)},
		"short data":  {Shape: []int64{2, 3}, Data: make([]float32, 5)},
	}
	for name, in := range cases {
		if _, err := s.Run(ctx, in); err == nil {
			t.Errorf("%s: Run succeeded", name)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Run(cancelled, onnxrt.Tensor{Shape: []int64{1, 3}, Data: make([]float32, 3)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Run: %v", err)
	}
	// A live cancellable context goes through the RunOptions path.
	live, stop := context.WithCancel(ctx)
	defer stop()
	if _, err := s.Run(live, onnxrt.Tensor{Shape: []int64{1, 3}, Data: make([]float32, 3)}); err != nil {
		t.Errorf("Run with cancellable context: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Run(ctx, onnxrt.Tensor{Shape: []int64{1, 3}, Data: make([]float32, 3)}); err == nil {
		t.Error("Run after Close succeeded")
	}
}
