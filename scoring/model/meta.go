package model

import (
	"math"
	"slices"

	"screend"
	"screend/scoring/embed"
)

// Image is one image of a group as the models see it.
type Image struct {
	// Embedding is the image's embedding, L2-normalised, of length E.
	Embedding []float32
	// Stage is the pipeline stage (1, 1.5, 2, 3), 0 when the name has none.
	Stage float64
	// Width and Height are the image's size in pixels.
	Width, Height int
}

// MetaDim is M, the number of meta features per image.
const MetaDim = 14

// minMetaDim is the meta width of the oldest models still served: the
// columns before the local changes. Columns are only ever appended.
const minMetaDim = 12

// MetaNames names the meta features in the order MetaFeatures writes them.
var MetaNames = [MetaDim]string{
	"stage_norm",          // stage / 3 (0 for a stage-less image)
	"is_highest_stage",    // 1 when the image has the group's highest stage
	"stage_rank",          // rank of the stage among the group's distinct stages, 0 lowest, 1 highest (1 when all equal)
	"stageless",           // 1 when the image has no stage token (stage 0)
	"log2_pixels",         // log2(width*height) / 24 (1024x1024 = 0.83)
	"log_aspect",          // ln(width/height)
	"pixels_rel_max",      // width*height / the largest width*height of the group
	"group_size",          // number of images in the group / 4
	"single_image",        // 1 when the group has one image
	"stages_below_high",   // (highest stage of the group - stage) / 3
	"dist_lower_stage",    // 1 - cosine of the embedding with the nearest lower stage's (mean over its images), 0 when none
	"dist_higher_stage",   // 1 - cosine of the embedding with the nearest higher stage's (mean over its images), 0 when none
	"local_change_lower",  // how much more the most changed region changed than the median region, against the nearest lower stage (embed.Grid), 0 when none
	"local_change_higher", // the same against the nearest higher stage
}

// MetaFeatures returns the meta feature rows of a group, one row of MetaDim
// values per image, in the order of MetaNames. The features describe an image
// relative to its group, so that a ranker can learn "the highest stage usually
// wins" from them alone and leave the exceptions to the embedding. The two
// distances to the neighbouring stages flag a stage that departs from the
// one it was made from (an upscale is nearly the same picture, a broken one
// is not), the usual reason a human picks a lower stage. The two local
// changes (for an embedding with a grid, else 0) flag a stage broken in one
// place only (a blurred face, a blotch of noise), which the distance over
// the whole vector averages away. Models trained before the local changes
// existed take the first 12 columns (Params.MetaDim).
func MetaFeatures(group []Image, grid embed.Grid) [][]float32 {
	n := len(group)
	out := make([][]float32, n)
	if n == 0 {
		return out
	}
	maxStage, maxPx := math.Inf(-1), 0.0
	var distinct []float64
	for _, im := range group {
		maxStage = math.Max(maxStage, im.Stage)
		maxPx = math.Max(maxPx, pixels(im))
		seen := false
		for _, s := range distinct {
			if s == im.Stage {
				seen = true
				break
			}
		}
		if !seen {
			distinct = append(distinct, im.Stage)
		}
	}
	for i, im := range group {
		row := make([]float32, MetaDim)
		px := pixels(im)
		below := 0
		for _, s := range distinct {
			if s < im.Stage {
				below++
			}
		}
		rank := 1.0
		if len(distinct) > 1 {
			rank = float64(below) / float64(len(distinct)-1)
		}
		w, h := float64(max(im.Width, 1)), float64(max(im.Height, 1))
		row[0] = float32(im.Stage / 3)
		row[1] = b2f(im.Stage == maxStage)
		row[2] = float32(rank)
		row[3] = b2f(im.Stage == 0)
		row[4] = float32(math.Log2(px) / 24)
		row[5] = float32(math.Log(w / h))
		row[6] = float32(px / maxPx)
		row[7] = float32(n) / 4
		row[8] = b2f(n == 1)
		row[9] = float32((maxStage - im.Stage) / 3)
		row[10] = float32(stageDistance(group, i, -1))
		row[11] = float32(stageDistance(group, i, +1))
		row[12] = float32(localChange(group, i, -1, grid))
		row[13] = float32(localChange(group, i, +1, grid))
		out[i] = row
	}
	return out
}

// HighestStage returns the index of the image with the highest stage, the
// first (in group order) among equals: the "always pick the highest stage"
// rule. It returns -1 for an empty group.
func HighestStage(group []Image) int {
	best := -1
	for i, im := range group {
		if best < 0 || im.Stage > group[best].Stage {
			best = i
		}
	}
	return best
}

// LowestStage returns the index of the image with the lowest stage, the
// first (in group order) among equals; -1 for an empty group.
func LowestStage(group []Image) int {
	low := -1
	for i, im := range group {
		if low < 0 || im.Stage < group[low].Stage {
			low = i
		}
	}
	return low
}

// nearestStage returns the images of the nearest stage below (dir < 0) or
// above (dir > 0) image i's own whose embeddings have its length.
func nearestStage(group []Image, i int, dir float64) []Image {
	s := group[i].Stage
	near, found := 0.0, false
	for _, im := range group {
		if d := (im.Stage - s) * dir; d > 0 && (!found || d < (near-s)*dir) {
			near, found = im.Stage, true
		}
	}
	var out []Image
	for _, im := range group {
		if found && im.Stage == near && len(im.Embedding) == len(group[i].Embedding) && len(im.Embedding) > 0 {
			out = append(out, im)
		}
	}
	return out
}

// localChange returns how much more the most changed region of the
// picture (a cell of grid) changed between image i and the mean of the
// nearest stage below (dir < 0) or above (dir > 0) than the median region
// did: the Euclidean change of the cell's values over all blocks, maximum
// minus median. It is 0 without a grid that fits the embedding or without
// such a stage.
func localChange(group []Image, i int, dir float64, grid embed.Grid) float64 {
	e := group[i].Embedding
	near := nearestStage(group, i, dir)
	if len(near) == 0 || len(grid.Blocks) == 0 || !grid.Fits(len(e)) {
		return 0
	}
	cells := make([]float64, grid.Cells())
	for c := range cells {
		var sq float64
		for _, b := range grid.Blocks {
			for k := range b.Width {
				j := b.Offset + b.Width*c + k
				var m float64
				for _, im := range near {
					m += float64(im.Embedding[j])
				}
				d := float64(e[j]) - m/float64(len(near))
				sq += d * d
			}
		}
		cells[c] = math.Sqrt(sq)
	}
	slices.Sort(cells)
	return cells[len(cells)-1] - cells[len(cells)/2]
}

// DetailOutsideFrame returns the share of an embedding's detail that lies
// outside the frame people usually keep, PriorCrop: what a crop would cut
// away. A region's detail is the magnitude (root of the sum of squares) of
// its values in the grid's Detail blocks, counted in proportion to its area
// outside the frame; the magnitude rather than the energy, so that a few
// strong edges do not outweigh a margin of fine texture (crop-or-not from
// this share alone, one threshold per project, on the test photographs of
// the benchmark corpus: 83-84% with the energy, 87.5-88.6% with the magnitude).
// It returns 0.5 without detail or without a grid that fits.
func DetailOutsideFrame(e []float32, grid embed.Grid) float64 {
	if !grid.Fits(len(e)) {
		return 0.5
	}
	b := screend.BoxFromCenter(PriorCrop[0], PriorCrop[1], PriorCrop[2])
	share := func(lo, hi, blo, bhi float64) float64 {
		return max(0, min(hi, bhi)-max(lo, blo)) / (hi - lo)
	}
	var inside, total float64
	for r := range grid.Rows {
		for c := range grid.Cols {
			var sq float64
			for _, bl := range grid.Blocks {
				if !bl.Detail {
					continue
				}
				for k := range bl.Width {
					v := float64(e[bl.Offset+bl.Width*(r*grid.Cols+c)+k])
					sq += v * v
				}
			}
			in := share(float64(c)/float64(grid.Cols), float64(c+1)/float64(grid.Cols), b[0], b[2]) *
				share(float64(r)/float64(grid.Rows), float64(r+1)/float64(grid.Rows), b[1], b[3])
			m := math.Sqrt(sq)
			inside += m * in
			total += m
		}
	}
	if total == 0 {
		return 0.5
	}
	return 1 - inside/total
}

// stageDistance returns 1 - the mean cosine of image i's embedding with the
// images of the nearest stage below (dir < 0) or above (dir > 0) its own, 0
// when there is none or an embedding is missing. Embeddings are
// L2-normalised, so the cosine is the dot product.
func stageDistance(group []Image, i int, dir float64) float64 {
	near := nearestStage(group, i, dir)
	if len(near) == 0 {
		return 0
	}
	var sum float64
	for _, im := range near {
		for j, v := range im.Embedding {
			sum += float64(v) * float64(group[i].Embedding[j])
		}
	}
	return 1 - sum/float64(len(near))
}

func pixels(im Image) float64 {
	return float64(max(im.Width, 1)) * float64(max(im.Height, 1))
}

func b2f(b bool) float32 {
	if b {
		return 1
	}
	return 0
}
