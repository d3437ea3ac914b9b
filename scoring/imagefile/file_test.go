package imagefile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOpenDecodesNatively checks that Open, which thumbnails, crops and
// the history import use, decodes as the daemon's workers do: every test
// JPEG the native path takes comes out as libjpeg-turbo decodes it, and
// (at least one of them) not as Go's decoder does.
func TestOpenDecodesNatively(t *testing.T) {
	t.Parallel()
	requireNative(t)
	dir := t.TempDir()
	differs := 0
	for name, data := range testJPEGs(t) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, info, err := Open(context.Background(), path, 0, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		native, err := decodeJPEGNative(data, info)
		if errors.Is(err, errNotNative) {
			continue
		}
		if err != nil {
			t.Fatalf("%s: native: %v", name, err)
		}
		if d, _, err := sampleDiff(got, native); d != 0 || err != nil {
			t.Errorf("%s: Open differs from the native decode by %d (%v)", name, d, err)
		}
		goImg, _, err := DecodeBytesGo(data, 0)
		if err != nil {
			t.Fatal(err)
		}
		if d, _, _ := sampleDiff(native, goImg); d > 0 {
			differs++
		}
	}
	if differs == 0 {
		t.Fatal("no test JPEG decodes differently natively: the test cannot tell which decoder Open used")
	}
}

// TestBudget checks that a decode takes its memory from the budget before
// the file is read, waits while others hold it, and that an image that
// alone needs more than the whole budget is refused as too large.
func TestBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "photo.png")
	if err := os.WriteFile(path, encodePNG(t, photo(256, 192, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(ctx, path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	info := f.Info
	f.Close()
	cost := info.ReadDecodeBytes(st.Size())

	if _, _, err := Open(ctx, path, 0, NewBudget(cost-1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a budget one byte short: %v, want ErrTooLarge", err)
	}

	b := NewBudget(cost)
	held, err := ReadFile(ctx, path, 0, b)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := Open(short, path, 0, b); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second decode while the budget is held: %v, want it to wait until its context ends", err)
	}
	img, _, err := held.Decode()
	if err != nil {
		t.Fatal(err)
	}
	held.Close()
	held.Close() // twice is harmless
	if got, _, err := Open(ctx, path, 0, b); err != nil || got.Bounds() != img.Bounds() {
		t.Fatalf("after Close: %v, %v", got.Bounds(), err)
	}
}

// TestOpenRefusesImplausible checks that Open applies CheckHeader's
// plausibility check, as the daemon does, before reading the file: a
// small file whose header declares a large image.
func TestOpenRefusesImplausible(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bomb.jpg")
	if err := os.WriteFile(path, progressiveJPEGHeader(9000, 9000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(context.Background(), path, 0, nil); !errors.Is(err, ErrImplausible) {
		t.Fatalf("err %v, want ErrImplausible", err)
	}
}
