package sql

import (
	"context"
	"fmt"

	"screend"

	"github.com/jackc/pgx/v5"
)

// EnsureEmbedder returns the id of the embedder called name, registering it
// and creating its HNSW index (cosine distance, over its vectors only) on
// first use. A known name with another dimension is an error: the name must
// change when the model does.
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
	// pgvector indexes only vectors of one declared dimension: the partial
	// index casts to it and covers this embedder's rows alone. The lock
	// keeps instances starting together from creating it twice.
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, int32(screend.LockEmbedder), id); err != nil {
			return err
		}
		typ := hnswType(dim)
		if typ == "" {
			return nil
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`
			CREATE INDEX IF NOT EXISTS embeddings_hnsw_%d ON screend.embeddings
			USING hnsw ((embedding::%s(%d)) %s_cosine_ops) WHERE embedder_id = %d`, id, typ, dim, typ, id))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("create index for embedder %s: %w", name, err)
	}
	return id, nil
}

// hnswType is the pgvector type an embedder's vectors are indexed as:
// pgvector's HNSW indexes take at most 2,000 dimensions as vector and 4,000
// as halfvec (an encoder with several views, say 2 x 1,280); longer vectors
// ("") are stored without an index.
func hnswType(dim int) string {
	switch {
	case dim <= 2000:
		return "vector"
	case dim <= 4000:
		return "halfvec"
	}
	return ""
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
