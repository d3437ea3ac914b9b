package sql_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"screend"
	"screend/sql"
	"screend/sql/sqltest"
)

// TestRecordFilesSkipsFileMovedMeanwhile is the race two instances ran
// into: one instance sees a file, the other records it and moves it away
// (quarantine) before the first records what it saw. The first must not
// record a second image for the file, yet a file put back at that place
// later is recorded anew.
func TestRecordFilesSkipsFileMovedMeanwhile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqltest.New(t)
	inbox := t.TempDir()
	project, err := db.EnsureProject(ctx, inbox, "p")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(inbox, "p", "broken.png")
	dst := filepath.Join(inbox, "p", screend.FolderQuarantine, "broken.png")
	for _, dir := range []string{filepath.Dir(src), filepath.Dir(dst)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(src, []byte("not a picture"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	seen := sql.NewFile{ProjectID: project, Path: src, RelPath: "broken.png", FileName: "broken.png",
		Size: info.Size(), MTime: info.ModTime().Truncate(time.Microsecond), Stage: 1}
	present := func(f sql.NewFile) bool {
		_, err := os.Lstat(f.Path)
		return err == nil
	}
	count := func() int {
		var n int
		if err := sqltest.Pool(db).QueryRow(ctx, `SELECT count(*) FROM screend.images`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	ids, err := db.RecordFiles(ctx, []sql.NewFile{seen}, present)
	if err != nil || len(ids) != 1 {
		t.Fatalf("first recording: ids %v, err %v", ids, err)
	}
	// The other instance moves the file as the mover does: rename first,
	// then the image's path.
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishMove(ctx, sql.Move{ImageID: &ids[0], Kind: screend.MoveFile, Src: src, Dst: dst}); err != nil {
		t.Fatal(err)
	}
	// The slow instance records what it saw before the move.
	again, err := db.RecordFiles(ctx, []sql.NewFile{seen}, present)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 || count() != 1 {
		t.Errorf("a file moved away meanwhile was recorded again: ids %v, %d image rows (want none, 1)", again, count())
	}

	// Put back by a person (same bytes, size and mtime): a new file.
	data, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(src, seen.MTime, seen.MTime); err != nil {
		t.Fatal(err)
	}
	back, err := db.RecordFiles(ctx, []sql.NewFile{seen}, present)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 1 || count() != 2 {
		t.Errorf("a file put back was not recorded: ids %v, %d image rows (want one new, 2)", back, count())
	}
}
