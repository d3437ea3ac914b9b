package daemon

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"screend/sql"
	"screend/sql/sqltest"
)

// projectDB opens a fresh database, closed when the test ends, with the
// project "p" of folder /inbox/p; it returns the database, its URL and
// the project's id.
func projectDB(t *testing.T) (*sql.DB, string, int64) {
	t.Helper()
	ctx := context.Background()
	url := sqltest.URL(t)
	db, err := sql.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	pid, err := db.EnsureProject(ctx, "/inbox", "p")
	if err != nil {
		t.Fatal(err)
	}
	return db, url, pid
}

// recordFiles records files of one byte with these names in /inbox/p
// (project pid) and returns their image ids.
func recordFiles(t *testing.T, db *sql.DB, pid int64, names ...string) []int64 {
	t.Helper()
	now := time.Now().Truncate(time.Microsecond)
	var files []sql.NewFile
	for _, name := range names {
		files = append(files, sql.NewFile{ProjectID: pid, Path: filepath.Join("/inbox/p", name), RelPath: name, FileName: name, Size: 1, MTime: now})
	}
	ids, err := db.RecordFiles(context.Background(), files, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
