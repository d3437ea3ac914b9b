package onnxmodel_test

import (
	"fmt"

	"screend/scoring/onnxmodel"
)

// A two-layer MLP: 4 inputs, 3 hidden units with ReLU, one sigmoid output.
func ExampleGraph_Dense() {
	w1 := []float32{ // [4,3]
		0.1, 0.2, 0.3,
		0.4, 0.5, 0.6,
		0.7, 0.8, 0.9,
		1.0, 1.1, 1.2,
	}
	b1 := []float32{0, 0.1, -0.1}
	w2 := []float32{0.5, -0.5, 0.25} // [3,1]
	b2 := []float32{0}

	g := onnxmodel.NewGraph("scorer")
	x := g.Input("features", onnxmodel.Batch, 4)
	h := g.Dense(x, w1, b1, 4, 3, onnxmodel.ActReLU)
	y := g.Dense(h, w2, b2, 3, 1, onnxmodel.ActSigmoid)
	g.Output("score", y, onnxmodel.Batch, 1)

	m, err := g.Model()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range m.GetGraph().GetNode() {
		fmt.Println(n.GetOpType(), n.GetInput(), "->", n.GetOutput())
	}
	// Output:
	// MatMul [features const_1] -> [matmul_1]
	// Add [matmul_1 const_2] -> [add_1]
	// Relu [add_1] -> [relu_1]
	// MatMul [relu_1 const_3] -> [matmul_2]
	// Add [matmul_2 const_4] -> [add_2]
	// Sigmoid [add_2] -> [sigmoid_1]
	// Identity [sigmoid_1] -> [score]
}
