// Package embed turns decoded images into fixed-length vectors.
//
// An Embedder works in two steps so that the daemon can spread the work
// sensibly over the CPU: Preprocess runs on the decode worker pool, one image
// at a time and concurrently; Embed runs batched inference on what Preprocess
// returned. For the built-in embedder all the work happens in Preprocess and
// Embed only returns its input; for an ONNX encoder Preprocess resizes and
// normalises, and Embed runs the model.
package embed

import (
	"context"
	"image"
)

// Embedder turns images into vectors of Dim() float32 values.
type Embedder interface {
	// ID names the embedder and its weights; vectors of different IDs are
	// never compared or mixed.
	ID() string
	// Dim is the length of every vector Embed returns.
	Dim() int
	// Preprocess prepares one decoded image for Embed. It is safe for
	// concurrent use.
	Preprocess(img image.Image) ([]float32, error)
	// Embed turns a batch of preprocessed inputs into one vector each.
	Embed(ctx context.Context, batch [][]float32) ([][]float32, error)
	// Close releases the embedder's resources.
	Close() error
}
