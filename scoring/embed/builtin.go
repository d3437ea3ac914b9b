package embed

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"slices"
	"sync"
)

// Builtin is a pure-Go embedder that needs no model file. Its vector is a
// hand-made descriptor of what the picture shows at coarse resolution and of
// its technical quality, for rankers and crop proposers to learn from.
//
// Descriptor layout (builtin-v2, 498 values):
//
// The image is divided into an 8x8 grid of cells (cell (cx, cy) covers
// columns [cx*W/8, (cx+1)*W/8) and rows likewise; cells are numbered
// row-major, cell = cy*8 + cx, so top-left first). Whatever the resolution,
// a cell covers the same part of the scene, so the stages of one picture
// are measured on the same content.
//
//	index    block        what it measures
//	0-191    colour grid  per cell (3 values at 3*cell): CIELAB L*, a*, b* of
//	                      the cell's mean colour minus the image's mean, as a
//	                      pattern: the block is scaled to unit norm (its
//	                      magnitude is scalar 23), then weighted. Where the
//	                      subject is and what colour it is.
//	192-447  edge grid    per cell (4 values at 192+4*cell): RMS directional
//	                      derivative of luma on a 128-pixel thumbnail along 0°
//	                      (x, i.e. vertical edges), 45°, 90° (y, horizontal
//	                      edges) and 135°; scaled to unit norm (the overall
//	                      level is scalar 24), then weighted. Where the
//	                      detail (usually the subject) is, and its structure.
//	448-497  scalars      25 global measurements, scalar k at 448+2k and
//	                      448+2k+1, see below.
//
// The scalars, each taken from a fixed-size central tile (1/5 of the cell's
// width and height) of every grid cell at full resolution, or from a sparse
// full-image sample; "luma" is Rec.601 Y' on 0-255:
//
//	k   index    block       measurement
//	0   448-449  sharpness   log10(1+median over tiles of var(Laplacian)),
//	                         full resolution
//	1   450-451  sharpness   same, 90th percentile of tiles (the sharpest
//	                         region, usually the subject)
//	2   452-453  sharpness   as 0 at half resolution (tile binned 2x2)
//	3   454-455  sharpness   as 1 at half resolution
//	4   456-457  sharpness   log2 of Σ var(Laplacian) full / half resolution
//	                         over the more detailed half of the tiles: true
//	                         detail keeps it high, upscaling lowers it
//	5   458-459  sharpness   log10(1+90th percentile of mean squared gradient)
//	6   460-461  noise       log2(1/16 + σ), σ = 1.4826·MAD/6 of the
//	                         Immerkær high-pass residual, median over the
//	                         16 flattest tiles (by coarse edge energy)
//	7   462-463  noise       same at half resolution
//	8   464-465  noise       same, median over all tiles
//	9   466-467  exposure    mean luma / 255
//	10  468-469  exposure    standard deviation of luma / 255 (contrast)
//	11  470-471  exposure    5th percentile of luma / 255
//	12  472-473  exposure    median luma / 255
//	13  474-475  exposure    95th percentile of luma / 255
//	14  476-477  exposure    fraction of clipped shadows (luma <= 3), sqrt
//	15  478-479  exposure    fraction of clipped highlights (luma >= 252), sqrt
//	16  480-481  colour      mean HSV saturation
//	17  482-483  colour      Hasler–Süsstrunk colourfulness (0-255 scale)
//	18  484-485  colour      mean CIELAB a* (green-red cast)
//	19  486-487  colour      mean CIELAB b* (blue-yellow cast)
//	20  488-489  resolution  log2 width
//	21  490-491  resolution  log2 height
//	22  492-493  resolution  log2(width/height)
//	23  494-495  layout      log2(1+RMS ΔE of the colour grid pattern)
//	24  496-497  layout      log2 of RMS luma gradient on the thumbnail
//
// Every scalar x is squashed with t = tanh((x-centre)/scale), with fixed
// constants (builtinScalars), and stored as the pair (cos θ, sin θ),
// θ = (t+1)·π/4: both move monotonically with x and the pair has unit norm.
// With the two grid blocks also of unit norm, every block has a fixed
// weight (colour grid 0.22 of the squared norm, edge grid 0.22, sharpness
// 0.16, noise 0.10, exposure 0.10, colour 0.08, resolution 0.06, layout
// 0.06) and the vector has unit norm before the final L2 normalisation,
// which therefore changes nothing (except for flat images whose grid blocks
// are below their floor): values keep their absolute meaning across images,
// and no block dominates.
//
// Any change to the layout, the constants or the measurements must change
// builtinID. builtin-v1 measured tiles of 1/3 of the cell's side and
// sampled about 4x4 pixels for each thumbnail pixel: 2.8 and 4 times the
// pixels, for the same measurements of the same parts of the picture, at a
// CPU cost of more than a tenth of a PNG decode's.
type Builtin struct{}

// builtinID names the descriptor version; see the Builtin doc comment.
const builtinID = "builtin-v2"

const (
	gridN      = 8 // grid cells per side
	gridCells  = gridN * gridN
	thumbLong  = 128 // thumbnail long side, pixels
	tileFrac   = 5   // a tile is 1/tileFrac of its cell's width and height
	minTile    = 8   // smallest tile side when the cell allows it
	flatTiles  = gridCells / 4
	noiseBins  = 512 // histogram of |residual| for the noise MAD
	noiseBinW  = 0.125
	clipLow    = 3
	clipHigh   = 252
	noiseFloor = 1.0 / 16

	offColourGrid = 0
	offEdgeGrid   = offColourGrid + 3*gridCells
	offScalars    = offEdgeGrid + 4*gridCells
	builtinDim    = offScalars + 2*numScalars
)

// Indices of the scalar measurements, in the order of the layout table.
const (
	sLapMed = iota
	sLapP90
	sLapHalfMed
	sLapHalfP90
	sDetailRatio
	sGradP90
	sNoiseFlat
	sNoiseFlatHalf
	sNoiseAll
	sLumaMean
	sLumaStd
	sLumaP5
	sLumaP50
	sLumaP95
	sClipLow
	sClipHigh
	sSatMean
	sColourfulness
	sMeanA
	sMeanB
	sLog2W
	sLog2H
	sLog2Aspect
	sLayoutContrast
	sCoarseEdges
	numScalars
)

// Blocks of scalars and their share of the squared norm.
const (
	blockSharpness = iota
	blockNoise
	blockExposure
	blockColour
	blockResolution
	blockLayout
	numBlocks
)

const (
	shareColourGrid = 0.22
	shareEdgeGrid   = 0.22
)

var blockShare = [numBlocks]float64{
	blockSharpness:  0.16,
	blockNoise:      0.10,
	blockExposure:   0.10,
	blockColour:     0.08,
	blockResolution: 0.06,
	blockLayout:     0.06,
}

// scalarSpec says how a raw scalar is squashed: t = tanh((f(x)-centre)/scale),
// f = sqrt if sqrt is set.
type scalarSpec struct {
	block         int
	centre, scale float64
	sqrt          bool
}

// builtinScalars holds the fixed encoding constants, chosen so that typical
// photographs and generated images fall in the steep part of tanh.
var builtinScalars = [numScalars]scalarSpec{
	sLapMed:         {blockSharpness, 1.5, 1, false},
	sLapP90:         {blockSharpness, 2.2, 1, false},
	sLapHalfMed:     {blockSharpness, 1.9, 1, false},
	sLapHalfP90:     {blockSharpness, 2.6, 1, false},
	sDetailRatio:    {blockSharpness, -1, 1.5, false},
	sGradP90:        {blockSharpness, 1.8, 1, false},
	sNoiseFlat:      {blockNoise, 0, 2, false},
	sNoiseFlatHalf:  {blockNoise, -0.8, 2, false},
	sNoiseAll:       {blockNoise, 0.5, 2, false},
	sLumaMean:       {blockExposure, 0.45, 0.25, false},
	sLumaStd:        {blockExposure, 0.22, 0.1, false},
	sLumaP5:         {blockExposure, 0.08, 0.1, false},
	sLumaP50:        {blockExposure, 0.45, 0.25, false},
	sLumaP95:        {blockExposure, 0.85, 0.15, false},
	sClipLow:        {blockExposure, 0.1, 0.15, true},
	sClipHigh:       {blockExposure, 0.1, 0.15, true},
	sSatMean:        {blockColour, 0.3, 0.2, false},
	sColourfulness:  {blockColour, 40, 30, false},
	sMeanA:          {blockColour, 5, 15, false},
	sMeanB:          {blockColour, 10, 20, false},
	sLog2W:          {blockResolution, 10.5, 1, false},
	sLog2H:          {blockResolution, 10.5, 1, false},
	sLog2Aspect:     {blockResolution, 0, 0.75, false},
	sLayoutContrast: {blockLayout, 3.5, 1.5, false},
	sCoarseEdges:    {blockLayout, -5, 1.5, false},
}

// scalarWeight is the weight of each scalar's (cos, sin) pair.
var scalarWeight = func() (w [numScalars]float64) {
	var n [numBlocks]int
	for _, s := range builtinScalars {
		n[s.block]++
	}
	for i, s := range builtinScalars {
		w[i] = math.Sqrt(blockShare[s.block] / float64(n[s.block]))
	}
	return w
}()

// NewBuiltin returns the built-in embedder.
func NewBuiltin() *Builtin { return &Builtin{} }

// ID returns the descriptor name and version, "builtin-v2".
func (*Builtin) ID() string { return builtinID }

// Dim returns the descriptor length, 498.
func (*Builtin) Dim() int { return builtinDim }

// Close does nothing.
func (*Builtin) Close() error { return nil }

// Preprocess computes the whole descriptor of img. It is safe for
// concurrent use.
func (*Builtin) Preprocess(img image.Image) ([]float32, error) {
	if img == nil {
		return nil, errors.New("builtin: nil image")
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, fmt.Errorf("builtin: empty image %v", b)
	}
	f := measure(img)
	return f.encode(), nil
}

// Embed returns batch itself: Preprocess already computed the vectors.
func (*Builtin) Embed(ctx context.Context, batch [][]float32) ([][]float32, error) {
	for i, v := range batch {
		if len(v) != builtinDim {
			return nil, fmt.Errorf("builtin: input %d has %d values, want %d", i, len(v), builtinDim)
		}
	}
	return batch, nil
}

// features holds the descriptor before encoding.
type features struct {
	colourGrid [3 * gridCells]float64 // unit-norm pattern (or less, if flat)
	edgeGrid   [4 * gridCells]float64 // unit-norm pattern (or less, if flat)
	scalar     [numScalars]float64    // raw measurements
}

// encode lays the features out as documented on Builtin.
func (f *features) encode() []float32 {
	v := make([]float32, builtinDim)
	wc, we := math.Sqrt(shareColourGrid), math.Sqrt(shareEdgeGrid)
	for i, x := range f.colourGrid {
		v[offColourGrid+i] = float32(wc * x)
	}
	for i, x := range f.edgeGrid {
		v[offEdgeGrid+i] = float32(we * x)
	}
	for k, spec := range builtinScalars {
		x := f.scalar[k]
		if spec.sqrt {
			x = math.Sqrt(math.Max(0, x))
		}
		t := math.Tanh((x - spec.centre) / spec.scale)
		if math.IsNaN(t) {
			t = 0
		}
		theta := (t + 1) * math.Pi / 4
		v[offScalars+2*k] = float32(scalarWeight[k] * math.Cos(theta))
		v[offScalars+2*k+1] = float32(scalarWeight[k] * math.Sin(theta))
	}
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss > 0 {
		inv := float32(1 / math.Sqrt(ss))
		for i := range v {
			v[i] *= inv
		}
	}
	return v
}

// scratch holds the working buffers of one measure. They are reused from
// image to image (scratchPool): fresh ones, a few hundred kilobytes, cost
// the kernel's page faults on every image.
type scratch struct {
	sums       []uint32  // thumbnail sums, 3 per pixel
	rgb, luma  []float32 // thumbnail (thumb.rgb, thumb.luma)
	tile, half []float32 // a tile's luma at full and at half resolution
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// grow returns b resized to n values, reusing its memory when it can.
func grow[T any](b []T, n int) []T { return slices.Grow(b[:0], n)[:n] }

// measure computes all features of img.
func measure(img image.Image) *features {
	src := newPixels(img)
	f := new(features)
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	th := newThumb(src, s)
	th.colour(f)
	flatness := th.edges(f)
	measureTiles(src, flatness, f, s)

	w, h := float64(src.w), float64(src.h)
	f.scalar[sLog2W] = math.Log2(w)
	f.scalar[sLog2H] = math.Log2(h)
	f.scalar[sLog2Aspect] = math.Log2(w / h)
	return f
}

// pixels gives fast row access to the common concrete image types.
type pixels struct {
	img  image.Image
	x0   int // bounds origin
	y0   int
	w, h int

	pix    []uint8 // *image.RGBA, *image.NRGBA (4 bytes/pixel), *image.Gray (1)
	stride int
	bpp    int

	ycc        *image.YCbCr
	yccColumns []int // for sampleRow on ycc: chroma column offset per sample

	pal   *image.Paletted
	palRG [][3]uint8
}

func newPixels(img image.Image) *pixels {
	b := img.Bounds()
	p := &pixels{img: img, x0: b.Min.X, y0: b.Min.Y, w: b.Dx(), h: b.Dy()}
	switch m := img.(type) {
	case *image.RGBA:
		p.pix, p.stride, p.bpp = m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 4
	case *image.NRGBA:
		p.pix, p.stride, p.bpp = m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 4
	case *image.Gray:
		p.pix, p.stride, p.bpp = m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 1
	case *image.YCbCr:
		p.ycc = m
	case *image.NYCbCrA:
		p.ycc = &m.YCbCr
	case *image.Paletted:
		p.pal = m
		p.palRG = make([][3]uint8, 256)
		for i, c := range m.Palette {
			if i >= 256 {
				break
			}
			r, g, bb, _ := c.RGBA()
			p.palRG[i] = [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bb >> 8)}
		}
	}
	return p
}

// sampleRow is rgbRow, except that for *image.YCbCr it writes Y, Cb, Cr
// (averages of which convert to the RGB averages, the conversion being
// affine). All calls must pass the same xs.
func (p *pixels) sampleRow(y int, xs []int, out []uint8) {
	m := p.ycc
	if m == nil {
		p.rgbRow(y, xs, out)
		return
	}
	if p.yccColumns == nil {
		p.yccColumns = make([]int, len(xs))
		c0 := m.COffset(m.Rect.Min.X, m.Rect.Min.Y)
		for i, x := range xs {
			p.yccColumns[i] = m.COffset(p.x0+x, m.Rect.Min.Y) - c0
		}
	}
	yRow := m.Y[m.YOffset(p.x0, p.y0+y):]
	cRow := m.COffset(m.Rect.Min.X, p.y0+y)
	cb, cr := m.Cb[cRow:], m.Cr[cRow:]
	for i, x := range xs {
		c := p.yccColumns[i]
		out[3*i], out[3*i+1], out[3*i+2] = yRow[x], cb[c], cr[c]
	}
}

// rgbRow writes the 8-bit R, G, B of the pixels at columns xs (relative to
// the bounds) of row y into out, three bytes each.
func (p *pixels) rgbRow(y int, xs []int, out []uint8) {
	switch {
	case p.bpp == 4:
		row := p.pix[y*p.stride:]
		for i, x := range xs {
			px := row[4*x : 4*x+3 : 4*x+3]
			out[3*i], out[3*i+1], out[3*i+2] = px[0], px[1], px[2]
		}
	case p.bpp == 1:
		row := p.pix[y*p.stride:]
		for i, x := range xs {
			g := row[x]
			out[3*i], out[3*i+1], out[3*i+2] = g, g, g
		}
	case p.ycc != nil:
		m := p.ycc
		for i, x := range xs {
			ax, ay := p.x0+x, p.y0+y
			yy := m.Y[m.YOffset(ax, ay)]
			ci := m.COffset(ax, ay)
			out[3*i], out[3*i+1], out[3*i+2] = color.YCbCrToRGB(yy, m.Cb[ci], m.Cr[ci])
		}
	case p.pal != nil:
		m := p.pal
		for i, x := range xs {
			c := p.palRG[m.Pix[m.PixOffset(p.x0+x, p.y0+y)]]
			out[3*i], out[3*i+1], out[3*i+2] = c[0], c[1], c[2]
		}
	default:
		for i, x := range xs {
			r, g, b, _ := p.img.At(p.x0+x, p.y0+y).RGBA()
			out[3*i], out[3*i+1], out[3*i+2] = uint8(r>>8), uint8(g>>8), uint8(b>>8)
		}
	}
}

// Rec.601 luma weights, the ones JPEG's Y uses.
const (
	lumaR = 0.299
	lumaG = 0.587
	lumaB = 0.114
)

// lumaRow writes the luma (0-255) of the len(out) pixels of row y starting
// at column x into out.
func (p *pixels) lumaRow(x, y int, out []float32) {
	switch {
	case p.bpp == 4:
		row := p.pix[y*p.stride+4*x:]
		row = row[:4*len(out)]
		for i := range out {
			px := binary.LittleEndian.Uint32(row[4*i:])
			out[i] = lumaR*float32(uint8(px)) + lumaG*float32(uint8(px>>8)) + lumaB*float32(uint8(px>>16))
		}
	case p.bpp == 1:
		row := p.pix[y*p.stride+x:]
		row = row[:len(out)]
		for i, g := range row {
			out[i] = float32(g)
		}
	case p.ycc != nil:
		m := p.ycc
		i0 := m.YOffset(p.x0+x, p.y0+y)
		row := m.Y[i0 : i0+len(out)]
		for i, yy := range row {
			out[i] = float32(yy)
		}
	default:
		var rgb [3 * 64]uint8
		var xs [64]int
		for done := 0; done < len(out); {
			n := min(64, len(out)-done)
			for i := range n {
				xs[i] = x + done + i
			}
			p.rgbRow(y, xs[:n], rgb[:])
			for i := range n {
				out[done+i] = lumaR*float32(rgb[3*i]) + lumaG*float32(rgb[3*i+1]) + lumaB*float32(rgb[3*i+2])
			}
			done += n
		}
	}
}

// thumb is a small box-filtered copy of the image, built from a sparse
// sample (at most about 2x2 samples per thumbnail pixel), plus a luma
// histogram of the samples.
type thumb struct {
	w, h int
	rgb  []float32 // 0-1, gamma-encoded, 3 per pixel
	luma []float32 // 0-1
	hist [256]int
	n    int // samples in hist
	// cell boundaries in thumbnail pixels
	cellX, cellY [gridN + 1]int
}

func newThumb(p *pixels, s *scratch) *thumb {
	t := &thumb{}
	if p.w >= p.h {
		t.w, t.h = thumbLong, max(gridN, int(math.Round(thumbLong*float64(p.h)/float64(p.w))))
	} else {
		t.w, t.h = max(gridN, int(math.Round(thumbLong*float64(p.w)/float64(p.h)))), thumbLong
	}
	step := max(1, min(p.w/t.w, p.h/t.h)/2)
	xs, xcol, xcount := sampleAxis(p.w, t.w, step)
	ys, yrow, ycount := sampleAxis(p.h, t.h, step)

	s.sums = grow(s.sums, 3*t.w*t.h)
	sums := s.sums
	clear(sums)
	// Four histograms taken in turn, added up at the end: consecutive
	// samples of a smooth image fall into one bin, and increments of one
	// counter wait for each other.
	var hists [4][256]int32
	if p.bpp == 4 {
		// The common case (PNG), read in place.
		for j, y := range ys {
			sampleRGBA(p.pix[y*p.stride:], xs, xcount, step, sums[3*t.w*int(yrow[j]):][:3*t.w], &hists)
		}
	} else {
		rgb := make([]uint8, 3*len(xs))
		for j, y := range ys {
			p.sampleRow(y, xs, rgb)
			acc := sums[3*t.w*int(yrow[j]):][:3*t.w]
			for i, c := range xcol {
				r, g, b := rgb[3*i], rgb[3*i+1], rgb[3*i+2]
				a := acc[3*int(c) : 3*int(c)+3 : 3*int(c)+3]
				a[0] += uint32(r)
				a[1] += uint32(g)
				a[2] += uint32(b)
				if p.ycc == nil {
					hists[i&3][luma8(r, g, b)]++
				} else {
					hists[i&3][r]++ // Y is the luma
				}
			}
		}
	}
	for _, h := range hists {
		for v, c := range h {
			t.hist[v] += int(c)
		}
	}
	t.n = len(xs) * len(ys)
	if p.ycc != nil {
		// The sums are of Y, Cb, Cr: convert the means (JFIF, full range).
		for i := 0; i < len(sums); i += 3 {
			n := float64(xcount[(i/3)%t.w] * ycount[(i/3)/t.w])
			yy, cb, cr := float64(sums[i])/n, float64(sums[i+1])/n-128, float64(sums[i+2])/n-128
			r := min(255, max(0, yy+1.402*cr))
			g := min(255, max(0, yy-0.344136*cb-0.714136*cr))
			b := min(255, max(0, yy+1.772*cb))
			sums[i], sums[i+1], sums[i+2] = uint32(r*n+0.5), uint32(g*n+0.5), uint32(b*n+0.5)
		}
	}

	s.rgb, s.luma = grow(s.rgb, 3*t.w*t.h), grow(s.luma, t.w*t.h)
	t.rgb, t.luma = s.rgb, s.luma
	for ty := range t.h {
		for tx := range t.w {
			i := ty*t.w + tx
			inv := 1 / (255 * float32(xcount[tx]*ycount[ty]))
			r, g, b := float32(sums[3*i])*inv, float32(sums[3*i+1])*inv, float32(sums[3*i+2])*inv
			t.rgb[3*i], t.rgb[3*i+1], t.rgb[3*i+2] = r, g, b
			t.luma[i] = lumaR*r + lumaG*g + lumaB*b
		}
	}
	for i := range gridN + 1 {
		t.cellX[i] = i * t.w / gridN
		t.cellY[i] = i * t.h / gridN
	}
	return t
}

// luma8 is the Rec.601 luma of an 8-bit RGB pixel, rounded, in integers.
func luma8(r, g, b uint8) uint8 {
	return uint8((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}

// sampleRGBA adds the R, G, B of the samples xs of one row of 4-byte
// pixels to the thumbnail row acc (xcount[c] consecutive samples for
// column c, step apart) and counts their luma in hists. Each pixel is
// loaded as one 32-bit word.
func sampleRGBA(row []uint8, xs []int, xcount []int, step int, acc []uint32, hists *[4][256]int32) {
	k := 0
	for c, n := range xcount {
		var sr, sg, sb uint32
		for x := xs[k]; n > 0; n, x = n-1, x+step {
			px := binary.LittleEndian.Uint32(row[4*x:])
			r, g, b := uint8(px), uint8(px>>8), uint8(px>>16)
			sr += uint32(r)
			sg += uint32(g)
			sb += uint32(b)
			hists[k&3][luma8(r, g, b)]++
			k++
		}
		a := acc[3*c : 3*c+3 : 3*c+3]
		a[0] += sr
		a[1] += sg
		a[2] += sb
	}
}

// sampleAxis returns the sample coordinates along an axis of n source
// pixels shrunk to m, the thumbnail index of each sample, and the number
// of samples per thumbnail index (at least one: a small image is sampled
// nearest-neighbour).
func sampleAxis(n, m, step int) (coords []int, index []int32, count []int) {
	count = make([]int, m)
	for i := range m {
		lo, hi := i*n/m, (i+1)*n/m
		if hi <= lo {
			hi = lo + 1
		}
		for c := lo; c < hi; c += step {
			coords = append(coords, c)
			index = append(index, int32(i))
			count[i]++
		}
	}
	return coords, index, count
}

// colour fills the colour grid, the exposure and colour scalars and the
// layout contrast.
func (t *thumb) colour(f *features) {
	// Colour grid: mean colour per cell, in CIELAB.
	var lab [gridCells][3]float64
	var mean [3]float64
	for cy := range gridN {
		for cx := range gridN {
			var s [3]float64
			n := 0
			for y := t.cellY[cy]; y < t.cellY[cy+1]; y++ {
				row := t.rgb[3*(y*t.w+t.cellX[cx]) : 3*(y*t.w+t.cellX[cx+1])]
				for i := 0; i < len(row); i += 3 {
					s[0] += float64(row[i])
					s[1] += float64(row[i+1])
					s[2] += float64(row[i+2])
				}
				n += len(row) / 3
			}
			c := cy*gridN + cx
			if n > 0 {
				lab[c] = srgbToLab(s[0]/float64(n), s[1]/float64(n), s[2]/float64(n))
			}
			for k := range 3 {
				mean[k] += lab[c][k] / gridCells
			}
		}
	}
	var ss float64
	for c := range gridCells {
		for k := range 3 {
			d := lab[c][k] - mean[k]
			f.colourGrid[3*c+k] = d
			ss += d * d
		}
	}
	norm := math.Sqrt(ss)
	scaleBlock(f.colourGrid[:], norm, 0.5*math.Sqrt(3*gridCells))
	f.scalar[sLayoutContrast] = math.Log2(1 + norm/math.Sqrt(3*gridCells))
	f.scalar[sMeanA] = mean[1]
	f.scalar[sMeanB] = mean[2]

	// Saturation and colourfulness over the thumbnail.
	var sat, srg, syb, qrg, qyb float64
	np := float64(t.w * t.h)
	for i := 0; i < len(t.rgb); i += 3 {
		r, g, b := float64(t.rgb[i]), float64(t.rgb[i+1]), float64(t.rgb[i+2])
		hi, lo := max(r, g, b), min(r, g, b)
		if hi > 0 {
			sat += (hi - lo) / hi
		}
		rg, yb := 255*(r-g), 255*(0.5*(r+g)-b)
		srg += rg
		syb += yb
		qrg += rg * rg
		qyb += yb * yb
	}
	mrg, myb := srg/np, syb/np
	vrg, vyb := max(0, qrg/np-mrg*mrg), max(0, qyb/np-myb*myb)
	f.scalar[sSatMean] = sat / np
	f.scalar[sColourfulness] = math.Sqrt(vrg+vyb) + 0.3*math.Sqrt(mrg*mrg+myb*myb)

	// Exposure from the histogram of sampled luma.
	n := float64(t.n)
	var s1, s2 float64
	for v, c := range t.hist {
		s1 += float64(v * c)
		s2 += float64(v * v * c)
	}
	m := s1 / n
	f.scalar[sLumaMean] = m / 255
	f.scalar[sLumaStd] = math.Sqrt(max(0, s2/n-m*m)) / 255
	f.scalar[sLumaP5] = histQuantile(t.hist[:], t.n, 0.05) / 255
	f.scalar[sLumaP50] = histQuantile(t.hist[:], t.n, 0.5) / 255
	f.scalar[sLumaP95] = histQuantile(t.hist[:], t.n, 0.95) / 255
	var lowN, highN int
	for v := 0; v <= clipLow; v++ {
		lowN += t.hist[v]
	}
	for v := clipHigh; v < 256; v++ {
		highN += t.hist[v]
	}
	f.scalar[sClipLow] = float64(lowN) / n
	f.scalar[sClipHigh] = float64(highN) / n
}

// scaleBlock divides v by max(norm, floor).
func scaleBlock(v []float64, norm, floor float64) {
	d := max(norm, floor)
	for i := range v {
		v[i] /= d
	}
}

// histQuantile returns the q-quantile of the values counted in hist
// (bin i holds value i), interpolated within the bin.
func histQuantile(hist []int, n int, q float64) float64 {
	target := q * float64(n)
	cum := 0.0
	for v, c := range hist {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= target {
			return float64(v) + (target-cum)/float64(c)
		}
		cum += float64(c)
	}
	return float64(len(hist))
}

// srgbToLab converts gamma-encoded sRGB (0-1) to CIELAB (D65).
func srgbToLab(r, g, b float64) [3]float64 {
	lin := func(c float64) float64 {
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	r, g, b = lin(r), lin(g), lin(b)
	x := (0.4124564*r + 0.3575761*g + 0.1804375*b) / 0.95047
	y := 0.2126729*r + 0.7151522*g + 0.0721750*b
	z := (0.0193339*r + 0.1191920*g + 0.9503041*b) / 1.08883
	fn := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	fx, fy, fz := fn(x), fn(y), fn(z)
	return [3]float64{116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)}
}

// edges fills the edge grid and the coarse edge scalar, and returns each
// cell's total edge energy (for picking flat tiles).
func (t *thumb) edges(f *features) (cellEnergy [gridCells]float64) {
	var acc [gridCells][4]float64
	var cnt [gridCells]int
	var total float64
	for cy := range gridN {
		for y := t.cellY[cy]; y < t.cellY[cy+1]; y++ {
			// The Sobel window's rows, the image's edges repeated.
			up := t.luma[max(y-1, 0)*t.w:][:t.w]
			row := t.luma[y*t.w:][:t.w]
			dn := t.luma[min(y+1, t.h-1)*t.w:][:t.w]
			for cx := range gridN {
				cell := cy*gridN + cx
				x0, x1 := t.cellX[cx], t.cellX[cx+1]
				cnt[cell] += x1 - x0
				a := &acc[cell]
				for x := x0; x < x1; x++ {
					l, r := max(x-1, 0), min(x+1, t.w-1)
					gx := float64((up[r]+2*row[r]+dn[r])-(up[l]+2*row[l]+dn[l])) / 8
					gy := float64((dn[l]+2*dn[x]+dn[r])-(up[l]+2*up[x]+up[r])) / 8
					s, q := gx+gy, gx-gy
					a[0] += gx * gx
					a[1] += s * s / 2
					a[2] += gy * gy
					a[3] += q * q / 2
					total += gx*gx + gy*gy
				}
			}
		}
	}
	var ss float64
	for c := range gridCells {
		n := float64(max(cnt[c], 1))
		for k := range 4 {
			v := math.Sqrt(acc[c][k] / n)
			f.edgeGrid[4*c+k] = v
			ss += v * v
		}
		cellEnergy[c] = (acc[c][0] + acc[c][2]) / n
	}
	scaleBlock(f.edgeGrid[:], math.Sqrt(ss), 0.002*math.Sqrt(4*gridCells))
	f.scalar[sCoarseEdges] = math.Log2(1e-4 + math.Sqrt(total/float64(t.w*t.h)))
	return cellEnergy
}

// tileStats are the full-resolution measurements of one tile.
type tileStats struct {
	lap, lapHalf     float64 // variance of the Laplacian
	grad             float64 // mean squared gradient
	noise, noiseHalf float64 // σ estimate from the residual MAD
}

// measureTiles fills the sharpness and noise scalars from one tile per cell.
func measureTiles(p *pixels, cellEnergy [gridCells]float64, f *features, sc *scratch) {
	var stats [gridCells]tileStats
	var hists [2][noiseBins]int32
	for cy := range gridN {
		y0, y1 := cy*p.h/gridN, (cy+1)*p.h/gridN
		th := tileSide(y1 - y0)
		ty := y0 + (y1-y0-th)/2
		for cx := range gridN {
			x0, x1 := cx*p.w/gridN, (cx+1)*p.w/gridN
			tw := tileSide(x1 - x0)
			tx := x0 + (x1-x0-tw)/2
			sc.tile = grow(sc.tile, tw*th)
			buf := sc.tile
			for j := range th {
				p.lumaRow(tx, ty+j, buf[j*tw:(j+1)*tw])
			}
			s := &stats[cy*gridN+cx]
			s.lap, s.grad, s.noise = planeStats(buf, tw, th, &hists)
			hw, hh := tw/2, th/2
			sc.half = grow(sc.half, hw*hh)
			half := sc.half
			for j := range hh {
				r0, r1 := buf[2*j*tw:], buf[(2*j+1)*tw:]
				for i := range hw {
					half[j*hw+i] = (r0[2*i] + r0[2*i+1] + r1[2*i] + r1[2*i+1]) / 4
				}
			}
			s.lapHalf, _, s.noiseHalf = planeStats(half, hw, hh, &hists)
		}
	}

	var lap, lapHalf, grad, noise [gridCells]float64
	for i, s := range stats {
		lap[i], lapHalf[i], grad[i], noise[i] = s.lap, s.lapHalf, s.grad, s.noise
	}
	f.scalar[sLapMed] = math.Log10(1 + quantile(lap[:], 0.5))
	f.scalar[sLapP90] = math.Log10(1 + quantile(lap[:], 0.9))
	f.scalar[sLapHalfMed] = math.Log10(1 + quantile(lapHalf[:], 0.5))
	f.scalar[sLapHalfP90] = math.Log10(1 + quantile(lapHalf[:], 0.9))
	f.scalar[sGradP90] = math.Log10(1 + quantile(grad[:], 0.9))

	// Detail ratio over the more detailed half of the tiles.
	order := make([]int, gridCells)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return -cmpFloat(lapHalf[a], lapHalf[b]) })
	var sf, sh float64
	for _, i := range order[:gridCells/2] {
		sf += lap[i]
		sh += lapHalf[i]
	}
	f.scalar[sDetailRatio] = math.Log2((sf + 1) / (sh + 1))

	// Noise: the flattest tiles by coarse edge energy.
	slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(cellEnergy[a], cellEnergy[b]) })
	var nf, nh [flatTiles]float64
	for k, i := range order[:flatTiles] {
		nf[k], nh[k] = stats[i].noise, stats[i].noiseHalf
	}
	f.scalar[sNoiseFlat] = math.Log2(noiseFloor + quantile(nf[:], 0.5))
	f.scalar[sNoiseFlatHalf] = math.Log2(noiseFloor + quantile(nh[:], 0.5))
	f.scalar[sNoiseAll] = math.Log2(noiseFloor + quantile(noise[:], 0.5))
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// tileSide returns the side of the tile measured in a cell of side n.
func tileSide(n int) int {
	return min(n, max(minTile, n/tileFrac))
}

// planeStats returns, over the interior of a w x h luma plane, the
// variance of the 4-neighbour Laplacian, the mean squared gradient, and the
// noise σ estimated as 1.4826·MAD/6 of the Immerkær residual
// [1 -2 1; -2 4 -2; 1 -2 1] (whose response to white noise of σ is 6σ).
//
// The loop is written for speed, with the arithmetic of every value kept
// in the same order (the descriptor's numbers depend on float32 rounding): it
// slides a 3x3 window along the rows instead of loading nine values per
// pixel, takes |residual| by clearing the sign bit instead of a branch
// that noise makes unpredictable, and counts residuals in two histograms
// taken in turn, since neighbouring pixels often fall into one bin.
func planeStats(v []float32, w, h int, hists *[2][noiseBins]int32) (lapVar, grad, noise float64) {
	if w < 3 || h < 3 {
		return 0, 0, 0
	}
	clear(hists[0][:])
	clear(hists[1][:])
	var sl, sl2, sg float64
	for y := 1; y < h-1; y++ {
		row := v[y*w : (y+1)*w]
		up, dn := v[(y-1)*w : y*w][:len(row)], v[(y+1)*w : (y+2)*w][:len(row)]
		var rl, rl2, rg float32 // per-row sums in float32, folded into float64
		ul, u, l, c, dl, d := up[0], up[1], row[0], row[1], dn[0], dn[1]
		for x := 2; x < len(row); x++ { // x is the column right of the centre
			ur, r, dr := up[x], row[x], dn[x]
			lap := 4*c - l - r - u - d
			rl += lap
			rl2 += lap * lap
			dx, dy := r-c, d-c
			rg += dx*dx + dy*dy
			res := 4*c - 2*(l+r+u+d) + ul + ur + dl + dr
			res = math.Float32frombits(math.Float32bits(res) &^ (1 << 31))
			hists[x&1][min(int(res*(1/noiseBinW)), noiseBins-1)]++
			ul, u, l, c, dl, d = u, ur, c, r, d, dr
		}
		sl += float64(rl)
		sl2 += float64(rl2)
		sg += float64(rg)
	}
	n := float64((w - 2) * (h - 2))
	m := sl / n
	lapVar = max(0, sl2/n-m*m)
	grad = sg / n
	// Median of |residual| from the histogram.
	target := n / 2
	cum := 0.0
	med := float64(noiseBins) * noiseBinW
	for b := range noiseBins {
		c := hists[0][b] + hists[1][b]
		if c == 0 {
			continue
		}
		if cum+float64(c) >= target {
			med = (float64(b) + (target-cum)/float64(c)) * noiseBinW
			break
		}
		cum += float64(c)
	}
	return lapVar, grad, 1.4826 * med / 6
}

// quantile returns the q-quantile of v (linear interpolation).
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	pos := q * float64(len(v)-1)
	i := int(pos)
	if i >= len(v)-1 {
		return v[len(v)-1]
	}
	return v[i] + (pos-float64(i))*(v[i+1]-v[i])
}
