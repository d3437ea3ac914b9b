package sqltest_test

import (
	"context"
	"testing"

	"screend/sql/sqltest"
)

func TestNewGivesSeparateMigratedDatabases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := sqltest.New(t), sqltest.New(t)
	if _, err := sqltest.Pool(a).Exec(ctx, `INSERT INTO screend.projects (root, name) VALUES ('/r', 'p')`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := sqltest.Pool(b).QueryRow(ctx, `SELECT count(*) FROM screend.projects`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("second database sees %d projects of the first", n)
	}
	var v string
	if err := sqltest.Pool(a).QueryRow(ctx, `SELECT '[1,2,3]'::vector::text`).Scan(&v); err != nil {
		t.Fatalf("vector extension missing in test database: %v", err)
	}
}
