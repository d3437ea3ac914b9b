package training

import (
	"math"
	"sort"

	"screend/scoring/model"
)

// fitTemperature returns the temperature T minimising the negative
// log-likelihood of the chosen images under softmax(scores / T), by golden
// section search over log T in [-5, 5]; 1 when there is nothing to fit.
func fitTemperature(scores [][]float64, chosen []int) float64 {
	if len(scores) == 0 {
		return 1
	}
	nll := func(logT float64) float64 {
		t := math.Exp(logT)
		var sum float64
		for g, s := range scores {
			z := make([]float64, len(s))
			for i, v := range s {
				z[i] = v / t
			}
			_, lse := softmax(z)
			sum += lse - z[chosen[g]]
		}
		return sum
	}
	return math.Exp(goldenMin(nll, -5, 5))
}

// goldenMin returns the minimiser of a unimodal f on [a, b].
func goldenMin(f func(float64) float64, a, b float64) float64 {
	const r = 0.6180339887498949
	c, d := b-r*(b-a), a+r*(b-a)
	fc, fd := f(c), f(d)
	for i := 0; i < 80 && b-a > 1e-6; i++ {
		if fc < fd {
			b, d, fd = d, c, fc
			c = b - r*(b-a)
			fc = f(c)
		} else {
			a, c, fc = c, d, fd
			d = a + r*(b-a)
			fd = f(d)
		}
	}
	return (a + b) / 2
}

// fitPlatt fits p = sigmoid(a*z + b) to binary labels by Newton's method on
// the log-likelihood, with Platt's smoothed targets and a small ridge on a and
// b for stability. It returns the identity (a=1, b=0) when the labels are all
// equal or there are fewer than two points. Newton's method runs on z
// standardised (mean 0, standard deviation 1) and the result is scaled
// back: started at a = 1 on logits in the tens, every sigmoid saturates
// and the steps go astray.
func fitPlatt(z []float64, y []bool) model.Platt {
	var mean, sq float64
	for _, v := range z {
		mean += v
	}
	mean /= float64(max(len(z), 1))
	for _, v := range z {
		sq += (v - mean) * (v - mean)
	}
	sd := math.Sqrt(sq / float64(max(len(z), 1)))
	if !(sd > 0) {
		sd = 1
	}
	u := make([]float64, len(z))
	for i, v := range z {
		u[i] = (v - mean) / sd
	}
	pl := fitPlattStd(u, y)
	if pl == (model.Platt{A: 1}) { // nothing fitted: the identity on z
		return pl
	}
	return model.Platt{A: pl.A / sd, B: pl.B - pl.A*mean/sd}
}

// fitPlattStd is fitPlatt on standardised logits z.
func fitPlattStd(z []float64, y []bool) model.Platt {
	var pos, neg float64
	for _, v := range y {
		if v {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return model.Platt{A: 1}
	}
	tPos, tNeg := (pos+1)/(pos+2), 1/(neg+2)
	target := func(i int) float64 {
		if y[i] {
			return tPos
		}
		return tNeg
	}
	const ridge = 1e-6
	loss := func(a, b float64) float64 {
		var l float64
		for i, zi := range z {
			v := a*zi + b
			l += softplus(v) - target(i)*v
		}
		return l + ridge*(a*a+b*b)/2
	}
	a, b := 1.0, 0.0
	cur := loss(a, b)
	for it := 0; it < 100; it++ {
		var ga, gb, haa, hab, hbb float64
		for i, zi := range z {
			p := sigmoid(a*zi + b)
			d := p - target(i)
			w := math.Max(p*(1-p), 1e-12)
			ga += d * zi
			gb += d
			haa += w * zi * zi
			hab += w * zi
			hbb += w
		}
		ga += ridge * a
		gb += ridge * b
		haa += ridge
		hbb += ridge
		det := haa*hbb - hab*hab
		if det <= 0 {
			break
		}
		da := (hbb*ga - hab*gb) / det
		db := (haa*gb - hab*ga) / det
		// backtracking: halve the Newton step until the loss decreases
		step, improved := 1.0, false
		for k := 0; k < 30; k++ {
			na, nb := a-step*da, b-step*db
			if l := loss(na, nb); l < cur {
				a, b, cur, improved = na, nb, l, true
				break
			}
			step /= 2
		}
		if !improved || math.Abs(step*da) < 1e-10 && math.Abs(step*db) < 1e-10 {
			break
		}
	}
	if math.IsNaN(a) || math.IsNaN(b) {
		return model.Platt{A: 1}
	}
	return model.Platt{A: a, B: b}
}

// WilsonUpper returns the upper end of the Wilson score interval at 95%
// (z = 1.96) for errors failures out of n trials; 1 when n is 0.
func WilsonUpper(errors, n int) float64 { return wilsonUpper(errors, n, 1.959963984540054) }

// wilsonUpper is the upper end of the Wilson score interval whose upper
// side has the standard normal quantile z.
func wilsonUpper(errors, n int, z float64) float64 {
	if n == 0 {
		return 1
	}
	nf := float64(n)
	p := float64(errors) / nf
	z2 := z * z
	centre := p + z2/(2*nf)
	half := z * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	return math.Min(1, (centre+half)/(1+z2/nf))
}

// scored is one decision with its confidence and whether it was right.
type scored struct {
	conf  float64
	right bool
}

// RiskPoint is one point of a risk-coverage curve: deciding every group with
// confidence >= Threshold covers Coverage of the groups with ErrorRate
// wrong (Wilson 95% upper bound ErrorUpper).
type RiskPoint struct {
	Threshold  float64 `json:"threshold"`
	Coverage   float64 `json:"coverage"`
	Decided    int     `json:"decided"`
	Errors     int     `json:"errors"`
	ErrorRate  float64 `json:"error_rate"`
	ErrorUpper float64 `json:"error_upper"`
}

// riskCoverage returns the risk-coverage curve of decisions sorted by
// decreasing confidence, at most about 200 points.
func riskCoverage(conf []float64, right []bool) []RiskPoint {
	ds := make([]scored, len(conf))
	for i := range conf {
		ds[i] = scored{conf[i], right[i]}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].conf > ds[j].conf })
	step := max(1, len(ds)/200)
	var pts []RiskPoint
	errs := 0
	for i, d := range ds {
		if !d.right {
			errs++
		}
		if (i+1)%step != 0 && i+1 != len(ds) {
			continue
		}
		if i+1 < len(ds) && ds[i+1].conf == d.conf {
			continue
		}
		pts = append(pts, RiskPoint{
			Threshold: d.conf, Coverage: float64(i+1) / float64(len(ds)), Decided: i + 1, Errors: errs,
			ErrorRate: float64(errs) / float64(i+1), ErrorUpper: WilsonUpper(errs, i+1),
		})
	}
	return pts
}

// Bin is one bin of a reliability diagram.
type Bin struct {
	Lo             float64 `json:"lo"`
	Hi             float64 `json:"hi"`
	Count          int     `json:"count"`
	MeanConfidence float64 `json:"mean_confidence"`
	Accuracy       float64 `json:"accuracy"`
}

// Reliability bins decisions by confidence into nbins equal-width bins and
// returns the bins and the expected calibration error: the mean over
// decisions of |accuracy - mean confidence| of their bin.
func Reliability(conf []float64, right []bool, nbins int) ([]Bin, float64) {
	bins := make([]Bin, nbins)
	for i := range bins {
		bins[i].Lo, bins[i].Hi = float64(i)/float64(nbins), float64(i+1)/float64(nbins)
	}
	for i, c := range conf {
		k := min(nbins-1, max(0, int(c*float64(nbins))))
		bins[k].Count++
		bins[k].MeanConfidence += c
		if right[i] {
			bins[k].Accuracy++
		}
	}
	var ece float64
	for i := range bins {
		b := &bins[i]
		if b.Count == 0 {
			continue
		}
		b.MeanConfidence /= float64(b.Count)
		b.Accuracy /= float64(b.Count)
		ece += float64(b.Count) * math.Abs(b.Accuracy-b.MeanConfidence)
	}
	if len(conf) > 0 {
		ece /= float64(len(conf))
	}
	return bins, ece
}
