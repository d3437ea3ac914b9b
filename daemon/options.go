package daemon

import (
	"time"

	"screend/scoring/model"
)

// Options are what the daemon needs of the configuration; cmd/screend
// builds them from its settings (the defaults are there, in
// cmd/screend/config).
type Options struct {
	// DatabaseURL is the connection string of the instance's lock and of
	// the notification listener's connections.
	DatabaseURL string
	// Inbox lists the watched roots; each first-level folder of a root is a
	// project.
	Inbox []string
	// Settle is how long a project must be quiet before its open groups are
	// closed.
	Settle time.Duration
	// Listen is the address of /metrics and /healthz; empty disables them.
	Listen string
	// RetrainSchedule is a standard cron expression for retraining; empty
	// disables it.
	RetrainSchedule string
	// RetrainMinDecisions is the number of new human decisions since the
	// last trained model that a scheduled retraining needs.
	RetrainMinDecisions int
	// DryRun makes decisions and records them but moves no file.
	DryRun bool
	// DrainTimeout bounds how long work under way at shutdown (claimed
	// images, journaled moves) may take to finish; what is left is
	// finished at the next start.
	DrainTimeout time.Duration
	// ScanInterval is how often every root is rescanned.
	ScanInterval time.Duration
	// StableFor is how long a file's size and mtime must stay unchanged
	// before it is taken.
	StableFor time.Duration
	// MaxPixels is the largest width*height an image header may declare;
	// larger files are quarantined without being decoded.
	MaxPixels int64
	// DecodeWorkers is the number of goroutines decoding and preprocessing
	// images.
	DecodeWorkers int
	// DecodeMemoryMB is the memory all decode workers together may hold
	// for files and decoded pixels, in MiB; a file that alone needs more is
	// quarantined as too large.
	DecodeMemoryMB int64
	// IntraOpThreads is ONNX Runtime's thread count for one inference.
	IntraOpThreads int
	// BatchSize is the number of images per inference and per database
	// write.
	BatchSize int
	// ReviewListen is the address of the review page; empty disables it.
	ReviewListen string
	// ReviewPassword is the review page's basic-auth password.
	ReviewPassword string
	// ReviewCache is the folder of the review page's thumbnail cache.
	ReviewCache string
	// ReviewCacheMB bounds the thumbnail cache on disk, in MiB.
	ReviewCacheMB int
	// ReviewMemoryMB bounds the thumbnails kept in memory, in MiB.
	ReviewMemoryMB int
	// Thresholds override the active model's confidence thresholds.
	Thresholds model.ThresholdOverrides
}
