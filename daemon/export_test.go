package daemon

import (
	"context"
	"errors"
	"runtime"
	"time"

	"screend/sql"
)

// JournalNextDecision journals the moves of the next decided group and
// marks it applying without moving any file: the state a crash right after
// that transaction leaves behind. The moves are claimed by an instance
// that is gone at once, as a killed instance's would be.
func JournalNextDecision(ctx context.Context, cfg Options, db *sql.DB) ([]sql.Move, error) {
	a := &applier{cfg: cfg, db: db}
	g, found, err := db.NextDecidedGroup(ctx)
	if err != nil || !found {
		return nil, errors.Join(err, errors.New("no decided group"))
	}
	moves, err := a.plan(g)
	if err != nil {
		return nil, err
	}
	inst, err := sql.RegisterInstance(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer inst.Close(ctx)
	moves, _, err = db.JournalMoves(ctx, inst.ID, g.ID, moves, cfg.DryRun)
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
		RetrainSchedule: "0 3 * * *", RetrainMinDecisions: 50, DrainTimeout: 30 * time.Second, ScanInterval: time.Minute, StableFor: 2 * time.Second,
		MaxPixels: 100_000_000, DecodeWorkers: runtime.NumCPU(), DecodeMemoryMB: 1024, IntraOpThreads: runtime.NumCPU(), BatchSize: 16,
		ReviewListen: "127.0.0.1:9465", ReviewCache: "./var/cache/review", ReviewCacheMB: 1024, ReviewMemoryMB: 64,
	}
}
