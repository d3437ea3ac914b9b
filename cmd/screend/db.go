package main

import (
	"context"
	"fmt"
	"strings"

	"screend/sql"
)

// openMigrated opens the database for a command other than run and
// migrate, which need the schema as it is: a database with migrations not
// applied yet (a fresh one, or one an older binary set up) gets an error
// that says what to run instead of a missing relation.
func openMigrated(ctx context.Context, url string) (*sql.DB, error) {
	db, err := sql.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := checkMigrated(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// checkMigrated returns an error naming the migrations not applied yet and
// the command that applies them.
func checkMigrated(ctx context.Context, db *sql.DB) error {
	pending, err := db.Pending(ctx)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	names := make([]string, len(pending))
	for i, m := range pending {
		names[i] = fmt.Sprintf("%03d_%s", m.Version, m.Name)
	}
	return fmt.Errorf("the database schema is not up to date (%d migrations not applied: %s): run `screend migrate` "+
		"with the same --config and environment (or start `screend run`, which applies them), then try again",
		len(pending), strings.Join(names, ", "))
}
