package main

import (
	"context"
	"fmt"

	"screend/sql"
)

// migrate is `screend migrate`: apply pending migrations and exit.
func migrate(ctx context.Context, e env, args []string) error {
	if _, err := flags("migrate", e, args, func(*flagSet) {}); err != nil {
		return err
	}
	db, err := sql.Open(ctx, e.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	for _, m := range applied {
		fmt.Fprintf(e.stdout, "applied %03d_%s\n", m.Version, m.Name)
	}
	if err == nil && len(applied) == 0 {
		fmt.Fprintln(e.stdout, "schema is up to date")
	}
	return err
}
