package sql

import (
	"context"
	"fmt"
)

// EnsureEmbedder returns the id of the embedder called name, registering it
// on first use. A known name with another dimension is an error: the name
// must change when the model does.
//
// Vectors get no approximate-nearest-neighbour index: no query of screend
// searches them by similarity (the nearest training image is an exact
// minimum over the training images), and an HNSW index cost PostgreSQL
// about 1.8 ms of CPU per stored vector (migration 016).
func (db *DB) EnsureEmbedder(ctx context.Context, name string, dim int) (int32, error) {
	var id int32
	var known int
	// DO UPDATE (a no-op) rather than DO NOTHING returns the row even when
	// another instance inserted it a moment ago.
	err := db.pool.QueryRow(ctx, `
		INSERT INTO screend.embedders (name, dim) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET name = excluded.name
		RETURNING embedder_id, dim`, name, dim).Scan(&id, &known)
	if err != nil {
		return 0, fmt.Errorf("register embedder %s: %w", name, err)
	}
	if known != dim {
		return 0, fmt.Errorf("embedder %s is registered with %d dimensions, not %d", name, known, dim)
	}
	return id, nil
}

// ReembedMissing puts back into the queue every embedded image that has no
// vector from the embedder (because the daemon switched embedders), so the
// pipeline embeds it again; its other vectors stay. It returns how many.
func (db *DB) ReembedMissing(ctx context.Context, embedderID int32) (int64, error) {
	tag, err := db.pool.Exec(ctx, `
		UPDATE screend.images i SET state = 'discovered', claimed_by = NULL
		WHERE i.state = 'embedded' AND NOT EXISTS (
			SELECT 1 FROM screend.embeddings e WHERE e.image_id = i.image_id AND e.embedder_id = $1)`, embedderID)
	if err != nil {
		return 0, fmt.Errorf("queue images for the new embedder: %w", err)
	}
	return tag.RowsAffected(), nil
}
