package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	dto "github.com/prometheus/client_model/go"

	"screend"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"screend/scoring/model"
	"screend/sql"
)

// Metrics are the daemon's Prometheus metrics, registered on their own
// registry (served at /metrics).
type Metrics struct {
	Registry *prometheus.Registry

	FilesDiscovered  prometheus.Counter
	FilesEmbedded    prometheus.Counter
	FilesDuplicate   prometheus.Counter
	FilesQuarantined *prometheus.CounterVec
	GroupsClosed     prometheus.Counter
	GroupsDecided    *prometheus.CounterVec
	GroupsFlagged    prometheus.Counter
	GroupsResolved   prometheus.Counter
	GroupsFailed     prometheus.Counter
	MovesDone        prometheus.Counter
	// MoveFailures counts failed file operations by what happens next:
	// "retry" (tried again after a backoff) or "final" (given up).
	MoveFailures *prometheus.CounterVec
	// MovesFailing is the number of file operations waiting for a retry
	// after a failure (SampleStatus keeps it current).
	MovesFailing prometheus.Gauge
	StageSeconds *prometheus.HistogramVec
	BatchSize    prometheus.Histogram

	// QueueDepth is the work waiting in each queue (see Queues), Pending
	// the total the daemon still has to do without a human (as in
	// `screend status`), ModelVersion the id of the active model (0: none)
	// and ModelCoverage the share of groups it decided automatically in
	// its held-out evaluation. SampleStatus keeps them current.
	QueueDepth    *prometheus.GaugeVec
	Pending       prometheus.Gauge
	ModelVersion  prometheus.Gauge
	ModelCoverage prometheus.Gauge
	// ReadinessAlone and ReadinessMore are screend.model_readiness per
	// kind: recent reviewed groups the active model would decide alone, and
	// about how many more reviews the kind needs (0: automated, -1: not in
	// sight). SampleStatus keeps them current.
	ReadinessAlone *prometheus.GaugeVec
	ReadinessMore  *prometheus.GaugeVec
}

// Queues are the values of screend_queue_depth's queue label: images
// waiting to be embedded, open groups waiting for their project to
// settle, closed groups waiting to be scored, decided groups whose files
// are not moved yet, and flagged groups waiting for a human.
var Queues = []string{"embed", "settle", "decide", "apply", "review"}

// NewMetrics creates and registers the metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		GroupsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "screend_groups_failed_total", Help: "Decided groups whose decision could not be carried out (state failed)."}),
		MovesDone: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "screend_file_moves_total", Help: "Journaled file operations done."}),
		MoveFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "screend_file_move_failures_total", Help: "Failed file operations, by what happens next (retry or final)."}, []string{"next"}),
		MovesFailing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "screend_file_moves_failing", Help: "File operations waiting for a retry after a failure."}),
		FilesDiscovered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "screend_files_discovered_total", Help: "Image files found complete and recorded."}),
		FilesEmbedded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "screend_files_embedded_total", Help: "Images embedded and stored."}),
		FilesDuplicate: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "screend_files_duplicate_total", Help: "Images recorded as duplicates of an earlier image."}),
		FilesQuarantined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "screend_files_quarantined_total", Help: "Files moved to __quarantine, by reason."}, []string{"reason"}),
		GroupsClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "screend_groups_closed_total", Help: "Groups whose membership became final."}),
		GroupsDecided: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "screend_groups_decided_total", Help: "Groups decided automatically, by outcome."}, []string{"outcome"}),
		GroupsFlagged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "screend_groups_flagged_total", Help: "Groups flagged for human review."}),
		GroupsResolved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "screend_groups_resolved_total", Help: "Flagged groups resolved by a human and applied."}),
		StageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "screend_stage_seconds", Help: "Time per item spent in each pipeline stage.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"stage"}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "screend_embed_batch_size", Help: "Images per inference batch.",
			Buckets: prometheus.LinearBuckets(1, 4, 9)}),
		QueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "screend_queue_depth", Help: "Items waiting in each queue: embed (images), settle, decide, apply, review (groups)."},
			[]string{"queue"}),
		Pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "screend_pending", Help: "Images, groups and file moves still to process without human input; 0 means idle."}),
		ModelVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "screend_model_version", Help: "ID of the active model in screend.models; 0 when there is none."}),
		ModelCoverage: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "screend_model_coverage_ratio", Help: "Share of held-out groups the active model decided automatically in its evaluation; 0 without a model."}),
		ReadinessAlone: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "screend_readiness_decided_alone", Help: "Of the recent reviewed groups, how many the active model would decide alone, by outcome kind."},
			[]string{"kind"}),
		ReadinessMore: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "screend_readiness_more_reviews", Help: "About how many more reviewed groups an outcome kind needs to be decided alone: 0 when it is, -1 when more reviews alone will not do."},
			[]string{"kind"}),
	}
	for _, q := range Queues {
		m.QueueDepth.WithLabelValues(q)
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.FilesDiscovered, m.FilesEmbedded, m.FilesDuplicate, m.FilesQuarantined,
		m.GroupsClosed, m.GroupsDecided, m.GroupsFlagged, m.GroupsResolved, m.GroupsFailed,
		m.MovesDone, m.MoveFailures, m.MovesFailing,
		m.StageSeconds, m.BatchSize,
		m.QueueDepth, m.Pending, m.ModelVersion, m.ModelCoverage,
		m.ReadinessAlone, m.ReadinessMore,
	)
	return m
}

// Progress sums the counters that move whenever the daemon gets work done:
// files discovered, embedded, found duplicate or quarantined, and groups
// closed, decided, flagged or resolved. Health watches it.
func (m *Metrics) Progress() float64 {
	sum := 0.0
	for _, c := range []prometheus.Collector{
		m.FilesDiscovered, m.FilesEmbedded, m.FilesDuplicate, m.FilesQuarantined,
		m.GroupsClosed, m.GroupsDecided, m.GroupsFlagged, m.GroupsResolved, m.GroupsFailed, m.MovesDone,
	} {
		sum += counterSum(c)
	}
	return sum
}

// counterSum adds up the values of a counter or of every child of a
// counter vector.
func counterSum(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	sum := 0.0
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) == nil {
			sum += d.GetCounter().GetValue()
		}
	}
	return sum
}

// ObserveStatus sets the queue and pending gauges from a status read.
func (m *Metrics) ObserveStatus(st sql.Status) {
	m.QueueDepth.WithLabelValues("embed").Set(float64(st.Images[screend.ImageDiscovered]))
	m.QueueDepth.WithLabelValues("settle").Set(float64(st.Groups[screend.GroupOpen]))
	m.QueueDepth.WithLabelValues("decide").Set(float64(st.Groups[screend.GroupClosed]))
	m.QueueDepth.WithLabelValues("apply").Set(float64(st.Groups[screend.GroupDecided]))
	m.QueueDepth.WithLabelValues("review").Set(float64(st.ReviewQueue))
	m.Pending.Set(float64(st.Pending))
	failing := 0
	for _, f := range st.Failing {
		if f.MoveID != 0 {
			failing++
		}
	}
	m.MovesFailing.Set(float64(failing))
	m.ReadinessAlone.Reset()
	m.ReadinessMore.Reset()
	for _, r := range st.Readiness {
		m.ReadinessAlone.WithLabelValues(r.Kind).Set(float64(r.Alone))
		more := r.MoreReviews
		if more > 0 {
			more = max(0, more-r.ReviewsSince)
		}
		m.ReadinessMore.WithLabelValues(r.Kind).Set(float64(more))
	}
}

// ObserveModel sets the model gauges: id 0 means no active model.
func (m *Metrics) ObserveModel(id int64, coverage float64) {
	m.ModelVersion.Set(float64(id))
	m.ModelCoverage.Set(coverage)
}

// SampleStatus keeps the queue, pending and model gauges current: it reads
// the status every interval until ctx ends, and the active model's
// evaluation when the active model changes. A failed read is logged and
// retried at the next interval; the gauges keep their last values.
func (m *Metrics) SampleStatus(ctx context.Context, db *sql.DB, every time.Duration, log *slog.Logger) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	active := int64(-1)
	failing := false
	for {
		if err := m.sample(ctx, db, &active); err != nil && ctx.Err() == nil {
			if !failing {
				log.Warn("sample status for metrics", "err", err)
			}
			failing = true
		} else {
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// sample reads the status once; *active is the model id last observed.
func (m *Metrics) sample(ctx context.Context, db *sql.DB, active *int64) error {
	st, err := db.ReadStatus(ctx)
	if err != nil {
		return err
	}
	m.ObserveStatus(st)
	var id int64
	if st.ActiveModel != nil {
		id = *st.ActiveModel
	}
	if id == *active {
		return nil
	}
	coverage := 0.0
	if id != 0 {
		am, err := db.ActiveModel(ctx)
		if err != nil {
			return err
		}
		if am == nil { // retired between the two reads; next sample sees the new state
			return nil
		}
		id = am.ID
		var p model.Params
		if err := json.Unmarshal(am.Params, &p); err != nil {
			return fmt.Errorf("read parameters of model %d: %w", am.ID, err)
		}
		coverage = p.Evaluation.Coverage
	}
	m.ObserveModel(id, coverage)
	*active = id
	return nil
}
