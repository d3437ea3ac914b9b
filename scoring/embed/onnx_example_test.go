package embed_test

import (
	"context"
	"fmt"
	"image"
	"log"

	"screend/scoring/embed"
	"screend/scoring/onnxrt"
)

// Open a CLIP visual tower exported to ONNX, with its
// preprocessor_config.json beside it, and embed two images. (Compiled, not
// run: it needs the model.)
func ExampleNewONNX() {
	if _, err := onnxrt.Init("/usr/local/lib/screend/libonnxruntime.so"); err != nil {
		log.Fatal(err)
	}
	defer onnxrt.Close()
	e, err := embed.NewONNX("/var/lib/screend/models/clip-vit-b32/model.onnx", embed.ONNXOptions{IntraOpThreads: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	var batch [][]float32
	for _, img := range []image.Image{image.NewGray(image.Rect(0, 0, 640, 480)), image.NewGray(image.Rect(0, 0, 300, 900))} {
		x, err := e.Preprocess(img) // on the decode workers, concurrently
		if err != nil {
			log.Fatal(err)
		}
		batch = append(batch, x)
	}
	vecs, err := e.Embed(context.Background(), batch)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.ID(), len(vecs), e.Dim())
}
