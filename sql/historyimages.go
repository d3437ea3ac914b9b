package sql

import (
	"context"
	"fmt"
	"time"

	"github.com/pgvector/pgvector-go"
)

// HistoryImage is a historical image file embedded where it lies
// (screend.history_images), for `screend import images`.
type HistoryImage struct {
	Path      string
	Project   string
	FileName  string
	Size      int64
	ModTime   time.Time
	Stage     float64
	Width     int
	Height    int
	Embedding []float32 // nil when Reason is set
	Reason    string    // why the file could not be embedded
}

// HistoryKnown returns, per path, the size and modification time of the
// history images already stored for embedder, so unchanged files are not
// read again.
func (db *DB) HistoryKnown(ctx context.Context, embedderID int32) (map[string]HistoryImage, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT path, size, mtime, coalesce(reason, '') FROM screend.history_images WHERE embedder_id = $1`, embedderID)
	if err != nil {
		return nil, fmt.Errorf("read history images: %w", err)
	}
	defer rows.Close()
	out := map[string]HistoryImage{}
	for rows.Next() {
		var h HistoryImage
		if err := rows.Scan(&h.Path, &h.Size, &h.ModTime, &h.Reason); err != nil {
			return nil, fmt.Errorf("read history images: %w", err)
		}
		out[h.Path] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read history images: %w", err)
	}
	return out, nil
}

// PutHistoryImage stores (or replaces) a history image for embedder.
func (db *DB) PutHistoryImage(ctx context.Context, embedderID int32, h HistoryImage) error {
	var vec *pgvector.Vector
	var reason *string
	if h.Reason != "" {
		reason = &h.Reason
	} else {
		v := pgvector.NewVector(h.Embedding)
		vec = &v
	}
	_, err := db.pool.Exec(ctx, `
		INSERT INTO screend.history_images
			(path, project, file_name, size, mtime, stage, width, height, embedder_id, embedding, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (path, embedder_id) DO UPDATE SET
			project = excluded.project, file_name = excluded.file_name, size = excluded.size,
			mtime = excluded.mtime, stage = excluded.stage, width = excluded.width, height = excluded.height,
			embedding = excluded.embedding, reason = excluded.reason, imported_at = now()`,
		h.Path, h.Project, h.FileName, h.Size, h.ModTime, h.Stage, h.Width, h.Height, embedderID, vec, reason)
	if err != nil {
		return fmt.Errorf("store history image %s: %w", h.Path, err)
	}
	return nil
}
