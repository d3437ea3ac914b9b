//go:build linux

package daemon_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"screend/sql/sqltest"
)

// TestClosedFilesAreTakenAtOnce sets the stable window to an hour, so that
// only close-write and rename events can get a file taken in time: a file
// held open is left alone however long it rests, and is taken when its
// writer closes it; a file renamed into place is taken at once.
func TestClosedFilesAreTakenAtOnce(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	cfg := testConfig(t, dbURL, inbox)
	cfg.StableFor = time.Hour
	cfg.ScanInterval = time.Hour
	d := startDaemon(t, cfg)
	proj := filepath.Join(inbox, "p")
	must(t, os.MkdirAll(proj, 0o755))
	time.Sleep(500 * time.Millisecond) // the new folder is watched

	var data bytes.Buffer
	must(t, png.Encode(&data, photo(96, 64, 1)))
	f, err := os.Create(filepath.Join(proj, "20250101_000000_stage1_generated.png"))
	must(t, err)
	_, err = f.Write(data.Bytes())
	must(t, err)
	time.Sleep(1500 * time.Millisecond)
	if n := recorded(t, d); n != 0 {
		t.Fatalf("%d files recorded while the only one is still open", n)
	}
	closed := time.Now()
	must(t, f.Close())
	waitRecorded(t, d, 1, 5*time.Second)
	t.Logf("recorded %s after close", time.Since(closed).Round(time.Millisecond))

	data.Reset()
	must(t, png.Encode(&data, photo(96, 64, 2)))
	tmp := filepath.Join(proj, "20250101_000100_stage1_generated.png.part")
	must(t, os.WriteFile(tmp, data.Bytes(), 0o644))
	must(t, os.Rename(tmp, filepath.Join(proj, "20250101_000100_stage1_generated.png")))
	waitRecorded(t, d, 2, 5*time.Second)
	if st := waitIdle(t, d.db, 30*time.Second); st.Images["embedded"] != 2 {
		t.Errorf("images = %v, want both embedded", st.Images)
	}
}

func recorded(t *testing.T, d *running) int {
	t.Helper()
	var n int
	must(t, sqltest.Pool(d.db).QueryRow(context.Background(), `SELECT count(*) FROM screend.images`).Scan(&n))
	return n
}

func waitRecorded(t *testing.T, d *running, want int, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); recorded(t, d) < want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d files recorded after %s, want %d (stable window is an hour: only close-write takes them)", recorded(t, d), timeout, want)
		}
	}
}
