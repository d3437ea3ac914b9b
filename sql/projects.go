package sql

import (
	"context"
	"fmt"
)

// EnsureProject returns the id of the project folder name under root,
// creating it on first sight. A name that is not UTF-8 is kept as its
// readable form beside its bytes (see ReadablePath).
func (db *DB) EnsureProject(ctx context.Context, root, name string) (int64, error) {
	var id int64
	// DO UPDATE (a no-op) rather than DO NOTHING returns the row even when
	// another instance inserted it a moment ago.
	err := db.pool.QueryRow(ctx, `
		INSERT INTO screend.projects (root, name, name_raw) VALUES ($1, $2, $3)
		ON CONFLICT (root, name) DO UPDATE SET name = excluded.name
		RETURNING project_id`, ReadablePath(root), ReadablePath(name), rawPath(name)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("ensure project %s: %w", ReadablePath(name), err)
	}
	return id, nil
}
