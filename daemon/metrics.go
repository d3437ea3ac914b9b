package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	StageSeconds     *prometheus.HistogramVec
	BatchSize        prometheus.Histogram
}

// NewMetrics creates and registers the metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
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
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.FilesDiscovered, m.FilesEmbedded, m.FilesDuplicate, m.FilesQuarantined,
		m.GroupsClosed, m.GroupsDecided, m.GroupsFlagged, m.GroupsResolved,
		m.StageSeconds, m.BatchSize,
	)
	return m
}
