// Package daemon runs screend: it owns the lifecycle of every background
// part and wires them together.
//
// Data flows one way: the watcher records complete files (screend.images,
// state 'discovered'); the pipeline claims them, decodes, embeds and stores
// vectors; the grouper forms groups by the nearest-up rule and closes them;
// the decider scores closed groups and flags or decides them; decided
// groups have their files moved through a journal (screend.file_moves) that
// is written before any file is touched. All state lives in PostgreSQL, so
// several instances can share one database and inbox, and a killed
// instance's work is finished by the next start or by another instance.
package daemon

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"screend/daemon/reviewpage"
	"screend/scoring/embed"
	"screend/scoring/imagefile"
	"screend/sql"
)

// Daemon is one running instance of screend.
type Daemon struct {
	cfg      Options
	db       *sql.DB
	embedder embed.Embedder
	log      *slog.Logger
	metrics  *Metrics
	notify   *Notifier
	health   *health
	instance atomic.Pointer[sql.Instance]
}

// New builds a daemon from its parts; Run starts it. notify reports to
// systemd and may be nil.
func New(cfg Options, db *sql.DB, embedder embed.Embedder, log *slog.Logger, metrics *Metrics, notify *Notifier) *Daemon {
	d := &Daemon{cfg: cfg, db: db, embedder: embedder, log: log, metrics: metrics, notify: notify}
	// Open groups wait up to Settle without progress; beyond that, pending
	// work that does not move means the daemon is stuck.
	d.health = &health{d: d, stallAfter: max(5*time.Minute, cfg.Settle+time.Minute)}
	return d
}

// Health returns nil while the database answers and the daemon makes
// progress or is idle; /healthz and the systemd watchdog use it.
func (d *Daemon) Health(ctx context.Context) error { return d.health.Check(ctx) }

// instanceCheck is how often the instance checks that it still holds its
// database lock.
const instanceCheck = 2 * time.Second

// Run runs the daemon until ctx ends. On return every claim of the
// instance is released and in-flight work is finished or left for the next
// start.
func (d *Daemon) Run(ctx context.Context) error {
	if _, err := d.db.Migrate(ctx); err != nil {
		return err
	}
	d.cfg.Inbox = slices.Clone(d.cfg.Inbox)
	for i, root := range d.cfg.Inbox {
		real, err := ResolveRoot(root)
		if err != nil {
			return err
		}
		if real != root {
			d.log.Info("inbox root resolved", "root", root, "watching", real)
		}
		d.cfg.Inbox[i] = real
	}
	inst, err := sql.RegisterInstance(ctx, d.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	d.instance.Store(inst)
	defer func() { d.instance.Load().Close(context.WithoutCancel(ctx)) }()

	embedderID, err := d.db.EnsureEmbedder(ctx, d.embedder.ID(), d.embedder.Dim())
	if err != nil {
		return err
	}
	if n, err := d.db.ReembedMissing(ctx, embedderID); err != nil {
		return err
	} else if n > 0 {
		d.log.Info("embedding images again with the new embedder", "images", n, "embedder", d.embedder.ID())
	}
	retrain, err := newRetrainer(d.cfg, d.db, d.embedder.ID(), d.log.With("component", "retrainer"))
	if err != nil {
		return err
	}
	// Decodes for images, thumbnails and crops share one memory budget.
	budget := imagefile.NewBudget(d.cfg.DecodeMemoryMB << 20)
	moves := newMover(d.db, d.log.With("component", "mover"), d.metrics, d.cfg.MaxPixels, budget)
	instance := func() int32 { return d.instance.Load().ID }
	app := &applier{
		cfg: d.cfg, db: d.db, log: d.log.With("component", "applier"), metrics: d.metrics,
		moves: moves, wake: newWaker(), instance: instance,
	}
	dec := &decider{
		cfg: d.cfg, db: d.db, log: d.log.With("component", "decider"), metrics: d.metrics,
		embedder: d.embedder.ID(), embedderID: embedderID, wake: newWaker(), instance: instance,
		decided: app.wake.Wake,
	}
	back := &takeBacker{db: d.db, log: d.log.With("component", "takeback"), moves: moves, wake: newWaker(), instance: instance,
		drainTimeout: d.cfg.DrainTimeout}
	listen := &listener{
		url: d.cfg.DatabaseURL, log: d.log.With("component", "listener"),
		resolved: app.wake.Wake, model: dec.wake.Wake, takeBack: back.wake.Wake,
	}
	grp := &grouper{
		cfg: d.cfg, db: d.db, log: d.log.With("component", "grouper"), metrics: d.metrics,
		closed: dec.wake.Wake, wake: newWaker(),
	}
	pipe := &pipeline{
		cfg: d.cfg, db: d.db, log: d.log.With("component", "pipeline"), metrics: d.metrics,
		embedder: d.embedder, embedderID: embedderID, moves: moves,
		instance:  instance,
		processed: grp.Touch, wake: newWaker(), budget: budget,
	}
	watch := newWatcher(d.cfg, d.db, d.log.With("component", "watcher"), d.metrics, func(projects []int64) {
		pipe.wake.Wake()
		grp.Touch(projects)
	})
	watch.instance = pipe.instance
	// Ready once the database, schema, models and watches are up: after the
	// first scan.
	watch.ready = func() {
		if err := d.notify.Ready(); err != nil {
			d.log.Warn("notify systemd", "err", err)
		}
		d.notify.Status("running")
	}
	page, err := reviewpage.New(reviewpage.Config{
		Listen: d.cfg.ReviewListen, Password: d.cfg.ReviewPassword, CacheDir: d.cfg.ReviewCache,
		CacheBytes: int64(d.cfg.ReviewCacheMB) << 20, MemoryBytes: int64(d.cfg.ReviewMemoryMB) << 20,
		MaxPixels: d.cfg.MaxPixels, DecodeBudget: budget,
	}, d.db, d.log.With("component", "reviewpage"))
	if err != nil {
		return err
	}
	srv := NewHTTPServer(d.cfg.Listen, d.metrics, d.Health, d.log.With("component", "http"))
	dog := NewWatchdog(d.notify, d.Health, d.log.With("component", "watchdog"))
	_, decoders := imagefile.NativeStatus()
	d.log.Info("started", "instance", inst.ID, "embedder", d.embedder.ID(), "dry_run", d.cfg.DryRun, "decoders", decoders)
	imagefile.WarnUnlessNative(d.log)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.keepInstance(gctx) })
	g.Go(func() error { return watch.Run(gctx) })
	g.Go(func() error { return pipe.Run(gctx) })
	g.Go(func() error { return grp.Run(gctx) })
	g.Go(func() error { return dec.Run(gctx) })
	g.Go(func() error { return app.Run(gctx) })
	g.Go(func() error { return back.Run(gctx) })
	g.Go(func() error { return listen.Run(gctx) })
	g.Go(func() error { return retrain.Run(gctx) })
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error { return page.Run(gctx) })
	g.Go(func() error { return dog.Run(gctx) })
	g.Go(func() error {
		return d.metrics.SampleStatus(gctx, d.db, 15*time.Second, d.log.With("component", "metrics"))
	})
	g.Go(func() error {
		<-gctx.Done()
		d.notify.Stopping()
		return nil
	})
	err = g.Wait()
	d.log.Info("stopped", "instance", d.instance.Load().ID)
	return err
}

// keepInstance re-registers the instance when its lock connection is lost
// (for example when PostgreSQL restarted): claims of the old instance are
// then free, and work continues under the new id.
func (d *Daemon) keepInstance(ctx context.Context) error {
	tick := time.NewTicker(instanceCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		old := d.instance.Load()
		if err := old.Alive(ctx); err == nil || ctx.Err() != nil {
			continue
		} else {
			d.log.Warn("instance lock lost; registering again", "instance", old.ID, "err", err)
		}
		inst, err := sql.RegisterInstance(ctx, d.cfg.DatabaseURL)
		if err != nil {
			d.log.Error("register instance", "err", err)
			continue
		}
		d.instance.Store(inst)
		old.Close(ctx)
		d.log.Info("registered again", "instance", inst.ID)
	}
}
