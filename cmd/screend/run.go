package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/trace"

	"screend/cmd/screend/config"
	"screend/daemon"
	"screend/scoring/embed"
	"screend/scoring/onnxrt"
	"screend/sql"
)

// runDaemon is `screend run`: the daemon, until SIGINT or SIGTERM.
func runDaemon(ctx context.Context, e env, args []string) error {
	if _, err := flags("run", e, args, func(*flagSet) {}); err != nil {
		return err
	}
	log := newLogger(e.cfg.LogFormat, e.cfg.LogLevel, e.stderr)
	limitGoMemory()
	if path := os.Getenv(traceEnv); path != "" {
		stop, err := startTrace(path)
		if err != nil {
			return err
		}
		defer stop()
		log.Warn("writing an execution trace; it slows the daemon", "file", path)
	}
	db, emb, closeParts, err := openParts(ctx, e.cfg)
	if err != nil {
		return err
	}
	defer closeParts()
	return daemon.New(e.cfg.Daemon(), db, emb, log, daemon.NewMetrics(), daemon.NewNotifier()).Run(ctx)
}

// traceEnv names the file a debugging run writes Go's execution trace to
// (runtime/trace, read with `go tool trace`) from start to stop: where the
// daemon's goroutines run, wait and block.
const traceEnv = "SCREEND_TRACE"

// startTrace starts writing an execution trace to path; stop ends it.
func startTrace(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", traceEnv, err)
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", traceEnv, err)
	}
	return func() {
		trace.Stop()
		f.Close()
	}, nil
}

// defaultGoMemoryLimit is the soft limit of Go's memory (GOMEMLIMIT, which
// overrides it) for the daemon and the history import. Go's collector
// otherwise lets the heap grow to twice what is live, and what is live
// during a burst is mostly the decode workers' file and pixel buffers
// (about 90 MB for a 3072x3072 PNG) and those kept for reuse (up to
// 256 MB, imagefile's pool): with an ONNX encoder's weights and activations
// beside it (445 MB for the ViT-B/32-shaped model) the daemon would pass
// 1 GB, and `import images` of the issue-3 corpus peaked at 560-580 MB
// instead of 160 MB with Go's decoders. The limit is soft: when more is
// live (larger images), Go exceeds it and collects more often.
const defaultGoMemoryLimit = 384 << 20

// limitGoMemory sets defaultGoMemoryLimit unless GOMEMLIMIT is set.
func limitGoMemory() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(defaultGoMemoryLimit)
	}
}

// openParts opens what running and training share: the database, ONNX
// Runtime and the configured embedder; closeParts releases them.
func openParts(ctx context.Context, cfg config.Config) (db *sql.DB, emb embed.Embedder, closeParts func(), err error) {
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
func newEmbedder(cfg config.Config) (embed.Embedder, error) {
	if cfg.Embedder == "builtin" {
		return embed.NewBuiltin(), nil
	}
	return embed.NewONNX(cfg.Embedder, embed.ONNXOptions{IntraOpThreads: cfg.IntraOpThreads, Lanes: cfg.InferenceLanes, Views: cfg.EmbedderViews})
}
