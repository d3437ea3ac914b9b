package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTP timeouts: scrapes and health checks are small and quick.
const (
	httpReadHeaderTimeout = 5 * time.Second
	httpWriteTimeout      = 30 * time.Second
	httpIdleTimeout       = 2 * time.Minute
	// healthTimeout bounds one call of the HealthFunc for /healthz.
	healthTimeout = 5 * time.Second
	// httpShutdownTimeout is how long requests in flight may finish after
	// ctx ends.
	httpShutdownTimeout = 5 * time.Second
)

// HTTPServer serves the daemon's Prometheus metrics at /metrics and its
// health at /healthz (200 "ok" when healthy, 503 with the reason
// otherwise) on the address of SCREEND_LISTEN.
type HTTPServer struct {
	addr    string
	handler http.Handler
	log     *slog.Logger
}

// NewHTTPServer builds the server for addr ("" disables it); health nil
// means always healthy.
func NewHTTPServer(addr string, m *Metrics, health HealthFunc, log *slog.Logger) *HTTPServer {
	if health == nil {
		health = func(context.Context) error { return nil }
	}
	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelError),
		Registry:          m.Registry, // counts promhttp_metric_handler_errors_total
		EnableOpenMetrics: true,
		Timeout:           httpWriteTimeout - time.Second,
	})
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(m.Registry, metrics))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := health(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unhealthy: %v\n", err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>screend</title><h1>screend</h1>`+
			`<p><a href="metrics">metrics</a> · <a href="healthz">healthz</a></p>`+"\n")
	})
	return &HTTPServer{addr: addr, handler: mux, log: log}
}

// Handler is the server's HTTP handler.
func (s *HTTPServer) Handler() http.Handler { return s.handler }

// Run listens on the configured address and serves until ctx ends; with an
// empty address it returns nil at once.
func (s *HTTPServer) Run(ctx context.Context) error {
	if s.addr == "" {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen on %s (SCREEND_LISTEN): %w", s.addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets requests in flight finish for a few seconds and closes
// ln. Tests pass a listener on 127.0.0.1:0.
func (s *HTTPServer) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	s.log.Info("serving metrics and health", "addr", ln.Addr().String())
	select {
	case err := <-done:
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), httpShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close() // requests still running after the timeout are cut off
	}
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shut down http server: %w", err)
	}
	return nil
}
