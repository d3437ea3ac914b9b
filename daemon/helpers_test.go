package daemon_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"screend/cmd/screend/config"
	"screend/daemon"
	"screend/scoring/embed"
	"screend/sql"
	"screend/sql/sqltest"
)

// testConfig is a configuration for a daemon on a test inbox, with short
// timings so tests run quickly.
func testConfig(t *testing.T, dbURL string, inbox string) daemon.Options {
	t.Helper()
	cfg := config.Default().Daemon()
	cfg.DatabaseURL, cfg.Inbox = dbURL, []string{inbox}
	cfg.Settle, cfg.StableFor, cfg.ScanInterval = 3*time.Second, 300*time.Millisecond, 2*time.Second
	cfg.Listen, cfg.ReviewListen = "", ""
	return cfg
}

// running is a daemon started by a test.
type running struct {
	db   *sql.DB
	cfg  daemon.Options
	stop func() error
}

// startDaemon runs a daemon with the built-in embedder until the test ends.
func startDaemon(t *testing.T, cfg daemon.Options) *running {
	t.Helper()
	return startDaemonWith(t, cfg, embed.NewBuiltin())
}

// startDaemonWith runs a daemon with the given embedder until the test ends.
func startDaemonWith(t *testing.T, cfg daemon.Options, emb embed.Embedder) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := sql.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	d := daemon.New(cfg, db, emb, log, daemon.NewMetrics(), nil)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		err := <-done
		db.Close()
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	return &running{db: db, cfg: cfg, stop: stop}
}

// newInbox returns a test database URL and an inbox folder.
func newInbox(t *testing.T) (string, string) {
	t.Helper()
	return sqltest.URL(t), t.TempDir()
}

// waitIdle waits until the daemon has had nothing left to do without a
// human for a second (longer than files take to become stable in tests).
func waitIdle(t *testing.T, db *sql.DB, timeout time.Duration) sql.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var idleSince time.Time
	for {
		st, err := db.ReadStatus(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending == 0 && len(st.Images) > 0 {
			if idleSince.IsZero() {
				idleSince = time.Now()
			}
			if time.Since(idleSince) >= time.Second {
				return st
			}
		} else {
			idleSince = time.Time{}
		}
		if time.Now().After(deadline) {
			rows, _ := sqltest.Pool(db).Query(context.Background(), `SELECT image_id, state, coalesce(claimed_by, 0), retry_after::text, size, attempts FROM screend.images WHERE state = 'discovered' LIMIT 5`)
			for rows.Next() {
				vals, _ := rows.Values()
				t.Logf("waiting image: %v", vals)
			}
			rows.Close()
			t.Fatalf("daemon not idle after %s: %+v", timeout, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// photo makes a photo-like test image: smooth gradients, a few shapes and
// noise, different for every seed.
func photo(w, h int, seed uint64) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	cx, cy := r.Float64()*float64(w), r.Float64()*float64(h)
	base := [3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			d := (float64(x)-cx)*(float64(x)-cx) + (float64(y)-cy)*(float64(y)-cy)
			shade := 1 / (1 + d/float64(w*h/8))
			i := img.PixOffset(x, y)
			for c := 0; c < 3; c++ {
				v := base[c]*shade + float64(c*x+y)/float64(w+h)*80 + r.NormFloat64()*4
				img.Pix[i+c] = uint8(max(0, min(255, v)))
			}
			img.Pix[i+3] = 255
		}
	}
	return img
}

// writePNG encodes img as a PNG at path, creating folders.
func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// stageFiles writes one picture's stage files into dir, with companions,
// and returns their paths: stage 1 at size, each later stage 2x.
func stageFiles(t *testing.T, dir, stamp string, size int, seed uint64, stages ...string) []string {
	t.Helper()
	var paths []string
	base := photo(size, size, seed)
	for _, st := range stages {
		var img image.Image = base
		switch st {
		case "stage1.5_face_swapped":
			img = faceSwap(base)
		case "stage2_upscaled", "stage3_enhanced":
			img = upscale(base, 2)
		}
		p := filepath.Join(dir, stamp+"_"+st+".png")
		writePNG(t, p, img)
		if err := os.WriteFile(filepath.Join(dir, stamp+"_"+st+".yaml"), []byte("seed: 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// faceSwap changes a patch of the picture, as the face-swap stage does.
func faceSwap(src *image.NRGBA) *image.NRGBA {
	dst := image.NewNRGBA(src.Bounds())
	copy(dst.Pix, src.Pix)
	b := src.Bounds()
	for y := b.Dy() / 4; y < b.Dy()/2; y++ {
		for x := b.Dx() / 3; x < 2*b.Dx()/3; x++ {
			i := dst.PixOffset(x, y)
			dst.Pix[i] = 255 - dst.Pix[i]
		}
	}
	return dst
}

func upscale(src *image.NRGBA, k int) *image.NRGBA {
	b := src.Bounds()
	dst := image.NewNRGBA(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	for y := 0; y < b.Dy()*k; y++ {
		for x := 0; x < b.Dx()*k; x++ {
			dst.Set(x, y, src.At(x/k, y/k))
		}
	}
	return dst
}

// builtinID is the built-in embedder's name, which the daemon's vectors
// and models are registered under by default.
var builtinID = embed.NewBuiltin().ID()
