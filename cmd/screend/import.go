package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"screend/sql"
	"screend/training"
	"screend/training/importlog"
)

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

// importCmd is `screend import logs [--json] [--project-map FOLDER=PROJECT]... FILE...`
// and `screend import images [--json] ROOT...` (importImages).
func importCmd(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && args[0] == "images" {
		return importImages(ctx, e, args[1:])
	}
	if len(args) == 0 || args[0] != "logs" {
		return usageError{"usage: screend import logs [--json] [--project-map FOLDER=PROJECT]... FILE...\n       screend import images [--json] ROOT..."}
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
