package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/png"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"screend/sql"
	"screend/sql/sqltest"
)

// binaryDaemon runs the built screend binary on a database of its own and
// a test inbox, for the tests that kill it at any moment.
type binaryDaemon struct {
	t   *testing.T
	bin string
	env []string
	db  *sql.DB
	// logs collects the output of every run.
	logs bytes.Buffer
}

// newBinaryDaemon builds the binary and prepares its database; env adds
// settings to the test defaults (quick timings, no HTTP listeners, no
// retraining).
func newBinaryDaemon(t *testing.T, inbox string, env ...string) *binaryDaemon {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	b := &binaryDaemon{t: t, bin: filepath.Join(t.TempDir(), "screend")}
	if out, err := exec.Command("go", "build", "-o", b.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dbURL := sqltest.URL(t)
	b.env = append(os.Environ(), "SCREEND_DATABASE_URL="+dbURL, "SCREEND_INBOX="+inbox, "SCREEND_LISTEN=", "SCREEND_REVIEW_LISTEN=",
		"SCREEND_STABLE_FOR=100ms", "SCREEND_SETTLE=2s", "SCREEND_SCAN_INTERVAL=1s", "SCREEND_RETRAIN_SCHEDULE=",
		"SCREEND_LOG_FORMAT=plain")
	b.env = append(b.env, env...)
	db, err := sql.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	b.db = db
	return b
}

// start starts `screend run`.
func (b *binaryDaemon) start() *exec.Cmd {
	b.t.Helper()
	cmd := exec.Command(b.bin, "run")
	cmd.Env, cmd.Stdout, cmd.Stderr = b.env, &b.logs, &b.logs
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	return cmd
}

// kill kills a run with SIGKILL.
func (b *binaryDaemon) kill(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
}

// stop stops a run with SIGTERM, which must end it cleanly.
func (b *binaryDaemon) stop(cmd *exec.Cmd) {
	b.t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		b.t.Errorf("screend run after SIGTERM: %v", err)
	}
}

// count runs a query that counts something.
func (b *binaryDaemon) count(q string) int {
	b.t.Helper()
	var n int
	if err := sqltest.Pool(b.db).QueryRow(context.Background(), q).Scan(&n); err != nil {
		b.t.Fatal(err)
	}
	return n
}

// checkPaths checks that every recorded image is where the database says.
func (b *binaryDaemon) checkPaths() {
	b.t.Helper()
	rows, err := sqltest.Pool(b.db).Query(context.Background(), `SELECT path FROM screend.images`)
	if err != nil {
		b.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			b.t.Fatal(err)
		}
		if _, err := os.Stat(p); err != nil {
			b.t.Errorf("database and files disagree: %v", err)
		}
	}
}

// writeBursts writes n bursts into inbox/proj, one a minute from
// day_10:00 (day is YYYYMMDD): a noisy PNG of side pixels per stage of the
// pipeline, each with a .yaml sidecar holding sidecar(stamp, stage).
func writeBursts(t *testing.T, inbox, day string, n, side int, r *rand.Rand, sidecar func(stamp, stage string) string) {
	t.Helper()
	for i := range n {
		stamp := day + "_10" + string(rune('0'+i/10)) + string(rune('0'+i%10)) + "00"
		for _, st := range []string{"stage1_generated", "stage1.5_face_swapped", "stage2_upscaled"} {
			writeNoisyPNG(t, filepath.Join(inbox, "proj", stamp+"_"+st+".png"), side, r)
			if err := os.WriteFile(filepath.Join(inbox, "proj", stamp+"_"+st+".yaml"), []byte(sidecar(stamp, st)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func writeNoisyPNG(t *testing.T, path string, side int, r *rand.Rand) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// filesByPath maps every file under root (relative path) to its sha256.
func filesByPath(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		rel, _ := filepath.Rel(root, path)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hashes returns the sorted content hashes of every file under root.
func hashes(t *testing.T, root string) []string {
	t.Helper()
	return slices.Sorted(maps.Values(filesByPath(t, root)))
}
