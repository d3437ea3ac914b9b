package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"screend/daemon"
	"screend/scoring/embed"
	"screend/scoring/onnxrt"
	"screend/sql"
)

func runDaemon(ctx context.Context, e env, args []string) error {
	if _, err := flags("run", e, args, func(*flagSet) {}); err != nil {
		return err
	}
	log := newLogger(e.cfg.LogFormat, e.cfg.LogLevel, e.stderr)
	db, emb, closeParts, err := openParts(ctx, e.cfg)
	if err != nil {
		return err
	}
	defer closeParts()
	return daemon.New(e.cfg, db, emb, log, daemon.NewMetrics(), daemon.NewNotifier(os.LookupEnv)).Run(ctx)
}

// openParts opens what running and training share: the database, ONNX
// Runtime and the configured embedder; closeParts releases them.
func openParts(ctx context.Context, cfg daemon.Config) (db *sql.DB, emb embed.Embedder, closeParts func(), err error) {
	db, err = sql.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err = onnxrt.Init(cfg.ONNXRuntimeLib); err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	if emb, err = newEmbedder(cfg); err != nil {
		onnxrt.Close()
		db.Close()
		return nil, nil, nil, err
	}
	return db, emb, func() {
		emb.Close()
		onnxrt.Close()
		db.Close()
	}, nil
}

// newEmbedder builds the configured embedder.
func newEmbedder(cfg daemon.Config) (embed.Embedder, error) {
	if cfg.Embedder == "builtin" {
		return embed.NewBuiltin(), nil
	}
	return embed.NewONNX(cfg.Embedder, embed.ONNXOptions{IntraOpThreads: cfg.IntraOpThreads})
}

func migrate(ctx context.Context, e env, args []string) error {
	if _, err := flags("migrate", e, args, func(*flagSet) {}); err != nil {
		return err
	}
	db, err := sql.Open(ctx, e.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	for _, m := range applied {
		fmt.Fprintf(e.stdout, "applied %03d_%s\n", m.Version, m.Name)
	}
	if err == nil && len(applied) == 0 {
		fmt.Fprintln(e.stdout, "schema is up to date")
	}
	return err
}

func plan(ctx context.Context, e env, args []string) error {
	var asJSON bool
	rest, err := flags("plan", e, args, func(fs *flagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") })
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{"plan takes one folder"}
	}
	groups, err := daemon.Plan(rest[0])
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(e.stdout, map[string]any{"groups": groups})
	}
	for _, g := range groups {
		fmt.Fprintf(e.stdout, "%s\t%s\n", g.Project, strings.Join(g.Images, "  "))
	}
	fmt.Fprintf(e.stdout, "%d groups\n", len(groups))
	return nil
}

func status(ctx context.Context, e env, args []string) error {
	var asJSON bool
	if _, err := flags("status", e, args, func(fs *flagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") }); err != nil {
		return err
	}
	db, err := openMigrated(ctx, e.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := db.ReadStatus(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(e.stdout, st)
	}
	fmt.Fprintf(e.stdout, "images:       %s\n", counts(st.Images))
	fmt.Fprintf(e.stdout, "groups:       %s\n", counts(st.Groups))
	fmt.Fprintf(e.stdout, "review queue: %d\n", st.ReviewQueue)
	if st.ActiveModel != nil {
		fmt.Fprintf(e.stdout, "active model: %d\n", *st.ActiveModel)
	} else {
		fmt.Fprintln(e.stdout, "active model: none (every group is flagged for review)")
	}
	fmt.Fprintf(e.stdout, "pending:      %d\n", st.Pending)
	if len(st.Failing) > 0 {
		fmt.Fprintf(e.stdout, "failing:      %d waiting for a retry (fix the cause; the retry follows)\n", len(st.Failing))
		for _, f := range st.Failing {
			what := fmt.Sprintf("move %d to %s", f.MoveID, f.Dst)
			if f.MoveID == 0 {
				what = "planning"
			}
			group := ""
			if f.GroupID != nil {
				group = fmt.Sprintf("group %d ", *f.GroupID)
			}
			fmt.Fprintf(e.stdout, "  %s%s: %s (attempts %d, next %s)\n", group, what, f.Error, f.Attempts,
				f.RetryAfter.Local().Format("15:04:05"))
		}
	}
	return nil
}

func counts[K ~string](m map[K]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func doctor(ctx context.Context, e env, args []string) error {
	var asJSON bool
	if _, err := flags("doctor", e, args, func(fs *flagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") }); err != nil {
		return err
	}
	checks := daemon.Doctor(ctx, e.cfg)
	failed := 0
	for _, c := range checks {
		if !c.OK {
			failed++
		}
	}
	if asJSON {
		if err := writeJSON(e.stdout, checks); err != nil {
			return err
		}
	} else {
		for _, c := range checks {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(e.stdout, "%s %-20s %s\n", mark, c.Name, c.Detail)
			if c.Fix != "" {
				fmt.Fprintf(e.stdout, "     %-20s fix: %s\n", "", c.Fix)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, len(checks))
	}
	return nil
}

func printConfig(ctx context.Context, e env, args []string) error {
	if _, err := flags("config", e, args, func(*flagSet) {}); err != nil {
		return err
	}
	for _, kv := range e.cfg.Settings() {
		fmt.Fprintf(e.stdout, "%s=%s\n", kv[0], kv[1])
	}
	return nil
}
