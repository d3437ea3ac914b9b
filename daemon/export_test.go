package daemon

import (
	"context"

	"screend/sql"
)

// JournalNextDecision journals the moves of the next decided group and
// marks it applied without moving any file: the state a crash right after
// that transaction leaves behind.
func JournalNextDecision(ctx context.Context, cfg Config, db *sql.DB) ([]sql.Move, error) {
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
