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
const MetaDim = 10

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
}

// MetaFeatures returns the meta feature rows of a group, one row of MetaDim
// values per image, in the order of MetaNames. The features describe an image
// relative to its group, so that a ranker can learn "the highest stage usually
// wins" from them alone and leave the exceptions to the embedding.
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

func pixels(im Image) float64 {
	return float64(max(im.Width, 1)) * float64(max(im.Height, 1))
}

func b2f(b bool) float32 {
	if b {
		return 1
	}
	return 0
}
