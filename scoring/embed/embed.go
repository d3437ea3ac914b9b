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
	"slices"
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

// Lanes returns how many Embed calls emb runs side by side: an ONNX
// encoder's Lanes, 1 for any other embedder.
func Lanes(emb Embedder) int {
	if l, ok := emb.(interface{ Lanes() int }); ok {
		return max(l.Lanes(), 1)
	}
	return 1
}

// Grid says which values of an embedding describe which part of the
// picture: the picture is divided into Cols x Rows regions of equal size
// (region c = row*Cols + col, top-left first), and each block holds Width
// values per region, region c's at Offset + Width*c. Two stages of a
// picture can then be compared region by region (a defect of one stage is
// local, and averaged over the whole vector it is lost), and where the
// detail lies says where the subject is. The zero Grid means the embedding
// has no such layout (an ONNX encoder's pooled vector).
type Grid struct {
	Cols   int         `json:"cols"`
	Rows   int         `json:"rows"`
	Blocks []GridBlock `json:"blocks"`
}

// GridBlock is one block of a Grid. Detail marks a block whose values
// measure detail (edges): their squares sum to how much of it a region
// holds.
type GridBlock struct {
	Offset int  `json:"offset"`
	Width  int  `json:"width"`
	Detail bool `json:"detail,omitempty"`
}

// Cells returns the number of regions.
func (g Grid) Cells() int { return g.Cols * g.Rows }

// GridOf returns the Grid of the embedder with the given ID: the built-in
// descriptor's colour and edge grids for its ID, none for any other.
func GridOf(id string) Grid {
	if id != builtinID {
		return Grid{}
	}
	return Grid{Cols: gridN, Rows: gridN, Blocks: []GridBlock{
		{Offset: offColourGrid, Width: 3},
		{Offset: offEdgeGrid, Width: 4, Detail: true},
	}}
}

// HasDetail reports whether g has a block that measures detail.
func (g Grid) HasDetail() bool {
	return slices.ContainsFunc(g.Blocks, func(b GridBlock) bool { return b.Detail })
}

// Fits reports whether every block of g lies within an embedding of
// length dim.
func (g Grid) Fits(dim int) bool {
	for _, b := range g.Blocks {
		if g.Cols <= 0 || g.Rows <= 0 || b.Offset < 0 || b.Width <= 0 || b.Offset+b.Width*g.Cells() > dim {
			return false
		}
	}
	return true
}
