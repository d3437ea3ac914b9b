package embed_test

import (
	"context"
	"errors"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"screend/scoring/embed"
	"screend/scoring/onnxmodel"
	"screend/scoring/onnxrt/onnxrttest"
)

// Shapes of the test encoder: Conv 3->8 (kernel 4, stride 4) on 32x32,
// ReLU, global average pool, flatten, MatMul to 16 dimensions.
const (
	side     = 32
	channels = 8
	kernel   = 4
	dim      = 16
)

type encoderWeights struct {
	conv, convBias, proj []float32
}

func newWeights(seed uint64) encoderWeights {
	r := rand.New(rand.NewPCG(seed, 99))
	fill := func(n int, scale float64) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(r.NormFloat64() * scale)
		}
		return s
	}
	return encoderWeights{
		conv:     fill(channels*3*kernel*kernel, 0.2),
		convBias: fill(channels, 0.1),
		proj:     fill(channels*dim, 0.5),
	}
}

// buildEncoder returns the encoder's graph up to the [N,8,8,8] feature map
// and the embedding [N,16].
func buildEncoder(wt encoderWeights, batch int64) (g *onnxmodel.Graph, fmap, emb string) {
	g = onnxmodel.NewGraph("test_encoder")
	x := g.Input("pixel_values", batch, 3, side, side)
	fmap = g.Relu(g.Conv(x,
		g.Float32("conv.w", wt.conv, channels, 3, kernel, kernel),
		g.Float32("conv.b", wt.convBias, channels),
		onnxmodel.ConvOpts{Strides: []int64{kernel, kernel}}))
	pooled := g.Flatten(g.GlobalAveragePool(fmap), 1)
	emb = g.MatMul(pooled, g.Float32("proj", wt.proj, channels, dim))
	return g, fmap, emb
}

// goEncoder computes the encoder in float64 for one preprocessed image.
func goEncoder(wt encoderWeights, x []float32) []float64 {
	const out = side / kernel
	pooled := make([]float64, channels)
	for m := range channels {
		var sum float64
		for oy := range out {
			for ox := range out {
				s := float64(wt.convBias[m])
				for c := range 3 {
					for ky := range kernel {
						for kx := range kernel {
							iy, ix := oy*kernel+ky, ox*kernel+kx
							s += float64(x[(c*side+iy)*side+ix]) * float64(wt.conv[((m*3+c)*kernel+ky)*kernel+kx])
						}
					}
				}
				sum += math.Max(s, 0)
			}
		}
		pooled[m] = sum / (out * out)
	}
	emb := make([]float64, dim)
	for j := range dim {
		for m := range channels {
			emb[j] += pooled[m] * float64(wt.proj[m*dim+j])
		}
	}
	return emb
}

const testConfig = `{
  "size": {"shortest_edge": 32},
  "crop_size": {"height": 32, "width": 32},
  "do_resize": true, "do_center_crop": true, "do_normalize": true,
  "image_mean": [0.48145466, 0.4578275, 0.40821073],
  "image_std": [0.26862954, 0.26130258, 0.27577711],
  "resample": 3
}`

// writeModel writes g and, unless config is "", a preprocessor_config.json
// into a new folder, and returns the model's path.
func writeModel(t *testing.T, g *onnxmodel.Graph, config string) string {
	t.Helper()
	data, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if config != "" {
		if err := os.WriteFile(filepath.Join(dir, embed.PreprocessorConfigName), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func standardModel(t *testing.T, wt encoderWeights) string {
	g, _, emb := buildEncoder(wt, onnxmodel.Batch)
	g.Output("image_embeds", emb, onnxmodel.Batch, dim)
	return writeModel(t, g, testConfig)
}

func open(t *testing.T, path string, opts embed.ONNXOptions) *embed.ONNX {
	t.Helper()
	e, err := embed.NewONNX(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func testImages() []image.Image {
	imgs := []image.Image{}
	for i, s := range []image.Point{{64, 48}, {40, 90}, {32, 32}} {
		r := rand.New(rand.NewPCG(uint64(i), 5))
		m := image.NewNRGBA(image.Rect(0, 0, s.X, s.Y))
		for y := range s.Y {
			for x := range s.X {
				m.SetNRGBA(x, y, color.NRGBA{uint8(4 * x), uint8(3 * y), uint8(r.IntN(256)), 255})
			}
		}
		imgs = append(imgs, m)
	}
	return imgs
}

func preprocessAll(t *testing.T, e *embed.ONNX, imgs []image.Image) [][]float32 {
	t.Helper()
	var batch [][]float32
	for _, img := range imgs {
		x, err := e.Preprocess(img)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, x)
	}
	return batch
}

func assertVectors(t *testing.T, got [][]float32, want [][]float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d vectors, want %d", len(got), len(want))
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("vector %d: %d values, want %d", i, len(got[i]), len(want[i]))
		}
		for j := range got[i] {
			if d := math.Abs(float64(got[i][j]) - want[i][j]); d > tol*math.Max(1, math.Abs(want[i][j])) {
				t.Fatalf("vector %d [%d] = %v, want %v (diff %g)", i, j, got[i][j], want[i][j], d)
			}
		}
	}
}

func TestONNXEmbedMatchesGo(t *testing.T) {
	onnxrttest.Init(t)
	wt := newWeights(1)
	e := open(t, standardModel(t, wt), embed.ONNXOptions{IntraOpThreads: 2})
	if e.Dim() != dim {
		t.Errorf("Dim() = %d, want %d", e.Dim(), dim)
	}
	if h, w := e.InputSize(); h != side || w != side {
		t.Errorf("InputSize() = %d,%d", h, w)
	}
	batch := preprocessAll(t, e, testImages())
	if len(batch[0]) != 3*side*side {
		t.Fatalf("Preprocess gave %d values", len(batch[0]))
	}
	got, err := e.Embed(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]float64
	for _, x := range batch {
		want = append(want, goEncoder(wt, x))
	}
	assertVectors(t, got, want, 1e-5)

	// Single images give the same vectors as the batch.
	for i, x := range batch {
		one, err := e.Embed(context.Background(), [][]float32{x})
		if err != nil {
			t.Fatal(err)
		}
		assertVectors(t, one, want[i:i+1], 1e-5)
		for j := range one[0] {
			if d := math.Abs(float64(one[0][j] - got[i][j])); d > 1e-6 {
				t.Fatalf("image %d alone differs from in the batch at %d: %v vs %v", i, j, one[0][j], got[i][j])
			}
		}
	}
	if out, err := e.Embed(context.Background(), nil); err != nil || len(out) != 0 {
		t.Errorf("empty batch: %v, %v", out, err)
	}
}

// TestONNXBatching runs batches split by MaxBatch and by a model whose batch
// size is fixed (the last run padded); all give the same vectors.
func TestONNXBatching(t *testing.T) {
	onnxrttest.Init(t)
	wt := newWeights(2)
	ref := open(t, standardModel(t, wt), embed.ONNXOptions{})
	imgs := append(testImages(), testImages()...)
	batch := preprocessAll(t, ref, imgs)
	want, err := ref.Embed(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	g, _, emb := buildEncoder(wt, 4)
	g.Output("image_embeds", emb, 4, dim)
	fixed := open(t, writeModel(t, g, testConfig), embed.ONNXOptions{})
	split := open(t, standardModel(t, wt), embed.ONNXOptions{MaxBatch: 4})
	for name, e := range map[string]*embed.ONNX{"fixed batch 4": fixed, "MaxBatch 4": split} {
		got, err := e.Embed(context.Background(), batch)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d vectors, want %d", name, len(got), len(want))
		}
		for i := range got {
			for j := range got[i] {
				if math.Abs(float64(got[i][j]-want[i][j])) > 1e-6 {
					t.Fatalf("%s: vector %d differs", name, i)
				}
			}
		}
	}
}

func TestONNXID(t *testing.T) {
	onnxrttest.Init(t)
	wt := newWeights(3)
	path := standardModel(t, wt)
	a := open(t, path, embed.ONNXOptions{})
	b := open(t, path, embed.ONNXOptions{IntraOpThreads: 2})
	if !regexp.MustCompile(`^onnx:[0-9a-f]{16}-[0-9a-f]{8}$`).MatchString(a.ID()) {
		t.Errorf("ID %q", a.ID())
	}
	if a.ID() != b.ID() {
		t.Errorf("same model and config, IDs %q and %q", a.ID(), b.ID())
	}
	// Another preprocessing config: another ID, same model hash.
	cfg := filepath.Join(t.TempDir(), "other.json")
	if err := os.WriteFile(cfg, []byte(`{"size": 40, "crop_size": 32, "resample": 2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c := open(t, path, embed.ONNXOptions{PreprocessorConfig: cfg})
	if c.ID() == a.ID() || c.ID()[:21] != a.ID()[:21] {
		t.Errorf("IDs %q (other config) and %q", c.ID(), a.ID())
	}
	// Another model: another hash.
	d := open(t, standardModel(t, newWeights(4)), embed.ONNXOptions{})
	if d.ID()[:21] == a.ID()[:21] {
		t.Errorf("different weights, same model hash: %q, %q", d.ID(), a.ID())
	}
}

func TestONNXOutputChoice(t *testing.T) {
	onnxrttest.Init(t)
	wt := newWeights(5)
	build := func(names ...string) string {
		g, fmap, emb := buildEncoder(wt, onnxmodel.Batch)
		for i, n := range names {
			if i == 0 {
				g.Output(n, emb, onnxmodel.Batch, dim)
			} else {
				g.Output(n, g.Flatten(fmap, 1), onnxmodel.Batch, channels*8*8)
			}
		}
		return writeModel(t, g, testConfig)
	}
	// image_embeds is preferred over another [N,D] output, whatever the order.
	g, fmap, emb := buildEncoder(wt, onnxmodel.Batch)
	g.Output("features", g.Flatten(fmap, 1), onnxmodel.Batch, channels*8*8)
	g.Output("image_embeds", emb, onnxmodel.Batch, dim)
	if e := open(t, writeModel(t, g, testConfig), embed.ONNXOptions{}); e.Dim() != dim {
		t.Errorf("picked an output of %d dimensions, want image_embeds", e.Dim())
	}
	// The only output is used whatever its name.
	if e := open(t, build("out"), embed.ONNXOptions{}); e.Dim() != dim {
		t.Errorf("only output: Dim %d", e.Dim())
	}
	// Two outputs with unknown names: ask.
	path := build("a", "b")
	if _, err := embed.NewONNX(path, embed.ONNXOptions{}); err == nil || !strings.Contains(err.Error(), "which output") {
		t.Errorf("ambiguous outputs: %v", err)
	}
	if e := open(t, path, embed.ONNXOptions{Output: "b"}); e.Dim() != channels*8*8 {
		t.Errorf("Output b: Dim %d", e.Dim())
	}
	if _, err := embed.NewONNX(path, embed.ONNXOptions{Output: "c"}); err == nil || !strings.Contains(err.Error(), `no output "c"`) {
		t.Errorf("missing output: %v", err)
	}
}

func TestONNXRefusals(t *testing.T) {
	onnxrttest.Init(t)
	wt := newWeights(6)

	t.Run("missing preprocessor config", func(t *testing.T) {
		g, _, emb := buildEncoder(wt, onnxmodel.Batch)
		g.Output("image_embeds", emb, onnxmodel.Batch, dim)
		_, err := embed.NewONNX(writeModel(t, g, ""), embed.ONNXOptions{})
		if err == nil || !strings.Contains(err.Error(), "preprocessor_config.json") || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("bad preprocessor config", func(t *testing.T) {
		g, _, emb := buildEncoder(wt, onnxmodel.Batch)
		g.Output("image_embeds", emb, onnxmodel.Batch, dim)
		_, err := embed.NewONNX(writeModel(t, g, `{"resample": 0}`), embed.ONNXOptions{})
		if err == nil || !strings.Contains(err.Error(), "resample 0") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("token output [N,T,D]", func(t *testing.T) {
		g, fmap, _ := buildEncoder(wt, onnxmodel.Batch)
		tokens := g.Transpose(g.Reshape(fmap, 0, channels, 64), 0, 2, 1) // [N,64,8]
		g.Output("last_hidden_state", tokens, onnxmodel.Batch, 64, channels)
		_, err := embed.NewONNX(writeModel(t, g, testConfig), embed.ONNXOptions{})
		if err == nil || !strings.Contains(err.Error(), "[N,T,D]") || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("input size differs from config", func(t *testing.T) {
		g, _, emb := buildEncoder(wt, onnxmodel.Batch)
		g.Output("image_embeds", emb, onnxmodel.Batch, dim)
		_, err := embed.NewONNX(writeModel(t, g, `{"size": 48, "crop_size": 48}`), embed.ONNXOptions{})
		if err == nil || !strings.Contains(err.Error(), "48x48") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("two inputs", func(t *testing.T) {
		g, _, emb := buildEncoder(wt, onnxmodel.Batch)
		extra := g.Input("mask", onnxmodel.Batch, dim)
		g.Output("image_embeds", g.Mul(emb, extra), onnxmodel.Batch, dim)
		_, err := embed.NewONNX(writeModel(t, g, testConfig), embed.ONNXOptions{})
		if err == nil || !strings.Contains(err.Error(), "want one input") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("missing model", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, embed.PreprocessorConfigName), []byte(testConfig), 0o644)
		if _, err := embed.NewONNX(filepath.Join(dir, "model.onnx"), embed.ONNXOptions{}); err == nil {
			t.Error("opened a missing model")
		}
	})
}

func TestONNXEmbedErrors(t *testing.T) {
	onnxrttest.Init(t)
	e, err := embed.NewONNX(standardModel(t, newWeights(7)), embed.ONNXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.Embed(ctx, [][]float32{make([]float32, 10)}); err == nil || !strings.Contains(err.Error(), "Preprocess") {
		t.Errorf("short input: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.Embed(cancelled, [][]float32{make([]float32, 3*side*side)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := e.Embed(ctx, [][]float32{make([]float32, 3*side*side)}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Embed after Close: %v", err)
	}
}

// TestONNXPreprocessDuringEmbed runs Preprocess on several goroutines while
// one goroutine embeds (for the race detector).
func TestONNXPreprocessDuringEmbed(t *testing.T) {
	onnxrttest.Init(t)
	e := open(t, standardModel(t, newWeights(8)), embed.ONNXOptions{})
	imgs := testImages()
	batches := make(chan [][]float32)
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := range 5 {
				x, err := e.Preprocess(imgs[(w+i)%len(imgs)])
				if err != nil {
					t.Error(err)
					return
				}
				batches <- [][]float32{x}
			}
		})
	}
	go func() { wg.Wait(); close(batches) }()
	n := 0
	for b := range batches {
		if _, err := e.Embed(context.Background(), b); err != nil {
			t.Error(err) // not Fatal: keep draining the producers
		}
		n++
	}
	if n != 15 {
		t.Errorf("%d batches", n)
	}
}

// TestONNXLanes embeds from several goroutines at once on an embedder with
// lanes, in batches that spread over the lanes unevenly, and compares with
// the vectors of a one-lane embedder run one batch at a time.
func TestONNXLanes(t *testing.T) {
	onnxrttest.Init(t)
	wt := newWeights(9)
	path := standardModel(t, wt)
	ref := open(t, path, embed.ONNXOptions{})
	lanes := open(t, path, embed.ONNXOptions{Lanes: 3, MaxBatch: 2})
	if lanes.Lanes() != 3 || ref.Lanes() != 1 {
		t.Fatalf("Lanes() = %d and %d, want 3 and 1", lanes.Lanes(), ref.Lanes())
	}
	var imgs []image.Image
	for range 3 {
		imgs = append(imgs, testImages()...)
	}
	all := preprocessAll(t, ref, imgs)
	want, err := ref.Embed(context.Background(), all)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				lo := (g + i) % len(all)
				hi := min(len(all), lo+1+(g*7+i)%len(all)) // 1 to 9 images
				got, err := lanes.Embed(context.Background(), all[lo:hi])
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) != hi-lo {
					t.Errorf("%d vectors for %d images", len(got), hi-lo)
					return
				}
				for k := range got {
					for j := range got[k] {
						if math.Abs(float64(got[k][j]-want[lo+k][j])) > 1e-6 {
							t.Errorf("goroutine %d, images %d-%d: vector %d differs from the sequential one", g, lo, hi, k)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestONNXCloseDuringEmbed closes an embedder with lanes while goroutines
// embed: every call returns the right vectors or says the embedder is
// closed, and Close returns once the runs under way are done.
func TestONNXCloseDuringEmbed(t *testing.T) {
	onnxrttest.Init(t)
	wt := newWeights(10)
	e, err := embed.NewONNX(standardModel(t, wt), embed.ONNXOptions{Lanes: 2, MaxBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	var batch [][]float32
	for range 4 {
		batch = append(batch, preprocessAll(t, e, testImages())...)
	}
	var want [][]float64
	for _, x := range batch {
		want = append(want, goEncoder(wt, x))
	}
	started := make(chan struct{}, 3)
	var done sync.WaitGroup
	var embedded, refused sync.Map
	for g := range 3 {
		done.Go(func() {
			for i := 0; ; i++ {
				got, err := e.Embed(context.Background(), batch)
				if i == 0 {
					started <- struct{}{}
				}
				if err != nil {
					if !strings.Contains(err.Error(), "closed") {
						t.Errorf("goroutine %d: %v", g, err)
					}
					refused.Store(g, true)
					return
				}
				assertVectors(t, got, want, 1e-5)
				embedded.Store(g, true)
			}
		})
	}
	for range 3 {
		<-started
	}
	if err := e.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	done.Wait()
	for g := range 3 {
		if _, ok := refused.Load(g); !ok {
			t.Errorf("goroutine %d was never refused after Close", g)
		}
	}
	if _, err := e.Embed(context.Background(), batch[:1]); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Embed after Close: %v", err)
	}
}
