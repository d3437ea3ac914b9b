package sql_test

import (
	"context"
	"testing"
	"time"

	"github.com/pgvector/pgvector-go"

	"screend"
	"screend/sql"
	"screend/sql/sqltest"
)

// fixture arranges rows in a fresh database for the tests of single
// queries, with SQL of its own: the queries under test are not used to set
// up their own test.
type fixture struct {
	t   *testing.T
	ctx context.Context
	url string
	db  *sql.DB
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	url := sqltest.URL(t)
	db, err := sql.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return &fixture{t: t, ctx: context.Background(), url: url, db: db}
}

// exec runs one statement of the fixture.
func (f *fixture) exec(query string, args ...any) {
	f.t.Helper()
	if _, err := sqltest.Pool(f.db).Exec(f.ctx, query, args...); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
}

// scan runs one query of the fixture that returns one row.
func (f *fixture) scan(query string, args []any, dst ...any) {
	f.t.Helper()
	if err := sqltest.Pool(f.db).QueryRow(f.ctx, query, args...).Scan(dst...); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
}

// project returns the id of project name under /inbox.
func (f *fixture) project(name string) int64 {
	f.t.Helper()
	id, err := f.db.EnsureProject(f.ctx, "/inbox", name)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// embedder returns the id of a two-dimensional embedder called name.
func (f *fixture) embedder(name string) int32 {
	f.t.Helper()
	id, err := f.db.EnsureEmbedder(f.ctx, name, 2)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// instance registers a running instance, closed when the test ends.
func (f *fixture) instance() *sql.Instance {
	f.t.Helper()
	in, err := sql.RegisterInstance(f.ctx, f.url)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { in.Close(context.Background()) })
	return in
}

// closeInstance closes in and waits until the server has let go of its
// lock (the backend ends a moment after the connection closes).
func (f *fixture) closeInstance(in *sql.Instance) {
	f.t.Helper()
	if err := in.Close(f.ctx); err != nil {
		f.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var alive bool
		f.scan(`SELECT screend.instance_alive($1)`, []any{in.ID}, &alive)
		if !alive {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("instance %d still holds its lock 10s after closing", in.ID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// image inserts an image of project called name in state, with content
// sha (none when empty) and a width and height of 100.
func (f *fixture) image(project int64, name string, state screend.ImageState, sha string) int64 {
	f.t.Helper()
	var content []byte
	if sha != "" {
		content = []byte(sha)
	}
	var id int64
	f.scan(`
		INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage, state, sha256, width, height)
		SELECT $1, '/inbox/' || p.name || '/' || $2, $2, $2, 1, now(), 1, $3, $4, 100, 100
		FROM screend.projects p WHERE p.project_id = $1
		RETURNING image_id`, []any{project, name, state, content}, &id)
	return id
}

// duplicate inserts an image of project called name that duplicates
// original: the same content, no size of its own.
func (f *fixture) duplicate(project int64, name string, original int64) int64 {
	f.t.Helper()
	var id int64
	f.scan(`
		INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage, state, sha256, duplicate_of)
		SELECT $1, '/inbox/' || p.name || '/' || $2, $2, $2, 1, now(), 1, 'duplicate', o.sha256, o.image_id
		FROM screend.projects p, screend.images o WHERE p.project_id = $1 AND o.image_id = $3
		RETURNING image_id`, []any{project, name, original}, &id)
	return id
}

// embed stores v as the embedding of image by embedder.
func (f *fixture) embed(embedder int32, image int64, v ...float32) {
	f.t.Helper()
	f.exec(`INSERT INTO screend.embeddings (image_id, embedder_id, embedding) VALUES ($1, $2, $3)`,
		image, embedder, pgvector.NewVector(v))
}

// group inserts a group of project in state holding images, in order.
func (f *fixture) group(project int64, state screend.GroupState, images ...int64) int64 {
	f.t.Helper()
	var id int64
	f.scan(`
		WITH g AS (INSERT INTO screend.groups (project_id, state, closed_at)
			VALUES ($1, $2, CASE WHEN $2 <> 'open' THEN now() END) RETURNING group_id)
		INSERT INTO screend.group_images (group_id, image_id, position)
		SELECT g.group_id, u.id, u.n - 1 FROM g, unnest($3::bigint[]) WITH ORDINALITY AS u(id, n)
		RETURNING group_id`, []any{project, state, images}, &id)
	return id
}

// decide records a decision selecting chosen for group, by a human unless
// automatic, and sets the group's state to decided.
func (f *fixture) decide(group, chosen int64, automatic bool) {
	f.t.Helper()
	f.exec(`UPDATE screend.groups SET state = 'decided' WHERE group_id = $1`, group)
	f.exec(`
		INSERT INTO screend.decisions (group_id, outcome, chosen_image_id, automatic, decided_by)
		VALUES ($1, 'select', $2, $3, CASE WHEN $3 THEN 'screend' ELSE 'ann' END)`, group, chosen, automatic)
}
