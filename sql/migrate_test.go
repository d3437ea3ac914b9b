package sql_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"screend/sql"
	"screend/sql/sqltest"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
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

// TestMigration016DropsVectorIndexes: the HNSW indexes that EnsureEmbedder
// used to create are dropped, and nothing else.
func TestMigration016DropsVectorIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqltest.New(t)
	id, err := db.EnsureEmbedder(ctx, "builtin-test", 8)
	if err != nil {
		t.Fatal(err)
	}
	pool := sqltest.Pool(db)
	if _, err := pool.Exec(ctx, fmt.Sprintf(`
		CREATE INDEX embeddings_hnsw_%d ON screend.embeddings
		USING hnsw ((embedding::vector(8)) vector_cosine_ops) WHERE embedder_id = %d`, id, id)); err != nil {
		t.Fatal(err)
	}
	indexes := func() []string {
		rows, err := pool.Query(ctx, `SELECT indexname FROM pg_indexes WHERE schemaname = 'screend' AND tablename = 'embeddings' ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if got := indexes(); len(got) != 2 {
		t.Fatalf("indexes before: %v, want the primary key and the HNSW index", got)
	}
	if _, err := pool.Exec(ctx, migrationSQL(t, 16)); err != nil {
		t.Fatal(err)
	}
	if got := indexes(); !slices.Equal(got, []string{"embeddings_pkey"}) {
		t.Fatalf("indexes after: %v, want only embeddings_pkey", got)
	}
}

// TestMigration018KeepsVectorsInline: a vector of 512 values (a row past
// the TOAST threshold) stays in its row, its TOAST table empty.
func TestMigration018KeepsVectorsInline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqltest.New(t)
	pool := sqltest.Pool(db)
	embedder, err := db.EnsureEmbedder(ctx, "vit-test", 512)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO screend.projects (root, name) VALUES ('/inbox', 'p');
		INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage)
		SELECT project_id, '/inbox/p/a.png', 'a.png', 'a.png', 1, now(), 1 FROM screend.projects`); err != nil {
		t.Fatal(err)
	}
	v := make([]float32, 512)
	for i := range v {
		v[i] = float32(i) / 512
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO screend.embeddings (image_id, embedder_id, embedding)
		SELECT image_id, $1, $2 FROM screend.images`, embedder, pgvector.NewVector(v)); err != nil {
		t.Fatal(err)
	}
	var toasted int64
	err = pool.QueryRow(ctx, `
		SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE oid = 'screend.embeddings'::regclass`).Scan(&toasted)
	if err != nil {
		t.Fatal(err)
	}
	if toasted != 0 {
		t.Errorf("the embeddings' TOAST table holds %d bytes, want none: the vector left its row", toasted)
	}
}

// migrationSQL returns the SQL of the migration of this version, for a
// test that runs it again.
func migrationSQL(t *testing.T, version int) string {
	t.Helper()
	ms, err := sql.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m sql.Migration) bool { return m.Version == version })
	if i < 0 {
		t.Fatalf("no migration %03d", version)
	}
	return ms[i].SQL
}
