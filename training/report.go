package training

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WriteReport writes report.json and the plots risk_coverage.png,
// reliability.png and losses.png into dir, creating it when needed.
func WriteReport(dir string, r Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for name, build := range map[string]func(Report) (*plot.Plot, error){
		"risk_coverage.png": riskCoveragePlot,
		"reliability.png":   reliabilityPlot,
		"losses.png":        lossPlot,
	} {
		p, err := build(r)
		if err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		if err := p.Save(16*vg.Centimeter, 11*vg.Centimeter, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("save %s: %w", name, err)
		}
	}
	return nil
}

func riskCoveragePlot(r Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Risk-coverage (%s groups)", r.EvaluatedOn)
	p.X.Label.Text = "coverage (share of groups decided)"
	p.Y.Label.Text = "error rate"
	p.X.Min, p.X.Max, p.Y.Min = 0, 1, 0
	rate, upper := make(plotter.XYs, 0, len(r.RiskCoverage)), make(plotter.XYs, 0, len(r.RiskCoverage))
	for _, pt := range r.RiskCoverage {
		rate = append(rate, plotter.XY{X: pt.Coverage, Y: pt.ErrorRate})
		upper = append(upper, plotter.XY{X: pt.Coverage, Y: pt.ErrorUpper})
	}
	target := plotter.XYs{{X: 0, Y: r.Config.TargetErrorRate}, {X: 1, Y: r.Config.TargetErrorRate}}
	if len(rate) == 0 {
		rate, upper = plotter.XYs{{}}, plotter.XYs{{}}
	}
	if err := plotutil.AddLines(p, "error rate", rate, "Wilson 95% upper", upper, "target", target); err != nil {
		return nil, err
	}
	return p, nil
}

func reliabilityPlot(r Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Reliability: ECE %.3f (uncalibrated %.3f)", r.Overall.ECE, r.Overall.ECEUncalibrated)
	p.X.Label.Text = "confidence"
	p.Y.Label.Text = "share right"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	pts := func(bins []Bin) plotter.XYs {
		xy := plotter.XYs{}
		for _, b := range bins {
			if b.Count > 0 {
				xy = append(xy, plotter.XY{X: b.MeanConfidence, Y: b.Accuracy})
			}
		}
		if len(xy) == 0 {
			xy = append(xy, plotter.XY{})
		}
		return xy
	}
	diag := plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}}
	if err := plotutil.AddLinePoints(p, "calibrated", pts(r.Reliability), "uncalibrated", pts(r.ReliabilityUncalibrated)); err != nil {
		return nil, err
	}
	if err := plotutil.AddLines(p, "perfect", diag); err != nil {
		return nil, err
	}
	return p, nil
}

func lossPlot(r Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Loss per epoch"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "loss"
	names := make([]string, 0, len(r.Losses))
	for k := range r.Losses {
		names = append(names, k)
	}
	sort.Strings(names)
	var args []any
	for _, k := range names {
		tr, va := plotter.XYs{}, plotter.XYs{}
		for _, e := range r.Losses[k] {
			tr = append(tr, plotter.XY{X: float64(e.Epoch), Y: e.Train})
			if e.Valid != 0 {
				va = append(va, plotter.XY{X: float64(e.Epoch), Y: e.Valid})
			}
		}
		if len(tr) > 0 {
			args = append(args, k+" train", tr)
		}
		if len(va) > 0 {
			args = append(args, k+" valid", va)
		}
	}
	if len(args) > 0 {
		if err := plotutil.AddLines(p, args...); err != nil {
			return nil, err
		}
	}
	return p, nil
}
