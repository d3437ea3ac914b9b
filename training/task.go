package training

import (
	"math"
	"screend/scoring/model"
)

// task is one model's learning problem: which of a group's image rows the
// model sees during training and the group's loss on the model's outputs.
type task struct {
	name string
	out  int // outputs per row
	// rows returns the image rows of the group used in training, none when
	// the group teaches this model nothing.
	rows func(e *Example) []int
	// loss returns the group's weighted loss and weight, and writes the
	// weighted gradient of the loss with respect to out (rows x out) into grad.
	loss func(e *Example, out, grad [][]float64) (loss, weight float64)
	// prior, when set, returns the output biases the network starts from:
	// what the model predicts before it has learnt anything.
	prior func(ds *dataset) []float64
}

func allRows(e *Example) []int {
	r := make([]int, len(e.Images))
	for i := range r {
		r[i] = i
	}
	return r
}

// rankerTask: listwise softmax cross-entropy over a kept group's images,
// anomaly groups weighted by anomalyWeight.
func rankerTask(anomalyWeight float64) task {
	return task{
		name: "ranker", out: 1,
		rows: func(e *Example) []int {
			if e.Rejected() || len(e.Images) < 2 {
				return nil
			}
			return allRows(e)
		},
		loss: func(e *Example, out, grad [][]float64) (float64, float64) {
			w := 1.0
			if e.Anomaly() {
				w = anomalyWeight
			}
			s := make([]float64, len(out))
			for i := range out {
				s[i] = out[i][0]
			}
			p, lse := softmax(s)
			for i := range out {
				g := p[i]
				if i == e.Chosen {
					g--
				}
				grad[i][0] = w * g
			}
			return w * (lse - s[e.Chosen]), w
		},
	}
}

// cropTask: on the chosen image of a kept group, binary cross-entropy of
// crop-or-not on output 0 plus, for cropped examples, boxWeight times the
// squared error of sigmoid(outputs 1..3) against the human's (cx, cy, scale).
func cropTask(boxWeight float64) task {
	return task{
		name: "crop", out: 4,
		rows: func(e *Example) []int {
			if !e.CropLabelled() {
				return nil // rejected, or crop unknown
			}
			return []int{e.Chosen}
		},
		prior: cropPrior,
		loss: func(e *Example, out, grad [][]float64) (float64, float64) {
			y := 0.0
			if e.Cropped() {
				y = 1
			}
			z := out[0][0]
			loss := softplus(z) - y*z
			grad[0][0] = sigmoid(z) - y
			if e.Cropped() {
				t := e.cropTarget()
				for k := 0; k < 3; k++ {
					p := sigmoid(out[0][1+k])
					d := p - t[k]
					loss += boxWeight * d * d
					grad[0][1+k] = boxWeight * 2 * d * p * (1 - p)
				}
			} else {
				grad[0][1], grad[0][2], grad[0][3] = 0, 0, 0
			}
			return loss, 1
		},
	}
}

// cropPrior starts the crop model at the training set's crop rate and the
// prior crop (model.PriorCrop); the network learns adjustments to them.
func cropPrior(ds *dataset) []float64 {
	var n, crops float64
	for _, e := range ds.ex {
		if e.CropLabelled() {
			n++
			if e.Cropped() {
				crops++
			}
		}
	}
	rate := (crops + 1) / (n + 2)
	pc := model.PriorCrop
	return []float64{logit(rate), logit(pc[0]), logit(pc[1]), logit(pc[2])}
}

func logit(p float64) float64 { return math.Log(p / (1 - p)) }

// rejectTask: binary cross-entropy of the group's mean reject logit.
func rejectTask() task {
	return task{
		name: "reject", out: 1,
		rows: allRows,
		loss: func(e *Example, out, grad [][]float64) (float64, float64) {
			y := 0.0
			if e.Rejected() {
				y = 1
			}
			n := float64(len(out))
			var z float64
			for i := range out {
				z += out[i][0]
			}
			z /= n
			g := (sigmoid(z) - y) / n
			for i := range out {
				grad[i][0] = g
			}
			return softplus(z) - y*z, 1
		},
	}
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// softplus returns log(1 + exp(z)) without overflow.
func softplus(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}

// softmax returns softmax(s) and log-sum-exp(s).
func softmax(s []float64) ([]float64, float64) {
	mx := math.Inf(-1)
	for _, v := range s {
		mx = math.Max(mx, v)
	}
	p := make([]float64, len(s))
	var sum float64
	for i, v := range s {
		p[i] = math.Exp(v - mx)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p, mx + math.Log(sum)
}
