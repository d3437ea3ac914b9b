package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"screend/cmd/screend-bench/internal/corpus"
)

// TestFaultsSmoke runs `screend-bench faults` end to end with two kill
// rounds and two instances on a tiny corpus made from synthetic photos,
// against a real screend and a real PostgreSQL. PostgreSQL is not
// restarted here: other tests share the server.
func TestFaultsSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs screend")
	}
	if os.Getenv("TEST_DATABASE_URL") == "" {
		t.Fatal("TEST_DATABASE_URL is not set: run with `make test` or source var/env")
	}
	ctx := context.Background()
	work := t.TempDir()
	bin := filepath.Join(work, "screend")
	if err := buildScreend(ctx, bin); err != nil {
		t.Fatal(err)
	}
	photos := filepath.Join(work, "photos")
	os.MkdirAll(photos, 0o755)
	for i := range 2 {
		img := image.NewRGBA(image.Rect(0, 0, 400, 300))
		for y := range 300 {
			for x := range 400 {
				img.Set(x, y, color.RGBA{uint8(x * (i + 1)), uint8(y), uint8(x ^ y), 255})
			}
		}
		f, _ := os.Create(filepath.Join(photos, string(rune('a'+i))+".png"))
		png.Encode(f, img)
		f.Close()
	}
	dir := filepath.Join(work, "corpus")
	if _, err := corpus.Generate(ctx, corpus.Options{Photos: photos, Out: dir, Seed: 9, Pictures: 6, Projects: 2,
		Sizes: []image.Point{{128, 128}}}); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"faults", "--corpus", dir, "--rounds", "2", "--scenarios", "kill,two-instances",
		"--settle", "3s", "--min-gap", "300ms", "--max-gap", "1500ms", "--screend", bin, "--work", work,
		"--out", filepath.Join(work, "faults.json")}, &stdout, &stderr)
	t.Log(stdout.String())
	if code != 0 {
		t.Fatalf("faults exited %d: %s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "| PASS |"); n != 2 {
		t.Fatalf("%d scenarios passed, want 2", n)
	}
	for _, f := range []string{"faults.json", "faults.md"} {
		if _, err := os.Stat(filepath.Join(work, f)); err != nil {
			t.Fatalf("report %s not written: %v", f, err)
		}
	}
}

// TestHostileSmoke runs two cases of `screend-bench hostile` end to end
// against a real screend and PostgreSQL; the whole suite is a bench run.
func TestHostileSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs screend")
	}
	if os.Getenv("TEST_DATABASE_URL") == "" {
		t.Fatal("TEST_DATABASE_URL is not set: run with `make test` or source var/env")
	}
	work := t.TempDir()
	bin := filepath.Join(work, "screend")
	if err := buildScreend(context.Background(), bin); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"hostile", "--items", "9,16", "--screend", bin, "--work", work,
		"--out", filepath.Join(work, "hostile.json")}, &stdout, &stderr)
	t.Log(stdout.String())
	if code != 0 {
		t.Fatalf("hostile exited %d: %s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "| PASS |"); n != 2 {
		t.Fatalf("%d cases passed, want 2", n)
	}
	if _, err := os.Stat(filepath.Join(work, "hostile.md")); err != nil {
		t.Fatalf("report not written: %v", err)
	}
}
