package daemon

import (
	"time"

	"screend/scoring/model"
)

// Options are what the daemon needs of the configuration. cmd/screend/config
// fills them from its settings (file and environment); the defaults named
// here are its defaults.
type Options struct {
	// DatabaseURL is the PostgreSQL connection string, also of the
	// instance's lock and of the notification listener's connections.
	// Default: the local database scripts/setup.sh creates.
	DatabaseURL string
	// Inbox lists the watched roots; each first-level folder of a root is a
	// project. Default: ./var/inbox.
	Inbox []string
	// Settle is how long a project must be quiet before its open groups are
	// closed. Default: 2m.
	Settle time.Duration
	// Listen is the address of /metrics and /healthz; empty disables them.
	// Default: 127.0.0.1:9464.
	Listen string
	// RetrainSchedule is a standard cron expression for retraining; empty
	// disables it. Default: "0 3 * * *".
	RetrainSchedule string
	// RetrainMinDecisions is the number of new human decisions (review
	// resolutions and imported log rows) since the last trained model that
	// a scheduled retraining needs; with fewer it is skipped. Default: 50.
	RetrainMinDecisions int
	// DryRun makes decisions and records them but moves no file. Default: false.
	DryRun bool
	// DrainTimeout bounds how long work under way at shutdown (claimed
	// images being decoded, embedded and stored; journaled file moves) may
	// take to finish; what is left is finished at the next start. Keep it
	// below the unit's TimeoutStopSec. Default: 30s.
	DrainTimeout time.Duration
	// ScanInterval is how often every root is rescanned, so files that
	// fsnotify missed (network file systems, dropped events) are found.
	// Default: 1m.
	ScanInterval time.Duration
	// StableFor is how long a file's size and mtime must stay unchanged
	// before it is taken. Default: 2s.
	StableFor time.Duration
	// MaxPixels is the largest width*height an image header may declare;
	// larger files are quarantined without being decoded. Default: 100000000.
	MaxPixels int64
	// DecodeWorkers is the number of goroutines decoding and preprocessing
	// images. Default: the number of CPUs.
	DecodeWorkers int
	// DecodeMemoryMB is the memory all decode workers together may hold
	// for files and decoded pixels (file size plus width×height×bytes per
	// pixel of the header's colour model), in MiB; a file that alone needs
	// more is quarantined as too large. Default: 1024.
	DecodeMemoryMB int64
	// IntraOpThreads is ONNX Runtime's thread count for one inference run.
	// Default: the CPUs over the ONNX encoder's lanes, at least 1 (1 on a
	// machine of up to 4 cores; config.InferenceLayout).
	IntraOpThreads int
	// BatchSize is the number of images per inference and per database
	// write. Default: 16.
	BatchSize int
	// ReviewListen is the address of the review page; empty disables it.
	// Default: 127.0.0.1:9465.
	ReviewListen string
	// ReviewPassword is the review page's basic-auth password (any user
	// name; the name is recorded as the reviewer). Required when
	// ReviewListen is not a loopback address. Default: empty.
	ReviewPassword string
	// ReviewCache is the folder of the review page's thumbnail cache; it
	// must not be inside an inbox root. Default: ./var/cache/review.
	ReviewCache string
	// ReviewCacheMB bounds the thumbnail cache on disk, in MiB. Default: 1024.
	ReviewCacheMB int
	// ReviewMemoryMB bounds the thumbnails kept in memory, in MiB. Default: 64.
	ReviewMemoryMB int
	// Thresholds override the active model's confidence thresholds per
	// outcome kind; unset (the default) uses the model's, which training
	// set for its target error rate.
	Thresholds model.ThresholdOverrides
}
