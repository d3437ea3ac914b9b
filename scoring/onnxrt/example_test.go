package onnxrt_test

import (
	"context"
	"fmt"
	"log"

	"screend/scoring/onnxrt"
)

// Run a model with one float32 input of shape [N,512]. (Compiled, not run:
// it needs the library and a model.)
func ExampleSession() {
	version, err := onnxrt.Init("/usr/local/lib/screend/libonnxruntime.so")
	if err != nil {
		log.Fatal(err)
	}
	defer onnxrt.Close() // at process exit, after every session is closed
	fmt.Println("ONNX Runtime", version)

	s, err := onnxrt.NewSession("ranker.onnx", onnxrt.SessionOptions{IntraOpThreads: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	fmt.Println(s.Inputs(), s.Outputs())

	x := onnxrt.Tensor{Shape: []int64{2, 512}, Data: make([]float32, 2*512)}
	out, err := s.Run(context.Background(), x)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out[0].Shape, out[0].Data)
}
