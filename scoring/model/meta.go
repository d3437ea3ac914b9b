package model

import "math"

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
const MetaDim = 12

// MetaNames names the meta features in the order MetaFeatures writes them.
var MetaNames = [MetaDim]string{
	"stage_norm",        // stage / 3 (0 for a stage-less image)
	"is_highest_stage",  // 1 when the image has the group's highest stage
	"stage_rank",        // rank of the stage among the group's distinct stages, 0 lowest, 1 highest (1 when all equal)
	"stageless",         // 1 when the image has no stage token (stage 0)
	"log2_pixels",       // log2(width*height) / 24 (1024x1024 = 0.83)
	"log_aspect",        // ln(width/height)
	"pixels_rel_max",    // width*height / the largest width*height of the group
	"group_size",        // number of images in the group / 4
	"single_image",      // 1 when the group has one image
	"stages_below_high", // (highest stage of the group - stage) / 3
	"dist_lower_stage",  // 1 - cosine of the embedding with the nearest lower stage's (mean over its images), 0 when none
	"dist_higher_stage", // 1 - cosine of the embedding with the nearest higher stage's (mean over its images), 0 when none
}

// MetaFeatures returns the meta feature rows of a group, one row of MetaDim
// values per image, in the order of MetaNames. The features describe an image
// relative to its group, so that a ranker can learn "the highest stage usually
// wins" from them alone and leave the exceptions to the embedding. The two
// distances to the neighbouring stages flag a stage that departs from the
// one it was made from (an upscale is nearly the same picture, a broken one
// is not), the usual reason a human picks a lower stage.
func MetaFeatures(group []Image) [][]float32 {
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

// stageDistance returns 1 - the mean cosine of image i's embedding with the
// images of the nearest stage below (dir < 0) or above (dir > 0) its own, 0
// when there is none or an embedding is missing. Embeddings are
// L2-normalised, so the cosine is the dot product.
func stageDistance(group []Image, i int, dir float64) float64 {
	s := group[i].Stage
	near, found := 0.0, false
	for _, im := range group {
		if d := (im.Stage - s) * dir; d > 0 && (!found || d < (near-s)*dir) {
			near, found = im.Stage, true
		}
	}
	if !found {
		return 0
	}
	var sum float64
	var n int
	for _, im := range group {
		if im.Stage != near || len(im.Embedding) != len(group[i].Embedding) || len(im.Embedding) == 0 {
			continue
		}
		var dot float64
		for j, v := range im.Embedding {
			dot += float64(v) * float64(group[i].Embedding[j])
		}
		sum += dot
		n++
	}
	if n == 0 {
		return 0
	}
	return 1 - sum/float64(n)
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
