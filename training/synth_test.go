package training

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"screend"

	"screend/scoring/model"
	"screend/training/trainingtest"
)

// synthetic makes groups whose decisions are learnable: the human keeps the
// highest stage unless its embedding carries a "defect" (a bump on dimension
// 0), then the highest stage without one (an anomaly); the group is rejected
// when its picture's dimension 1 is high, cropped when dimension 2 is
// positive, with a top-anchored, centred box whose scale follows dimension 3.
func synthetic(seed uint64, groups, dim int, projects ...string) []Example {
	if len(projects) == 0 {
		projects = []string{"p"}
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	shapes := [][]float64{{1, 1.5, 2}, {1, 1.5, 2}, {1, 1.5, 2}, {1, 2}, {1, 2, 3}, {1, 1.5, 2, 3}}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []Example
	for g := 0; g < groups; g++ {
		base := make([]float64, dim)
		for j := range base {
			base[j] = rng.NormFloat64()
		}
		stages := shapes[rng.IntN(len(shapes))]
		w, h := 1024, 1024
		if rng.IntN(2) == 0 {
			w, h = 832, 1216
		}
		defect := make([]bool, len(stages))
		// the highest stage is defective in about 20% of groups
		if rng.Float64() < 0.2 {
			defect[len(stages)-1] = true
		}
		for i := range stages[:len(stages)-1] {
			defect[i] = rng.Float64() < 0.1
		}
		ex := Example{Project: projects[g%len(projects)], GroupKey: fmt.Sprintf("g%05d", g), Time: t0.Add(time.Duration(g) * time.Minute), Chosen: -1}
		for i, s := range stages {
			v := trainingtest.StageEmbedding(rng, base, s, defect[i])
			f := 1.0
			if s >= 2 {
				f = s
			}
			ex.Images = append(ex.Images, model.Image{Embedding: v, Stage: s, Width: int(float64(w) * f), Height: int(float64(h) * f)})
		}
		for i := len(stages) - 1; i >= 0; i-- {
			if !defect[i] {
				ex.Chosen = i
				break
			}
		}
		if ex.Chosen < 0 {
			ex.Chosen = len(stages) - 1
		}
		if base[1] > 0.6 {
			ex.Chosen = -1
		}
		if ex.Chosen >= 0 && base[2] > 0 {
			s := 0.7 + 0.15*math.Tanh(base[3])
			ex.Crop = &screend.Box{0.5 - s/2, 0, 0.5 + s/2, s}
		}
		out = append(out, ex)
	}
	return out
}
