package training

import (
	"math"
	"math/rand/v2"
	"slices"

	"screend/scoring/model"
)

// FamiliarRadius returns the cosine distance within which new groups count
// as familiar: the quantile q of the distances from a group's highest-stage
// image to the nearest image of any other group, over up to maxGroups
// groups sampled (deterministically) from examples. A new group whose best
// image is farther than that from every training image is less like the
// training data than nearly all training groups are like each other. It
// returns 0 (no check) with fewer than two groups.
func FamiliarRadius(examples []Example, q float64, maxGroups int) float64 {
	if len(examples) < 2 {
		return 0
	}
	var refs [][]float32
	var owner []int
	for gi, e := range examples {
		for _, im := range e.Images {
			refs = append(refs, im.Embedding)
			owner = append(owner, gi)
		}
	}
	queries := rand.New(rand.NewPCG(1, 2)).Perm(len(examples))
	if len(queries) > maxGroups {
		queries = queries[:maxGroups]
	}
	nearest := make([]float64, 0, len(queries))
	for _, gi := range queries {
		images := examples[gi].Images
		top := images[model.HighestStage(images)].Embedding
		best := math.Inf(1)
		for r, ref := range refs {
			if owner[r] != gi {
				best = math.Min(best, CosineDistance(top, ref))
			}
		}
		nearest = append(nearest, best)
	}
	slices.Sort(nearest)
	return nearest[min(len(nearest)-1, int(q*float64(len(nearest))))]
}

// CosineDistance is 1 - cos(a, b), as pgvector's <=> computes it.
func CosineDistance(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 1
	}
	return 1 - dot/math.Sqrt(na*nb)
}
