package reviewpage

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"screend/scoring/imagefile"
	"screend/sql"
)

//go:embed static
var staticFiles embed.FS

// Config is what the review page needs of the daemon's configuration.
type Config struct {
	// Listen is the address to serve on; "" disables the page.
	Listen string
	// Password is the basic-auth password; "" only on loopback.
	Password string
	// CacheDir holds the thumbnail cache on disk.
	CacheDir string
	// CacheBytes and MemoryBytes bound the cache on disk and in memory.
	CacheBytes, MemoryBytes int64
	// MaxPixels is the largest image decoded for a thumbnail.
	MaxPixels int64
	// DecodeBudget holds the memory of thumbnail decodes, shared with the
	// daemon's other decodes; nil bounds only their number.
	DecodeBudget *imagefile.Budget
}

// Server is the review page.
type Server struct {
	cfg    Config
	db     *sql.DB
	log    *slog.Logger
	guard  *guard
	thumbs *thumbCache
	mux    *http.ServeMux
}

// New builds the review page. It refuses a non-loopback address without a
// password. With an empty Listen it returns a server whose Run does
// nothing.
func New(cfg Config, db *sql.DB, log *slog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, db: db, log: log}
	if cfg.Listen == "" {
		return s, nil
	}
	if err := CheckListen(cfg.Listen, cfg.Password); err != nil {
		return nil, fmt.Errorf("review page: %w", err)
	}
	var err error
	if s.guard, err = newGuard(cfg.Password); err != nil {
		return nil, fmt.Errorf("review page: %w", err)
	}
	if s.thumbs, err = newThumbCache(cfg.CacheDir, cfg.MemoryBytes, cfg.CacheBytes, cfg.MaxPixels, cfg.DecodeBudget, log); err != nil {
		return nil, fmt.Errorf("review page: %w", err)
	}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	files := http.FileServerFS(static)
	mux.Handle("GET /static/", http.StripPrefix("/static/", noCache(files)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s.guard.session(w, r)
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /api/session", s.session)
	mux.HandleFunc("GET /api/queue", s.queue)
	mux.HandleFunc("GET /api/groups/{id}", s.group)
	mux.HandleFunc("GET /api/images/{id}/thumb", s.thumb)
	mux.HandleFunc("GET /api/images/{id}/full", s.full)
	mux.HandleFunc("GET /api/images/{id}/companions", s.companions)
	mux.HandleFunc("GET /api/history", s.history)
	mux.HandleFunc("POST /api/resolve", s.resolve)
	mux.HandleFunc("POST /api/undo", s.undo)
	mux.HandleFunc("GET /api/takebacks/{id}", s.takeBack)
	s.mux = mux
	return s, nil
}

// noCache makes the browser revalidate the page's files, so a new daemon's
// page is never mixed with an old one's.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// Handler is the page's HTTP handler, with every check applied.
func (s *Server) Handler() http.Handler { return s.guard.wrap(s.mux) }

// Run listens on the configured address and serves until ctx ends; with
// an empty address it returns nil at once.
func (s *Server) Run(ctx context.Context) error {
	if s.cfg.Listen == "" {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (SCREEND_REVIEW_LISTEN): %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then lets requests in flight finish
// for a few seconds.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      2 * time.Minute, // a full-resolution image on a slow link
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	s.log.Info("serving the review page", "addr", ln.Addr().String(), "password", s.cfg.Password != "")
	select {
	case err := <-done:
		return fmt.Errorf("serve review page on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
	}
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shut down review page: %w", err)
	}
	return nil
}
