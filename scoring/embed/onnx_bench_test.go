package embed_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"screend/scoring/embed"
	"screend/scoring/onnxrt/onnxrttest"
)

// benchEnvViT names the environment variable with the path of a CLIP
// ViT-B/32-shaped encoder (with its preprocessor_config.json beside it) for
// BenchmarkONNXEmbed; /work/shared/tools/make_vit_b32_onnx.py writes one.
const benchEnvViT = "SCREEND_BENCH_VIT"

// BenchmarkONNXEmbed measures Embed alone (preprocessing excluded) on the
// model named by SCREEND_BENCH_VIT, at batch sizes 1, 8 and 16 with one and
// two intra-op threads, and reports images per second.
func BenchmarkONNXEmbed(b *testing.B) {
	path := os.Getenv(benchEnvViT)
	if path == "" {
		b.Skipf("%s is not set: name a ViT-B/32-shaped ONNX encoder (make_vit_b32_onnx.py writes one)", benchEnvViT)
	}
	onnxrttest.Init(b)
	for _, threads := range []int{1, 2} {
		e, err := embed.NewONNX(path, embed.ONNXOptions{IntraOpThreads: threads})
		if err != nil {
			b.Fatal(err)
		}
		h, w := e.InputSize()
		r := rand.New(rand.NewPCG(1, 2))
		for _, n := range []int{1, 8, 16} {
			batch := make([][]float32, n)
			for i := range batch {
				batch[i] = make([]float32, 3*h*w)
				for j := range batch[i] {
					batch[i][j] = float32(r.NormFloat64())
				}
			}
			b.Run(fmt.Sprintf("threads=%d/batch=%d", threads, n), func(b *testing.B) {
				if _, err := e.Embed(context.Background(), batch); err != nil { // warm-up
					b.Fatal(err)
				}
				runs := 0
				for b.Loop() {
					if _, err := e.Embed(context.Background(), batch); err != nil {
						b.Fatal(err)
					}
					runs++
				}
				b.ReportMetric(float64(runs*n)/b.Elapsed().Seconds(), "images/s")
			})
		}
		e.Close()
	}
}
