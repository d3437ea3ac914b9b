package daemon_test

// Hostile input at intake (issue 10): each test names the item it covers.

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"screend/scoring/imagefile/imagefiletest"
	"screend/sql/sqltest"

	"screend/daemon"
	"screend/sql"
)

// Item 1: a file or folder name that is not UTF-8 is recorded (readable
// text beside its exact bytes) and processed like any other, and does not
// hold back other projects; a file the database refuses holds back only
// itself.
func TestNonUTF8NamesAreProcessed(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	bad := filepath.Join(inbox, "p", "\xff\xfe.png")
	writePNG(t, bad, photo(40, 40, 11))
	writePNG(t, filepath.Join(inbox, "p", "old\xe9", "20250101_000000_stage1_generated.png"), photo(40, 40, 12))
	writePNG(t, filepath.Join(inbox, "q", "20250101_000000_stage1_generated.png"), photo(40, 40, 13))
	writePNG(t, filepath.Join(inbox, "\xe9t\xe9", "20250101_000000_stage1_generated.png"), photo(40, 40, 15))
	// Its readable form is the bad name's: both are kept.
	writePNG(t, filepath.Join(inbox, "p", `\xFF\xFE.png`), photo(40, 40, 14))
	// A row the database refuses (a trigger stands for any such fault).
	writePNG(t, filepath.Join(inbox, "q", "refused.png"), photo(40, 40, 16))
	ctx := context.Background()
	db, err := sql.Open(ctx, dbURL)
	must(t, err)
	_, err = db.Migrate(ctx)
	must(t, err)
	_, err = sqltest.Pool(db).Exec(ctx, `
		CREATE FUNCTION screend.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.file_name = 'refused.png' THEN RAISE EXCEPTION 'refused'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON screend.images FOR EACH ROW EXECUTE FUNCTION screend.refuse();`)
	must(t, err)
	db.Close()

	d := startDaemon(t, testConfig(t, dbURL, inbox))
	eventually(t, func() bool {
		st, err := d.db.ReadStatus(ctx)
		return err == nil && st.Images["embedded"] == 5 && st.Pending == 1
	}, "5 images embedded and the refused one waiting")

	var path string
	var raw []byte
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT path, path_raw FROM screend.images WHERE path_raw IS NOT NULL AND path LIKE '%FE.png'`).Scan(&path, &raw))
	if want := filepath.Join(inbox, "p", `\xFF\xFE.png`); path != want || string(raw) != bad {
		t.Errorf("recorded %q with bytes %q, want %q with bytes %q", path, raw, want, bad)
	}
}

// Item 4: memory bombs within the pixel limit are refused from their
// header, before the file is read whole; a file that was being decoded
// every time an instance died is quarantined as crashed_decoder.
func TestMemoryBombsAreRefused(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "p")
	must(t, os.MkdirAll(proj, 0o755))
	must(t, os.WriteFile(filepath.Join(proj, "jpeg_bomb.jpg"), imagefiletest.ProgressiveJPEGBomb(9999, 9999), 0o644))
	must(t, os.WriteFile(filepath.Join(proj, "png16_bomb.png"), imagefiletest.FlatPNG16(9000, 9000), 0o644))
	sparse := filepath.Join(proj, "sparse.png")
	must(t, os.WriteFile(sparse, imagefiletest.FlatPNG16(100, 100), 0o644))
	must(t, os.Truncate(sparse, 1500<<20))
	writePNG(t, filepath.Join(proj, "20250101_000000_stage1_generated.png"), photo(40, 40, 1))

	d := startDaemon(t, testConfig(t, dbURL, inbox))
	waitIdle(t, d.db, 60*time.Second)
	want := map[string]string{
		"jpeg_bomb.jpg":                        "implausible header",
		"png16_bomb.png":                       "implausible header",
		"sparse.png":                           "implausible header",
		"20250101_000000_stage1_generated.png": "",
	}
	checkStates(t, d.db, want)
}

// Item 4: a file that was being decoded every time an instance died (three
// decodes begun, none finished) is quarantined as crashed_decoder.
func TestCrashedDecoderIsQuarantined(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "p")
	ctx := context.Background()
	crash := filepath.Join(proj, "20250101_000100_stage1_generated.png")
	writePNG(t, crash, photo(40, 40, 2))
	db, err := sql.Open(ctx, dbURL)
	must(t, err)
	_, err = db.Migrate(ctx)
	must(t, err)
	pid, err := db.EnsureProject(ctx, inbox, "p")
	must(t, err)
	st, err := os.Stat(crash)
	must(t, err)
	_, err = db.RecordFiles(ctx, []sql.NewFile{{ProjectID: pid, Path: crash, RelPath: filepath.Base(crash),
		FileName: filepath.Base(crash), Size: st.Size(), MTime: st.ModTime().Truncate(time.Microsecond), Stage: 1}}, nil)
	must(t, err)
	_, err = sqltest.Pool(db).Exec(ctx, `UPDATE screend.images SET decodes = 3, attempts = 3`)
	must(t, err)
	db.Close()

	d := startDaemon(t, testConfig(t, dbURL, inbox))
	waitIdle(t, d.db, 60*time.Second)
	checkStates(t, d.db, map[string]string{filepath.Base(crash): "crashed_decoder"})
}

// checkStates checks that each file (by name) was quarantined with a
// reason starting as given, or embedded where the reason given is "".
func checkStates(t *testing.T, db *sql.DB, want map[string]string) {
	t.Helper()
	for name, reason := range want {
		var state, got string
		must(t, sqltest.Pool(db).QueryRow(context.Background(), `SELECT state, coalesce(reason, '') FROM screend.images WHERE file_name = $1`, name).Scan(&state, &got))
		if reason == "" && state != "embedded" || reason != "" && (state != "quarantined" || !strings.HasPrefix(got, reason)) {
			t.Errorf("%s: %s (%q), want %q", name, state, got, reason)
		}
	}
}

// Items 6 and 7: a file whose project folder is not there (an unmounted
// share) is not marked gone but tried again, and processed once it can be
// seen; a path once gone is processed again when a file comes back to it.
func TestUnseenIsNotGoneAndGoneComesBack(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	ctx := context.Background()
	elsewhere := t.TempDir()
	unseen := filepath.Join(elsewhere, "20250101_000000_stage1_generated.png")
	writePNG(t, unseen, photo(40, 40, 21))
	back := filepath.Join(elsewhere, "back.png")
	writePNG(t, back, photo(40, 40, 22))

	db, err := sql.Open(ctx, dbURL)
	must(t, err)
	_, err = db.Migrate(ctx)
	must(t, err)
	record := func(project, src, dst string) {
		pid, err := db.EnsureProject(ctx, inbox, project)
		must(t, err)
		st, err := os.Stat(src)
		must(t, err)
		_, err = db.RecordFiles(ctx, []sql.NewFile{{ProjectID: pid, Path: dst, RelPath: filepath.Base(dst),
			FileName: filepath.Base(dst), Size: st.Size(), MTime: st.ModTime().Truncate(time.Microsecond), Stage: 1}}, nil)
		must(t, err)
	}
	mounted := filepath.Join(inbox, "share", filepath.Base(unseen))
	record("share", unseen, mounted)
	defer db.Close()

	d := startDaemon(t, testConfig(t, dbURL, inbox))
	var state, reason string
	eventually(t, func() bool {
		err := sqltest.Pool(d.db).QueryRow(ctx, `SELECT state, coalesce(reason, '') FROM screend.images`).Scan(&state, &reason)
		return err == nil && reason != ""
	}, "the unseen file to be looked at")
	if state != "discovered" || !strings.Contains(reason, "project folder") {
		t.Fatalf("file under a missing project folder: %s (%q), want discovered, tried again later", state, reason)
	}
	// The share is mounted: the file is processed.
	must(t, os.MkdirAll(filepath.Dir(mounted), 0o755))
	must(t, os.Rename(unseen, mounted))
	eventually(t, func() bool {
		err := sqltest.Pool(d.db).QueryRow(ctx, `SELECT state FROM screend.images`).Scan(&state)
		return err == nil && state == "embedded"
	}, "the file of the mounted share to be embedded")

	// A file removed before it was processed is gone; copied back, it is
	// processed.
	gone := filepath.Join(inbox, "share", "back.png")
	record("share", back, gone)
	must(t, d.stop())
	d = startDaemon(t, testConfig(t, dbURL, inbox))
	eventually(t, func() bool {
		err := sqltest.Pool(d.db).QueryRow(ctx, `SELECT state FROM screend.images WHERE file_name = 'back.png'`).Scan(&state)
		return err == nil && state == "gone"
	}, "back.png to be gone")
	must(t, os.Rename(back, gone))
	eventually(t, func() bool {
		err := sqltest.Pool(d.db).QueryRow(ctx, `SELECT state FROM screend.images WHERE file_name = 'back.png'`).Scan(&state)
		return err == nil && state == "embedded"
	}, "back.png, back again, to be embedded")
}

// Item 6 (the rule): only the file system saying "no such file" with the
// project folder there (or removed from a root in use) makes a file gone.
func TestLookAtRecordedFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "f.png")
	must(t, os.WriteFile(file, []byte("x"), 0o644))
	link := filepath.Join(dir, "l.png")
	must(t, os.Symlink(file, link))
	fileInfo, _ := os.Lstat(file)
	linkInfo, _ := os.Lstat(link)
	dirInfo, _ := os.Lstat(dir)
	enoent := &os.PathError{Op: "lstat", Path: file, Err: syscall.ENOENT}
	tests := []struct {
		name       string
		info       os.FileInfo
		fileErr    error
		projectErr error
		rootUsed   bool
		want       daemon.FileVerdict
		reason     string
	}{
		{"regular file", fileInfo, nil, nil, true, daemon.FileThere, ""},
		{"symlink", linkInfo, nil, nil, true, daemon.FileGone, "replaced by a symlink"},
		{"folder", dirInfo, nil, nil, true, daemon.FileGone, "replaced by a folder"},
		{"absent, project there", nil, enoent, nil, true, daemon.FileGone, "file vanished"},
		{"absent, project removed from a root in use", nil, enoent, enoent, true, daemon.FileGone, "project folder removed"},
		{"absent, root empty (unmounted)", nil, enoent, enoent, false, daemon.FileUnseen, "project folder not there"},
		{"permission denied", nil, &os.PathError{Op: "lstat", Path: file, Err: syscall.EACCES}, nil, true, daemon.FileUnseen, "cannot see the file"},
		{"I/O error", nil, &os.PathError{Op: "lstat", Path: file, Err: syscall.EIO}, nil, true, daemon.FileUnseen, "cannot see the file"},
		{"project unreadable", nil, enoent, &os.PathError{Op: "stat", Err: syscall.EACCES}, true, daemon.FileUnseen, "project folder not there"},
	}
	for _, tt := range tests {
		got, reason := daemon.LookAt(tt.info, tt.fileErr, tt.projectErr, tt.rootUsed)
		if got != tt.want || !strings.HasPrefix(reason, tt.reason) {
			t.Errorf("%s: %v %q, want %v %q", tt.name, got, reason, tt.want, tt.reason)
		}
	}
}

// Item 8: an open group whose files all went gone is dropped, and pending
// reaches 0.
func TestGroupOfGoneImagesIsDropped(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	ctx := context.Background()
	proj := filepath.Join(inbox, "p")
	writePNG(t, filepath.Join(proj, "20250101_000000_stage1_generated.png"), photo(40, 40, 31))
	db, err := sql.Open(ctx, dbURL)
	must(t, err)
	_, err = db.Migrate(ctx)
	must(t, err)
	pid, err := db.EnsureProject(ctx, inbox, "p")
	must(t, err)
	var files []sql.NewFile
	for _, name := range []string{"20250102_000000_stage1_generated.png", "20250102_000000_stage2_upscaled.png"} {
		files = append(files, sql.NewFile{ProjectID: pid, Path: filepath.Join(proj, "sub", name), RelPath: "sub/" + name,
			FileName: name, Size: 100, MTime: time.Now().Truncate(time.Microsecond), Stage: 1})
	}
	_, err = db.RecordFiles(ctx, files, nil)
	must(t, err)
	_, err = db.Regroup(ctx, pid, time.Hour) // one open group: its images wait to be processed
	must(t, err)
	db.Close()

	d := startDaemon(t, testConfig(t, dbURL, inbox))
	st := waitIdle(t, d.db, 30*time.Second)
	if st.Images["gone"] != 2 || st.Groups["open"] != 0 {
		t.Errorf("status %+v, want 2 images gone and no open group", st)
	}
}

// Item 9: an image replaced by a symlink, a FIFO or a folder after it was
// recorded gets a recorded reason, not endless retries.
func TestReplacedFilesGetAReason(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	ctx := context.Background()
	proj := filepath.Join(inbox, "p")
	target := filepath.Join(t.TempDir(), "real.png")
	writePNG(t, target, photo(40, 40, 41))
	db, err := sql.Open(ctx, dbURL)
	must(t, err)
	_, err = db.Migrate(ctx)
	must(t, err)
	pid, err := db.EnsureProject(ctx, inbox, "p")
	must(t, err)
	var files []sql.NewFile
	for _, name := range []string{"link.png", "fifo.png", "dir.png"} {
		files = append(files, sql.NewFile{ProjectID: pid, Path: filepath.Join(proj, name), RelPath: name,
			FileName: name, Size: 100, MTime: time.Now().Truncate(time.Microsecond), Stage: 1})
	}
	_, err = db.RecordFiles(ctx, files, nil)
	must(t, err)
	db.Close()
	must(t, os.MkdirAll(filepath.Join(proj, "dir.png"), 0o755))
	must(t, os.Symlink(target, filepath.Join(proj, "link.png")))
	must(t, syscall.Mkfifo(filepath.Join(proj, "fifo.png"), 0o644))

	d := startDaemon(t, testConfig(t, dbURL, inbox))
	waitIdle(t, d.db, 30*time.Second)
	for name, want := range map[string]string{"link.png": "replaced by a symlink", "fifo.png": "replaced by a named pipe", "dir.png": "replaced by a folder"} {
		var state, reason string
		must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT state, coalesce(reason, '') FROM screend.images WHERE file_name = $1`, name).Scan(&state, &reason))
		if state != "gone" || reason != want {
			t.Errorf("%s: %s (%q), want gone (%q)", name, state, reason, want)
		}
	}
}

// Items 11 and 15a: content overwritten after embedding is read again (new
// hash, size and vector); a file the daemon moved away that is copied back
// with the same size and mtime is noticed without a restart.
func TestRewrittenAndCopiedBackFilesAreReadAgain(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	ctx := context.Background()
	proj := filepath.Join(inbox, "p")
	img := filepath.Join(proj, "20250101_000000_stage1_generated.png")
	writePNG(t, img, photo(40, 40, 51))
	broken := filepath.Join(proj, "broken.png")
	must(t, os.WriteFile(broken, []byte("not a picture"), 0o644))
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	must(t, os.Chtimes(broken, old, old))

	d := startDaemon(t, testConfig(t, dbURL, inbox))
	waitIdle(t, d.db, 30*time.Second)
	read := func() (sha []byte, size int64, width int, vec string) {
		must(t, sqltest.Pool(d.db).QueryRow(ctx, `
			SELECT i.sha256, i.size, i.width, e.embedding::text FROM screend.images i JOIN screend.embeddings e USING (image_id)
			WHERE i.file_name = $1 AND i.state = 'embedded'`, filepath.Base(img)).Scan(&sha, &size, &width, &vec))
		return
	}
	sha1, size1, width1, vec1 := read()

	writePNG(t, img, photo(60, 60, 52))
	// The quarantined file, copied back as it was.
	data, err := os.ReadFile(filepath.Join(proj, "__quarantine", "broken.png"))
	must(t, err)
	must(t, os.WriteFile(broken, data, 0o644))
	must(t, os.Chtimes(broken, old, old))

	eventually(t, func() bool {
		var n int
		err := sqltest.Pool(d.db).QueryRow(ctx, `SELECT count(*) FROM screend.images WHERE file_name = 'broken.png' AND state = 'quarantined'`).Scan(&n)
		return err == nil && n == 2
	}, "the copied-back file to be quarantined again")
	eventually(t, func() bool {
		var w int
		err := sqltest.Pool(d.db).QueryRow(ctx, `SELECT coalesce(width, 0) FROM screend.images WHERE file_name = $1`, filepath.Base(img)).Scan(&w)
		return err == nil && w == 60
	}, "the rewritten file to be read again")
	waitIdle(t, d.db, 30*time.Second)
	sha2, size2, width2, vec2 := read()
	if bytes.Equal(sha1, sha2) || size1 == size2 || width1 == width2 || vec1 == vec2 {
		t.Errorf("after the rewrite: same hash %v, size %v, width %v or vector %v", bytes.Equal(sha1, sha2), size1 == size2, width1 == width2, vec1 == vec2)
	}
	var vectors int
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT count(*) FROM screend.embeddings`).Scan(&vectors))
	if vectors != 1 {
		t.Errorf("%d vectors stored, want the new one only", vectors)
	}
}

// Item 12: an inbox root that is a symlink is resolved and watched (doctor
// saying what it watches is tested in cmd/screend).
func TestSymlinkedInboxIsWatched(t *testing.T) {
	t.Parallel()
	dbURL, real := newInbox(t)
	inbox := filepath.Join(t.TempDir(), "inbox")
	must(t, os.Symlink(real, inbox))
	writePNG(t, filepath.Join(real, "p", "20250101_000000_stage1_generated.png"), photo(40, 40, 61))
	cfg := testConfig(t, dbURL, inbox)
	d := startDaemon(t, cfg)
	st := waitIdle(t, d.db, 30*time.Second)
	if st.Images["embedded"] != 1 {
		t.Errorf("images %v, want the file under the symlinked root embedded", st.Images)
	}
}

// Item 16: status counts files seen but not yet stable (a writer still
// has them open) as pending.
func TestPendingCountsFilesNotYetStable(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	cfg := testConfig(t, dbURL, inbox)
	cfg.StableFor = 20 * time.Second
	d := startDaemon(t, cfg)
	src := filepath.Join(t.TempDir(), "src.png")
	writePNG(t, src, photo(40, 40, 71))
	data, err := os.ReadFile(src)
	must(t, err)
	must(t, os.MkdirAll(filepath.Join(inbox, "p"), 0o755))
	f, err := os.Create(filepath.Join(inbox, "p", "20250101_000000_stage1_generated.png"))
	must(t, err)
	defer f.Close()
	_, err = f.Write(data[:len(data)/2])
	must(t, err)
	eventually(t, func() bool {
		st, err := d.db.ReadStatus(context.Background())
		return err == nil && st.Pending == 1 && len(st.Images) == 0
	}, "status to count the file still being written as pending")
}

// eventually waits up to 60 s for cond, polling.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
