package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"screend"
	"screend/scoring/embed"
	"screend/scoring/imagefile"
	"screend/sql"

	"golang.org/x/sync/errgroup"
)

// HistoryReport is the outcome of `screend import images`.
type HistoryReport struct {
	// Roots are the folders read; Projects their first-level folders.
	Roots    []string `json:"roots"`
	Projects []string `json:"projects"`
	// Files counts the image files found; Embedded those embedded now,
	// Unchanged those stored before with the same size and time, Failed
	// those that could not be read (by reason; stored with the reason).
	Files     int            `json:"files"`
	Embedded  int            `json:"embedded"`
	Unchanged int            `json:"unchanged"`
	Failed    map[string]int `json:"failed"`
	// Examples are the imported log decisions that are training examples
	// now (their files found and embedded); NotExamples the others by
	// reason (not_on_disk, not_embedded, ambiguous_file, ...).
	Examples    int            `json:"examples"`
	NotExamples map[string]int `json:"not_examples"`
}

// importImages is `screend import images [--json] ROOT...`: it embeds the
// image files under each ROOT (each first-level folder a project, as in
// the inbox) with the configured embedder where they lie, read-only,
// SCREEND_DECODE_WORKERS files at a time, and
// stores their vectors in screend.history_images. Nothing is written into
// a ROOT, no group is formed, nothing is moved or reviewed. It then reports
// how many imported log decisions became training examples.
func importImages(ctx context.Context, e env, args []string) error {
	var asJSON bool
	roots, err := flags("import images", e, args, func(fs *flagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") })
	if err != nil {
		return err
	}
	if len(roots) == 0 {
		return usageError{"import images needs at least one ROOT"}
	}
	type file struct{ path, project string }
	var files []file
	rep := HistoryReport{Failed: map[string]int{}, NotExamples: map[string]int{}}
	projects := map[string]bool{}
	for _, root := range roots {
		abs, err := filepath.Abs(root)
		if err != nil {
			return err
		}
		rep.Roots = append(rep.Roots, abs)
		err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path == abs {
				return nil
			}
			if screend.Ignored(d.Name()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			rel, _ := filepath.Rel(abs, path)
			project, _, nested := strings.Cut(filepath.ToSlash(rel), "/")
			if d.IsDir() || !nested || !d.Type().IsRegular() {
				return nil // folders, and files beside the projects
			}
			if !isImageName(d.Name()) {
				return nil
			}
			projects[project] = true
			files = append(files, file{path, project})
			return nil
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", root, err)
		}
	}
	for p := range projects {
		rep.Projects = append(rep.Projects, p)
	}
	sort.Strings(rep.Projects)
	rep.Files = len(files)

	db, emb, closeParts, err := openParts(ctx, e.cfg)
	if err != nil {
		return err
	}
	defer closeParts()
	embID, err := db.EnsureEmbedder(ctx, emb.ID(), emb.Dim())
	if err != nil {
		return err
	}
	known, err := db.HistoryKnown(ctx, embID)
	if err != nil {
		return err
	}
	limitGoMemory()
	log := newLogger(e.cfg.LogFormat, e.cfg.LogLevel, e.stderr).With("component", "import")
	imagefile.WarnUnlessNative(log)
	budget := imagefile.NewBudget(e.cfg.DecodeMemoryMB << 20) // refuses what the daemon refuses
	progress := newProgress(e.stderr, log, "import images", len(files))
	// Files are read, decoded and embedded SCREEND_DECODE_WORKERS at a
	// time, as the daemon's decode workers do.
	var mu sync.Mutex // guards rep
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.cfg.DecodeWorkers)
	for _, f := range files {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			defer progress.Add(1)
			st, err := os.Stat(f.path)
			if err != nil {
				mu.Lock()
				rep.Failed["stat"]++
				mu.Unlock()
				return nil
			}
			mtime := st.ModTime().Truncate(time.Microsecond) // PostgreSQL's precision
			if k, ok := known[f.path]; ok && k.Size == st.Size() && k.ModTime.Equal(mtime) {
				mu.Lock()
				rep.Unchanged++
				if k.Reason != "" {
					rep.Failed[k.Reason]++
				}
				mu.Unlock()
				return nil
			}
			h := sql.HistoryImage{Path: f.path, Project: f.project, FileName: filepath.Base(f.path),
				Size: st.Size(), ModTime: mtime, Stage: screend.StageOf(filepath.Base(f.path))}
			if err := embedFile(gctx, e, emb, budget, &h); err != nil {
				return err
			}
			if err := db.PutHistoryImage(gctx, embID, h); err != nil {
				return err
			}
			mu.Lock()
			if h.Reason != "" {
				rep.Failed[h.Reason]++
			} else {
				rep.Embedded++
			}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	progress.Done()

	rows, skips, err := db.ImportedExamples(ctx, embID)
	if err != nil {
		return err
	}
	rep.Examples = len(rows)
	for _, s := range skips {
		rep.NotExamples[s.Reason]++
	}
	if asJSON {
		return writeJSON(e.stdout, rep)
	}
	fmt.Fprintf(e.stdout, "%d image files in %d projects: %d embedded now, %d unchanged since the last import, %d not readable %v\n",
		rep.Files, len(rep.Projects), rep.Embedded, rep.Unchanged, sum(rep.Failed), rep.Failed)
	fmt.Fprintf(e.stdout, "imported log decisions: %d are training examples; %d are not: %v\n", rep.Examples, sum(rep.NotExamples), rep.NotExamples)
	return nil
}

// embedFile decodes (as the daemon does: native decoders first, the
// memory held from budget) and embeds h's file, or sets h.Reason when it
// cannot be decoded; an error is returned only when the embedder fails or
// ctx ends.
func embedFile(ctx context.Context, e env, emb embed.Embedder, budget *imagefile.Budget, h *sql.HistoryImage) error {
	img, info, err := imagefile.Open(ctx, h.Path, e.cfg.MaxPixels, budget)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		h.Reason = imagefile.Reason(err)
		return nil
	}
	h.Width, h.Height = info.Width, info.Height
	in, err := emb.Preprocess(img)
	imagefile.Recycle(img) // the embedder keeps no reference to it
	if err != nil {
		h.Reason = "preprocess: " + err.Error()
		return nil
	}
	vs, err := emb.Embed(ctx, [][]float32{in})
	if err != nil {
		return fmt.Errorf("embed %s: %w", h.Path, err)
	}
	h.Embedding = vs[0]
	return nil
}

// isImageName reports whether a file name has an image extension the
// daemon reads.
func isImageName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg", ".webp":
		return true
	}
	return false
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
