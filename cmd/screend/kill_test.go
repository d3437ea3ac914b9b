package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/png"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"screend/sql"
	"screend/sql/sqltest"
)

// TestKillNineAtAnyMoment runs the real binary and kills it with SIGKILL
// at random moments, first while it embeds a burst of files, then while it
// moves the files of resolved groups. After a last clean run every file is
// processed once, every move is finished, and the inbox holds exactly the
// files it held, moved.
func TestKillNineAtAnyMoment(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "screend")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dbURL := sqltest.URL(t)
	inbox := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		stamp := "20250601_10" + string(rune('0'+i/10)) + string(rune('0'+i%10)) + "00"
		for _, st := range []string{"stage1_generated", "stage1.5_face_swapped", "stage2_upscaled"} {
			writeNoisyPNG(t, filepath.Join(inbox, "proj", stamp+"_"+st+".png"), 384, r)
			if err := os.WriteFile(filepath.Join(inbox, "proj", stamp+"_"+st+".yaml"), []byte(st), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(inbox, "proj", "broken.png"), []byte("\x89PNG\r\n\x1a\nnot really"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := hashes(t, inbox)

	env := append(os.Environ(), "SCREEND_DATABASE_URL="+dbURL, "SCREEND_INBOX="+inbox, "SCREEND_LISTEN=", "SCREEND_REVIEW_LISTEN=",
		"SCREEND_STABLE_FOR=100ms", "SCREEND_SETTLE=2s", "SCREEND_SCAN_INTERVAL=1s", "SCREEND_RETRAIN_SCHEDULE=",
		"SCREEND_LOG_FORMAT=plain", "SCREEND_BATCH_SIZE=4")
	var logs bytes.Buffer
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run")
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	killAfter := func(d time.Duration) {
		cmd := start()
		time.Sleep(d)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	ctx := context.Background()
	db, err := sql.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runToIdle := func() {
		cmd := start()
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Errorf("screend run after SIGTERM: %v", err)
			}
		}()
		started := time.Now()
		deadline := started.Add(90 * time.Second)
		defer func() { t.Logf("idle after %s", time.Since(started).Round(100*time.Millisecond)) }()
		idle := 0
		for idle < 5 {
			st, err := db.ReadStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Pending == 0 && len(st.Images) > 0 {
				idle++
			} else {
				idle = 0
			}
			if time.Now().After(deadline) {
				t.Fatalf("not idle: %+v\n%s", st, logs.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	for range 6 {
		killAfter(time.Duration(300+r.IntN(900)) * time.Millisecond)
	}
	runToIdle()
	var embedded, vectors, flagged int
	if err := sqltest.Pool(db).QueryRow(ctx, `
		SELECT (SELECT count(*) FROM screend.images WHERE state = 'embedded'),
		       (SELECT count(*) FROM screend.embeddings),
		       (SELECT count(*) FROM screend.groups WHERE state = 'flagged')`).Scan(&embedded, &vectors, &flagged); err != nil {
		t.Fatal(err)
	}
	if embedded != 120 || vectors != 120 || flagged != 40 {
		t.Fatalf("after kills: %d embedded, %d vectors, %d flagged groups; want 120, 120, 40\n%s", embedded, vectors, flagged, logs.String())
	}

	// Resolve every group, keeping its last image, and kill the daemon
	// while it moves the files.
	if _, err := sqltest.Pool(db).Exec(ctx, `
		SELECT screend.resolve_group(q.group_id, (q.images -> -1 ->> 'image_id')::bigint, NULL, 'tester')
		FROM screend.review_queue q`); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		killAfter(time.Duration(150+r.IntN(400)) * time.Millisecond)
	}
	runToIdle()

	var planned, failed, applied int
	if err := sqltest.Pool(db).QueryRow(ctx, `
		SELECT (SELECT count(*) FROM screend.file_moves WHERE state = 'planned'),
		       (SELECT count(*) FROM screend.file_moves WHERE state = 'failed'),
		       (SELECT count(*) FROM screend.groups WHERE state = 'applied')`).Scan(&planned, &failed, &applied); err != nil {
		t.Fatal(err)
	}
	if planned != 0 || failed != 0 || applied != 40 {
		t.Errorf("moves planned %d, failed %d; groups applied %d (want 0, 0, 40)\n%s", planned, failed, applied, logs.String())
	}
	after := hashes(t, inbox)
	if !slices.Equal(before, after) {
		t.Errorf("the inbox's contents changed: %d files before, %d after", len(before), len(after))
	}
	rows, err := sqltest.Pool(db).Query(ctx, `SELECT path FROM screend.images`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		rows.Scan(&p)
		if _, err := os.Stat(p); err != nil {
			t.Errorf("database and files disagree: %v", err)
		}
	}
	selected, _ := filepath.Glob(filepath.Join(inbox, "proj", "__selected", "*_stage2_upscaled.png"))
	if len(selected) != 40 {
		t.Errorf("%d images in __selected, want 40", len(selected))
	}
	if !strings.Contains(logs.String(), "quarantined") {
		t.Error("the broken file was not quarantined")
	}
}

// hashes returns the sorted content hashes of every file under root.
func hashes(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		out = append(out, hex.EncodeToString(sum[:]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
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
