package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"screend/scoring/model"
	"screend/training"
)

// train is `screend train [--json] [--report DIR] [--min-groups N]`.
func train(ctx context.Context, e env, args []string) error {
	var asJSON bool
	var reportDir string
	minGroups := training.DefaultMinGroups
	rest, err := flags("train", e, args, func(fs *flagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
		fs.StringVar(&reportDir, "report", "", "write the evaluation (report.json, PNG plots, gate.json) into `DIR`")
		fs.IntVar(&minGroups, "min-groups", training.DefaultMinGroups, "the fewest groups of human decisions to train on")
	})
	if err != nil {
		return err
	}
	if len(rest) != 0 || minGroups < 1 {
		return usageError{"train takes no arguments; --min-groups must be positive"}
	}
	log := newLogger(e.cfg.LogFormat, e.cfg.LogLevel, e.stderr)
	db, emb, closeParts, err := openParts(ctx, e.cfg)
	if err != nil {
		return err
	}
	defer closeParts()
	if err := checkMigrated(ctx, db); err != nil {
		return err
	}
	name := emb.ID()
	progress := newProgress(e.stderr, log, "train", 0)
	res, err := training.Run(ctx, db, training.RunOptions{Embedder: name, MinGroups: minGroups, ReportDir: reportDir, Progress: progress.Set}, log)
	progress.Done()
	if asJSON {
		out := struct {
			training.RunResult
			Error string `json:"error,omitempty"`
		}{RunResult: res}
		if err != nil {
			out.Error = err.Error()
		}
		if jerr := writeJSON(e.stdout, out); jerr != nil {
			return jerr
		}
		return err
	}
	fmt.Fprintf(e.stdout, "examples: %s\n", res.Examples)
	if err != nil {
		return err
	}
	printEvaluation(e.stdout, res)
	if reportDir != "" {
		fmt.Fprintf(e.stdout, "report written to %s\n", reportDir)
	}
	return nil
}

func printEvaluation(w io.Writer, res training.RunResult) {
	m := res.Metrics
	fmt.Fprintf(w, "held-out evaluation on %d %s groups (%d cross-fitted groups calibrate out of fold):\n",
		m.Overall.Groups, m.EvaluatedOn, m.Split.Train)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "project\tgroups\tselection\thighest-stage\tanomaly\tbaseline anomaly\treject\tcrop\tcrop IoU\toutcome\tECE\tcoverage\tauto error\t")
	row := func(name string, x training.Metrics) {
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n", name, x.Groups,
			x.SelectionAccuracy, x.BaselineAccuracy, frac(x.AnomalyAccuracy, x.Anomalies), frac(x.BaselineAnomalyAccuracy, x.Anomalies),
			x.RejectAccuracy, x.CropAccuracy, x.CropIoU, x.OutcomeAccuracy, x.ECE, x.Coverage, x.AutoErrorRate)
	}
	projects := make([]string, 0, len(m.Projects))
	for p := range m.Projects {
		projects = append(projects, p)
	}
	sort.Strings(projects)
	for _, p := range projects {
		row(p, m.Projects[p])
	}
	row("overall", m.Overall)
	tw.Flush()
	fmt.Fprintf(w, "thresholds: select %.3f, crop %.3f, reject %.3f (target error rate %.3f)\n",
		m.Thresholds.Select, m.Thresholds.Crop, m.Thresholds.Reject, targetOf(res))
	fmt.Fprintf(w, "model %d registered\n", res.ModelID)
	g := res.Gate
	fmt.Fprintf(w, "gate on %d %s groups: candidate outcome accuracy %.3f, coverage %.3f, %d automatic mistakes\n",
		g.Candidate.Groups, g.On, g.Candidate.OutcomeAccuracy, g.Candidate.Coverage, g.Candidate.AutoErrors)
	if g.Active != nil {
		fmt.Fprintf(w, "     active model %d: outcome accuracy %.3f, coverage %.3f, %d automatic mistakes\n",
			g.ActiveID, g.Active.OutcomeAccuracy, g.Active.Coverage, g.Active.AutoErrors)
	}
	if res.Promoted {
		fmt.Fprintf(w, "model %d promoted: %s\n", res.ModelID, g.Reason)
	} else {
		fmt.Fprintf(w, "model %d NOT promoted (failed_gate): %s\n", res.ModelID, g.Reason)
	}
}

func targetOf(res training.RunResult) float64 {
	if res.Report != nil {
		return res.Report.Config.TargetErrorRate
	}
	return model.DefaultTargetErrorRate
}

// frac prints a share, or "-" when it is over no groups.
func frac(v float64, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", v)
}
