package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"screend"

	"screend/daemon"
	"screend/sql"
	"screend/sql/sqltest"
)

// serveHTTP runs the metrics and health server on 127.0.0.1:0 until the
// test ends and returns its base URL.
func serveHTTP(t *testing.T, m *daemon.Metrics, health daemon.HealthFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := daemon.NewHTTPServer("unused", m, health, slog.New(slog.DiscardHandler))
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// touchAll gives every metric a value, so that labelled metrics appear in
// the output.
func touchAll(m *daemon.Metrics) {
	m.FilesDiscovered.Add(3)
	m.FilesEmbedded.Add(2)
	m.FilesDuplicate.Inc()
	m.FilesQuarantined.WithLabelValues("not_an_image").Inc()
	m.GroupsClosed.Inc()
	m.GroupsDecided.WithLabelValues("select").Inc()
	m.GroupsFlagged.Inc()
	m.GroupsResolved.Inc()
	m.StageSeconds.WithLabelValues("embed").Observe(0.02)
	m.BatchSize.Observe(8)
	m.ObserveStatus(sql.Status{Images: map[screend.ImageState]int{screend.ImageDiscovered: 4}, Groups: map[screend.GroupState]int{screend.GroupOpen: 1}, ReviewQueue: 2, Pending: 5})
	m.ObserveModel(7, 0.85)
}

// TestHTTPMetricsPassPromtool scrapes /metrics and checks the exposition
// with `promtool check metrics` (format and naming lint).
func TestHTTPMetricsPassPromtool(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found in PATH: it checks the /metrics output; install it with " +
			"`apt-get install prometheus` (scripts/setup.sh does) and run the test again")
	}
	m := daemon.NewMetrics()
	touchAll(m)
	base := serveHTTP(t, m, nil)
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	for _, name := range []string{
		"screend_files_discovered_total 3", "screend_files_embedded_total 2", "screend_files_duplicate_total 1",
		`screend_files_quarantined_total{reason="not_an_image"} 1`, "screend_groups_closed_total 1",
		`screend_groups_decided_total{outcome="select"} 1`, "screend_groups_flagged_total 1",
		"screend_groups_resolved_total 1", `screend_stage_seconds_bucket{stage="embed",le="+Inf"} 1`,
		"screend_embed_batch_size_count 1",
		`screend_queue_depth{queue="embed"} 4`, `screend_queue_depth{queue="settle"} 1`,
		`screend_queue_depth{queue="decide"} 0`, `screend_queue_depth{queue="apply"} 0`,
		`screend_queue_depth{queue="review"} 2`, "screend_pending 5",
		"screend_model_version 7", "screend_model_coverage_ratio 0.85",
		"go_goroutines", "process_resident_memory_bytes", "promhttp_metric_handler_requests_total",
	} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics lacks %q", name)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestHealthzReportsHealth(t *testing.T) {
	t.Parallel()
	var fail atomic.Pointer[string]
	health := func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("no deadline")
		}
		if msg := fail.Load(); msg != nil {
			return errors.New(*msg)
		}
		return nil
	}
	base := serveHTTP(t, daemon.NewMetrics(), health)
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("healthy: %d %q, want 200 \"ok\\n\"", code, body)
	}
	msg := "database unreachable"
	fail.Store(&msg)
	if code, body := get(t, base+"/healthz"); code != http.StatusServiceUnavailable || body != "unhealthy: database unreachable\n" {
		t.Errorf("unhealthy: %d %q, want 503 with the reason", code, body)
	}
	if code, _ := get(t, base+"/nothing"); code != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", code)
	}
	if code, body := get(t, base+"/"); code != http.StatusOK || !strings.Contains(body, `href="metrics"`) {
		t.Errorf("index: %d %q", code, body)
	}
}

// TestHTTPServerShutsDownWhenContextEnds checks that Run returns nil once
// ctx ends and the port is closed; an empty address disables the server.
func TestHTTPServerShutsDownWhenContextEnds(t *testing.T) {
	t.Parallel()
	if err := daemon.NewHTTPServer("", daemon.NewMetrics(), nil, slog.New(slog.DiscardHandler)).Run(context.Background()); err != nil {
		t.Fatalf("disabled server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.NewHTTPServer(addr, daemon.NewMetrics(), nil, slog.New(slog.DiscardHandler)).Run(ctx)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Fatal("port still open after shutdown")
	}
}

func TestHTTPServerBadAddressNamesSetting(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = daemon.NewHTTPServer(ln.Addr().String(), daemon.NewMetrics(), nil, slog.New(slog.DiscardHandler)).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "SCREEND_LISTEN") {
		t.Fatalf("got %v, want an error naming SCREEND_LISTEN", err)
	}
}

// TestHealthMetricsSampleStatus runs SampleStatus on a real database: the
// queue gauges follow the status, and the model gauges the active model
// and the coverage of its evaluation.
func TestHealthMetricsSampleStatus(t *testing.T) {
	t.Parallel()
	db := sqltest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := daemon.NewMetrics()
	m.ObserveModel(99, 0.5) // stale values the first sample must replace
	done := make(chan error, 1)
	go func() { done <- m.SampleStatus(ctx, db, 50*time.Millisecond, slog.New(slog.DiscardHandler)) }()
	waitFor(t, func() bool { return gauge(t, m, "screend_model_version") == 0 }, "model version 0 without a model")

	emb, err := db.EnsureEmbedder(ctx, "test-embedder", 4)
	if err != nil {
		t.Fatal(err)
	}
	params, _ := json.Marshal(map[string]any{"evaluation": map[string]any{"coverage": 0.75},
		"readiness": []map[string]any{
			{"kind": "reject", "automated": true, "recent": 500, "alone": 120, "wrong": 1, "more_reviews": 0},
			{"kind": "select", "automated": false, "recent": 500, "alone": 0, "wrong": 0, "more_reviews": 340},
		}})
	id, err := db.InsertModel(ctx, sql.Model{EmbedderID: emb, Ranker: []byte{1}, Crop: []byte{1}, Reject: []byte{1},
		Params: params, Metrics: []byte(`{}`), Examples: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PromoteModel(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return gauge(t, m, "screend_model_version") == float64(id) && gauge(t, m, "screend_model_coverage_ratio") == 0.75
	}, "model gauges of the promoted model")
	// readiness per kind, from screend.model_readiness
	waitFor(t, func() bool {
		return gauge(t, m, "screend_readiness_decided_alone", "reject") == 120 &&
			gauge(t, m, "screend_readiness_more_reviews", "select") == 340 &&
			gauge(t, m, "screend_readiness_more_reviews", "reject") == 0
	}, "readiness gauges of the promoted model")
	for _, q := range daemon.Queues {
		if v := gauge(t, m, "screend_queue_depth", q); v != 0 {
			t.Errorf("queue %s: %v on an empty database", q, v)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gauge returns the value of the gauge name (with the one label value
// given, if any) as the registry would expose it.
func gauge(t *testing.T, m *daemon.Metrics, name string, label ...string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			if len(label) == 0 || (len(mt.GetLabel()) == 1 && mt.GetLabel()[0].GetValue() == label[0]) {
				return mt.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no gauge %s%v", name, label)
	return 0
}
