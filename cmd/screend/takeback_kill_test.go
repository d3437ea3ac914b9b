package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"screend/sql"
	"screend/sql/sqltest"
)

// TestKillNineDuringTakeBack takes back twelve applied groups (six
// cropped, six selected) and kills the daemon with SIGKILL at random
// moments while it moves their files back. After a last run every file is
// where the journal says: each original at the path it was found at, each
// crop output and sidecar in __delete_staging, nothing lost, nothing left
// planned.
func TestKillNineDuringTakeBack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "screend")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dbURL := sqltest.URL(t)
	inbox := t.TempDir()
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 12 {
		stamp := "20250701_10" + string(rune('0'+i/10)) + string(rune('0'+i%10)) + "00"
		for _, st := range []string{"stage1_generated", "stage1.5_face_swapped", "stage2_upscaled"} {
			writeNoisyPNG(t, filepath.Join(inbox, "proj", stamp+"_"+st+".png"), 256, r)
			if err := os.WriteFile(filepath.Join(inbox, "proj", stamp+"_"+st+".yaml"), []byte(stamp+st), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	initial := filesByPath(t, inbox)

	env := append(os.Environ(), "SCREEND_DATABASE_URL="+dbURL, "SCREEND_INBOX="+inbox, "SCREEND_LISTEN=", "SCREEND_REVIEW_LISTEN=",
		"SCREEND_STABLE_FOR=100ms", "SCREEND_SETTLE=2s", "SCREEND_SCAN_INTERVAL=1s", "SCREEND_RETRAIN_SCHEDULE=",
		"SCREEND_LOG_FORMAT=plain")
	var logs bytes.Buffer
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run")
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	ctx := context.Background()
	db, err := sql.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int {
		var n int
		if err := sqltest.Pool(db).QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	runUntil := func(what, q string, want int) {
		cmd := start()
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Errorf("screend run after SIGTERM: %v", err)
			}
		}()
		deadline := time.Now().Add(90 * time.Second)
		for count(q) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d, want %d\n%s", what, count(q), want, logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	runUntil("flagged groups", `SELECT count(*) FROM screend.groups WHERE state = 'flagged'`, 12)
	if _, err := sqltest.Pool(db).Exec(ctx, `
		SELECT screend.resolve_group(q.group_id, (q.images -> -1 ->> 'image_id')::bigint,
			CASE WHEN q.group_id % 2 = 0 THEN '{0.1,0.1,0.6,0.6}'::real[] END, 'tester')
		FROM screend.review_queue q`); err != nil {
		t.Fatal(err)
	}
	runUntil("applied groups", `SELECT count(*) FROM screend.groups WHERE state = 'applied'`, 12)
	if _, err := sqltest.Pool(db).Exec(ctx, `SELECT screend.undo_group(group_id, 'tester') FROM screend.groups WHERE state = 'applied'`); err != nil {
		t.Fatal(err)
	}
	// Each round starts the daemon, waits until it has journaled more
	// reverse moves than before, and kills it a random moment later: in
	// the middle of moving files back, or of recording them.
	journaled := `SELECT count(*) FROM screend.file_moves WHERE take_back_id IS NOT NULL`
	kills := 0
	for range 6 {
		seen := count(journaled)
		if count(`SELECT count(*) FROM screend.take_backs WHERE state = 'done'`) == 12 {
			break
		}
		cmd := start()
		deadline := time.Now().Add(60 * time.Second)
		for count(journaled) == seen && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(r.IntN(60)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		kills++
		t.Logf("kill %d: %d of 12 take-backs done, %d reverse moves journaled, %d of them not recorded as done", kills,
			count(`SELECT count(*) FROM screend.take_backs WHERE state = 'done'`), count(journaled),
			count(`SELECT count(*) FROM screend.file_moves WHERE take_back_id IS NOT NULL AND state = 'planned'`))
	}
	runUntil("take-backs done", `SELECT count(*) FROM screend.take_backs WHERE state = 'done'`, 12)

	if n := count(`SELECT count(*) FROM screend.file_moves WHERE state <> 'done'`); n != 0 {
		t.Errorf("%d journaled moves not done\n%s", n, logs.String())
	}
	if n := count(`SELECT count(*) FROM screend.take_backs WHERE report <> '[]'`); n != 0 {
		t.Errorf("%d take-backs left files behind", n)
	}
	if n := count(`SELECT count(*) FROM screend.groups WHERE state = 'flagged' AND 'taken_back' = ANY(reasons)`); n != 12 {
		t.Errorf("%d groups back in the queue, want 12", n)
	}
	after := filesByPath(t, inbox)
	for rel, sum := range initial {
		if after[rel] != sum {
			t.Errorf("%s is not back where it was", rel)
		}
	}
	var staged, elsewhere []string
	for rel := range after {
		if _, ok := initial[rel]; ok {
			continue
		}
		if strings.HasPrefix(rel, "proj/__delete_staging/") {
			staged = append(staged, rel)
		} else {
			elsewhere = append(elsewhere, rel)
		}
	}
	if len(staged) != 12 || len(elsewhere) != 0 {
		t.Errorf("new files: %v in __delete_staging (want 6 crops and 6 sidecars), %v elsewhere", staged, elsewhere)
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
