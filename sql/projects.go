package sql

import (
	"context"
	"fmt"
)

// EnsureProject returns the id of the project folder name under root,
// creating it on first sight.
func (db *DB) EnsureProject(ctx context.Context, root, name string) (int64, error) {
	var id int64
	err := db.Pool.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO screend.projects (root, name) VALUES ($1, $2)
			ON CONFLICT (root, name) DO NOTHING
			RETURNING project_id)
		SELECT project_id FROM ins
		UNION ALL
		SELECT project_id FROM screend.projects WHERE root = $1 AND name = $2
		LIMIT 1`, root, name).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("ensure project %s: %w", name, err)
	}
	return id, nil
}
