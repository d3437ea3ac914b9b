package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"screend"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"screend/scoring/model"
	"screend/sql"
	"screend/training"
	"screend/training/importlog"
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
	fmt.Fprintf(w, "held-out evaluation on %d %s groups (train %d, calibration %d):\n",
		m.Overall.Groups, m.EvaluatedOn, m.Split.Train, m.Split.Calibration)
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

// models is `screend models list|promote|rollback`.
func models(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usageError{"models takes list, promote ID or rollback"}
	}
	sub, args := args[0], args[1:]
	var asJSON bool
	rest, err := flags("models "+sub, e, args, func(fs *flagSet) {
		if sub == "list" {
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		}
	})
	if err != nil {
		return err
	}
	var id int64
	switch {
	case sub == "list" && len(rest) == 0, sub == "rollback" && len(rest) == 0:
	case sub == "promote" && len(rest) == 1:
		if id, err = strconv.ParseInt(rest[0], 10, 64); err != nil || id <= 0 {
			return usageError{fmt.Sprintf("promote: %q is not a model id", rest[0])}
		}
	default:
		return usageError{"usage: screend models list [--json] | promote ID | rollback"}
	}
	db, err := openMigrated(ctx, e.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "list":
		ms, err := db.ListModels(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			if ms == nil {
				ms = []sql.ModelInfo{}
			}
			return writeJSON(e.stdout, map[string]any{"models": ms})
		}
		if len(ms) == 0 {
			fmt.Fprintln(e.stdout, "no models: run `screend train`")
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tEMBEDDER\tEXAMPLES\tCREATED\tPROMOTED\tSELECTION\tBASELINE\tOUTCOME\tCOVERAGE\tAUTO ERROR")
		for _, m := range ms {
			var mm struct {
				Summary model.Summary `json:"summary"`
			}
			_ = json.Unmarshal(m.Metrics, &mm)
			promoted := "-"
			if m.PromotedAt != nil {
				promoted = m.PromotedAt.Local().Format("2006-01-02 15:04")
			}
			s := mm.Summary
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", m.ID, m.State, m.Embedder, m.Examples,
				m.CreatedAt.Local().Format("2006-01-02 15:04"), promoted, s.SelectionAccuracy, s.BaselineAccuracy,
				s.OutcomeAccuracy, s.Coverage, s.AutoErrorRate)
		}
		return tw.Flush()
	case "promote":
		m, err := db.Model(ctx, id)
		if err != nil {
			return err
		}
		if m.State == screend.ModelActive {
			fmt.Fprintf(e.stdout, "model %d is already active\n", id)
			return nil
		}
		if err := db.PromoteModel(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "model %d promoted by hand (it was %s); the promotion gate was not applied\n", id, m.State)
		return nil
	default: // rollback
		retired, restored, err := db.RollbackModel(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "model %d retired; model %d is active again\n", retired, restored)
		return nil
	}
}

// projectMap is the repeatable --project-map FOLDER=PROJECT flag.
type projectMap map[string]string

func (m projectMap) String() string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (m projectMap) Set(v string) error {
	folder, project, ok := strings.Cut(v, "=")
	folder, project = strings.Trim(strings.TrimSpace(folder), "/"), strings.TrimSpace(project)
	if !ok || folder == "" || project == "" {
		return errors.New("want FOLDER=PROJECT")
	}
	m[folder] = project
	return nil
}

// ImportFile is the outcome of importing one log.
type ImportFile struct {
	File     string `json:"file"`
	Source   string `json:"source"`
	Format   string `json:"format"`
	Rows     int    `json:"rows"`
	Accepted int    `json:"accepted"`
	// Rejected counts the rows rejected whole; Dropped the parts (crops,
	// repeated candidates) dropped from accepted rows.
	Rejected int `json:"rejected"`
	Dropped  int `json:"dropped"`
	// Reasons counts every reject by "part:reason".
	Reasons map[string]int   `json:"reasons"`
	Stored  *sql.ImportStats `json:"stored,omitempty"`
	Error   string           `json:"error,omitempty"`
}

// ImportTotals sums the files.
type ImportTotals struct {
	Files    int            `json:"files"`
	Rows     int            `json:"rows"`
	Accepted int            `json:"accepted"`
	Rejected int            `json:"rejected"`
	Dropped  int            `json:"dropped"`
	Reasons  map[string]int `json:"reasons"`
	Failed   int            `json:"failed"`
}

// importCmd is `screend import logs [--json] [--project-map FOLDER=PROJECT]... FILE...`.
func importCmd(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "logs" {
		return usageError{"usage: screend import logs [--json] [--project-map FOLDER=PROJECT]... FILE..."}
	}
	var asJSON bool
	pm := projectMap{}
	files, err := flags("import logs", e, args[1:], func(fs *flagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
		fs.Var(pm, "project-map", "read log folder `FOLDER=PROJECT` (e.g. crop/hannah=hannah) as that project; repeatable, longest folder wins")
	})
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError{"import logs needs at least one FILE"}
	}
	db, err := openMigrated(ctx, e.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	opts := importlog.Options{Projects: pm}
	tot := ImportTotals{Reasons: map[string]int{}}
	var out []ImportFile
	progress := newProgress(e.stderr, newLogger(e.cfg.LogFormat, e.cfg.LogLevel, e.stderr), "import", len(files))
	defer progress.Done()
	for _, path := range files {
		progress.Add(1)
		f := ImportFile{File: path, Source: filepath.Base(path), Reasons: map[string]int{}}
		res, err := opts.ParseFile(path)
		if err == nil {
			rows, rejects := training.ImportRows(res)
			var st sql.ImportStats
			st, err = db.ReplaceImport(ctx, f.Source, rows, rejects)
			f.Stored = &st
		}
		tot.Files++
		if err != nil {
			f.Error = err.Error()
			f.Stored = nil
			tot.Failed++
			out = append(out, f)
			continue
		}
		s := res.Summary()
		f.Format, f.Rows, f.Accepted, f.Rejected = string(res.Format), s.Rows, s.Accepted, s.Rejected
		for part, m := range s.ByReason {
			for reason, n := range m {
				f.Reasons[string(part)+":"+string(reason)] += n
				tot.Reasons[string(part)+":"+string(reason)] += n
				if part != importlog.PartRow {
					f.Dropped += n
				}
			}
		}
		tot.Rows += f.Rows
		tot.Accepted += f.Accepted
		tot.Rejected += f.Rejected
		tot.Dropped += f.Dropped
		out = append(out, f)
	}
	var failed error
	if tot.Failed > 0 {
		failed = fmt.Errorf("%d of %d files could not be imported", tot.Failed, tot.Files)
	}
	if asJSON {
		if err := writeJSON(e.stdout, map[string]any{"files": out, "totals": tot}); err != nil {
			return err
		}
		return failed
	}
	for _, f := range out {
		if f.Error != "" {
			fmt.Fprintf(e.stdout, "%s: FAILED: %s\n", f.File, f.Error)
			continue
		}
		fmt.Fprintf(e.stdout, "%s (%s): %d rows, %d accepted, %d rejected, %d parts dropped\n",
			f.File, f.Format, f.Rows, f.Accepted, f.Rejected, f.Dropped)
		printReasons(e.stdout, f.Reasons)
		st := f.Stored
		fmt.Fprintf(e.stdout, "  stored as %s: %d new, %d updated, %d removed; %d rejects recorded\n",
			f.Source, st.Inserted, st.Updated, st.Removed, st.Rejects)
	}
	fmt.Fprintf(e.stdout, "total: %d files, %d rows, %d accepted, %d rejected, %d parts dropped\n",
		tot.Files, tot.Rows, tot.Accepted, tot.Rejected, tot.Dropped)
	printReasons(e.stdout, tot.Reasons)
	if tot.Reasons["row:unknown_project"] > 0 {
		fmt.Fprintln(e.stdout, "hint: rows naming a work folder (crop/...) need --project-map FOLDER=PROJECT")
	}
	if tot.Rejected+tot.Dropped > 0 {
		fmt.Fprintln(e.stdout, "details: SELECT line, part, reason, detail FROM screend.import_rejects WHERE source = '<file name>' ORDER BY line")
	}
	return failed
}

func printReasons(w io.Writer, reasons map[string]int) {
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		part, reason, _ := strings.Cut(k, ":")
		fmt.Fprintf(w, "  %-9s %-22s %d\n", part, reason, reasons[k])
	}
}
