package daemon

import (
	"context"
	"runtime"
	"time"

	"screend/sql"
)

// JournalNextDecision journals the moves of the next decided group and
// marks it applied without moving any file: the state a crash right after
// that transaction leaves behind.
func JournalNextDecision(ctx context.Context, cfg Options, db *sql.DB) ([]sql.Move, error) {
	a := &applier{cfg: cfg, db: db}
	_, moves, _, err := db.ApplyNextDecided(ctx, cfg.DryRun, a.plan)
	return moves, err
}

// The rule that decides what became of a recorded file.
type FileVerdict = fileVerdict

const (
	FileThere  = fileThere
	FileGone   = fileGone
	FileUnseen = fileUnseen
)

var LookAt = lookAt

// OptionsForTest are the options of the default configuration
// (cmd/screend/config) for a daemon on dbURL watching inbox.
func OptionsForTest(dbURL, inbox string) Options {
	return Options{
		DatabaseURL: dbURL, Inbox: []string{inbox}, Settle: 2 * time.Minute, Listen: "127.0.0.1:9464",
		RetrainSchedule: "0 3 * * *", RetrainMinDecisions: 50, ScanInterval: time.Minute, StableFor: 2 * time.Second,
		MaxPixels: 100_000_000, DecodeWorkers: runtime.NumCPU(), DecodeMemoryMB: 1024, IntraOpThreads: runtime.NumCPU(), BatchSize: 16,
		ReviewListen: "127.0.0.1:9465", ReviewCache: "./var/cache/review", ReviewCacheMB: 1024, ReviewMemoryMB: 64,
	}
}
