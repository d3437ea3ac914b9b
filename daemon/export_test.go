package daemon

import (
	"context"
	"errors"

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
