package training

import (
	"math"
	"math/rand/v2"
	"screend/scoring/embed"
	"testing"
)

// TestGradientCheck compares the backward pass of each model's loss with
// central finite differences of the loss.
func TestGradientCheck(t *testing.T) {
	t.Parallel()
	const dim = 4
	examples := synthetic(3, 40, dim)
	var idx []int
	for i := range examples {
		idx = append(idx, i)
	}
	st := fitStandardizer(examples, idx, embed.Grid{})
	ds := newDataset(examples, idx, st)
	for _, tk := range []task{rankerTask(5), cropTask(5), rejectTask()} {
		t.Run(tk.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, 2))
			n := newMLP([]int{ds.d, 6, 5, tk.out}, rng)
			for _, b := range n.b {
				for i := range b {
					b[i] = 0.1 * rng.NormFloat64()
				}
			}
			gs := usable(tk, ds)[:12]
			grads := n.zeroGrads()
			batchLoss(n, tk, ds, gs, grads)
			const h = 1e-6
			checked := 0
			ps, gps := n.params(), grads.params()
			for k := range ps {
				for i := range ps[k] {
					old := ps[k][i]
					ps[k][i] = old + h
					up := meanLoss(n, tk, ds, gs)
					ps[k][i] = old - h
					down := meanLoss(n, tk, ds, gs)
					ps[k][i] = old
					num := (up - down) / (2 * h)
					got := gps[k][i]
					if d := math.Abs(num - got); d > 1e-5*math.Max(1, math.Abs(num)) {
						t.Errorf("param %d[%d]: backward %.8g, finite differences %.8g", k, i, got, num)
					}
					checked++
				}
			}
			if checked == 0 {
				t.Fatal("no parameter checked")
			}
		})
	}
}

func TestAdamDecreasesLoss(t *testing.T) {
	t.Parallel()
	examples := synthetic(4, 200, 8)
	var idx []int
	for i := range examples {
		idx = append(idx, i)
	}
	st := fitStandardizer(examples, idx, embed.Grid{})
	ds := newDataset(examples, idx, st)
	tk := rankerTask(5)
	n := newMLP([]int{ds.d, 16, 1}, rand.New(rand.NewPCG(1, 1)))
	gs := usable(tk, ds)
	before := meanLoss(n, tk, ds, gs)
	opt := newAdam(n, 1e-2, 0)
	for it := 0; it < 100; it++ {
		g := n.zeroGrads()
		batchLoss(n, tk, ds, gs, g)
		opt.step(n, g)
	}
	if after := meanLoss(n, tk, ds, gs); !(after < before/2) {
		t.Fatalf("loss %v -> %v: want at least halved", before, after)
	}
}
