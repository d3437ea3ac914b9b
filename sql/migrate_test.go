package sql_test

import (
	"context"
	"sync"
	"testing"

	"screend/sql"
	"screend/sql/sqltest"
)

func TestMigrateConcurrentInstancesApplyEachMigrationOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := sqltest.EmptyURL(t)
	ms, err := sql.Migrations()
	if err != nil {
		t.Fatal(err)
	}

	const instances = 4
	applied := make([][]sql.Migration, instances)
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i := range instances {
		wg.Go(func() {
			db, err := sql.Open(ctx, url)
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			applied[i], errs[i] = db.Migrate(ctx)
		})
	}
	wg.Wait()
	total := 0
	for i := range instances {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	if total != len(ms) {
		t.Fatalf("applied %d migrations across instances, want each of %d once", total, len(ms))
	}

	db, err := sql.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pending, err := db.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Fatalf("pending after migrate: %v", pending)
	}
	var recorded int
	if err := sqltest.Pool(db).QueryRow(ctx, `SELECT count(*) FROM screend.schema_migrations`).Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if recorded != len(ms) {
		t.Fatalf("recorded %d migrations, want %d", recorded, len(ms))
	}
}

func TestPendingOnEmptyDatabaseListsAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sql.Open(ctx, sqltest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pending, err := db.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := sql.Migrations()
	if len(pending) != len(ms) || pending[0].Version != 1 {
		t.Fatalf("pending = %v, want all %d", pending, len(ms))
	}
}
